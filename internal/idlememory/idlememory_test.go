//go:build linux

package idlememory

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"testing"
	"unicode"
)

// imageRSS is the resident size of the test binary's own read-only
// mappings, in KiB.
func imageRSS(t *testing.T) int64 {
	t.Helper()
	device, inode, err := executableFile()
	if err != nil {
		t.Fatal(err)
	}
	maps, err := readSmaps()
	if err != nil {
		t.Fatal(err)
	}
	var kb int64
	for _, m := range maps {
		if m.inode == inode && m.device == device && releasable(m) {
			kb += m.rssKB
		}
	}
	return kb
}

// tablesDigest hashes read-only data of the binary (the unicode tables),
// so that a page that came back different after Release would show.
func tablesDigest() [32]byte {
	h := sha256.New()
	names := make([]string, 0, len(unicode.Categories))
	for name := range unicode.Categories {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		table := unicode.Categories[name]
		for _, r := range table.R16 {
			fmt.Fprint(h, r.Lo, r.Hi, r.Stride)
		}
		for _, r := range table.R32 {
			fmt.Fprint(h, r.Lo, r.Hi, r.Stride)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestReleaseUnmapsTheExecutablesPages(t *testing.T) {
	before := tablesDigest()
	rssBefore := imageRSS(t)
	if rssBefore == 0 {
		t.Fatal("the test binary has no resident read-only pages to release")
	}

	released, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	rssAfter := imageRSS(t)

	if released.ImageBytes < rssBefore*1024/2 {
		t.Errorf("released %d bytes of %d KiB resident", released.ImageBytes,
			rssBefore)
	}
	// Between Release and the second reading the test runs code again
	// (this function, smaps' parser, the runtime): those pages come back,
	// but not all that were mapped.
	if rssAfter >= rssBefore {
		t.Errorf("resident image %d KiB after Release, %d KiB before",
			rssAfter, rssBefore)
	}
	if after := tablesDigest(); after != before {
		t.Error("read-only data read back after Release differs")
	}
}

func TestReleasableKeepsWritableAndCopiedRanges(t *testing.T) {
	tests := []struct {
		m    mapping
		want bool
	}{
		{mapping{perms: "r-xp", rssKB: 8}, true},
		{mapping{perms: "r--p", rssKB: 8}, true},
		{mapping{perms: "r--p", rssKB: 0}, false},
		{mapping{perms: "rw-p", rssKB: 8}, false},
		{mapping{perms: "r--p", rssKB: 8, anonKB: 4}, false},
		{mapping{perms: "r--s", rssKB: 8}, false},
	}
	for _, tt := range tests {
		if got := releasable(tt.m); got != tt.want {
			t.Errorf("releasable(%+v) = %v, want %v", tt.m, got, tt.want)
		}
	}
}

func TestParseRange(t *testing.T) {
	m, ok := parseRange("00400000-02655000 r-xp 00000000 fd:01 1234 /bin/ferry")
	if !ok || m.start != 0x400000 || m.end != 0x2655000 || m.perms != "r-xp" ||
		m.device != "fd:01" || m.inode != 1234 {
		t.Errorf("parseRange = %+v, %v", m, ok)
	}
	for _, line := range []string{"Rss:   12 kB", "VmFlags: rd ex mr mw me",
		"THPeligible:    0"} {
		if _, ok := parseRange(line); ok {
			t.Errorf("parseRange(%q) took a field for a range", line)
		}
	}
}
