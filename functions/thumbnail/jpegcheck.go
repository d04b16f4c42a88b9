package function

// A JPEG can lack data and still decode. A progressive JPEG sends each
// block's 64 DCT coefficients over several scans: bands of coefficients
// (spectral selection), each band first with its low bits dropped and then
// refined one bit a scan (successive approximation). Go's image/jpeg, like
// libjpeg, builds the image from the scans that arrived and leaves the rest
// zero, so a file cut at a scan boundary and closed with an end-of-image
// marker decodes into a blurred, off-colour image without an error. A
// sequential JPEG that sends its components in separate scans and lost the
// last ones decodes the same way, with a component left flat.
//
// checkJPEG finds such files before they are decoded by walking the marker
// segments once (ITU-T T.81, annex B), without decoding entropy-coded data.

import (
	"bytes"
	"errors"
	"fmt"
)

// errJPEGEndsEarly is the error for a JPEG whose bytes stop before its
// end-of-image marker: inside a segment, inside a scan's entropy-coded data
// or between segments.
var errJPEGEndsEarly = errors.New("JPEG ends before its end-of-image marker")

// JPEG markers, the byte after 0xFF; see T.81 table B.1.
const (
	markerSOF0 = 0xc0 // start of frame, baseline sequential
	markerSOF1 = 0xc1 // start of frame, extended sequential
	markerSOF2 = 0xc2 // start of frame, progressive
	markerDHT  = 0xc4 // define Huffman tables
	markerJPG  = 0xc8 // reserved for JPEG extensions
	markerDAC  = 0xcc // define arithmetic coding conditioning
	markerRST0 = 0xd0 // restart 0; RST0 to RST7 stand alone
	markerRST7 = 0xd7
	markerSOI  = 0xd8 // start of image
	markerEOI  = 0xd9 // end of image
	markerSOS  = 0xda // start of scan
)

// jpegCoefficients is the number of DCT coefficients in a block: the DC
// coefficient at spectral index 0 and 63 AC coefficients, in zig-zag order.
const jpegCoefficients = 64

// jpegMaxComponents is the most components a frame may have for checkJPEG
// to follow it; Go's decoder supports frames of 1, 3 and 4.
const jpegMaxComponents = 4

// noBits marks a coefficient for which no scan has sent any bit.
const noBits = 0xff

// jpegComponent is one component of a frame and what its scans sent.
type jpegComponent struct {
	// id is the component identifier C_i of the frame header, 1 to 3 for
	// Y, Cb and Cr in a JFIF file.
	id uint8
	// low holds, for each spectral index, the lowest bit position sent so
	// far in an unbroken chain from the band's first scan, or noBits. A
	// coefficient is at full precision when its low is 0.
	low [jpegCoefficients]uint8
}

// receive records a scan that sends bits al and up (ah == 0, the band's
// first scan) or bit al alone (ah == al+1, a refinement) of the
// coefficients ss to se. A refinement that does not continue from the bits
// already sent adds nothing: the bits between are missing.
func (c *jpegComponent) receive(ss, se, ah, al uint8) {
	for z := ss; z <= se; z++ {
		if ah == 0 || c.low[z] == ah {
			c.low[z] = al
		}
	}
}

// jpegFrame is what checkJPEG learns from the frame and scan headers.
type jpegFrame struct {
	// sof is the frame's start-of-frame marker, or 0 before it is seen.
	sof   byte
	comps [jpegMaxComponents]jpegComponent
	n     int // the number of components in comps
	// odd is set when a header is one that checkJPEG does not follow (an
	// unsupported frame type, a malformed or inconsistent header). The
	// decoder then gives its own verdict on the file, and checkJPEG only
	// reports data that ends early.
	odd bool
}

// checkJPEG reports data, which starts with a JPEG start-of-image marker,
// as incomplete when it ends before its end-of-image marker, when a
// sequential frame has a component that is in no scan, or when a
// progressive frame has a coefficient of some component that no chain of
// scans sends down to bit 0. Other faults are left to the decoder. It reads
// each byte once and allocates only for the error it returns.
func checkJPEG(data []byte) error {
	if len(data) < 2 || data[0] != 0xff || data[1] != markerSOI {
		return nil
	}

	var f jpegFrame
	i := 2
	for {
		marker, next, ok := nextMarker(data, i)
		if !ok {
			return errJPEGEndsEarly
		}
		if marker == markerEOI {
			return f.incompleteness()
		}

		// Every other marker has a segment: a 16-bit length that counts
		// itself, then its parameters. After an SOS segment come the
		// scan's entropy-coded data, which nextMarker skips.
		if next+2 > len(data) {
			return errJPEGEndsEarly
		}
		n := int(data[next])<<8 | int(data[next+1])
		if n < 2 {
			return nil // the decoder refuses a short segment length
		}
		end := next + n
		if end > len(data) {
			return errJPEGEndsEarly
		}
		f.read(marker, data[next+2:end])
		i = end
	}
}

// nextMarker finds the first marker at or after data[i] that is not a
// restart marker and returns it with the index of the byte after it. A
// marker is 0xFF, any number of 0xFF fill bytes, then a byte that is not
// 0x00: "FF 00" is a stuffed 0xFF byte in entropy-coded data. Restart
// markers RST0 to RST7 separate intervals of entropy-coded data. Other
// bytes before the marker are entropy-coded data, or extraneous bytes that
// Go's decoder, like libjpeg, skips. ok is false when data ends first.
func nextMarker(data []byte, i int) (marker byte, next int, ok bool) {
	for {
		j := bytes.IndexByte(data[i:], 0xff)
		if j < 0 {
			return 0, 0, false
		}
		i += j + 1
		for i < len(data) && data[i] == 0xff {
			i++
		}
		if i == len(data) {
			return 0, 0, false
		}

		m := data[i]
		i++
		if m != 0x00 && (m < markerRST0 || m > markerRST7) {
			return m, i, true
		}
	}
}

