package function

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The test streams below are built from marker segments with a few bytes
// standing in for entropy-coded data: checkJPEG never decodes that data,
// so it need not be valid Huffman code.

// entropy stands for a scan's entropy-coded data. It holds a stuffed 0xFF
// ("FF 00") and a restart marker, neither of which ends the data.
var entropy = []byte{0x12, 0xff, 0x00, 0x34, 0xff, markerRST0, 0x56}

// segment is marker followed by its length and params.
func segment(marker byte, params ...byte) []byte {
	n := len(params) + 2
	return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, params...)
}

// frame is a start-of-frame segment for a 16×16 image with components of
// the given identifiers, each sampled 1×1.
func frame(sof byte, ids ...byte) []byte {
	params := []byte{8, 0, 16, 0, 16, byte(len(ids))}
	for _, id := range ids {
		params = append(params, id, 0x11, 0)
	}
	return segment(sof, params...)
}

// scan is a start-of-scan segment for the components ids, followed by
// entropy-coded data.
func scan(ss, se, ah, al byte, ids ...byte) []byte {
	params := []byte{byte(len(ids))}
	for _, id := range ids {
		params = append(params, id, 0)
	}
	params = append(params, ss, se, ah<<4|al)
	return append(segment(markerSOS, params...), entropy...)
}

// stream is a JPEG of the given parts between SOI and EOI markers.
func stream(parts ...[]byte) []byte {
	b := []byte{0xff, markerSOI}
	for _, p := range parts {
		b = append(b, p...)
	}
	return append(b, 0xff, markerEOI)
}

// withoutEOI is b with its final end-of-image marker removed.
func withoutEOI(b []byte) []byte {
	return b[:len(b)-2]
}

// simpleProgression is the scan script libjpeg's jpeg_simple_progression
// writes for a YCbCr image, the one Go's video-001.progressive.jpeg uses:
// DC of all components, then AC bands first with their low bits dropped,
// then refinements down to bit 0.
var simpleProgression = [][]byte{
	scan(0, 0, 0, 1, 1, 2, 3),
	scan(1, 5, 0, 2, 1),
	scan(1, 63, 0, 1, 3),
	scan(1, 63, 0, 1, 2),
	scan(6, 63, 0, 2, 1),
	scan(1, 63, 2, 1, 1),
	scan(0, 0, 1, 0, 1, 2, 3),
	scan(1, 63, 1, 0, 3),
	scan(1, 63, 1, 0, 2),
	scan(1, 63, 1, 0, 1),
}

// progressive is a progressive JPEG of components 1, 2 and 3 with the
// given scans.
func progressive(scans ...[]byte) []byte {
	return stream(append([][]byte{frame(markerSOF2, 1, 2, 3)}, scans...)...)
}

