package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger returns an hclog.Logger (what raft wants) that writes into
// log: hclog renders each entry as one JSON line, which hclogWriter turns
// back into a slog record with the same level, message and attributes.
func newRaftLogger(log *slog.Logger) hclog.Logger {
	level := hclog.Error
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		level = hclog.Debug
	case log.Enabled(ctx, slog.LevelInfo):
		level = hclog.Info
	case log.Enabled(ctx, slog.LevelWarn):
		level = hclog.Warn
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       level,
		Output:      hclogWriter{log: log},
		JSONFormat:  true,
		DisableTime: true,
	})
}

// hclogWriter receives hclog's JSON lines.
type hclogWriter struct{ log *slog.Logger }

func (w hclogWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		w.log.Info(string(bytes.TrimSpace(p)))
		return len(p), nil
	}
	level := slog.LevelInfo
	switch strings.ToLower(toString(m["@level"])) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg := toString(m["@message"])
	if level == slog.LevelWarn && msg == "heartbeat timeout reached, starting election" && toString(m["last-leader-addr"]) == "" {
		// Every node starts with no leader; this is only news when a
		// leader was known before.
		level = slog.LevelInfo
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !strings.HasPrefix(k, "@") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	attrs := make([]any, 0, 2*len(keys)+2)
	if mod := toString(m["@module"]); mod != "" {
		attrs = append(attrs, "module", mod)
	}
	for _, k := range keys {
		attrs = append(attrs, k, m[k])
	}
	w.log.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}
