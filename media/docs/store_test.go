package docs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// TestDocumentSurvivesTheNodeThatTookIt uploads a 3 MiB PDF through a
// follower of a three-node cluster, reads it back byte for byte on every
// node, stops the follower and reads it again on the other two.
func TestDocumentSurvivesTheNodeThatTookIt(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, Register)
	leader := clustertest.Leader(t, nodes...)
	var follower *cluster.Node
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := pdf(t, 3<<20)
	start := time.Now()
	d, err := NewStore(follower, nil, nil).Put(ctx, bari, "room1", "booking:b1", "citizen", "Carta d'identità.pdf", bytes.NewReader(file), Policy{})
	if err != nil {
		t.Fatalf("Put through a follower: %v", err)
	}
	t.Logf("3 MiB through a follower of 3 nodes in %v", time.Since(start))
	sum := sha256.Sum256(file)
	if d.Size != int64(len(file)) || d.Type != TypePDF || d.SHA256 != hex.EncodeToString(sum[:]) || d.Name != "Carta d'identità.pdf" {
		t.Errorf("document: got %+v", d)
	}
	if got, want := d.Expires.Sub(d.Uploaded), DefaultRetention; got != want {
		t.Errorf("retention: got %v, want %v", got, want)
	}
	index := follower.AppliedIndex()
	for _, n := range nodes {
		if err := n.WaitApplied(ctx, index); err != nil {
			t.Fatal(err)
		}
		s := NewStore(n, nil, nil)
		if got := read(t, s, bari, d.ID); !bytes.Equal(got, file) {
			t.Errorf("%s: read %d bytes, not the file uploaded", n.Config().NodeID, len(got))
		}
		got, err := s.Get(ctx, bari, d.ID)
		if err != nil || got != d {
			t.Errorf("%s: Get: got %+v, %v; want %+v", n.Config().NodeID, got, err, d)
		}
	}
	if err := follower.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n == follower {
			continue
		}
		s := NewStore(n, nil, nil)
		if got := read(t, s, bari, d.ID); !bytes.Equal(got, file) {
			t.Errorf("%s after the uploader stopped: read %d bytes, not the file", n.Config().NodeID, len(got))
		}
		list, err := s.ListRef(ctx, bari, "booking:b1")
		if err != nil || len(list) != 1 || list[0].ID != d.ID {
			t.Errorf("%s: ListRef: got %+v, %v", n.Config().NodeID, list, err)
		}
	}
}

func TestPutRefusesAndStoresNothing(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	ctx := context.Background()
	tests := []struct {
		name, file string
		body       []byte
		policy     Policy
		want       error
	}{
		{"oversize", "grande.pdf", pdf(t, DefaultMaxBytes+1), Policy{}, ErrTooLarge},
		{"over a smaller limit", "a.pdf", pdf(t, 1001), Policy{MaxBytes: 1000}, ErrTooLarge},
		{"text renamed .pdf", "fattura.pdf", []byte("Gentile Comune, ecco il documento.\n"), Policy{}, ErrType},
		{"HTML renamed .pdf", "x.pdf", []byte("<html><script>alert(1)</script>"), Policy{}, ErrType},
		{"empty", "vuoto.pdf", nil, Policy{}, ErrEmpty},
		{"PNG where only PDF is accepted", "foto.png", png(100), Policy{Types: []string{TypePDF}}, ErrType},
		{"signature after a prefix", "a.pdf", append([]byte("  "), pdf(t, 100)...), Policy{}, ErrType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(ctx, bari, "room1", "", "citizen", tc.file, bytes.NewReader(tc.body), tc.policy)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if c, d := count(t, node, "media_doc_chunks"), count(t, node, "media_docs"); c != 0 || d != 0 {
		t.Errorf("after refusals: %d chunks, %d documents stored, want none", c, d)
	}
	// Exactly the limit is accepted.
	if _, err := s.Put(ctx, bari, "room1", "", "citizen", "a.pdf", bytes.NewReader(pdf(t, 1000)), Policy{MaxBytes: 1000}); err != nil {
		t.Errorf("file of exactly MaxBytes: %v", err)
	}
}

func TestPutNamesByContent(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	ctx := context.Background()
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"scansione.pdf", png(2000), "scansione.png"},
		{"foto.JPG", append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte{1}, 100)...), "foto.jpg"},
		{"../../etc/passwd", pdf(t, 500), "passwd.pdf"},
		{`..\x.pdf`, pdf(t, 500), "x.pdf"},
		{"fattura\x00.exe", pdf(t, 500), "fattura.pdf"},
		{"fattura\u202efdp.exe", pdf(t, 500), "fatturafdp.pdf"},
		{"", png(100), "documento.png"},
		{"relazione.2026", pdf(t, 500), "relazione.2026.pdf"},
	}
	for _, tc := range tests {
		d, err := s.Put(ctx, bari, "room1", "", "operator", tc.name, bytes.NewReader(tc.body), Policy{})
		if err != nil {
			t.Errorf("Put %q: %v", tc.name, err)
			continue
		}
		if d.Name != tc.want {
			t.Errorf("Put %q: name %q, want %q", tc.name, d.Name, tc.want)
		}
	}
	list, err := s.List(ctx, bari, "room1")
	if err != nil || len(list) != len(tests) {
		t.Fatalf("List: got %d documents, %v; want %d", len(list), err, len(tests))
	}
	for i := 1; i < len(list); i++ {
		if list[i].Uploaded.Before(list[i-1].Uploaded) {
			t.Errorf("List not oldest first at %d", i)
		}
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	ctx := context.Background()
	d, err := s.Put(ctx, bari, "room1", "booking:b1", "citizen", "a.pdf", bytes.NewReader(pdf(t, 1000)), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, lecce, d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get from another Comune: got %v, want ErrNotFound", err)
	}
	if _, err := s.Open(ctx, lecce, d.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open from another Comune: got %v, want ErrNotFound", err)
	}
	if l, err := s.List(ctx, lecce, "room1"); err != nil || len(l) != 0 {
		t.Errorf("List from another Comune: got %d, %v; want none", len(l), err)
	}
	if l, err := s.ListRef(ctx, lecce, "booking:b1"); err != nil || len(l) != 0 {
		t.Errorf("ListRef from another Comune: got %d, %v; want none", len(l), err)
	}
	if _, err := s.Get(ctx, bari, d.ID); err != nil {
		t.Errorf("Get from its own Comune: %v", err)
	}
	// A chunk proposed for the same ID by another Comune does not touch
	// the first Comune's document, and cannot be committed over it.
	if err := propose(t, node, "lecce", CmdChunk, chunkPayload{ID: d.ID, Seq: 0, Data: []byte("%PDF-x")}); err != nil {
		t.Fatalf("lecce's chunk: %v", err)
	}
	if got := read(t, s, bari, d.ID); len(got) != 1000 {
		t.Errorf("bari's document after lecce's chunk: %d bytes", len(got))
	}
}

