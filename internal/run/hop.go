package run

import (
	"strconv"
	"strings"
)

// MaxHops is how many Flows deep a chain of Flows triggering Flows may go:
// a webhook whose Wiresk-Hop header is over it is refused with 508
// loop_detected, nothing enqueued.
const MaxHops = 10

// hopHeader is the recorded (lower-case) name of the Wiresk-Hop header.
const hopHeader = "wiresk-hop"

// Hop returns the hop count the request arrived with: its Wiresk-Hop
// header, 0 without one. ok is false when the header is not a count (a
// non-negative integer).
func (r Request) Hop() (hop int, ok bool) {
	v, present := r.Headers[hopHeader]
	if !present {
		return 0, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
