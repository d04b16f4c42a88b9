package function

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test streams below are built from marker segments with a few bytes
// standing in for entropy-coded data: checkJPEG never decodes that data,
// so it need not be valid Huffman code.

// entropyData stands for a scan's entropy-coded data. It holds a stuffed
// 0xFF ("FF 00") and a restart marker, neither of which ends the data.
var entropyData = []byte{0x12, 0xff, 0x00, 0x34, 0xff, markerRST0, 0x56}

// markerSegment is marker followed by its length and params.
func markerSegment(marker byte, params ...byte) []byte {
	n := len(params) + 2
	return append([]byte{0xff, marker, byte(n >> 8), byte(n)}, params...)
}

// sof is a start-of-frame segment for a 16×16 image with components of
// the given identifiers, each sampled 1×1.
func sof(marker byte, ids ...byte) []byte {
	params := []byte{8, 0, 16, 0, 16, byte(len(ids))}
	for _, id := range ids {
		params = append(params, id, 0x11, 0)
	}
	return markerSegment(marker, params...)
}

// sos is a start-of-scan segment for the components ids, followed by
// entropy-coded data.
func sos(ss, se, ah, al byte, ids ...byte) []byte {
	params := []byte{byte(len(ids))}
	for _, id := range ids {
		params = append(params, id, 0)
	}
	params = append(params, ss, se, ah<<4|al)
	return append(markerSegment(markerSOS, params...), entropyData...)
}

// jpegStream is a JPEG of the given parts between SOI and EOI markers.
func jpegStream(parts ...[]byte) []byte {
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
	sos(0, 0, 0, 1, 1, 2, 3),
	sos(1, 5, 0, 2, 1),
	sos(1, 63, 0, 1, 3),
	sos(1, 63, 0, 1, 2),
	sos(6, 63, 0, 2, 1),
	sos(1, 63, 2, 1, 1),
	sos(0, 0, 1, 0, 1, 2, 3),
	sos(1, 63, 1, 0, 3),
	sos(1, 63, 1, 0, 2),
	sos(1, 63, 1, 0, 1),
}

// progressiveStream is a progressive JPEG of components 1, 2 and 3 with
// the given scans.
func progressiveStream(scans ...[]byte) []byte {
	return jpegStream(append([][]byte{sof(markerSOF2, 1, 2, 3)}, scans...)...)
}

