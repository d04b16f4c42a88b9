package function

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color/palette"
	"image/gif"
	"image/png"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
)

// dataDir holds the shared sample files: /work/shared/data seen from
// /work/main/functions/thumbnail.
const dataDir = "../../../shared/data/"

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(dataDir + name)
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}

// newEvent is a dev.ferry.thumbnail event carrying data, as the broker
// delivers it.
func newEvent(t *testing.T, contentType string, data []byte) event.Event {
	t.Helper()
	e := event.New()
	e.SetID("task-1")
	e.SetSource("/test/producer")
	e.SetType(EventType)
	e.SetSubject("photos/sample")
	if err := e.SetData(contentType, data); err != nil {
		t.Fatalf("set data: %v", err)
	}
	return e
}

// handle runs the function on e and checks that the reply is a valid
// CloudEvent, as the runtime would send it.
func handle(t *testing.T, e event.Event) *event.Event {
	t.Helper()
	out, err := New().Handle(context.Background(), e)
	if err != nil {
		t.Fatalf("Handle returned error %v; want a reply", err)
	}
	if out == nil {
		t.Fatal("Handle returned no reply")
	}
	if err := out.Validate(); err != nil {
		t.Fatalf("reply is not a valid CloudEvent: %v", err)
	}
	return out
}

// thumbOf checks that out is a done reply and decodes its PNG.
func thumbOf(t *testing.T, out *event.Event) image.Image {
	t.Helper()
	if out.Type() != DoneType {
		t.Fatalf("reply type = %q, want %q (data %s)", out.Type(), DoneType,
			out.Data())
	}
	if ct := out.DataContentType(); ct != "image/png" {
		t.Fatalf("datacontenttype = %q, want image/png", ct)
	}
	img, err := png.Decode(bytes.NewReader(out.Data()))
	if err != nil {
		t.Fatalf("reply data is not a PNG: %v", err)
	}
	switch img.(type) {
	case *image.RGBA64, *image.NRGBA64, *image.Gray16:
		t.Errorf("thumbnail is a 16-bit PNG (%T); want 8 bits a channel", img)
	}

	b := img.Bounds()
	ext := out.Extensions()
	if w, _ := ext[WidthExtension].(int32); int(w) != b.Dx() {
		t.Errorf("%s = %v, PNG is %d wide", WidthExtension, ext[WidthExtension],
			b.Dx())
	}
	if h, _ := ext[HeightExtension].(int32); int(h) != b.Dy() {
		t.Errorf("%s = %v, PNG is %d high", HeightExtension,
			ext[HeightExtension], b.Dy())
	}
	return img
}

// problemOf checks that out is a failed reply and decodes its problem.
func problemOf(t *testing.T, out *event.Event) Problem {
	t.Helper()
	if out.Type() != FailedType {
		t.Fatalf("reply type = %q, want %q", out.Type(), FailedType)
	}
	if ct := out.DataContentType(); ct != ProblemContentType {
		t.Fatalf("datacontenttype = %q, want %q", ct, ProblemContentType)
	}
	var p Problem
	if err := json.Unmarshal(out.Data(), &p); err != nil {
		t.Fatalf("reply data %q is not a problem: %v", out.Data(), err)
	}
	if p.Title == "" || p.Detail == "" {
		t.Errorf("problem %+v lacks a title or a detail", p)
	}
	return p
}

// wantSize computes, independently of fit, the size of a w×h image shrunk
// to fit bw×bh: one scale factor for both sides, at most 1, sides rounded
// and at least 1.
func wantSize(w, h, bw, bh int) (int, int) {
	s := math.Min(1, math.Min(float64(bw)/float64(w), float64(bh)/float64(h)))
	sw := max(1, int(math.Round(float64(w)*s)))
	sh := max(1, int(math.Round(float64(h)*s)))
	return sw, sh
}

func sampleSize(t *testing.T, data []byte) (int, int) {
	t.Helper()
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("sample config: %v", err)
	}
	return cfg.Width, cfg.Height
}

