package ingress

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// The headers of the CloudEvents HTTP webhook validation handshake, which
// protects a webhook from being sent events it did not ask for.
const (
	webhookRequestOrigin = "WebHook-Request-Origin"
	webhookAllowedOrigin = "WebHook-Allowed-Origin"
	webhookAllowedRate   = "WebHook-Allowed-Rate"
)

// webhookHandshake serves OPTIONS on the event routes. A validation
// request (one with WebHook-Request-Origin) is answered 200 with that
// origin allowed, any rate ("*") allowed, and Allow: POST; the ingress
// takes events from anyone who can reach it. Any other OPTIONS gets the
// Allow header alone.
func (s *Server) webhookHandshake(c *gin.Context) {
	c.Header("Allow", http.MethodPost)
	if origin := c.GetHeader(webhookRequestOrigin); origin != "" {
		c.Header(webhookAllowedOrigin, origin)
		c.Header(webhookAllowedRate, "*")
	}
	c.Status(http.StatusOK)
}
