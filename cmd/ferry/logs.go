package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ferryfn/ferry/devstack"
)

// logPollInterval is how often `ferry logs -f` looks for new lines.
const logPollInterval = 200 * time.Millisecond

func runLogs(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ferry logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", devstack.DataDirDefault,
		"the data dir of ferry dev")
	follow := fs.Bool("f", false, "keep printing lines as they are written")
	tail := fs.Int("n", 0, "print only the last n lines (0: all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ferry logs [flags] FUNCTION")
		fmt.Fprintln(stderr, "Prints the output of a function's processes "+
			"under ferry dev (<data-dir>/logs/FUNCTION.log).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}

	path := filepath.Join(*dataDir, "logs", fs.Arg(0)+".log")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	if err := printLog(ctx, path, *tail, *follow, stdout); err != nil {
		fmt.Fprintln(stderr, "ferry logs:", err)
		return 1
	}
	return 0
}

// printLog writes the log at path to w (its last tail lines when tail >
// 0) and, with follow, what is appended to it until ctx ends. A log that
// is truncated or replaced while followed is read again from its start.
func printLog(ctx context.Context, path string, tail int, follow bool,
	w io.Writer) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no log at %s: the function has not run under "+
			"this data dir yet", path)
	}
	if err != nil {
		return err
	}
	defer func() { f.Close() }()

	if tail > 0 {
		if err := seekTail(f, tail); err != nil {
			return err
		}
	}
	if _, err := io.Copy(w, f); err != nil || !follow {
		return err
	}

	t := time.NewTicker(logPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if f, err = reopenIfReplaced(f, path); err != nil {
			return err
		}
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
	}
}

// seekTail moves f to the start of its last n lines, reading backwards
// from its end.
func seekTail(f *os.File, n int) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	buf := make([]byte, 32<<10)
	seen := 0
	for pos := size; pos > 0; {
		chunk := min(int64(len(buf)), pos)
		pos -= chunk
		if _, err := f.ReadAt(buf[:chunk], pos); err != nil {
			return err
		}
		for i := chunk - 1; i >= 0; i-- {
			// The newline that ends the file starts no line.
			if buf[i] != '\n' || pos+i == size-1 {
				continue
			}
			if seen++; seen == n {
				_, err := f.Seek(pos+i+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

// reopenIfReplaced returns f, or the file now at path, from its start,
// when path was truncated or replaced since f was opened.
func reopenIfReplaced(f *os.File, path string) (*os.File, error) {
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return f, err
	}
	cur, err := os.Stat(path)
	if err != nil {
		return f, nil // gone for now; keep the old one
	}
	old, err := f.Stat()
	if err != nil {
		return f, err
	}
	switch {
	case !os.SameFile(old, cur):
		nf, err := os.Open(path)
		if err != nil {
			return f, nil
		}
		f.Close()
		return nf, nil
	case cur.Size() < pos:
		_, err := f.Seek(0, io.SeekStart)
		return f, err
	}
	return f, nil
}
