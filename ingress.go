package ferry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/ingress"
)

// ErrStopped is returned by Start after Stop: an Ingress is not restarted.
var ErrStopped = errors.New("ferry ingress: stopped")

// problemNotReady is the problem type Handle answers with before Start
// has finished and after Stop, as the ingress's own GET /readyz does.
const problemNotReady = ingress.ProblemTypeBase + "not-ready"

// Ingress is Ferry's ingress as a kn func instance. Its zero value is not
// usable; New makes one. It is safe for concurrent use.
type Ingress struct {
	mu      sync.RWMutex
	handler http.Handler // nil until Start succeeds and after Stop
	store   store
	stopped bool
	log     *slog.Logger
	// closeSend closes the RabbitMQ connection of a direct publisher.
	closeSend func()
}

// New returns an Ingress that answers 503 until Start has run; kn func's
// runtime calls it once per process.
func New() *Ingress {
	return &Ingress{log: slog.Default()}
}

// Start opens the task store and builds the HTTP API for cfg (see
// ParseConfig for the keys). func-go calls it once, in the background,
// with the process's environment; an error stops the process. Calling it
// again replaces nothing and returns an error.
func (i *Ingress) Start(ctx context.Context, cfg map[string]string) error {
	c, err := ParseConfig(cfg)
	if err != nil {
		return fmt.Errorf("ferry ingress: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr,
		&slog.HandlerOptions{Level: c.LogLevel}))

	if err := i.startable(); err != nil {
		return err
	}
	st, err := openStore(ctx, c, log)
	if err != nil {
		return fmt.Errorf("ferry ingress: %w", err)
	}
	send, closeSend, err := directSend(ctx, c, log)
	if err != nil {
		st.close()
		return fmt.Errorf("ferry ingress: %w", err)
	}
	sink, err := eventing.NewSink(eventing.SinkParams{
		URL:      c.Sink,
		Broker:   c.Broker,
		Observer: st,
		Seen:     seenIn(st),
		Send:     send,
		Logger:   log,
	})
	if err != nil {
		closeSend()
		st.close()
		return fmt.Errorf("ferry ingress: %w", err)
	}
	api := ingress.New(ingress.Params{
		Publisher:    sink,
		Tasks:        st,
		Records:      st,
		RecordBroker: c.Broker,
		Ready:        st.ping,
		WaitMax:      c.WaitMax,
		Logger:       log,
	})

	// The store was opened without the lock, so that Handle answers 503
	// at once meanwhile; Stop or another Start may have come in between.
	i.mu.Lock()
	defer i.mu.Unlock()
	if err := i.startableLocked(); err != nil {
		closeSend()
		st.close()
		return err
	}
	i.store, i.handler, i.log, i.closeSend = st, api.Handler(), log, closeSend
	log.Info("ingress started", "sink", c.Sink, "broker", c.Broker,
		"store", storeKind(c))
	return nil
}

// startable returns ErrStopped after Stop and an error after a Start
// that succeeded: an Ingress is started once.
func (i *Ingress) startable() error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.startableLocked()
}

func (i *Ingress) startableLocked() error {
	switch {
	case i.stopped:
		return ErrStopped
	case i.handler != nil:
		return errors.New("ferry ingress: started twice")
	}
	return nil
}

// storeKind names the task store of c, for the log.
func storeKind(c Config) string {
	if c.RedisURL != "" {
		return "redis"
	}
	return "disk"
}

// Handle serves the ingress's HTTP API (see package ingress): events in,
// tasks out, /v1/records. Before Start has finished and after Stop it
// answers 503 not-ready.
func (i *Ingress) Handle(w http.ResponseWriter, r *http.Request) {
	i.mu.RLock()
	h := i.handler
	i.mu.RUnlock()
	if h == nil {
		notReady(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

// notReady answers 503 with a problem document and Retry-After: 1.
func notReady(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(map[string]any{
		"type":     problemNotReady,
		"title":    "Not ready",
		"status":   http.StatusServiceUnavailable,
		"detail":   "the ingress is starting or stopping",
		"instance": r.URL.Path,
	})
	w.Header().Set("Content-Type", ingress.ProblemContentType)
	w.Header().Set("Retry-After", "1")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write(body)
}

// Ready reports whether the ingress takes work: Start has finished, Stop
// has not been called, and the task store answers (a Redis PING).
func (i *Ingress) Ready(ctx context.Context) (bool, error) {
	i.mu.RLock()
	st, started := i.store, i.handler != nil
	i.mu.RUnlock()
	if !started {
		return false, nil
	}
	if err := st.ping(ctx); err != nil {
		return false, fmt.Errorf("task store: %w", err)
	}
	return true, nil
}

// Alive reports false once Stop has been called, true before: the ingress
// holds no state that could wedge, so a live process is a healthy one.
func (i *Ingress) Alive(context.Context) (bool, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return !i.stopped, nil
}

// Stop makes Handle answer 503 and closes the task store. func-go calls it
// after the HTTP server has drained (at most 30 s). It is idempotent.
func (i *Ingress) Stop(context.Context) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.stopped {
		return nil
	}
	i.stopped, i.handler = true, nil
	if i.closeSend != nil {
		i.closeSend()
	}
	if i.store == nil {
		return nil
	}
	err := i.store.close()
	i.store = nil
	i.log.Info("ingress stopped", "err", err)
	if err != nil {
		return fmt.Errorf("ferry ingress: close task store: %w", err)
	}
	return nil
}