func assertSize(t *testing.T, img image.Image, w, h int) {
	t.Helper()
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("thumbnail is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJPEGThatFitsKeepsItsSizeAndBecomesPNG(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	in := newEvent(t, "image/jpeg", data)

	out := handle(t, in)

	sw, sh := sampleSize(t, data)
	w, h := wantSize(sw, sh, 256, 256)
	if w != sw || h != sh {
		t.Fatalf("test assumes the sample fits in 256x256, it is %dx%d", sw, sh)
	}
	assertSize(t, thumbOf(t, out), w, h)

	if out.Source() != Source {
		t.Errorf("source = %q, want %q", out.Source(), Source)
	}
	if out.Subject() != in.Subject() {
		t.Errorf("subject = %q, want the input's %q", out.Subject(), in.Subject())
	}
	if out.ID() == "" || out.ID() == in.ID() {
		t.Errorf("reply id = %q, want a new id", out.ID())
	}
	if v := out.Extensions()["causationid"]; v != in.ID() {
		t.Errorf("reply causationid = %v, want the input's id %s", v, in.ID())
	}
	if v, ok := out.Extensions()["correlationid"]; ok {
		t.Errorf("reply correlationid = %v; the input has none", v)
	}
	in.SetExtension("correlationid", "task-42")
	if v := handle(t, in).Extensions()["correlationid"]; v != "task-42" {
		t.Errorf("reply correlationid = %v, want the input's task-42", v)
	}
}

func TestJPEGShrinksToRequestedBox(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	sw, sh := sampleSize(t, data)

	tests := []struct {
		size   any
		bw, bh int
	}{
		{"64", 64, 64},
		{"100x30", 100, 30},
		{"40x200", 40, 200},
		{"1", 1, 1},
		{int32(96), 96, 96}, // a JSON number in a structured-mode event
	}
	for _, tt := range tests {
		in := newEvent(t, "application/octet-stream", data)
		in.SetExtension(SizeExtension, tt.size)

		img := thumbOf(t, handle(t, in))

		w, h := wantSize(sw, sh, tt.bw, tt.bh)
		if w > tt.bw || h > tt.bh {
			t.Fatalf("wantSize(%d, %d, %d, %d) = %d, %d overflows the box",
				sw, sh, tt.bw, tt.bh, w, h)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s=%v: thumbnail is %dx%d, want %dx%d", SizeExtension,
				tt.size, b.Dx(), b.Dy(), w, h)
		}
	}
}

func TestSixteenBitPNGBecomesEightBit(t *testing.T) {
	src := image.NewRGBA64(image.Rect(0, 0, 40, 30))
	for i := range src.Pix {
		src.Pix[i] = 0xff
	}
	in := newEvent(t, "image/png", encodePNG(t, src))

	img := thumbOf(t, handle(t, in))

	assertSize(t, img, 40, 30)
}

func TestLargerBoxNeverUpscales(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	in := newEvent(t, "image/jpeg", data)
	in.SetExtension(SizeExtension, "1024x1024")

	img := thumbOf(t, handle(t, in))

	sw, sh := sampleSize(t, data)
	assertSize(t, img, sw, sh)
}

func TestPNGKeepsTransparency(t *testing.T) {
	data := readSample(t, "ffox.png")
	src, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	in := newEvent(t, "image/png", data)
	in.SetExtension(SizeExtension, "50")

	img := thumbOf(t, handle(t, in))

	sb := src.Bounds()
	w, h := wantSize(sb.Dx(), sb.Dy(), 50, 50)
	assertSize(t, img, w, h)

	// The sample's corner is fully transparent and its centre opaque; the
	// thumbnail must keep both.
	if _, _, _, a := src.At(0, 0).RGBA(); a != 0 {
		t.Fatalf("test assumes a transparent corner in the sample, alpha %d", a)
	}
	if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
		t.Errorf("thumbnail corner alpha = %d, want 0", a)
	}
	if _, _, _, a := img.At(w/2, h/2).RGBA(); a != 0xffff {
		t.Errorf("thumbnail centre alpha = %d, want opaque", a)
	}
}

func TestGIFGivesPNGThumbnail(t *testing.T) {
	src := image.NewPaletted(image.Rect(0, 0, 300, 200), palette.Plan9)
	for y := 0; y < 200; y++ {
		for x := 0; x < 300; x++ {
			src.SetColorIndex(x, y, uint8((x/30+y/20)%len(palette.Plan9)))
		}
	}
	var buf bytes.Buffer
	if err := gif.Encode(&buf, src, nil); err != nil {
		t.Fatal(err)
	}
	in := newEvent(t, "image/gif", buf.Bytes())

	img := thumbOf(t, handle(t, in))

	w, h := wantSize(300, 200, 256, 256)
	assertSize(t, img, w, h)
}

func TestExtremeAspectRatioKeepsOnePixel(t *testing.T) {
	tests := []struct{ w, h int }{{4000, 1}, {1, 4000}, {3000, 7}}
	for _, tt := range tests {
		src := image.NewGray(image.Rect(0, 0, tt.w, tt.h))
		for i := range src.Pix {
			src.Pix[i] = uint8(i)
		}
		in := newEvent(t, "image/png", encodePNG(t, src))

		img := thumbOf(t, handle(t, in))

		w, h := wantSize(tt.w, tt.h, 256, 256)
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%dx%d: thumbnail is %dx%d, want %dx%d", tt.w, tt.h,
				b.Dx(), b.Dy(), w, h)
		}
	}
}

