package ferry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	bolt "go.etcd.io/bbolt"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/tasks"
)

// store is a task store as the ingress uses it: read by the API, written
// by the sink and /v1/records, checked by readiness, closed by Stop.
type store interface {
	tasks.Reader
	eventing.Observer
	// ping reports whether the store answers.
	ping(ctx context.Context) error
	close() error
}

// openStore opens the Redis store when cfg names one, else the bbolt
// store in cfg.DataDir.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (store, error) {
	if cfg.RedisURL != "" {
		s, err := tasks.OpenRedis(ctx, cfg.RedisURL, tasks.RedisOptions{
			Prefix: cfg.RedisPrefix,
			Logger: log,
		})
		if err != nil {
			return nil, err
		}
		return redisStore{s}, nil
	}
	return openDiskStore(cfg.DataDir)
}

// redisStore is the shared store, for any number of replicas.
type redisStore struct{ *tasks.RedisStore }

func (s redisStore) ping(ctx context.Context) error { return s.Ping(ctx) }
func (s redisStore) close() error                   { return s.Close() }

// diskStore is the bbolt store, for one replica.
type diskStore struct {
	*tasks.DiskStore
	db *bolt.DB
}

// openDiskStore opens dir/tasks.db, waiting at most 1 s for another
// process to let go of it.
func openDiskStore(dir string) (store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("task store: %w", err)
	}
	path := filepath.Join(dir, "tasks.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: in use by another process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s, err := tasks.NewDiskStore(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	return diskStore{DiskStore: s, db: db}, nil
}

func (s diskStore) ping(context.Context) error { return nil }
func (s diskStore) close() error               { return s.db.Close() }

// seenIn returns the Sink's duplicate check over st: an event was seen
// when its task exists and was started by an event with its source and id.
func seenIn(st tasks.Reader) func(context.Context, *event.Event) (bool, error) {
	return func(ctx context.Context, e *event.Event) (bool, error) {
		t, err := st.Get(ctx, eventing.TaskID(e))
		if errors.Is(err, tasks.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return t.EventID == e.ID() && t.Source == e.Source(), nil
	}
}
