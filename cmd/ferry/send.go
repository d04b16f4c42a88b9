package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// sendSource is the source of the events `ferry send` posts.
const sendSource = "/ferry/send"

// extFlag collects repeated --ext name=value flags.
type extFlag map[string]string

func (e extFlag) String() string { return fmt.Sprint(map[string]string(e)) }
func (e extFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want name=value", v)
	}
	e[strings.ToLower(name)] = value
	return nil
}

type sendOptions struct {
	addr, typ, source, id, contentType, out string
	ext                                     extFlag
	wait                                    bool
	timeout                                 time.Duration
}

func runSend(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := sendOptions{ext: extFlag{}}
	fs.StringVar(&o.addr, "addr", "http://127.0.0.1:8080",
		"the ingress: a URL, or host:port as ferry dev's --addr")
	fs.StringVar(&o.typ, "type", "", "the event's type, e.g. dev.ferry.thumbnail (required)")
	fs.StringVar(&o.source, "source", sendSource, "the event's source")
	fs.StringVar(&o.id, "id", "", "the event's id (default: a new UUID)")
	fs.StringVar(&o.contentType, "content-type", "",
		"the data's media type (default: from the file name, else sniffed)")
	fs.Var(o.ext, "ext", "an extension attribute name=value (repeatable)")
	fs.BoolVar(&o.wait, "wait", false, "wait for the task to finish and print it")
	fs.StringVar(&o.out, "out", "", "write the result's data to this file (implies --wait)")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute,
		"how long to wait for the ingress and for the task")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ferry send --type TYPE [flags] FILE|-")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case o.typ == "":
		fmt.Fprintln(stderr, "ferry send: --type is required")
		fs.Usage()
		return 2
	case fs.NArg() != 1:
		fmt.Fprintln(stderr, "ferry send: name one FILE to send (or - for stdin)")
		fs.Usage()
		return 2
	}
	if o.out != "" {
		o.wait = true
	}
	o.addr = baseURL(o.addr)

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	code, err := send(ctx, o, fs.Arg(0), stdout)
	if err != nil {
		fmt.Fprintln(stderr, "ferry send:", err)
	}
	return code
}

// send posts the file and, with --wait, follows the task. It returns the
// exit code: 0 on success, 1 on a failed task or an error.
func send(ctx context.Context, o sendOptions, path string, stdout io.Writer) (
	int, error) {
	data, err := readInput(path)
	if err != nil {
		return 1, err
	}
	if o.contentType == "" {
		o.contentType = guessContentType(path, data)
	}
	if o.id == "" {
		o.id = uuid.NewString()
	}

	accepted, err := postEvent(ctx, o, data)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "accepted: task %s (%s)\n", accepted.ID, accepted.Href)
	if !o.wait {
		return 0, nil
	}

	task, err := waitTask(ctx, o.addr, accepted.ID)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "task %s: %s after %d attempt(s)\n", task.ID, task.State,
		task.Attempts)
	if task.State == "failed" {
		return 1, fmt.Errorf("task failed: %s", task.Reason)
	}
	if task.State != "succeeded" && task.settled() {
		return 1, fmt.Errorf("task %s: %s", task.State, task.Reason)
	}
	if task.State != "succeeded" {
		return 1, fmt.Errorf("task still %s when --timeout ran out", task.State)
	}
	if o.out == "" {
		return 0, printResult(ctx, o.addr, task.ID, stdout)
	}
	return 0, saveResult(ctx, o.addr, task.ID, o.out, stdout)
}

func readInput(path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

func guessContentType(path string, data []byte) string {
	if ct := mime.TypeByExtension(filepath.Ext(path)); ct != "" {
		return ct
	}
	return http.DetectContentType(data)
}

// acceptance is the ingress's 202 body, the part `ferry send` reads.
type acceptance struct {
	ID   string `json:"id"`
	Href string `json:"href"`
}

// postEvent posts data as a binary-mode CloudEvent. Until ctx ends it
// retries while the ingress is not listening yet or answers 503, so that it
// can be started right after `ferry dev`.
func postEvent(ctx context.Context, o sendOptions, data []byte) (*acceptance, error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost,
			strings.TrimRight(o.addr, "/")+"/v1/events", bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", o.id)
		req.Header.Set("Ce-Source", o.source)
		req.Header.Set("Ce-Type", o.typ)
		req.Header.Set("Ce-Time", time.Now().UTC().Format(time.RFC3339Nano))
		for k, v := range o.ext {
			req.Header.Set("Ce-"+k, v)
		}
		req.Header.Set("Content-Type", o.contentType)

		resp, err := http.DefaultClient.Do(req)
		if err == nil && resp.StatusCode != http.StatusServiceUnavailable {
			return readAcceptance(resp)
		}
		if err == nil {
			resp.Body.Close()
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("ingress at %s not reachable: %w", o.addr, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func readAcceptance(resp *http.Response) (*acceptance, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, fmt.Errorf("ingress answered %s: %s", resp.Status,
			strings.TrimSpace(string(body)))
	}
	var a acceptance
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("read 202 body: %w", err)
	}
	return &a, nil
}
