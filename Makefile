# Ferry's two everyday commands:
#   make run    start `ferry dev` and send it a real photo; keeps serving
#   make test   every test of the module and of each function
# and `make bench` (measurements, see docs/performance.md).
.DEFAULT_GOAL := run

GO        ?= go
ADDR      ?= 127.0.0.1:8080
DATA      ?= ../shared/data
FUNCTIONS := $(wildcard functions/*/go.mod)

.PHONY: run build test vet fmt clean images render

build:
	$(GO) build -o bin/ferry ./cmd/ferry

# Starts the dev stack, posts $(DATA)/video-001.jpeg as dev.ferry.thumbnail
# (asking for a 96-pixel box), waits for the thumbnail and saves it to
# .ferry/video-001.thumbnail.png, then keeps serving until Ctrl-C so that the
# README's curl examples work. ferry dev takes its port and data dir before
# it builds, so a second one fails within the first second.
run: build
	@mkdir -p .ferry
	@bin/ferry dev --addr $(ADDR) & dev=$$!; \
	trap 'kill $$dev 2>/dev/null; wait $$dev' INT TERM; \
	sleep 1; kill -0 $$dev 2>/dev/null || { wait $$dev; exit 1; }; \
	bin/ferry send --addr http://$(ADDR) --type dev.ferry.thumbnail \
		--ext thumbnailsize=96 --timeout 2m \
		--out .ferry/video-001.thumbnail.png $(DATA)/video-001.jpeg \
		|| { kill $$dev 2>/dev/null; wait $$dev; exit 1; }; \
	echo "Ferry is running on http://$(ADDR); Ctrl-C stops it."; \
	wait $$dev

# The fault tests stop and start RabbitMQ, so they run alone, last.
test:
	$(GO) test -count=1 ./...
	@for m in $(FUNCTIONS); do \
		d=$$(dirname $$m); echo "== $$d"; \
		(cd $$d && $(GO) test -count=1 ./...) || exit 1; \
	done
	$(GO) test -count=1 -tags faults -p 1 ./faults/

# Ferry measured against RabbitMQ's raw ceiling on this machine, printed
# as one markdown table (about 90 s; see docs/performance.md). It
# needs RabbitMQ and Redis at FERRY_AMQP_URL and FERRY_REDIS_URL (loopback
# by default); BENCHFLAGS passes flags, e.g. BENCHFLAGS='--duration 5s'.
.PHONY: bench
bench: build
	bin/ferry bench $(BENCHFLAGS)
	@echo "== functions: cold start from zero (50 runs), burst of 200 x 100 ms, idle memory"
	$(GO) test -run '^$$' -bench 'ColdStart' -benchtime 50x ./runner
	$(GO) test -run '^$$' -bench 'Burst' -benchtime 1x ./runner
	$(GO) test -run '^$$' -bench 'IdleMemory' -benchtime 1x ./cmd/ferry

# OCI images of every function and of the ingress, built without Docker
# into bin/images/<name>/ (OCI layouts; push them with skopeo or crane).
images: build
	bin/ferry images --out bin/images

# The functions' and the ingress's Knative manifests, from each func.yaml,
# into config/functions/ (checked in; a test fails when they are stale).
render: build
	bin/ferry render

vet:
	$(GO) vet ./...
	@for m in $(FUNCTIONS); do (cd $$(dirname $$m) && $(GO) vet ./...) || exit 1; done

fmt:
	gofmt -l -w .

clean:
	rm -rf bin .ferry
