package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ferryfn/ferry/eventing"
	"github.com/ferryfn/ferry/tasks"
)

// Defaults of Params.
const (
	// MaxBodyBytesDefault is the largest request body accepted when
	// Params.MaxBodyBytes is 0: 16 MiB, room for an image to thumbnail.
	MaxBodyBytesDefault int64 = 16 << 20
	// SourceDefault is the source of the events the ingress wraps around
	// plain bodies when Params.Source is empty.
	SourceDefault = "/ferry/ingress"
	// WaitMaxDefault is the longest ?wait= when Params.WaitMax is 0.
	WaitMaxDefault = 60 * time.Second
)

// Params configures a Server.
type Params struct {
	// Publisher takes accepted events into the Broker. Required.
	Publisher eventing.Publisher
	// Tasks is the task store that GET /v1/tasks reads from. Required.
	Tasks tasks.Reader
	// Logger gets one line per request and the failures; nil means
	// slog.Default(). Event data is never logged.
	Logger *slog.Logger
	// MaxBodyBytes is the largest request body; larger bodies get 413
	// body-too-large. 0 or less means MaxBodyBytesDefault.
	MaxBodyBytes int64
	// Source is the source attribute of the events that POST
	// /v1/tasks/{type} wraps around plain bodies; "" means SourceDefault.
	// Idempotency keys are unique within it.
	Source string
	// Ready reports whether the ingress can take work (the Broker and the
	// task store answer); GET /readyz answers 503 not-ready with its error.
	// nil means always ready.
	Ready func(context.Context) error
	// Brokers are the Brokers served at POST /{namespace}/{broker},
	// Knative's Broker ingress path, keyed "namespace/name". nil serves
	// none (that path then answers 404 broker-not-found).
	Brokers map[string]eventing.Publisher
	// WaitMax caps ?wait= on GET /v1/tasks/{id} and its result; a longer
	// wait is cut to WaitMax. 0 or less means WaitMaxDefault.
	WaitMax time.Duration
	// Records, when set, serves POST /v1/records (see RecordsPath): the
	// follow-ups and dead letters of a cluster's Broker are recorded
	// through it. nil leaves the route out, as under `ferry dev`, where
	// the Broker reports to the task store itself.
	Records eventing.Observer
	// RecordBroker is the name of the Broker whose events /v1/records
	// receives; deliveries recorded there are filed under it. "" means
	// eventing.SinkBrokerDefault.
	RecordBroker string
	// Functions, when set, serves GET /v1/functions with what it returns
	// (under ferry dev, the runner's status of each function). nil makes
	// that route answer 404 not-found.
	Functions func() any
	// Invoke, when set, serves any method on /v1/functions/{name}/invoke
	// and below it (see InvokePath): it gives the transport to the named
	// function, or an error wrapping ErrNoSuchFunction. nil makes those
	// routes answer 404 function-not-found.
	Invoke func(name string) (http.RoundTripper, error)
}

// Server is the ingress's HTTP API. It is safe for concurrent use.
type Server struct {
	publisher    eventing.Publisher
	tasks        tasks.Reader
	log          *slog.Logger
	maxBodyBytes int64
	source       string
	ready        func(context.Context) error
	waitMax      time.Duration
	brokers      map[string]eventing.Publisher
	brokerKeys   []string
	records      eventing.Observer
	recordBroker string
	functions    func() any
	invoke       func(name string) (http.RoundTripper, error)

	// endWaits is closed by EndWaits: long polls answer at once.
	endWaits     chan struct{}
	endWaitsOnce sync.Once

	engine *gin.Engine
}

// EndWaits makes every long poll (GET /v1/tasks/{id}?wait=), now and from
// now on, answer at once with the task as it is: call it when the server
// shuts down (http.Server.RegisterOnShutdown), so that waiting clients get
// an answer instead of a cut connection.
func (s *Server) EndWaits() {
	s.endWaitsOnce.Do(func() { close(s.endWaits) })
}

