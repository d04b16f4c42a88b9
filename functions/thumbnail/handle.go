// Package function is Ferry's thumbnail function: a kn func CloudEvents
// function that answers each dev.ferry.thumbnail event carrying a JPEG, PNG
// or GIF image with a dev.ferry.thumbnail.done reply carrying a PNG that
// fits in 256×256 (or the box the event's thumbnailsize attribute asks for),
// its aspect ratio kept and never upscaled.
//
// An input that can never succeed (an image that does not decode, a JPEG
// that is cut short, more than MaxPixels pixels, a bad thumbnailsize) is
// answered with a dev.ferry.thumbnail.failed reply carrying
// application/problem+json, never with a 4xx; see Problem. The function
// keeps no state between events.
package function

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // register the decoders that image.Decode tries
	_ "image/jpeg"
	"image/png"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"golang.org/x/image/draw"
)

// Event types and the source of replies.
const (
	// EventType is the type of the events this function handles; its
	// Trigger filters on it (see func.yaml).
	EventType = "dev.ferry.thumbnail"
	// DoneType is the type of the reply that carries the thumbnail.
	DoneType = EventType + ".done"
	// FailedType is the type of the reply to an input that can never
	// succeed.
	FailedType = EventType + ".failed"
	// Source is the source attribute of every reply.
	Source = "/ferry/functions/thumbnail"
)

// Extensions set on a DoneType reply, as integers.
const (
	// WidthExtension holds the thumbnail's width in pixels.
	WidthExtension = "thumbnailwidth"
	// HeightExtension holds the thumbnail's height in pixels.
	HeightExtension = "thumbnailheight"
)

// MaxPixels is the largest image, in width times height as the image's
// header declares it, that the function decodes. The header is read before
// any pixel, so a small file that declares a huge image (a decompression
// bomb) is refused without allocating for it. The decoded image then takes
// at most 200 MB (4 bytes a pixel), or 400 MB for a 16-bit PNG.
const MaxPixels = 50_000_000

// ProblemTooLarge is the problem type of an image with more than MaxPixels
// pixels.
const ProblemTooLarge = "https://ferry.dev/problems/input-too-large"

// Function makes thumbnails. It holds no state, so one instance serves
// concurrent events; its zero value is ready to use.
type Function struct{}

// New returns a Function; kn func's runtime calls it once at start.
func New() *Function {
	return &Function{}
}

// Handle answers e with a DoneType reply carrying the thumbnail as
// image/png, or with a FailedType reply when e can never succeed. It returns
// an error, which the runtime answers with a 5xx that the broker retries,
// only when ctx ends before the thumbnail is made.
func (f *Function) Handle(ctx context.Context, e event.Event) (*event.Event, error) {
	start := time.Now()
	log := slog.Default().With("function", "thumbnail", "id", e.ID(),
		"source", e.Source(), "type", e.Type())

	thumb, err := thumbnail(ctx, e)
	var broken *brokenInput
	if errors.As(err, &broken) {
		log.Warn("broken input", "problem", broken.typ, "detail", broken.Error())
		return failedReply(e, broken)
	}
	if err != nil {
		log.Error("thumbnail", "err", err)
		return nil, fmt.Errorf("thumbnail %s: %w", e.ID(), err)
	}

	out, err := doneReply(e, thumb)
	if err != nil {
		return nil, fmt.Errorf("thumbnail %s: %w", e.ID(), err)
	}

	b := thumb.Bounds()
	log.Info("thumbnail done", "width", b.Dx(), "height", b.Dy(),
		"duration", time.Since(start))
	return out, nil
}

// thumbnail decodes e's data and scales it to the box e asks for.
func thumbnail(ctx context.Context, e event.Event) (image.Image, error) {
	bounds, err := boxFor(e)
	if err != nil {
		return nil, err
	}

	img, err := decode(e.Data())
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	return scale(img, bounds), nil
}

// decode reads a JPEG, PNG or GIF, known by its content whatever the
// datacontenttype says. A GIF gives its first frame. A JPEG that lacks
// scans or ends early is refused (see checkJPEG) even where Go's decoder
// would fill the gap with zeros.
func decode(data []byte) (image.Image, error) {
	if len(data) == 0 {
		return nil, invalidInput(errors.New("no data: want JPEG, PNG or GIF bytes"))
	}

	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, invalidInput(decodeError(err))
	}
	if err := checkPixels(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if format == "jpeg" {
		if err := checkJPEG(data); err != nil {
			return nil, invalidInput(err)
		}
	}

	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, invalidInput(decodeError(err))
	}
	return img, nil
}

func decodeError(err error) error {
	if errors.Is(err, image.ErrFormat) {
		return errors.New("decode image: unknown format: want JPEG, PNG or GIF")
	}
	return fmt.Errorf("decode image: %w", err)
}

// checkPixels refuses an image without pixels or with more than MaxPixels.
func checkPixels(w, h int) error {
	if w <= 0 || h <= 0 {
		return invalidInput(fmt.Errorf("decode image: image is %dx%d", w, h))
	}

	n := int64(w) * int64(h)
	if n > MaxPixels {
		err := fmt.Errorf("image is %dx%d, %d pixels; the limit is %d",
			w, h, n, MaxPixels)
		return &brokenInput{typ: ProblemTooLarge, title: "Input too large", err: err}
	}
	return nil
}

// scaleBufferMax bounds the working buffer of the Catmull-Rom kernel, which
// holds 32 bytes for every thumbnail column times every source row: 58 MB
// for a 7071×7071 image in the default box, but 1.8 GB for a 1×20,000,000
// one or 950 MB for 7071×7071 into 4096×4096. Past this many bytes scale
// falls back to bilinear interpolation, which needs no buffer.
const scaleBufferMax = 64 << 20

// scale fits img in b. It uses the Catmull-Rom kernel, which stays sharp
// when shrinking by large factors, unless its working buffer would pass
// scaleBufferMax. An image that already fits keeps its pixels, with 8 bits
// a channel like a scaled one.
func scale(img image.Image, b box) image.Image {
	src := img.Bounds()
	w, h := fit(src.Dx(), src.Dy(), b)
	if w == src.Dx() && h == src.Dy() {
		return eightBit(img)
	}

	var kernel draw.Interpolator = draw.CatmullRom
	if int64(w)*int64(src.Dy())*32 > scaleBufferMax {
		kernel = draw.ApproxBiLinear
	}

	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	kernel.Scale(dst, dst.Bounds(), img, src, draw.Src, nil)
	return dst
}

// eightBit returns img in a type that image/png writes with 8 bits a
// channel. The PNG encoder writes other types, such as a JPEG's YCbCr or a
// 16-bit PNG's RGBA64, with 16 bits, doubling the size for no gain.
func eightBit(img image.Image) image.Image {
	switch img.(type) {
	case *image.RGBA, *image.NRGBA, *image.Gray, *image.Paletted:
		return img
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// doneReply is the DoneType reply to in carrying thumb as a PNG.
func doneReply(in event.Event, thumb image.Image) (*event.Event, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, thumb); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}

	out := newReply(in, DoneType)
	b := thumb.Bounds()
	out.SetExtension(WidthExtension, b.Dx())
	out.SetExtension(HeightExtension, b.Dy())
	if err := out.SetData("image/png", buf.Bytes()); err != nil {
		return nil, err
	}
	return &out, nil
}
