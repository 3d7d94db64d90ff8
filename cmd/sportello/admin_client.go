package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"
)

// adminClient speaks to a running node's admin socket.
type adminClient struct {
	sock string
	http *http.Client
}

func newAdminClient(dataDir string) *adminClient {
	sock := adminSocketPath(dataDir)
	return &adminClient{
		sock: sock,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "unix", sock)
				},
			},
		},
	}
}

// errUnreachable means no node answers on the socket.
var errUnreachable = errors.New("node not reachable")

// apiError is an error answer of the admin API.
type apiError struct {
	Status int
	adminErrorBody
}

func (e *apiError) Error() string {
	msg := e.Message
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %s: %s", k, e.Fields[k])
		}
		msg += b.String()
	}
	return msg
}

// do sends in (if not nil) as JSON and decodes the answer into out.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sportello"+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: cannot reach %s: %v", errUnreachable, c.sock, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e adminError
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			e.Error.Message = strings.TrimSpace(string(b))
		}
		return &apiError{Status: resp.StatusCode, adminErrorBody: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return nil
}

// exitCodeFor maps an admin call's error to an exit code.
func exitCodeFor(err error) int {
	var ae *apiError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUnreachable):
		return exitUnavailable
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		return exitNotFound
	case errors.As(err, &ae) && ae.Status == http.StatusConflict:
		return exitConflict
	}
	return exitFailure
}
