package tasks

import "sync"

// Notifier is implemented by stores that can tell a long poll the moment a
// task finishes, so that it need not read the task again and again.
type Notifier interface {
	// WaitFinished returns a channel that is closed when the store sees
	// task id finish (succeeded or failed), and a function that drops the
	// wait; call it when done waiting. A notification can be missed (a
	// RedisStore's subscription reconnecting), so a waiter still reads
	// the task now and then.
	WaitFinished(id string) (finished <-chan struct{}, stop func())
}

// finishWaiters are the channels of the waits for each task id.
type finishWaiters struct {
	mu   sync.Mutex
	byID map[string]map[chan struct{}]struct{}
}

func (w *finishWaiters) wait(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.byID == nil {
		w.byID = map[string]map[chan struct{}]struct{}{}
	}
	if w.byID[id] == nil {
		w.byID[id] = map[chan struct{}]struct{}{}
	}
	w.byID[id][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.byID[id][ch]; ok {
			delete(w.byID[id], ch)
			if len(w.byID[id]) == 0 {
				delete(w.byID, id)
			}
		}
	}
}

// wake closes the channels of every wait for id.
func (w *finishWaiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.byID[id] {
		close(ch)
	}
	delete(w.byID, id)
}