// scansWithout is scans without the ones at the given indexes.
func scansWithout(scans [][]byte, drop ...int) [][]byte {
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

// missingScans ends the detail of every incomplete frame.
const missingScans = " (scans are missing, as when a file is cut short)"

func TestCheckJPEGFollowsSuccessiveApproximation(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string // "" for complete
	}{
		{"libjpeg's simple progression",
			progressiveStream(simpleProgression...), ""},
		{"without its last scan",
			progressiveStream(simpleProgression[:9]...),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + missingScans},
		{"without the DC refinement",
			progressiveStream(scansWithout(simpleProgression, 6)...),
			"progressive JPEG is incomplete: component 1 lacks its DC " +
				"coefficient at full precision" + missingScans},
		{"first four scans only",
			progressiveStream(simpleProgression[:4]...),
			"progressive JPEG is incomplete: component 1 lacks its DC " +
				"coefficient and AC coefficients 1-63 at full precision" +
				missingScans},
		{"without a chroma refinement",
			progressiveStream(scansWithout(simpleProgression, 8)...),
			"progressive JPEG is incomplete: component 2 lacks AC coefficients " +
				"1-63 at full precision" + missingScans},
		{"without the band 6-63",
			progressiveStream(scansWithout(simpleProgression, 4)...),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"6-63 at full precision" + missingScans},
		{"refinement skipping bit 1",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 63, 0, 2, 1),
				sos(1, 63, 1, 0, 1),
				sos(1, 63, 0, 0, 2),
				sos(1, 63, 0, 0, 3)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + missingScans},
		{"refinement without its first scan",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 63, 0, 0, 2),
				sos(1, 63, 0, 0, 3),
				sos(1, 63, 1, 0, 1)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficients " +
				"1-63 at full precision" + missingScans},
		{"one coefficient never sent",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 9, 0, 0, 1),
				sos(11, 63, 0, 0, 1),
				sos(1, 63, 0, 0, 2),
				sos(1, 63, 0, 0, 3)),
			"progressive JPEG is incomplete: component 1 lacks AC coefficient " +
				"10 at full precision" + missingScans},
		{"component in no scan",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2),
				sos(1, 63, 0, 0, 1),
				sos(1, 63, 0, 0, 2)),
			"progressive JPEG is incomplete: component 3 is in no scan" +
				missingScans},
		{"band sent again at full precision",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 63, 0, 3, 1),
				sos(1, 63, 0, 0, 1),
				sos(1, 63, 0, 0, 2),
				sos(1, 63, 0, 0, 3)),
			""},
		{"stale refinement after full precision",
			progressiveStream(
				sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 63, 0, 0, 1),
				sos(1, 63, 1, 0, 1),
				sos(1, 63, 0, 0, 2),
				sos(1, 63, 0, 0, 3)),
			""},
		{"grayscale",
			jpegStream(sof(markerSOF2, 7), sos(0, 0, 0, 0, 7), sos(1, 63, 0, 0, 7)),
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
			jpegStream(sof(markerSOF0, 1, 2, 3), sos(0, 63, 0, 0, 1, 2, 3)), ""},
		{"one scan a component",
			jpegStream(sof(markerSOF0, 1, 2, 3), sos(0, 63, 0, 0, 1),
				sos(0, 63, 0, 0, 2), sos(0, 63, 0, 0, 3)), ""},
		// Table B.3 fixes Ss, Se, Ah and Al in a sequential scan; whatever
		// the bytes say, the scan sends every coefficient.
		{"odd spectral selection",
			jpegStream(sof(markerSOF0, 1), sos(0, 0, 3, 2, 1)), ""},
		{"last component's scan missing",
			jpegStream(sof(markerSOF0, 1, 2, 3), sos(0, 63, 0, 0, 1),
				sos(0, 63, 0, 0, 2)),
			"JPEG is incomplete: component 3 is in no scan" + missingScans},
		{"extended sequential",
			jpegStream(sof(markerSOF1, 1, 2, 3), sos(0, 63, 0, 0, 2, 3)),
			"JPEG is incomplete: component 1 is in no scan" + missingScans},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertCheck(t, checkJPEG(tt.data), tt.want)
		})
	}
}

// sequentialSample is a decodable 16×16 baseline JPEG, flat grey, that
// sends its components 1, 2 and 3 in separate scans, or only the first
// scans of them. Its Huffman tables hold one 1-bit code each, for a DC
// difference of 0 and for end-of-block, so each of a component's four
// blocks is the bits "00" and its scan the byte 0x00.
func sequentialSample(scans int) []byte {
	oneCode := make([]byte, 16) // code counts for lengths 1 to 16
	oneCode[0] = 1
	parts := [][]byte{
		markerSegment(0xdb, append([]byte{0}, bytes.Repeat([]byte{1}, 64)...)...),
		sof(markerSOF0, 1, 2, 3),
		markerSegment(markerDHT, append(append([]byte{0x00}, oneCode...), 0)...),
		markerSegment(markerDHT, append(append([]byte{0x10}, oneCode...), 0)...),
	}
	for id := range byte(scans) {
		parts = append(parts, markerSegment(markerSOS, 1, id+1, 0, 0, 63, 0),
			[]byte{0x00})
	}
	return jpegStream(parts...)
}

// Go's decoder accepts a sequential JPEG that lost its last scan and
// leaves that component zero: Cr 0 instead of 128 turns grey to green.
func TestCheckJPEGFindsSequentialFileWithoutItsLastScan(t *testing.T) {
	complete, cut := sequentialSample(3), sequentialSample(2)
	for _, data := range [][]byte{complete, cut} {
		if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
			t.Fatalf("test assumes Go's decoder accepts the sample: %v", err)
		}
	}

	assertCheck(t, checkJPEG(complete), "")
	assertCheck(t, checkJPEG(cut),
		"JPEG is incomplete: component 3 is in no scan"+missingScans)
}