// read takes in the parameters seg of a segment with the given marker.
func (f *jpegFrame) read(marker byte, seg []byte) {
	switch {
	case marker == markerSOF0 || marker == markerSOF1 || marker == markerSOF2:
		f.readFrame(marker, seg)
	case marker == markerSOS:
		f.readScan(seg)
	case isOtherSOF(marker):
		// Lossless, hierarchical or arithmetic-coded frames, which Go's
		// decoder does not support.
		f.odd = true
	}
}

// isOtherSOF reports whether marker starts a frame of a kind other than
// SOF0 to SOF2: SOF3, SOF5 to SOF7, SOF9 to SOF11 and SOF13 to SOF15.
func isOtherSOF(marker byte) bool {
	return marker > markerSOF2 && marker <= 0xcf &&
		marker != markerDHT && marker != markerJPG && marker != markerDAC
}

// readFrame takes in a frame header: precision (1 byte), height and width
// (2 each), the number of components Nf, then Nf times an identifier, the
// sampling factors and a quantization table selector (1 byte each).
func (f *jpegFrame) readFrame(marker byte, seg []byte) {
	if f.sof != 0 || len(seg) < 6 {
		f.odd = true // the decoder refuses a second or a short frame
		return
	}
	f.sof = marker

	n := int(seg[5])
	if n < 1 || n > jpegMaxComponents || len(seg) != 6+3*n {
		f.odd = true
		return
	}
	f.n = n
	for k := range n {
		c := &f.comps[k]
		c.id = seg[6+3*k]
		for z := range c.low {
			c.low[z] = noBits
		}
		for j := range k {
			if f.comps[j].id == c.id {
				f.odd = true
			}
		}
	}
}

// readScan takes in a scan header: the number of components Ns, then Ns
// times a component selector and its table selectors (1 byte each), then
// the spectral selection Ss and Se and the successive approximation bit
// positions Ah and Al (4 bits each in one byte). A sequential scan sends
// every coefficient in full whatever those say, as T.81 table B.3 fixes
// them at 0, 63, 0 and 0.
func (f *jpegFrame) readScan(seg []byte) {
	if f.odd {
		return
	}
	if f.sof == 0 || len(seg) < 1 {
		f.odd = true // the decoder refuses a scan before its frame
		return
	}
	ns := int(seg[0])
	if ns < 1 || ns > f.n || len(seg) != 4+2*ns {
		f.odd = true
		return
	}

	ss, se, ah, al := uint8(0), uint8(jpegCoefficients-1), uint8(0), uint8(0)
	if f.sof == markerSOF2 {
		p := seg[1+2*ns:]
		ss, se, ah, al = p[0], p[1], p[2]>>4, p[2]&0x0f
		if (ss == 0 && se != 0) || ss > se || se >= jpegCoefficients ||
			(ss != 0 && ns != 1) || (ah != 0 && ah != al+1) {
			f.odd = true // the decoder refuses these bounds
			return
		}
	}

	for s := range ns {
		c := f.component(seg[1+2*s])
		if c == nil {
			f.odd = true // the decoder refuses an unknown selector
			return
		}
		c.receive(ss, se, ah, al)
	}
}

// component returns the frame's component with identifier id, or nil.
func (f *jpegFrame) component(id uint8) *jpegComponent {
	for k := range f.n {
		if f.comps[k].id == id {
			return &f.comps[k]
		}
	}
	return nil
}

// incompleteness returns nil when every coefficient of every component was
// sent to full precision, and otherwise an error that names the first
// component lacking some and the first run of coefficients it lacks.
func (f *jpegFrame) incompleteness() error {
	if f.odd || f.sof == 0 {
		return nil
	}

	kind := "JPEG"
	if f.sof == markerSOF2 {
		kind = "progressive JPEG"
	}
	const cause = "scans are missing, as when a file is cut short"
	for k := range f.n {
		c := &f.comps[k]
		first, last, lacks := lackingRun(&c.low)
		switch {
		case !lacks:
			continue
		case noneSent(&c.low):
			return fmt.Errorf("%s is incomplete: component %d is in no scan (%s)",
				kind, c.id, cause)
		}
		return fmt.Errorf("%s is incomplete: component %d lacks %s at full "+
			"precision (%s)", kind, c.id, coefficientRun(first, last), cause)
	}
	return nil
}

// lackingRun returns the first run of spectral indexes whose coefficients
// are not at full precision.
func lackingRun(low *[jpegCoefficients]uint8) (first, last int, lacks bool) {
	first = -1
	for z, l := range low {
		switch {
		case l != 0 && first < 0:
			first = z
		case l == 0 && first >= 0:
			return first, z - 1, true
		}
	}
	if first < 0 {
		return 0, 0, false
	}
	return first, jpegCoefficients - 1, true
}

// noneSent reports whether no scan sent any bit of any coefficient.
func noneSent(low *[jpegCoefficients]uint8) bool {
	for _, l := range low {
		if l != noBits {
			return false
		}
	}
	return true
}

// coefficientRun names the spectral indexes first to last:
// "AC coefficients 6-63", "its DC coefficient and AC coefficient 1".
func coefficientRun(first, last int) string {
	ac := func(from int) string {
		if from == last {
			return fmt.Sprintf("AC coefficient %d", from)
		}
		return fmt.Sprintf("AC coefficients %d-%d", from, last)
	}
	switch {
	case first > 0:
		return ac(first)
	case last == 0:
		return "its DC coefficient"
	default:
		return "its DC coefficient and " + ac(1)
	}
}