func TestBrokenImageFails(t *testing.T) {
	progressive := readSample(t, "video-001.progressive.truncated.jpeg")
	baseline := readSample(t, "video-001.jpeg")
	if !bytes.HasSuffix(progressive, []byte{0xff, 0xd9}) {
		t.Fatal("test assumes the progressive sample ends with an EOI marker")
	}

	tests := []struct {
		name   string
		data   []byte
		detail string
	}{
		{"progressive JPEG cut before its end marker",
			progressive[:len(progressive)-2], errJPEGEndsEarly.Error()},
		{"baseline JPEG cut in half",
			baseline[:len(baseline)/2], errJPEGEndsEarly.Error()},
		{"baseline JPEG without its end marker",
			baseline[:len(baseline)-2], errJPEGEndsEarly.Error()},
		{"JPEG cut inside its header",
			baseline[:100], "decode image: unexpected EOF"},
		{"CSV text", readSample(t, "stocks.csv"),
			"decode image: unknown format"},
		{"no data", nil, "no data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemOf(t, handle(t, newEvent(t, "image/jpeg", tt.data)))

			if p.Type != ProblemInvalidInput {
				t.Errorf("problem type = %q, want %q", p.Type, ProblemInvalidInput)
			}
			if !strings.HasPrefix(p.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to start with %q", p.Detail,
					tt.detail)
			}
		})
	}
}

// The shared "truncated" progressive JPEG lacks its later scans but ends
// with a proper end-of-image marker. Go's decoder, like libjpeg, would
// build a blurred, off-colour image from the scans it has; the function
// refuses it instead, with no retry.
func TestProgressiveJPEGMissingLaterScansFails(t *testing.T) {
	data := readSample(t, "video-001.progressive.truncated.jpeg")

	p := problemOf(t, handle(t, newEvent(t, "image/jpeg", data)))

	if p.Type != ProblemInvalidInput {
		t.Errorf("problem type = %q, want %q", p.Type, ProblemInvalidInput)
	}
	want := "progressive JPEG is incomplete: component 1 lacks its DC " +
		"coefficient and AC coefficients 1-63 at full precision (scans are " +
		"missing, as when a file is cut short)"
	if p.Detail != want {
		t.Errorf("detail = %q,\nwant %q", p.Detail, want)
	}
}

func TestBadSizeFails(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	sizes := []any{
		"0", "-1", "-128", "4097", "100000000000", "abc", "", " 128",
		"128 ", "+128", "12.5", "1e2", "128x", "x128", "128x0", "0x128",
		"128x96x2", "128X96", true,
	}
	for _, size := range sizes {
		in := newEvent(t, "image/jpeg", data)
		in.SetExtension(SizeExtension, size)

		p := problemOf(t, handle(t, in))

		if p.Type != ProblemInvalidOption {
			t.Errorf("size %#v: problem type = %q, want %q", size, p.Type,
				ProblemInvalidOption)
		}
		if !strings.HasPrefix(p.Detail, SizeExtension) {
			t.Errorf("size %#v: detail %q does not name %s", size, p.Detail,
				SizeExtension)
		}
	}
}

func TestDecompressionBombRefusedBeforeDecoding(t *testing.T) {
	// A GIF header declaring a 65535×65535 screen and no pixel data: a full
	// decode would need 4 GB, and would fail on the missing data anyway.
	bomb := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00")
	in := newEvent(t, "image/gif", bomb)

	p := problemOf(t, handle(t, in))

	if p.Type != ProblemTooLarge {
		t.Errorf("problem type = %q, want %q", p.Type, ProblemTooLarge)
	}
	want := "image is 65535x65535, 4294836225 pixels; the limit is 50000000"
	if p.Detail != want {
		t.Errorf("detail = %q, want %q", p.Detail, want)
	}
}

func TestFailedReplyCarriesInputSubject(t *testing.T) {
	in := newEvent(t, "image/png", []byte("not an image"))

	out := handle(t, in)

	problemOf(t, out)
	if out.Source() != Source || out.Subject() != in.Subject() {
		t.Errorf("reply source, subject = %q, %q; want %q, %q", out.Source(),
			out.Subject(), Source, in.Subject())
	}
}

func TestCanceledContextIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := newEvent(t, "image/jpeg", readSample(t, "video-001.jpeg"))

	out, err := New().Handle(ctx, in)

	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if out != nil {
		t.Errorf("reply = %v, want none so that the broker retries", out)
	}
}
