package function

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/types"
)

// Size options. A producer asks for another bounding box with the
// SizeExtension attribute: "128" means 128×128, "128x96" means 128 wide and
// 96 high. Each side must be a whole number from 1 to MaxSide; anything else
// is answered with a ProblemInvalidOption reply.
const (
	// SizeExtension is the CloudEvents extension attribute that asks for a
	// bounding box other than DefaultSide×DefaultSide.
	SizeExtension = "thumbnailsize"
	// DefaultSide is the side of the square bounding box used when an
	// event carries no SizeExtension.
	DefaultSide = 256
	// MaxSide is the largest side a producer may ask for.
	MaxSide = 4096
)

// ProblemInvalidOption is the problem type of an event attribute that asks
// for something impossible, such as thumbnailsize "0".
const ProblemInvalidOption = "https://ferry.dev/problems/invalid-option"

// box is the bounding box a thumbnail must fit in.
type box struct{ w, h int }

// boxFor reads the bounding box that e asks for.
func boxFor(e event.Event) (box, error) {
	v, ok := e.Extensions()[SizeExtension]
	if !ok {
		return box{DefaultSide, DefaultSide}, nil
	}

	// A binary-mode event carries a string; a structured-mode event may
	// carry a JSON number, which the SDK holds as an int32.
	s, err := types.Format(v)
	if err != nil {
		return box{}, invalidOption(fmt.Errorf("%s: %w", SizeExtension, err))
	}

	b, err := parseBox(s)
	if err != nil {
		return box{}, invalidOption(fmt.Errorf("%s %q: %w", SizeExtension, s, err))
	}
	return b, nil
}

var errNotSize = fmt.Errorf("want N or WxH, whole numbers from 1 to %d", MaxSide)

// parseBox parses "N" as N×N and "WxH" as W×H.
func parseBox(s string) (box, error) {
	ws, hs, found := strings.Cut(s, "x")
	w, err := parseSide(ws)
	if err != nil {
		return box{}, err
	}
	if !found {
		return box{w, w}, nil
	}

	h, err := parseSide(hs)
	if err != nil {
		return box{}, err
	}
	return box{w, h}, nil
}

// parseSide accepts only ASCII digits, so signs, spaces, fractions and
// exponents are refused rather than guessed at.
func parseSide(s string) (int, error) {
	if s == "" || len(s) > 9 {
		return 0, errNotSize
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errNotSize
		}
	}

	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errNotSize
	}
	if n < 1 || n > MaxSide {
		return 0, fmt.Errorf("side %d is out of range: %w", n, errNotSize)
	}
	return n, nil
}

// fit returns the size of a w×h image scaled to fit b with its aspect
// ratio kept. An image that already fits keeps its size: thumbnails are
// never upscaled. The scaled side is rounded to the nearest pixel, halves
// up, and is never less than 1, so a 4000×1 image in a 256 box is 256×1.
func fit(w, h int, b box) (int, int) {
	if w <= b.w && h <= b.h {
		return w, h
	}

	// Integer arithmetic in int64: w*b.h compares the aspect ratios
	// exactly, and sides up to 50 million times 4096 cannot overflow.
	sw, sh, bw, bh := int64(w), int64(h), int64(b.w), int64(b.h)
	if sw*bh >= sh*bw {
		return b.w, int(max(1, (2*sh*bw+sw)/(2*sw)))
	}
	return int(max(1, (2*sw*bh+sh)/(2*sh))), b.h
}

func invalidOption(err error) error {
	return &brokenInput{typ: ProblemInvalidOption, title: "Invalid option", err: err}
}
