package idlememory

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mapping is one range of /proc/self/smaps.
type mapping struct {
	start, end uint64
	perms      string
	device     string // major:minor in hex, as smaps writes it
	inode      uint64
	rssKB      int64
	anonKB     int64 // private copies of pages: the range is not the file's
}

// releaseImage unmaps the resident pages of the executable's read-only
// mappings.
func releaseImage() (Released, error) {
	var r Released
	device, inode, err := executableFile()
	if err != nil {
		return r, err
	}
	maps, err := readSmaps()
	if err != nil {
		return r, err
	}
	for _, m := range maps {
		if m.inode != inode || m.device != device || !releasable(m) {
			continue
		}
		if err := unmapPages(m); err != nil {
			return r, err
		}
		r.ImageBytes += m.rssKB * 1024
	}
	return r, nil
}

// releasable reports whether dropping m's pages loses nothing: it is never
// written (no 'w' now; Go's runtime does not change the protection of its
// executable's mappings) and holds no private copy of a page (as a
// position-independent executable's relocated data would).
func releasable(m mapping) bool {
	return m.rssKB > 0 && m.anonKB == 0 && !strings.Contains(m.perms, "w") &&
		strings.HasSuffix(m.perms, "p")
}

// unmapPages marks m's pages as the first to reclaim, then removes them
// from the process's page tables. MADV_COLD came with Linux 5.4; where
// the kernel refuses it, the pages are unmapped all the same.
func unmapPages(m mapping) error {
	length := uintptr(m.end - m.start)
	_, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), length,
		unix.MADV_COLD)
	if errno != 0 && errno != unix.EINVAL {
		return fmt.Errorf("madvise cold %x-%x: %w", m.start, m.end, errno)
	}
	_, _, errno = unix.Syscall(unix.SYS_MADVISE, uintptr(m.start), length,
		unix.MADV_DONTNEED)
	if errno != 0 {
		return fmt.Errorf("madvise dontneed %x-%x: %w", m.start, m.end, errno)
	}
	return nil
}

// executableFile returns the device (as smaps writes it) and inode of the
// running executable, which stay right when the file was replaced or
// removed since the process started.
func executableFile() (string, uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return "", 0, fmt.Errorf("stat executable: %w", err)
	}
	device := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	return device, st.Ino, nil
}

// readSmaps reads the ranges of /proc/self/smaps with their resident and
// private anonymous sizes.
func readSmaps() ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var maps []mapping
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if m, ok := parseRange(line); ok {
			maps = append(maps, m)
			continue
		}
		if len(maps) == 0 {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "Rss" && key != "Anonymous") {
			continue
		}
		kb, err := strconv.ParseInt(
			strings.TrimSpace(strings.TrimSuffix(value, "kB")), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("smaps %q: %w", line, err)
		}
		if key == "Rss" {
			maps[len(maps)-1].rssKB = kb
		} else {
			maps[len(maps)-1].anonKB = kb
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read smaps: %w", err)
	}
	if len(maps) == 0 {
		return nil, errors.New("smaps lists no mapping")
	}
	return maps, nil
}

// parseRange parses a range's first line of smaps:
// "00400000-02655000 r-xp 00000000 fd:01 1234 /path/to/ferry".
func parseRange(line string) (mapping, bool) {
	fields := strings.Fields(line)
	if len(fields) < 5 || strings.HasSuffix(fields[0], ":") {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(fields[0], "-")
	if !ok {
		return mapping{}, false
	}
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	inode, err3 := strconv.ParseUint(fields[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return mapping{}, false
	}
	return mapping{start: start, end: end, perms: fields[1],
		device: fields[3], inode: inode}, true
}
