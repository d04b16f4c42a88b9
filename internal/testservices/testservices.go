// Package testservices gives Ferry's integration tests the real RabbitMQ and
// Redis they run against: their URLs (FERRY_AMQP_URL, FERRY_REDIS_URL, with
// loopback defaults), a failure under CI=true when one is unreachable (a
// skip elsewhere), and clean-up of what a test declared on RabbitMQ.
package testservices

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Services returns the RabbitMQ and Redis URLs of the integration tests,
// from FERRY_AMQP_URL and FERRY_REDIS_URL (defaults on loopback). When one
// is unreachable the test fails under CI=true and is skipped otherwise.
func Services(t testing.TB) (amqpURL, redisURL string) {
	t.Helper()
	amqpURL = envOr("FERRY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
	redisURL = envOr("FERRY_REDIS_URL", "redis://127.0.0.1:6379/0")
	for _, raw := range []string{amqpURL, redisURL} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("service URL %q: %v", raw, err)
		}
		conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s unreachable in CI: %v", u.Host, err)
			}
			t.Skipf("%s unreachable (set CI=true to fail instead): %v", u.Host, err)
		}
		conn.Close()
	}
	return amqpURL, redisURL
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// CleanupRabbit deletes, when the test ends, the queues and exchanges of
// namespace ns: Ferry names them b.<ns>.<broker>, <ns>.<trigger>.<broker>
// and b.<ns>.<broker>.dead; brokers names the exchanges to delete.
func CleanupRabbit(t testing.TB, amqpURL, ns string, brokers ...string) {
	t.Cleanup(func() {
		out, err := exec.Command("rabbitmqctl", "list_queues", "-q", "--no-table-headers",
			"name").Output()
		if err != nil {
			t.Logf("list queues for cleanup: %v", err)
		}
		conn, err := amqp.Dial(amqpURL)
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		for _, name := range strings.Fields(string(out)) {
			if strings.HasPrefix(name, ns+".") || strings.HasPrefix(name, "b."+ns+".") {
				if _, err := ch.QueueDelete(name, false, false, false); err != nil {
					t.Logf("delete queue %s: %v", name, err)
				}
			}
		}
		for _, broker := range brokers {
			if err := ch.ExchangeDelete("b."+ns+"."+broker, false, false); err != nil {
				t.Logf("delete exchange: %v", err)
			}
		}
	})
}
