package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
)

// Message is a decoded email: its headers, its text and HTML bodies and its
// other parts.
type Message struct {
	Header mail.Header
	// From, To and Subject are decoded from RFC 2047 words.
	From    string
	To      string
	Subject string
	// Date is the Date header, zero when absent or malformed.
	Date time.Time
	// Text and HTML are the first text/plain and text/html parts that are
	// not attachments, decoded to UTF-8 strings.
	Text string
	HTML string
	// Parts are every other leaf part, in order: calendar invitations,
	// attachments.
	Parts []Part
}

// Part is one leaf of a MIME tree other than the message's bodies.
type Part struct {
	// ContentType is the media type without parameters ("text/calendar").
	ContentType string
	// Params are the Content-Type parameters (method=REQUEST, charset...).
	Params map[string]string
	// Filename is the attachment's name, when it has one.
	Filename string
	// Attachment reports a Content-Disposition of "attachment".
	Attachment bool
	// Data is the decoded content.
	Data []byte
}

// maxParseDepth bounds multipart nesting; real messages use 2 or 3 levels.
const maxParseDepth = 8

// Parse decodes raw, a whole message with its headers. Only UTF-8 and
// US-ASCII bodies are expected (Sportello writes nothing else); other
// charsets are returned undecoded.
func Parse(raw []byte) (*Message, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	msg := &Message{
		Header:  m.Header,
		From:    displayAddresses(m.Header.Get("From")),
		To:      displayAddresses(m.Header.Get("To")),
		Subject: decodeHeader(m.Header.Get("Subject")),
	}
	if d, err := m.Header.Date(); err == nil {
		msg.Date = d
	}
	if err := msg.walk(m.Header, m.Body, 0); err != nil {
		return nil, fmt.Errorf("parse message: %w", err)
	}
	return msg, nil
}

// header is what walk needs of mail.Header and textproto.MIMEHeader.
type header interface{ Get(string) string }

func (msg *Message) walk(h header, body io.Reader, depth int) error {
	if depth > maxParseDepth {
		return errors.New("multipart nesting too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without boundary", mediaType)
		}
		r := multipart.NewReader(body, boundary)
		for {
			p, err := r.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mediaType, err)
			}
			if err := msg.walk(p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}
	data, err := decodeBody(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	attachment := disp == "attachment"
	filename := decodeHeader(dparams["filename"])
	if filename == "" {
		filename = decodeHeader(params["name"])
	}
	switch {
	case mediaType == "text/plain" && !attachment && msg.Text == "":
		msg.Text = string(data)
	case mediaType == "text/html" && !attachment && msg.HTML == "":
		msg.HTML = string(data)
	default:
		msg.Parts = append(msg.Parts, Part{
			ContentType: mediaType,
			Params:      params,
			Filename:    filename,
			Attachment:  attachment,
			Data:        data,
		})
	}
	return nil
}

func decodeBody(cte string, body io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		// The decoder skips the line breaks of base64 bodies by itself.
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, body))
		if err != nil {
			return nil, fmt.Errorf("base64 body: %w", err)
		}
		return b, nil
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("quoted-printable body: %w", err)
		}
		return b, nil
	case "", "7bit", "8bit", "binary":
		return io.ReadAll(body)
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
}

// displayAddresses formats an address list header for people:
// `Maria Rossi <maria@example.it>`, names decoded and unquoted. A header
// that does not parse is shown decoded as it is.
func displayAddresses(s string) string {
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return decodeHeader(s)
	}
	out := make([]string, len(list))
	for i, a := range list {
		if a.Name == "" {
			out[i] = a.Address
		} else {
			out[i] = a.Name + " <" + a.Address + ">"
		}
	}
	return strings.Join(out, ", ")
}

// decodeHeader decodes RFC 2047 encoded words; on error the raw value is
// better than nothing.
func decodeHeader(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
