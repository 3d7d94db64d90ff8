package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"strings"
)

// Sender delivers one message. from and to are the SMTP envelope (bare
// addresses, or "Name <addr>" forms that Send reduces to the address); msg
// is the whole message with its headers, lines ending in CRLF. Send is safe
// for concurrent use and gives up when ctx ends.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// Errors of this package.
var (
	// ErrNotFound is returned by Mailbox.Get for an unknown message ID.
	ErrNotFound = errors.New("mail: message not found")
	// ErrNoRecipients is returned by Send when to is empty.
	ErrNoRecipients = errors.New("mail: no recipients")
	// ErrNoStartTLS is returned when Security is "starttls" and the server
	// does not offer STARTTLS: the message is not sent in clear.
	ErrNoStartTLS = errors.New("mail: server does not offer STARTTLS")
)

// IsPermanent reports whether err is a permanent SMTP failure (a 5xx
// reply, such as an unknown recipient or a refused login), which retrying
// the same message will not fix. Network errors and 4xx replies are
// temporary.
func IsPermanent(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}

// envelope reduces from and to to bare addresses and checks them; a
// display name in an envelope would be rejected by the server.
func envelope(from string, to []string) (string, []string, error) {
	if len(to) == 0 {
		return "", nil, ErrNoRecipients
	}
	f, err := bareAddress(from)
	if err != nil {
		return "", nil, fmt.Errorf("envelope from: %w", err)
	}
	rcpts := make([]string, 0, len(to))
	for _, t := range to {
		a, err := bareAddress(t)
		if err != nil {
			return "", nil, fmt.Errorf("envelope to: %w", err)
		}
		rcpts = append(rcpts, a)
	}
	return f, rcpts, nil
}

// bareAddress returns the addr-spec of s ("Comune di Bari <a@b.it>" →
// "a@b.it"). The empty string is the null reverse-path and stays empty.
func bareAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("address %q contains a line break", s)
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("parse address %q: %w", s, err)
	}
	return a.Address, nil
}
