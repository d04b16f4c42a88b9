package runner

// The activator's part of a function: requests that find no instance with
// a free slot wait here, first come first served, as Knative's activator
// holds them while the autoscaler brings instances up.

// waiter is one request waiting for a slot on an instance.
type waiter struct {
	// ch receives exactly one grant: an instance with the request already
	// counted in flight on it, or the error that ends the wait.
	ch chan grant
}

// grant ends a wait.
type grant struct {
	inst *instance
	err  error
}

// waitQueue is a function's waiting requests in arrival order. It is
// guarded by the function's mu.
type waitQueue struct {
	waiters []*waiter
}

func (q *waitQueue) len() int { return len(q.waiters) }

// push adds a new waiter at the back and returns it.
func (q *waitQueue) push() *waiter {
	w := &waiter{ch: make(chan grant, 1)}
	q.waiters = append(q.waiters, w)
	return w
}

// pop removes the waiter at the front and returns it.
func (q *waitQueue) pop() *waiter {
	w := q.waiters[0]
	q.waiters[0] = nil
	q.waiters = q.waiters[1:]
	return w
}

// remove takes w out of the queue and reports whether it was there (it is
// not once it has been granted).
func (q *waitQueue) remove(w *waiter) bool {
	for i, x := range q.waiters {
		if x == w {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// failAll ends every wait with err.
func (q *waitQueue) failAll(err error) {
	for _, w := range q.waiters {
		w.ch <- grant{err: err}
	}
	q.waiters = nil
}
