package docs

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/clustertest"
)

// eicar is the EICAR anti-virus test file: harmless, and detected by
// every scanner by convention.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// eicarSignature is the name of the signature the test's database gives
// clamd.
const eicarSignature = "Sportello-Test-EICAR"

// startClamd starts a real clamd in the test's folder, with a database of
// one signature (the EICAR string, anywhere in any file: the official
// database cannot be downloaded here and would take clamd half a minute
// to load), and returns its socket. Without clamd the test is skipped,
// unless SPORTELLO_REQUIRE_CLAMD=1 (CI).
func startClamd(t *testing.T) string {
	t.Helper()
	bin := "/usr/sbin/clamd"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("clamd"); err != nil {
			if os.Getenv("SPORTELLO_REQUIRE_CLAMD") == "1" {
				t.Fatal("clamd not found and SPORTELLO_REQUIRE_CLAMD=1")
			}
			t.Skip("clamd not installed")
		}
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sig := eicarSignature + ":0:*:" + hex.EncodeToString([]byte(eicar)) + "\n"
	if err := os.WriteFile(filepath.Join(db, "test.ndb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := strings.Join([]string{
		"Foreground yes",
		"LocalSocket " + sock,
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + dir,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"SelfCheck 0",
		"",
	}, "\n")
	confPath := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited: %v\n%s\n%s", err, out.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not listen within 30s:\n%s", out.String())
		}
	}
}

func TestClamd(t *testing.T) {
	t.Parallel()
	sock := startClamd(t)
	ctx := context.Background()
	scanner := Clamd{Network: "unix", Addr: sock, Timeout: 10 * time.Second}

	clean := pdf(t, 1<<20)
	if err := scanner.Scan(ctx, bytes.NewReader(clean)); err != nil {
		t.Errorf("scan a clean PDF: %v", err)
	}
	err := scanner.Scan(ctx, strings.NewReader(eicar))
	if !errors.Is(err, ErrInfected) || !strings.Contains(err.Error(), eicarSignature) {
		t.Errorf("scan EICAR: got %v, want ErrInfected naming %s", err, eicarSignature)
	}

	node := clustertest.Node(t, Register)
	s := NewStore(node, scanner, nil)
	if _, err := s.Put(ctx, bari, "room1", "", "citizen", "pulito.pdf", bytes.NewReader(clean), Policy{}); err != nil {
		t.Errorf("Put a clean PDF through clamd: %v", err)
	}
	chunks := count(t, node, "media_doc_chunks")
	// A PDF that carries the test string somewhere inside.
	infected := append(pdf(t, 4000), []byte(eicar+"\n%%EOF\n")...)
	_, err = s.Put(ctx, bari, "room1", "", "citizen", "infetto.pdf", bytes.NewReader(infected), Policy{})
	if !errors.Is(err, ErrInfected) || !strings.Contains(err.Error(), eicarSignature) {
		t.Errorf("Put an infected PDF: got %v, want ErrInfected naming %s", err, eicarSignature)
	}
	if c, d := count(t, node, "media_doc_chunks"), count(t, node, "media_docs"); c != chunks || d != 1 {
		t.Errorf("after the infected PDF: %d chunks, %d documents; want only the clean one's %d and 1", c, d, chunks)
	}

	// No scanner behind the socket: fail closed.
	gone := NewStore(node, Clamd{Network: "unix", Addr: filepath.Join(t.TempDir(), "missing.sock"), Timeout: time.Second}, nil)
	if _, err := gone.Put(ctx, bari, "room1", "", "citizen", "pulito.pdf", bytes.NewReader(clean), Policy{}); !errors.Is(err, ErrScan) {
		t.Errorf("Put with the clamd socket missing: got %v, want ErrScan", err)
	}
	if c, d := count(t, node, "media_doc_chunks"), count(t, node, "media_docs"); c != chunks || d != 1 {
		t.Errorf("after the failed scan: %d chunks, %d documents; want %d and 1", c, d, chunks)
	}
}

// TestClamdOddReplies talks to fake daemons that misbehave: each case must
// be ErrScan, never a pass.
func TestClamdOddReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"closes at once", func(c net.Conn) { c.Close() }},
		{"error reply", func(c net.Conn) {
			drain(c)
			c.Write([]byte("INSTREAM size limit exceeded. ERROR\x00"))
		}},
		{"unexpected reply", func(c net.Conn) {
			drain(c)
			c.Write([]byte("PONG\x00"))
		}},
		{"OK without the stream prefix", func(c net.Conn) {
			drain(c)
			c.Write([]byte("OK\x00"))
		}},
		{"never answers", func(c net.Conn) {
			drain(c)
			time.Sleep(2 * time.Second)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				tc.serve(c)
			}()
			err = Clamd{Network: "tcp", Addr: l.Addr().String(), Timeout: 500 * time.Millisecond}.
				Scan(context.Background(), bytes.NewReader(pdf(t, 100<<10)))
			if !errors.Is(err, ErrScan) || errors.Is(err, ErrInfected) {
				t.Errorf("got %v, want ErrScan", err)
			}
		})
	}
}

// drain reads an INSTREAM request up to its terminating empty chunk.
func drain(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(c, buf); err != nil {
		return
	}
	for {
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			return
		}
		n := int(size[0])<<24 | int(size[1])<<16 | int(size[2])<<8 | int(size[3])
		if n == 0 {
			return
		}
		if _, err := io.ReadFull(c, make([]byte, n)); err != nil {
			return
		}
	}
}
