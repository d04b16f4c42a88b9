package ingress

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// FunctionsPath is the route that reports the functions the process runs.
const FunctionsPath = "/v1/functions"

// getFunctions serves GET /v1/functions: {"functions": ...}, with what
// Params.Functions returns (under ferry dev, the runner's status of each
// function: instances, requests in flight and queued, cold starts, build),
// or 404 not-found when the process runs no functions.
func (s *Server) getFunctions(c *gin.Context) {
	if s.functions == nil {
		writeProblem(c, newProblem(ProblemNotFound,
			"this process runs no functions (ferry dev does)"))
		return
	}
	c.JSON(http.StatusOK, gin.H{"functions": s.functions()})
}
