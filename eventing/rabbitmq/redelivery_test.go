package rabbitmq

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
)

// The helper process: the test binary run again with helperEnv set to the
// Broker's name. It consumes the Trigger "work", prints the id of the
// first event it claims and then hangs as if delivering it, until killed.
const helperEnv = "FERRY_RABBITMQ_HELPER_BROKER"

func runHelper() int {
	p := testParams(Params{Broker: os.Getenv(helperEnv),
		ConnectionName: "ferry-test helper",
		Triggers:       []*eventingv1.Trigger{trig("work", nil, 0)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := Open(ctx, p)
	if err == nil {
		err = q.StartConsuming(ctx)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	for ctx.Err() == nil {
		ds, _ := q.Claim(time.Now(), 1)
		if len(ds) > 0 {
			fmt.Println("claimed", ds[0].Event.ID())
			select {} // delivering, until SIGKILL
		}
		select {
		case <-q.Wake():
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Println("error nothing to claim")
	return 1
}

func TestKilledDispatcherMessageIsRedelivered(t *testing.T) {
	q := openQueue(t, Params{Triggers: []*eventingv1.Trigger{
		trig("work", nil, 0)}})
	put(t, q, newEvent("job-1", "dev.ferry.test"))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+q.p.Broker)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "claimed job-1" {
		t.Fatalf("helper said %q (%v), want it to claim job-1", line, err)
	}

	// kill -9 in the middle of the delivery: the message was not acked.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill helper: %v", err)
	}
	_ = cmd.Wait()

	consume(t, q)
	d := claimN(t, q, 1)[0]
	if d.Event.ID() != "job-1" {
		t.Fatalf("redelivered %s, want job-1", d.Event.ID())
	}
	if err := q.Done(context.Background(), d, nil, nil); err != nil {
		t.Fatalf("done: %v", err)
	}
	claimNone(t, q, 200*time.Millisecond) // delivered once more, no more
	queue := queueOf(t, q, "work")
	q.Close()
	if n := ready(t, queue); n != 0 {
		t.Errorf("queue holds %d messages, want 0", n)
	}
}