// without is scans without the ones at the given indexes.
func without(scans [][]byte, drop ...int) [][]byte {
	var out [][]byte
	for i, s := range scans {
		keep := true
		for _, d := range drop {
			keep = keep && i != d
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

const cause = " (scans are missing, as when a file is cut short)"

func TestCheckJPEGFollowsSuccessiveApproximation(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // "" for complete
	}{
		{"libjpeg's simple progression", progressive(simpleProgression...), ""},
		{"without its last scan",
			progressive(simpleProgression[:9]...),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + cause},
		{"without the DC refinement",
			progressive(without(simpleProgression, 6)...),
			"progressive JPEG is incomplete: component 1 lacks its DC " +
				"coefficient at full precision" + cause},
		{"first four scans only",
			progressive(simpleProgression[:4]...),
			"progressive JPEG is incomplete: component 1 lacks its DC " +
				"coefficient and AC coefficients 1-63 at full precision" + cause},
		{"without a chroma refinement",
			progressive(without(simpleProgression, 8)...),
			"progressive JPEG is incomplete: component 2 lacks AC coefficients " +
				"1-63 at full precision" + cause},
		{"without the band 6-63",
			progressive(without(simpleProgression, 4)...),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"6-63 at full precision" + cause},
		{"refinement skipping bit 1",
			progressive(
				scan(0, 0, 0, 0, 1, 2, 3),
				scan(1, 63, 0, 2, 1),
				scan(1, 63, 1, 0, 1),
				scan(1, 63, 0, 0, 2),
				scan(1, 63, 0, 0, 3)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + cause},
		{"refinement without its first scan",
			progressive(
				scan(0, 0, 0, 0, 1, 2, 3),
				scan(1, 63, 0, 0, 2),
				scan(1, 63, 0, 0, 3),
				scan(1, 63, 1, 0, 1)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + cause},
		{"one coefficient never sent",
			progressive(
				scan(0, 0, 0, 0, 1, 2, 3),
				scan(1, 9, 0, 0, 1),
				scan(11, 63, 0, 0, 1),
				scan(1, 63, 0, 0, 2),
				scan(1, 63, 0, 0, 3)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficient " +
				"10 at full precision" + cause},
		{"component in no scan",
			progressive(
				scan(0, 0, 0, 0, 1, 2),
				scan(1, 63, 0, 0, 1),
				scan(1, 63, 0, 0, 2)),
			"progressive JPEG is incomplete: component 3 is in no scan" + cause},
		{"band sent again at full precision",
			progressive(
				scan(0, 0, 0, 0, 1, 2, 3),
				scan(1, 63, 0, 3, 1),
				scan(1, 63, 0, 0, 1),
				scan(1, 63, 0, 0, 2),
				scan(1, 63, 0, 0, 3)),
			""},
		{"stale refinement after full precision",
			progressive(
				scan(0, 0, 0, 0, 1, 2, 3),
				scan(1, 63, 0, 0, 1),
				scan(1, 63, 1, 0, 1),
				scan(1, 63, 0, 0, 2),
				scan(1, 63, 0, 0, 3)),
			""},
		{"grayscale",
			stream(frame(markerSOF2, 7), scan(0, 0, 0, 0, 7), scan(1, 63, 0, 0, 7)),
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCheck(t, checkJPEG(tt.data), tt.want)
		})
	}
}

func TestCheckJPEGWantsEverySequentialComponentInAScan(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"interleaved scan",
			stream(frame(markerSOF0, 1, 2, 3), scan(0, 63, 0, 0, 1, 2, 3)), ""},
		{"one scan a component",
			stream(frame(markerSOF0, 1, 2, 3), scan(0, 63, 0, 0, 1),
				scan(0, 63, 0, 0, 2), scan(0, 63, 0, 0, 3)), ""},
		// Table B.3 fixes Ss, Se, Ah and Al in a sequential scan; whatever
		// the bytes say, the scan sends every coefficient.
		{"odd spectral selection",
			stream(frame(markerSOF0, 1), scan(0, 0, 3, 2, 1)), ""},
		{"last component's scan missing",
			stream(frame(markerSOF0, 1, 2, 3), scan(0, 63, 0, 0, 1),
				scan(0, 63, 0, 0, 2)),
			"JPEG is incomplete: component 3 is in no scan" + cause},
		{"extended sequential",
			stream(frame(markerSOF1, 1, 2, 3), scan(0, 63, 0, 0, 2, 3)),
			"JPEG is incomplete: component 1 is in no scan" + cause},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCheck(t, checkJPEG(tt.data), tt.want)
		})
	}
}

func TestCheckJPEGFindsDataEndingBeforeEOI(t *testing.T) {
	complete := stream(frame(markerSOF0, 1), segment(0xfe, 'h', 'i'),
		scan(0, 63, 0, 0, 1))
	header := stream(frame(markerSOF0, 1))

	tests := []struct {
		name string
		data []byte
	}{
		{"no EOI after the scan", withoutEOI(complete)},
		{"no EOI after a header", withoutEOI(header)},
		{"no marker after SOI", []byte{0xff, markerSOI}},
		{"cut inside a segment length", header[:5]},
		{"cut inside a segment", header[:10]},
		{"cut inside a scan header", complete[:len(complete)-len(entropy)-4]},
		{"cut inside entropy-coded data", complete[:len(complete)-4]},
		{"cut after a 0xFF", complete[:len(complete)-1]},
		{"ends in fill bytes", append(withoutEOI(complete), 0xff, 0xff)},
		{"ends after a restart marker",
			append(withoutEOI(complete), 0xff, markerRST1)},
		{"EOI only stuffed", append(withoutEOI(complete), 0xff, 0x00, 0xd9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkJPEG(tt.data); !errors.Is(err, errJPEGEndsEarly) {
				t.Errorf("checkJPEG = %v, want %v", err, errJPEGEndsEarly)
			}
		})
	}
}

