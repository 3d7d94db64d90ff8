package docs

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

const (
	bari  tenant.ID = "bari"
	lecce tenant.ID = "lecce"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// pdf returns a PDF-looking file of n bytes (the signature, random
// bytes, the trailer): random so that a chunk mixed up with another shows.
func pdf(t testing.TB, n int) []byte {
	t.Helper()
	head, tail := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []byte("\n%%EOF\n")
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	copy(b, head)
	copy(b[n-len(tail):], tail)
	return b
}

// png returns a file that starts with the PNG signature.
func png(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	copy(b, sigPNG)
	return b
}

// count returns the rows of a table in n's state.
func count(t testing.TB, n *cluster.Node, table string) int {
	t.Helper()
	var c int
	if err := n.DB().QueryRow(fmt.Sprintf(`SELECT count(*) FROM %s`, table)).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// read opens document id through s and returns its bytes.
func read(t testing.TB, s *Store, tn tenant.ID, id string) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), tn, id)
	if err != nil {
		t.Fatalf("Open %s: %v", id, err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return b.Bytes()
}
