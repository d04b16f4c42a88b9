// Package boltcommit runs bbolt write transactions so that a lone writer
// commits at once while concurrent writers still share commits.
//
// bbolt's Batch makes every caller wait up to the database's
// MaxBatchDelay for others to join its commit: under load that turns many
// fsyncs into one, but a lone request (a developer's curl under ferry
// dev) waits out the whole delay on each of its writes.
package boltcommit

import (
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Writer writes to one bbolt database. The zero value is not usable; a
// Writer must not be copied after first use.
type Writer struct {
	db      *bolt.DB
	pending atomic.Int32
}

// New returns a Writer for db.
func New(db *bolt.DB) *Writer { return &Writer{db: db} }

// Write runs fn in a write transaction. When no other Write of this
// Writer is in progress, it commits at once (bolt.DB.Update); otherwise it
// joins a batch (bolt.DB.Batch), whose commit it shares with the writes
// in progress. As with Batch, fn may run more than once and must do the
// same each time.
func (w *Writer) Write(fn func(*bolt.Tx) error) error {
	defer w.pending.Add(-1)
	if w.pending.Add(1) == 1 {
		return w.db.Update(fn)
	}
	return w.db.Batch(fn)
}