// markerRST1 is the restart marker after RST0.
const markerRST1 = markerRST0 + 1

func TestCheckJPEGToleratesWhatTheDecoderSkips(t *testing.T) {
	f, s := frame(markerSOF0, 1), scan(0, 63, 0, 0, 1)
	tests := []struct {
		name string
		data []byte
	}{
		{"APP and COM segments",
			stream(segment(0xe0, 'J', 'F', 'I', 'F', 0), f,
				segment(0xed, 1, 2, 3), segment(0xfe), s)},
		{"fill bytes before markers",
			stream([]byte{0xff, 0xff}, f, []byte{0xff}, s, []byte{0xff, 0xff})},
		{"extraneous bytes between segments",
			stream(f, []byte{0x00, 0x01, 0xff, 0x00}, s)},
		{"restart marker after the last scan",
			stream(f, s, []byte{0xff, markerRST7})},
		{"bytes after EOI", append(stream(f, s), 0x12, 0xff)},
		{"SOI only", []byte{0xff, markerSOI, 0xff, markerEOI}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCheck(t, checkJPEG(tt.data), "")
		})
	}
}

// A file checkJPEG does not follow gets no verdict on its scans: the
// decoder refuses or accepts it on its own terms.
func TestCheckJPEGLeavesOddFilesToTheDecoder(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"not a JPEG", []byte("GIF89a")},
		{"lossless frame without scans", stream(frame(0xc3, 1, 2, 3))},
		{"arithmetic-coded frame without scans", stream(frame(0xca, 1))},
		{"scan before its frame",
			stream(scan(0, 63, 0, 0, 1), frame(markerSOF0, 1, 2))},
		{"scan of an unknown component",
			stream(frame(markerSOF0, 1, 2), scan(0, 63, 0, 0, 9))},
		{"second frame",
			stream(frame(markerSOF0, 1), frame(markerSOF0, 1, 2),
				scan(0, 63, 0, 0, 1))},
		{"repeated component identifier",
			stream(frame(markerSOF0, 1, 1), scan(0, 63, 0, 0, 1))},
		{"five components", stream(frame(markerSOF0, 1, 2, 3, 4, 5))},
		{"bad successive approximation",
			progressive(scan(0, 0, 2, 0, 1, 2, 3))},
		{"AC band of two components",
			progressive(scan(0, 0, 0, 0, 1, 2, 3), scan(1, 63, 0, 0, 1, 2))},
		{"segment length below 2", []byte{0xff, markerSOI, 0xff, 0xe0, 0, 1}},
		{"no frame", stream(segment(0xe0, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCheck(t, checkJPEG(tt.data), "")
		})
	}
}

func assertCheck(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("checkJPEG = %q, want nil", err)
	case want != "" && err == nil:
		t.Errorf("checkJPEG = nil, want %q", want)
	case want != "" && err.Error() != want:
		t.Errorf("checkJPEG = %q,\nwant %q", err, want)
	}
}

// The shared sample holds the first 4 of the 10 scans of Go's
// video-001.progressive.jpeg and then an EOI marker: DC of all components
// to bit 1, luma AC 1-5 to bit 2 and chroma AC 1-63 to bit 1. Go's decoder
// accepts it; no coefficient of any component is at full precision.
func TestCheckJPEGFindsSharedTruncatedProgressiveSample(t *testing.T) {
	data := readSample(t, "video-001.progressive.truncated.jpeg")
	if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("test assumes Go's decoder accepts the sample: %v", err)
	}

	assertCheck(t, checkJPEG(data), "progressive JPEG is incomplete: "+
		"component 1 lacks its DC coefficient and AC coefficients 1-63 at "+
		"full precision"+cause)

	if err := checkJPEG(withoutEOI(data)); !errors.Is(err, errJPEGEndsEarly) {
		t.Errorf("without EOI: checkJPEG = %v, want %v", err, errJPEGEndsEarly)
	}
}

