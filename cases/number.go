package cases

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Case numbers look like 20261127-312345: the China-time date, then the
// node's digit (0-9), then a five-digit daily sequence of that node.
//
// Why node digits rather than a counter row in the database: a number must be
// given at the first ring even when the database is unreachable (the call
// goes on and its writes are spooled), so a node must be able to number cases
// on its own. The node digit makes numbers unique across up to ten nodes that
// share a PostgreSQL database, without coordination; 99,999 cases per node
// per day is far above a city's volume (Hangzhou 2012: ≈ 260,000 a year).
//
// The sequence survives restarts through a hi/lo reservation: the node
// reserves blocks of numberBlock numbers in a small state file (fsynced once
// per block, not once per case) and, when the database is reachable at open,
// also starts past the highest number it already holds for the day. A crash
// loses at most the rest of a block: numbers may skip, never repeat.
const numberBlock = 100

// NumberSeqMax is the highest daily sequence a node can give.
const NumberSeqMax = 99999

type numberer struct {
	mu       sync.Mutex
	node     int
	path     string // state file; "" keeps state in memory only
	day      string
	next     int // next sequence to give
	reserved int // sequences below this are reserved in the file
}

func newNumberer(node int, path string) (*numberer, error) {
	if node < 0 || node > 9 {
		return nil, fmt.Errorf("cases: node id %d must be 0 to 9", node)
	}
	n := &numberer{node: node, path: path, next: 1, reserved: 1}
	if path == "" {
		return n, nil
	}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("cases: number state: %w", err)
	}
	if f := strings.Fields(string(b)); len(f) == 2 {
		if v, err := strconv.Atoi(f[1]); err == nil && v >= 1 {
			n.day, n.next, n.reserved = f[0], v, v
		}
	}
	return n, nil
}

// floor makes the next number of day at least seq+1 (from the database).
func (n *numberer) floor(day string, seq int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.day != day {
		n.day, n.next, n.reserved = day, 1, 1
	}
	if seq+1 > n.next {
		n.next = seq + 1
		if n.reserved < n.next {
			n.reserved = n.next
		}
	}
}

// prefix is the part of the number shared by a node's cases of a day.
func (n *numberer) prefix(t time.Time) string {
	return t.In(ChinaTime).Format("20060102") + "-" + strconv.Itoa(n.node)
}

func (n *numberer) take(now time.Time) (string, error) {
	day := now.In(ChinaTime).Format("20060102")
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.day != day {
		n.day, n.next, n.reserved = day, 1, 1
	}
	if n.next > NumberSeqMax {
		return "", fmt.Errorf("cases: node %d gave all %d numbers of %s", n.node, NumberSeqMax, day)
	}
	if n.next >= n.reserved {
		hi := n.next + numberBlock
		if err := n.save(day, hi); err != nil {
			return "", err
		}
		n.reserved = hi
	}
	s := n.next
	n.next++
	return fmt.Sprintf("%s-%d%05d", day, n.node, s), nil
}

func (n *numberer) save(day string, hi int) error {
	if n.path == "" {
		return nil
	}
	tmp := n.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cases: number state: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s %d\n", day, hi)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, n.path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(n.path))
	}
	if err != nil {
		return fmt.Errorf("cases: number state: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// seqOf extracts the daily sequence from a number of this node.
func seqOf(number string) (int, bool) {
	i := strings.IndexByte(number, '-')
	if i < 0 || len(number) != i+7 {
		return 0, false
	}
	v, err := strconv.Atoi(number[i+2:])
	return v, err == nil
}
