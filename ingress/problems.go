package ingress

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// ProblemTypeBase prefixes every ProblemType.
const ProblemTypeBase = "https://ferry.dev/problems/"

// ProblemType is the type URI of a problem document. Each kind has a fixed
// title and HTTP status.
type ProblemType string

// The kinds of problems the ingress answers with, and their statuses.
const (
	// ProblemInvalidEvent (400): the request is not a valid CloudEvent:
	// neither binary nor structured mode, malformed JSON, a missing or
	// invalid attribute.
	ProblemInvalidEvent ProblemType = ProblemTypeBase + "invalid-event"
	// ProblemUnsupportedSpecVersion (400): a specversion other than 1.0
	// and 0.3.
	ProblemUnsupportedSpecVersion ProblemType = ProblemTypeBase +
		"unsupported-specversion"
	// ProblemBodyTooLarge (413): the body is over Params.MaxBodyBytes.
	ProblemBodyTooLarge ProblemType = ProblemTypeBase + "body-too-large"
	// ProblemUnsupportedMediaType (415): batch mode, or a structured
	// format other than JSON.
	ProblemUnsupportedMediaType ProblemType = ProblemTypeBase +
		"unsupported-media-type"
	// ProblemInvalidParameter (400): a bad query parameter, path parameter
	// or header, such as ?wait=soon or a task type with spaces.
	ProblemInvalidParameter ProblemType = ProblemTypeBase +
		"invalid-parameter"
	// ProblemTaskNotFound (404): the task store has no task with that id.
	ProblemTaskNotFound ProblemType = ProblemTypeBase + "task-not-found"
	// ProblemResultNotReady (409): the task has no result event yet.
	// Comes with Retry-After: 1.
	ProblemResultNotReady ProblemType = ProblemTypeBase + "result-not-ready"
	// ProblemTaskFailed (409): the task failed, so it has no result; the
	// detail is the task's reason.
	ProblemTaskFailed ProblemType = ProblemTypeBase + "task-failed"
	// ProblemBrokerUnavailable (503): the Broker could not store the event;
	// nothing was accepted. Comes with Retry-After: 1.
	ProblemBrokerUnavailable ProblemType = ProblemTypeBase +
		"broker-unavailable"
	// ProblemNotReady (503): the ingress is not ready (GET /readyz).
	ProblemNotReady ProblemType = ProblemTypeBase + "not-ready"
	// ProblemNotFound (404): no route has this path.
	ProblemNotFound ProblemType = ProblemTypeBase + "not-found"
	// ProblemMethodNotAllowed (405): the path exists, the method does not;
	// the Allow header lists the methods that do.
	ProblemMethodNotAllowed ProblemType = ProblemTypeBase +
		"method-not-allowed"
	// ProblemInternal (500): something failed inside Ferry. The detail is
	// short on purpose; the log has the error.
	ProblemInternal ProblemType = ProblemTypeBase + "internal-error"
	// ProblemStoreUnavailable (503): the task store did not answer; try
	// again. Comes with Retry-After: 1.
	ProblemStoreUnavailable ProblemType = ProblemTypeBase + "store-unavailable"
	// ProblemBrokerNotFound (404): POST /{namespace}/{broker} names no
	// Broker this ingress serves.
	ProblemBrokerNotFound ProblemType = ProblemTypeBase + "broker-not-found"
	// ProblemFunctionNotFound (404): /v1/functions/{name}/invoke names no
	// function this process runs.
	ProblemFunctionNotFound ProblemType = ProblemTypeBase +
		"function-not-found"
	// ProblemFunctionUnavailable (502): the function called through
	// /v1/functions/{name}/invoke gave no answer: its build failed, it
	// never got ready, or it exited mid-request. The detail says which.
	ProblemFunctionUnavailable ProblemType = ProblemTypeBase +
		"function-unavailable"
)

// problemKinds gives each ProblemType its title and status.
var problemKinds = map[ProblemType]struct {
	title  string
	status int
}{
	ProblemInvalidEvent: {"Invalid CloudEvent", http.StatusBadRequest},
	ProblemUnsupportedSpecVersion: {"Unsupported CloudEvents specversion",
		http.StatusBadRequest},
	ProblemBodyTooLarge: {"Request body too large",
		http.StatusRequestEntityTooLarge},
	ProblemUnsupportedMediaType: {"Unsupported media type",
		http.StatusUnsupportedMediaType},
	ProblemInvalidParameter: {"Invalid parameter", http.StatusBadRequest},
	ProblemTaskNotFound:     {"Task not found", http.StatusNotFound},
	ProblemResultNotReady:   {"Result not ready", http.StatusConflict},
	ProblemTaskFailed:       {"Task failed", http.StatusConflict},
	ProblemBrokerUnavailable: {"Broker unavailable",
		http.StatusServiceUnavailable},
	ProblemNotReady:       {"Not ready", http.StatusServiceUnavailable},
	ProblemNotFound:       {"Not found", http.StatusNotFound},
	ProblemInternal:       {"Internal error", http.StatusInternalServerError},
	ProblemBrokerNotFound: {"Broker not found", http.StatusNotFound},
	ProblemStoreUnavailable: {"Task store unavailable",
		http.StatusServiceUnavailable},
	ProblemMethodNotAllowed: {"Method not allowed",
		http.StatusMethodNotAllowed},
	ProblemFunctionNotFound: {"Function not found", http.StatusNotFound},
	ProblemFunctionUnavailable: {"Function unavailable",
		http.StatusBadGateway},
}

// ProblemContentType is the media type of problem documents (RFC 9457).
const ProblemContentType = "application/problem+json"

// retryAfterSeconds is the Retry-After of 503 and result-not-ready answers:
// the Broker's outages and a function's work are usually short.
const retryAfterSeconds = 1

// Problem is an RFC 9457 problem document, the body of every 4xx and 5xx
// answer.
type Problem struct {
	// Type identifies the kind of problem; it is stable.
	Type ProblemType `json:"type"`
	// Title is the kind's short, fixed summary.
	Title string `json:"title"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Detail names exactly what is wrong with this request.
	Detail string `json:"detail"`
	// Instance is the path of the request.
	Instance string `json:"instance,omitempty"`
}

// Error makes a Problem an error, for clients that decode one.
func (p *Problem) Error() string {
	return strconv.Itoa(p.Status) + " " + p.Title + ": " + p.Detail
}

// newProblem returns the problem of kind t with detail.
func newProblem(t ProblemType, detail string) *Problem {
	k := problemKinds[t]
	return &Problem{Type: t, Title: k.title, Status: k.status, Detail: detail}
}

// writeProblem answers the request with p and stops the handler chain.
func writeProblem(c *gin.Context, p *Problem) {
	p.Instance = c.Request.URL.Path
	if p.Type == ProblemBrokerUnavailable || p.Type == ProblemResultNotReady ||
		p.Type == ProblemStoreUnavailable {
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	noteProblem(c, p.Type)

	body, err := json.Marshal(p)
	if err != nil {
		// A Problem holds only strings and an int: this cannot happen.
		panic(err)
	}
	c.Abort()
	c.Data(p.Status, ProblemContentType, body)
}