// propose proposes a command directly, as a proposer other than Put
// would, and returns its error.
func propose(t testing.TB, n *cluster.Node, tn, typ string, payload any) error {
	t.Helper()
	cmd, err := cluster.NewCommand(typ, payloadVersion, tn, payload)
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Propose(context.Background(), cmd)
	return err
}

func TestCommitChecksTheChunks(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	now := time.Now().UTC().Truncate(time.Millisecond)
	id, _ := newID(now)
	a, b := pdf(t, 100), []byte(strings.Repeat("b", 50))
	full := append(append([]byte(nil), a...), b...)
	sum := sha256.Sum256(full)
	commit := commitPayload{ID: id, Room: "r", Name: "a.pdf", Type: TypePDF, Size: int64(len(full)),
		SHA256: hex.EncodeToString(sum[:]), Chunks: 2, Uploaded: now, Expires: now.Add(time.Hour)}
	if err := propose(t, node, "bari", CmdChunk, chunkPayload{ID: id, Seq: 0, Data: a}); err != nil {
		t.Fatal(err)
	}
	if err := propose(t, node, "bari", CmdCommit, commit); !errors.Is(err, ErrIncomplete) {
		t.Errorf("commit with a chunk missing: got %v, want ErrIncomplete", err)
	}
	if err := propose(t, node, "bari", CmdChunk, chunkPayload{ID: id, Seq: 1, Data: []byte(strings.Repeat("c", 50))}); err != nil {
		t.Fatal(err)
	}
	if err := propose(t, node, "bari", CmdCommit, commit); !errors.Is(err, ErrIncomplete) {
		t.Errorf("commit whose bytes do not hash to its SHA-256: got %v, want ErrIncomplete", err)
	}
	png := commit
	png.Type = TypePNG
	if err := propose(t, node, "bari", CmdChunk, chunkPayload{ID: id, Seq: 1, Data: b}); err != nil {
		t.Fatal(err)
	}
	if err := propose(t, node, "bari", CmdCommit, png); !errors.Is(err, ErrIncomplete) {
		t.Errorf("commit of a PDF declared PNG: got %v, want ErrIncomplete", err)
	}
	if err := propose(t, node, "bari", CmdCommit, commit); err != nil {
		t.Fatalf("commit of the right chunks: %v", err)
	}
	if got := read(t, NewStore(node, nil, nil), bari, id); !bytes.Equal(got, full) {
		t.Errorf("read back %d bytes, not the chunks", len(got))
	}
	if err := propose(t, node, "bari", CmdChunk, chunkPayload{ID: id, Seq: 2, Data: b}); !errors.Is(err, ErrExists) {
		t.Errorf("chunk after the commit: got %v, want ErrExists", err)
	}
	if err := propose(t, node, "bari", CmdCommit, commit); !errors.Is(err, ErrExists) {
		t.Errorf("second commit: got %v, want ErrExists", err)
	}
}

