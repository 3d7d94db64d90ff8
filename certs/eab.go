package certs

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// eabMACKey returns an External Account Binding MAC key in the one form
// acmez decodes, base64url without padding, or an error naming the
// mistake. CAs show the key in that form, but an operator may paste it
// with padding, with a stray newline, or re-encoded in standard base64 by
// some tool on the way; those are the same key, and refusing them would
// fail the first account registration long after the node started. The
// length is not checked: RFC 8555 sets none, and the CA is the judge.
func eabMACKey(s string) (string, error) {
	k := strings.TrimSpace(s)
	k = strings.TrimRight(k, "=")
	// Standard base64 differs from base64url only in these two characters,
	// which base64url never contains: mapping them keeps the same bytes.
	k = strings.NewReplacer("+", "-", "/", "_").Replace(k)
	b, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return "", fmt.Errorf("certs: external account binding MAC key is not base64url: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("certs: external account binding MAC key is empty")
	}
	return k, nil
}