// New returns a Server configured by p, with the defaults above for the
// zero fields. It panics when p.Publisher or p.Tasks is nil. It sets gin's
// global mode to release, which keeps gin's own debug output off.
func New(p Params) *Server {
	if p.Publisher == nil || p.Tasks == nil {
		panic("ingress.New: Params.Publisher and Params.Tasks are required")
	}
	s := &Server{
		publisher:    p.Publisher,
		tasks:        p.Tasks,
		log:          p.Logger,
		maxBodyBytes: p.MaxBodyBytes,
		source:       p.Source,
		ready:        p.Ready,
		waitMax:      p.WaitMax,
		brokers:      p.Brokers,
		records:      p.Records,
		recordBroker: p.RecordBroker,
		functions:    p.Functions,
		invoke:       p.Invoke,
		endWaits:     make(chan struct{}),
	}
	if s.invoke == nil {
		s.invoke = func(string) (http.RoundTripper, error) {
			return nil, fmt.Errorf("%w: this process runs no functions "+
				"(ferry dev does)", ErrNoSuchFunction)
		}
	}
	if s.recordBroker == "" {
		s.recordBroker = eventing.SinkBrokerDefault
	}
	for k := range p.Brokers {
		s.brokerKeys = append(s.brokerKeys, k)
	}
	sort.Strings(s.brokerKeys)
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "ingress")
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = MaxBodyBytesDefault
	}
	if s.source == "" {
		s.source = SourceDefault
	}
	if s.waitMax <= 0 {
		s.waitMax = WaitMaxDefault
	}

	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler serving the API: a gin engine with
// panic recovery and an access log (method, path, status, duration, and for
// event posts the event's id and type and the task id; never bodies).
func (s *Server) Handler() http.Handler { return s.engine }

// routes builds the gin engine.
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// Answer a wrong slash with 404, not a redirect that a producer's
	// POST may not follow.
	r.RedirectTrailingSlash = false
	r.HandleMethodNotAllowed = true
	r.Use(s.accessLog, gin.CustomRecoveryWithWriter(nil, s.recovered))
	r.NoRoute(s.noRoute)
	r.NoMethod(s.noMethod)

	for _, path := range []string{"/", "/v1/events"} {
		r.POST(path, s.postEvent)
		r.OPTIONS(path, s.webhookHandshake)
	}
	r.POST("/:namespace/:broker", s.postBroker)
	r.OPTIONS("/:namespace/:broker", s.webhookHandshake)
	r.POST("/v1/tasks/:type", s.postPlain)
	r.GET("/v1/tasks/:id", s.getTask)
	r.GET("/v1/tasks/:id/result", s.getResult)
	if s.records != nil {
		r.POST(RecordsPath, s.postRecord)
	}
	r.GET(FunctionsPath, s.getFunctions)
	r.Any(InvokePath, s.invokeFunction)
	r.Any(InvokePath+"/*path", s.invokeFunction)
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	return r
}

// healthz answers 200 while the process serves.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when Params.Ready reports no error, 503 otherwise.
func (s *Server) readyz(c *gin.Context) {
	if s.ready != nil {
		if err := s.ready(c.Request.Context()); err != nil {
			s.log.Warn("not ready", "err", err)
			writeProblem(c, newProblem(ProblemNotReady, err.Error()))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

// noRoute answers a path no route has.
func (s *Server) noRoute(c *gin.Context) {
	writeProblem(c, newProblem(ProblemNotFound,
		"no route for "+c.Request.Method+" "+c.Request.URL.Path))
}

// noMethod answers a method the path does not have, with the methods it
// has in Allow. gin sets Allow too, but can name a method none of whose
// routes matches the path (DELETE /v1/events listed GET), so it is made
// again from the routes.
func (s *Server) noMethod(c *gin.Context) {
	if _, _, ok := invokeTarget(c.Request.URL.EscapedPath()); ok {
		// A method gin has no route for (PROPFIND, a custom one) goes
		// to the function as any other.
		s.invokeFunction(c)
		return
	}
	allow := strings.Join(s.allowedMethods(c.Request.URL.Path), ", ")
	c.Writer.Header().Set("Allow", allow)
	writeProblem(c, newProblem(ProblemMethodNotAllowed,
		"method "+c.Request.Method+" is not allowed on "+
			c.Request.URL.Path+"; allowed: "+allow))
}

// allowedMethods lists, in the order the routes were added, the methods
// with a route whose pattern matches path.
func (s *Server) allowedMethods(path string) []string {
	var out []string
	for _, r := range s.engine.Routes() {
		if !slices.Contains(out, r.Method) && routeMatches(r.Path, path) {
			out = append(out, r.Method)
		}
	}
	return out
}

// routeMatches reports whether path matches a gin route pattern made of
// literal segments and :name parameters (which match one non-empty
// segment).
func routeMatches(pattern, path string) bool {
	want, got := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		if strings.HasPrefix(w, ":") {
			if got[i] == "" {
				return false
			}
		} else if w != got[i] {
			return false
		}
	}
	return true
}