func TestCheckJPEGFindsDataEndingBeforeEOI(t *testing.T) {
	complete := jpegStream(sof(markerSOF0, 1), markerSegment(0xfe, 'h', 'i'),
		sos(0, 63, 0, 0, 1))
	header := jpegStream(sof(markerSOF0, 1))

	tests := []struct {
		name string
		data []byte
	}{
		{"no EOI after the scan", withoutEOI(complete)},
		{"no EOI after a header", withoutEOI(header)},
		{"no marker after SOI", []byte{0xff, markerSOI}},
		{"cut inside a segment length", header[:5]},
		{"cut inside a segment", header[:10]},
		{"cut inside a scan header", complete[:len(complete)-len(entropyData)-4]},
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
	f, s := sof(markerSOF0, 1), sos(0, 63, 0, 0, 1)
	tests := []struct {
		name string
		data []byte
	}{
		{"APP and COM segments",
			jpegStream(markerSegment(0xe0, 'J', 'F', 'I', 'F', 0), f,
				markerSegment(0xed, 1, 2, 3), markerSegment(0xfe), s)},
		{"fill bytes before markers",
			jpegStream([]byte{0xff, 0xff}, f, []byte{0xff}, s, []byte{0xff, 0xff})},
		{"extraneous bytes between segments",
			jpegStream(f, []byte{0x00, 0x01, 0xff, 0x00}, s)},
		{"restart marker after the last scan",
			jpegStream(f, s, []byte{0xff, markerRST7})},
		{"bytes after EOI", append(jpegStream(f, s), 0x12, 0xff)},
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
		{"lossless frame without scans", jpegStream(sof(0xc3, 1, 2, 3))},
		{"arithmetic-coded frame without scans", jpegStream(sof(0xca, 1))},
		{"scan before its frame",
			jpegStream(sos(0, 63, 0, 0, 1), sof(markerSOF0, 1, 2))},
		{"scan of an unknown component",
			jpegStream(sof(markerSOF0, 1, 2), sos(0, 63, 0, 0, 9))},
		{"second frame",
			jpegStream(sof(markerSOF0, 1), sof(markerSOF0, 1, 2),
				sos(0, 63, 0, 0, 1))},
		{"repeated component identifier",
			jpegStream(sof(markerSOF0, 1, 1), sos(0, 63, 0, 0, 1))},
		{"five components", jpegStream(sof(markerSOF0, 1, 2, 3, 4, 5))},
		{"bad successive approximation",
			progressiveStream(sos(0, 0, 2, 0, 1, 2, 3))},
		{"AC band of two components",
			progressiveStream(sos(0, 0, 0, 0, 1, 2, 3),
				sos(1, 63, 0, 0, 1, 2))},
		{"segment length below 2", []byte{0xff, markerSOI, 0xff, 0xe0, 0, 1}},
		{"no frame", jpegStream(markerSegment(0xe0, 0))},
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
		"full precision"+missingScans)

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

// goTestdata returns the directory of sample images in the Go
// distribution that runs the tests. Its files are read in place, never
// copied into this repository.
func goTestdata(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("no Go distribution to take samples from: go env: %v", err)
	}
	root := strings.TrimSpace(string(out))
	return filepath.Join(root, "src", "image", "testdata")
}

// goSample reads a JPEG from goTestdata, or skips the test without it.
func goSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goTestdata(t), name))
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
	sosMarker := []byte{0xff, markerSOS}
	first := bytes.Index(data, sosMarker)
	if first < 0 {
		t.Fatal("no scan in the progressive sample")
	}

	cuts := 0
	for i := first + 1; ; i++ {
		j := bytes.Index(data[i:], sosMarker)
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
	dir := goTestdata(t)
	names, _ := filepath.Glob(filepath.Join(dir, "*.jpeg"))
	if len(names) == 0 {
		t.Skipf("no JPEG in %s to test with", dir)
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
