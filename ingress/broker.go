package ingress

import (
	"fmt"

	"github.com/gin-gonic/gin"
)

// postBroker serves POST /{namespace}/{broker}: Knative's Broker ingress
// contract. It takes one CloudEvent like POST /v1/events and publishes it
// to the named Broker; an unknown Broker is 404 broker-not-found. The 202
// carries the same task body as /v1/events (Knative's broker answers 202
// with no body; a client that ignores the body sees no difference).
func (s *Server) postBroker(c *gin.Context) {
	if c.Param("namespace") == "v1" {
		// /v1/... is the task API; a path there that matched no route
		// of it is not a Broker.
		s.noRoute(c)
		return
	}
	key := c.Param("namespace") + "/" + c.Param("broker")
	pub, ok := s.brokers[key]
	if !ok {
		writeProblem(c, newProblem(ProblemBrokerNotFound, fmt.Sprintf(
			"no Broker %q: known Brokers are %s", key, s.brokerNames())))
		return
	}
	e, p := s.readEvent(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	s.acceptTo(c, pub, e)
}

// brokerNames lists the Brokers for an error message.
func (s *Server) brokerNames() string {
	if len(s.brokerKeys) == 0 {
		return "none"
	}
	return fmt.Sprint(s.brokerKeys)
}
