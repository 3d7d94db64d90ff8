package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Mailbox is the demo's Sender: it keeps every message as a .eml file in
// one folder of the node (<data>/mailbox/), where the demo page lists and
// shows them. Nothing leaves the machine. Files are written under a
// temporary name and renamed, so List never sees half a message; a
// Mailbox is safe for concurrent use, also by several processes.
type Mailbox struct {
	dir string
	now func() time.Time
}

var _ Sender = (*Mailbox)(nil)

// Entry describes one stored message, from its file and headers.
type Entry struct {
	// ID names the message in the mailbox ("20270311T101500.123456789-1a2b3c4d").
	ID string
	// Received is when the mailbox stored it.
	Received time.Time
	// Size is the raw message's size in bytes.
	Size int64
	// Envelope is the SMTP envelope the sender was asked to use.
	EnvelopeFrom string
	EnvelopeTo   []string
	// From, To and Subject are the decoded headers.
	From    string
	To      string
	Subject string
}

// Stored is one message with its raw bytes and decoded parts.
type Stored struct {
	Entry
	Raw     []byte
	Message *Message
}

// idPattern is the shape of IDs made by Send; Get refuses anything else,
// so an ID can never name a file outside the folder.
var idPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{9}-[0-9a-f]{8}$`)

// Envelope headers are prepended to the stored file (and only there), as a
// local delivery agent adds Return-Path and Delivered-To.
const (
	hdrEnvelopeFrom = "X-Sportello-Envelope-From"
	hdrEnvelopeTo   = "X-Sportello-Envelope-To"
)

// NewMailbox opens (creating it if needed) the mailbox in dir.
func NewMailbox(dir string) (*Mailbox, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	return &Mailbox{dir: dir, now: time.Now}, nil
}

// Dir returns the mailbox's folder.
func (m *Mailbox) Dir() string { return m.dir }

// Send stores msg as a new .eml file.
func (m *Mailbox) Send(ctx context.Context, from string, to []string, msg []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	from, to, err := envelope(from, to)
	if err != nil {
		return err
	}
	if _, err := mail.ReadMessage(bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("mailbox: message is not RFC 5322: %w", err)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	id := m.now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(rnd[:])

	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s: <%s>\r\n%s: %s\r\n", hdrEnvelopeFrom, from, hdrEnvelopeTo, strings.Join(to, ", "))
	buf.Write(msg)

	f, err := os.CreateTemp(m.dir, ".incoming-*")
	if err != nil {
		return fmt.Errorf("mailbox: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(buf.Bytes())
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mailbox: write %s: %w", id, err)
	}
	if err := os.Rename(tmp, filepath.Join(m.dir, id+".eml")); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mailbox: store %s: %w", id, err)
	}
	return nil
}

// List returns the stored messages, newest first. A file that cannot be
// read or parsed is listed with what is known of it, so one bad file does
// not hide the others.
func (m *Mailbox) List() ([]Entry, error) {
	des, err := os.ReadDir(m.dir)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	var out []Entry
	for _, de := range des {
		id, ok := strings.CutSuffix(de.Name(), ".eml")
		if !ok || !idPattern.MatchString(id) || !de.Type().IsRegular() {
			continue
		}
		e := Entry{ID: id, Received: idTime(id)}
		if info, err := de.Info(); err == nil {
			e.Size = info.Size()
		}
		if f, err := os.Open(filepath.Join(m.dir, de.Name())); err == nil {
			if msg, err := mail.ReadMessage(bufio.NewReader(f)); err == nil {
				fillEntry(&e, msg.Header)
			}
			f.Close()
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(b.ID, a.ID) })
	return out, nil
}

// Get returns the message with id, or ErrNotFound.
func (m *Mailbox) Get(id string) (Stored, error) {
	if !idPattern.MatchString(id) {
		return Stored{}, ErrNotFound
	}
	raw, err := os.ReadFile(filepath.Join(m.dir, id+".eml"))
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, ErrNotFound
	}
	if err != nil {
		return Stored{}, fmt.Errorf("mailbox: %w", err)
	}
	msg, err := Parse(raw)
	if err != nil {
		return Stored{}, fmt.Errorf("mailbox: message %s: %w", id, err)
	}
	s := Stored{Entry: Entry{ID: id, Received: idTime(id), Size: int64(len(raw))}, Raw: raw, Message: msg}
	fillEntry(&s.Entry, msg.Header)
	return s, nil
}

func fillEntry(e *Entry, h mail.Header) {
	e.EnvelopeFrom = strings.Trim(h.Get(hdrEnvelopeFrom), "<>")
	if to := h.Get(hdrEnvelopeTo); to != "" {
		e.EnvelopeTo = strings.Split(to, ", ")
	}
	e.From = displayAddresses(h.Get("From"))
	e.To = displayAddresses(h.Get("To"))
	e.Subject = decodeHeader(h.Get("Subject"))
}

func idTime(id string) time.Time {
	t, _ := time.Parse("20060102T150405.000000000", id[:len("20060102T150405.000000000")])
	return t
}
