package boltcommit

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openDB(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func put(key string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("v"))
	}
}

func TestLoneWriteDoesNotWaitForABatch(t *testing.T) {
	db := openDB(t)
	db.MaxBatchDelay = time.Hour // a Batch of one would wait an hour
	w := New(db)

	done := make(chan error, 1)
	go func() { done <- w.Write(put("k")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a lone write waited for a batch")
	}
	err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("b")).Get([]byte("k")) == nil {
			return fmt.Errorf("k not written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritesAllCommit(t *testing.T) {
	db := openDB(t)
	db.MaxBatchDelay = time.Millisecond
	w := New(db)

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() { errs <- w.Write(put(fmt.Sprint("k", i))) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	err := db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket([]byte("b")).Stats().KeyN; n != 64 {
			return fmt.Errorf("%d keys, want 64", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.pending.Load(); n != 0 {
		t.Errorf("%d writes still counted as pending", n)
	}
}