func TestCheckJPEGFindsCutBaselineSample(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	assertCheck(t, checkJPEG(data), "")

	for name, cut := range map[string][]byte{
		"cut in half": data[:len(data)/2],
		"without EOI": withoutEOI(data),
	} {
		if err := checkJPEG(cut); !errors.Is(err, errJPEGEndsEarly) {
			t.Errorf("%s: checkJPEG = %v, want %v", name, err, errJPEGEndsEarly)
		}
	}
}

func TestCheckJPEGPassesGoEncoderOutput(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(0, 0, 70, 50))
	gray := image.NewGray(image.Rect(0, 0, 33, 17))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i * 7)
	}
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 3)
	}
	cmyk := image.NewCMYK(image.Rect(0, 0, 20, 20))
	cmyk.Set(3, 4, color.CMYK{C: 200, K: 30})

	for _, img := range []image.Image{rgba, gray, cmyk} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		if err := checkJPEG(buf.Bytes()); err != nil {
			t.Errorf("%T: checkJPEG = %q, want nil", img, err)
		}
	}
}

// goTestdata is the directory of sample images in the Go distribution,
// read in place: the files are not copied into this repository.
var goTestdata = filepath.Join(runtime.GOROOT(), "src", "image", "testdata")

// goSample reads a JPEG from goTestdata, or skips the test without it.
func goSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goTestdata, name))
	if err != nil {
		t.Skipf("no complete progressive JPEG to test with: %v", err)
	}
	return b
}

func TestCheckJPEGPassesCompleteProgressiveFile(t *testing.T) {
	data := goSample(t, "video-001.progressive.jpeg")
	assertCheck(t, checkJPEG(data), "")
}

// Cut before each of its scans but the first and closed with an EOI
// marker, as the shared sample is, the file must be incomplete every time.
func TestCheckJPEGFindsProgressiveFileCutBeforeAnyScan(t *testing.T) {
	data := goSample(t, "video-001.progressive.jpeg")
	sos := []byte{0xff, markerSOS}
	first := bytes.Index(data, sos)
	if first < 0 {
		t.Fatal("no scan in the progressive sample")
	}

	cuts := 0
	for i := first + 1; ; i++ {
		j := bytes.Index(data[i:], sos)
		if j < 0 {
			break
		}
		i += j
		cut := append(append([]byte{}, data[:i]...), 0xff, markerEOI)
		err := checkJPEG(cut)
		if err == nil || !strings.HasPrefix(err.Error(),
			"progressive JPEG is incomplete: ") {
			t.Errorf("cut at %d: checkJPEG = %v, want progressive incomplete",
				i, err)
		}
		cuts++
	}
	if cuts < 5 {
		t.Errorf("found %d scans after the first, want the sample's 9", cuts)
	}
}

// Every JPEG in Go's own test data that Go decodes is complete, except
// the one made by cutting a file short.
func TestCheckJPEGAgreesWithGoTestdata(t *testing.T) {
	names, _ := filepath.Glob(filepath.Join(goTestdata, "*.jpeg"))
	if len(names) == 0 {
		t.Skipf("no JPEG in %s", goTestdata)
	}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			continue
		}

		err = checkJPEG(data)
		truncated := strings.Contains(filepath.Base(name), "truncated")
		if truncated && err == nil {
			t.Errorf("%s: checkJPEG = nil, want incomplete", name)
		}
		if !truncated && err != nil {
			t.Errorf("%s: checkJPEG = %q, want nil", name, err)
		}
	}
}

func TestCheckJPEGDoesNotAllocate(t *testing.T) {
	data := readSample(t, "video-001.jpeg")
	if n := testing.AllocsPerRun(100, func() { _ = checkJPEG(data) }); n != 0 {
		t.Errorf("checkJPEG allocates %v times a run, want 0", n)
	}
}

func BenchmarkCheckJPEG(b *testing.B) {
	data, err := os.ReadFile(dataDir + "video-001.jpeg")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := checkJPEG(data); err != nil {
			b.Fatal(err)
		}
	}
}
