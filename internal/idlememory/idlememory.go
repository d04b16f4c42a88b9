// Package idlememory hands back to the operating system the memory that a
// Ferry process holds but does not use while it is idle: the heap that
// start-up or a burst of traffic left free, and the pages of its own
// executable that only start-up touched.
//
// The second part is most of it. The ferry binary links Kubernetes' and
// Knative's API packages, whose init functions and the decoding of the
// manifests touch about 40-50 MB of the binary's code and read-only data
// once; the kernel keeps those pages mapped in the process (its RSS) until
// memory runs short. Measured on `ferry dev` with the example functions at
// zero: 45-60 MB resident before Release, 12-24 MB after, of which 5-17 MB
// are pages of the binary that the idle process touches again (timers, the
// HTTP server, the garbage collector).
//
// Release is for moments when the process has just gone idle (after
// start-up, when it comes to rest), not for a hot path: the code the next
// request runs comes back by page faults, minor ones while the pages are
// still in the page cache (the first event after start-up, a function's
// cold start included, showed no difference within the noise of 32-65 ms;
// see docs/performance.md).
package idlememory

import "runtime/debug"

// Released says what one Release gave back.
type Released struct {
	// ImageBytes is the size of the executable's pages that were mapped
	// in the process and no longer are.
	ImageBytes int64
}

// Release returns freed heap to the operating system and unmaps the pages
// of the process's own executable (its code and read-only data) that are
// mapped now, so that only those the process touches again come back.
//
// The pages stay in the kernel's page cache, marked as the first to
// reclaim (MADV_COLD, where the kernel has it) and are read back from it,
// not from disk, while they are there. Only read-only mappings of the
// executable with no private copy of any page are released: their content
// is the file's, so a page faulted in again is the page that was dropped.
// Writable data, the heap and stacks are left to the Go runtime.
//
// On systems other than Linux only the heap is returned. An error means
// the executable's mappings could not be read or released; the heap was
// returned all the same.
func Release() (Released, error) {
	debug.FreeOSMemory()
	return releaseImage()
}
