package function

import (
	"errors"
	"image"
	"runtime"
	"testing"
)

func TestFitRoundsToNearestAndNeverUpscales(t *testing.T) {
	tests := []struct {
		w, h   int
		b      box
		ww, wh int
	}{
		{150, 103, box{256, 256}, 150, 103}, // fits: kept
		{256, 256, box{256, 256}, 256, 256}, // exactly the box
		{512, 512, box{256, 256}, 256, 256}, // square
		{150, 103, box{64, 64}, 64, 44},     // 43.95 rounds up
		{150, 103, box{100, 30}, 44, 30},    // height limits: 43.69
		{300, 200, box{256, 256}, 256, 171}, // 170.67
		{3, 2, box{2, 2}, 2, 1},             // 1.33 rounds down
		{1000, 3, box{200, 200}, 200, 1},    // 0.6 rounds up to 1
		{4000, 1, box{256, 256}, 256, 1},    // 0.064 is kept at 1
		{1, 4000, box{256, 256}, 1, 256},    // and the other way
		{4000, 30, box{256, 256}, 256, 2},   // 1.92
		{400, 300, box{200, 150}, 200, 150}, // same aspect as the box
		{10000, 5000, box{4096, 1}, 2, 1},   // 2.0 wide
		{50_000_000, 1, box{4096, 4096}, 4096, 1},
	}
	for _, tt := range tests {
		w, h := fit(tt.w, tt.h, tt.b)
		if w != tt.ww || h != tt.wh {
			t.Errorf("fit(%d, %d, %v) = %d, %d; want %d, %d", tt.w, tt.h, tt.b,
				w, h, tt.ww, tt.wh)
		}
	}
}

func TestParseBoxAcceptsSideOrWidthByHeight(t *testing.T) {
	tests := []struct {
		s    string
		want box
	}{
		{"128", box{128, 128}},
		{"128x96", box{128, 96}},
		{"1x4096", box{1, 4096}},
		{"0064", box{64, 64}},
	}
	for _, tt := range tests {
		got, err := parseBox(tt.s)
		if err != nil || got != tt.want {
			t.Errorf("parseBox(%q) = %v, %v; want %v", tt.s, got, err, tt.want)
		}
	}
}

func TestParseBoxRefusesNonsense(t *testing.T) {
	for _, s := range []string{"0", "4097", "-5", "abc", "", "5x", "x5", "5x5x5"} {
		if _, err := parseBox(s); !errors.Is(err, errNotSize) {
			t.Errorf("parseBox(%q) error = %v, want errNotSize", s, err)
		}
	}
}

func TestScaleKeepsWorkingMemorySmallForTallImages(t *testing.T) {
	// Catmull-Rom would need 32 bytes × 1 column × 2,500,000 rows, 80 MB,
	// for this image; scale must switch to bilinear instead.
	src := image.NewGray(image.Rect(0, 0, 1, 2_500_000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	thumb := scale(src, box{DefaultSide, DefaultSide})

	runtime.ReadMemStats(&after)
	if b := thumb.Bounds(); b.Dx() != 1 || b.Dy() != DefaultSide {
		t.Errorf("thumbnail is %dx%d, want 1x%d", b.Dx(), b.Dy(), DefaultSide)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("scale allocated %d MB, want under 16 MB", n>>20)
	}
}