func TestExpire(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	clk := newClock()
	s := NewStore(node, nil, clk.Now)
	ctx := context.Background()
	short, err := s.Put(ctx, bari, "room1", "booking:b1", "citizen", "a.pdf", bytes.NewReader(pdf(t, 300<<10)), Policy{Retention: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.Put(ctx, bari, "room1", "booking:b1", "citizen", "b.pdf", bytes.NewReader(pdf(t, 1000)), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	// An upload abandoned after its first chunk.
	orphan, _ := newID(clk.Now())
	if err := propose(t, node, "lecce", CmdChunk, chunkPayload{ID: orphan, Seq: 0, Data: pdf(t, 100)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Expire(ctx); err != nil || n != 0 {
		t.Errorf("Expire before anything is due: got %d, %v; want 0", n, err)
	}
	clk.Add(2*time.Hour + time.Second)
	// Expired but not yet erased: already invisible.
	if _, err := s.Get(ctx, bari, short.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an expired document: got %v, want ErrNotFound", err)
	}
	if n, err := s.Expire(ctx); err != nil || n != 2 {
		t.Errorf("Expire: got %d, %v; want 2 (one document, one abandoned upload)", n, err)
	}
	var left int
	if err := node.DB().QueryRow(`SELECT count(*) FROM media_doc_chunks WHERE doc IN (?, ?)`, short.ID, orphan).Scan(&left); err != nil || left != 0 {
		t.Errorf("chunks of erased documents: %d left, %v", left, err)
	}
	if got := read(t, s, bari, long.ID); len(got) != 1000 {
		t.Errorf("the unexpired document: %d bytes", len(got))
	}
	list, err := s.ListRef(ctx, bari, "booking:b1")
	if err != nil || len(list) != 1 || list[0].ID != long.ID {
		t.Errorf("ListRef after Expire: got %+v, %v", list, err)
	}
	clk.Add(DefaultRetention)
	if n, err := s.Expire(ctx); err != nil || n != 1 {
		t.Errorf("Expire after the default retention: got %d, %v; want 1", n, err)
	}
	if c, d := count(t, node, "media_doc_chunks"), count(t, node, "media_docs"); c != 0 || d != 0 {
		t.Errorf("after every expiry: %d chunks, %d documents", c, d)
	}
}

func TestOpenStreamsChunks(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	s := NewStore(node, nil, nil)
	ctx := context.Background()
	file := pdf(t, 3*chunkSize+17)
	d, err := s.Put(ctx, bari, "room1", "", "citizen", "a.pdf", bytes.NewReader(file), Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if c := count(t, node, "media_doc_chunks"); c != 4 {
		t.Errorf("chunks: got %d, want 4", c)
	}
	rc, err := s.Open(ctx, bari, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// Small reads across chunk boundaries.
	var got bytes.Buffer
	buf := make([]byte, 4093)
	for {
		n, err := rc.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), file) {
		t.Errorf("streamed %d bytes, not the file", got.Len())
	}
}

func TestMaintainErases(t *testing.T) {
	t.Parallel()
	node := clustertest.Node(t, Register)
	clk := newClock()
	s := NewStore(node, nil, clk.Now)
	s.Logger = clustertest.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := s.Put(ctx, bari, "room1", "", "citizen", "a.pdf", bytes.NewReader(pdf(t, 1000)), Policy{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Maintain(ctx, 20*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for count(t, node, "media_docs") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("document %s still stored 10s after it expired", d.ID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPutAcrossALeaderChange stops the leader while a follower is
// proposing a document's chunks: the upload goes on with the new leader
// and the document is complete on the two nodes left.
func TestPutAcrossALeaderChange(t *testing.T) {
	t.Parallel()
	nodes := clustertest.Cluster(t, 3, Register)
	leader := clustertest.Leader(t, nodes...)
	var rest []*cluster.Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	file := pdf(t, 4<<20)
	// Stop the leader once the upload has started to write chunks.
	var putDone atomic.Bool
	stopped := make(chan bool)
	go func() {
		for ctx.Err() == nil {
			var c int
			rest[1].DB().QueryRow(`SELECT count(*) FROM media_doc_chunks`).Scan(&c)
			if c >= 2 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		during := !putDone.Load()
		leader.Close()
		stopped <- during
	}()
	d, err := NewStore(rest[0], nil, nil).Put(ctx, bari, "room1", "", "citizen", "a.pdf", bytes.NewReader(file), Policy{})
	putDone.Store(true)
	if !<-stopped {
		t.Errorf("the upload ended before the leader stopped: the test proved nothing")
	}
	if err != nil {
		t.Fatalf("Put across a leader change: %v", err)
	}
	index := rest[0].AppliedIndex()
	for _, n := range rest {
		if err := n.WaitApplied(ctx, index); err != nil {
			t.Fatal(err)
		}
		if got := read(t, NewStore(n, nil, nil), bari, d.ID); !bytes.Equal(got, file) {
			t.Errorf("%s: read %d bytes, not the file", n.Config().NodeID, len(got))
		}
	}
}
