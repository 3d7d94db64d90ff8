package docs

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Accepted content types, as the sniffer names them.
const (
	TypePDF  = "application/pdf"
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
)

// Defaults of Policy.
const (
	DefaultMaxBytes  = 20 << 20
	DefaultRetention = 30 * 24 * time.Hour
)

// Policy is what a Comune accepts. Zero fields take the defaults: 20 MiB,
// PDF, JPEG and PNG, kept 30 days. MaxBytes is capped at 64 MiB, the most
// a commit may declare (apply refuses more whatever the proposer says);
// Types may only narrow the three types the sniffer knows. Retention is
// fixed at upload time as the document's expiry.
type Policy struct {
	MaxBytes  int64
	Types     []string
	Retention time.Duration
}

// Document is a committed document's metadata. Room is the call's room
// ID, Ref what the call was about ("booking:<id>", "ticket:<id>"), From
// who uploaded it (a participant's name or role, as the caller chooses).
// Type is the sniffed content type; Name is sanitised and its extension
// matches Type.
type Document struct {
	ID       string    `json:"id"`
	Tenant   tenant.ID `json:"tenant"`
	Room     string    `json:"room"`
	Ref      string    `json:"ref,omitempty"`
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	From     string    `json:"from,omitempty"`
	Uploaded time.Time `json:"uploaded"`
	Expires  time.Time `json:"expires"`
}

// Scanner scans a file's bytes. Scan returns nil for a clean file, an
// error wrapping ErrInfected for an infected one, and any other error when
// it cannot tell: the store then refuses the file (fail closed).
type Scanner interface {
	Scan(ctx context.Context, r io.Reader) error
}

// Store reads and writes documents through a cluster node. It is safe for
// concurrent use.
type Store struct {
	// Logger receives what Upload and Download log (slog.Default when
	// nil). Set it before the store is used.
	Logger *slog.Logger
	// Cipher, when set, seals the chunks of new documents under their
	// Comune's key (cipher.go). Set it before the store is used.
	Cipher Cipher

	node *cluster.Node
	scan Scanner
	now  func() time.Time
}

// NewStore returns a store over node. scan may be nil (no scanning); now
// stamps upload and expiry times (time.Now when nil).
func NewStore(node *cluster.Node, scan Scanner, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{node: node, scan: scan, now: now}
}
