package site

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/sportello-virtuale/sportello/internal/netguard"
)

// PublicLogoFetcher returns a function for Options.FetchLogo that reads a
// Comune's https logo from public addresses only. The URL is typed by a
// Comune's administrator, so the node must not become a way to reach its
// own network: every connection is checked after DNS resolution (a name
// that resolves to a private address, or starts to, is refused), no proxy
// from the environment is used, redirects must stay on https, and the body
// is cut at the logo's size limit.
func PublicLogoFetcher() func(ctx context.Context, url string) ([]byte, error) {
	return newLogoFetcher(false, nil)
}

// newLogoFetcher is PublicLogoFetcher; the tests allow loopback and trust
// their own certificate.
func newLogoFetcher(allowPrivate bool, tlsConfig *tls.Config) func(ctx context.Context, url string) ([]byte, error) {
	dialer := &net.Dialer{
		Timeout: logoTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return err
			}
			if !allowPrivate && !publicAddr(ip) {
				return fmt.Errorf("logo: %s is not a public address", ip)
			}
			return nil
		},
	}
	client := &http.Client{
		Timeout: logoTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tlsConfig,
			TLSHandshakeTimeout:   logoTimeout,
			ResponseHeaderTimeout: logoTimeout,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("logo: too many redirects")
			}
			if req.URL.Scheme != "https" {
				return errors.New("logo: redirect away from https")
			}
			return nil
		},
	}
	return func(ctx context.Context, raw string) ([]byte, error) {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("logo: %q is not an https URL", raw)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "image/png, image/jpeg;q=0.9, */*;q=0.1")
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("logo: %s answered %s", u.Host, res.Status)
		}
		b, err := io.ReadAll(io.LimitReader(res.Body, maxLogoBytes+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxLogoBytes {
			return nil, fmt.Errorf("logo: more than %d bytes", maxLogoBytes)
		}
		return b, nil
	}
}

// publicAddr reports whether ip is a public address (netguard).
func publicAddr(ip netip.Addr) bool { return !netguard.Internal(ip) }
