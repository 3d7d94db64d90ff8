package main

import (
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster/pki"
)

func TestClusterConfigValidate(t *testing.T) {
	t.Parallel()
	ca, err := pki.NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := pki.NewToken(rand.Reader, ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     ClusterConfig
		wantErr string // "" for valid
	}{
		{"empty", ClusterConfig{}, ""},
		{"init", ClusterConfig{Init: true, Name: "comuni-puglia"}, ""},
		{"join", ClusterConfig{JoinToken: tok.String(), JoinAddr: "10.0.0.1:7000", AdvertiseAddr: "10.0.0.2:7000"}, ""},
		{"init and join", ClusterConfig{Init: true, JoinToken: tok.String(), JoinAddr: "10.0.0.1:7000"}, "both set"},
		{"token without address", ClusterConfig{JoinToken: tok.String()}, "go together"},
		{"bad token", ClusterConfig{JoinToken: "SPT1-nope", JoinAddr: "10.0.0.1:7000"}, "cluster.join_token"},
		{"bad address", ClusterConfig{AdvertiseAddr: "10.0.0.2"}, "cluster.advertise_addr"},
		{"bad name", ClusterConfig{Name: "Not A Name!"}, "cluster.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs []string
			tt.cfg.validate(func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) })
			got := strings.Join(errs, "; ")
			if (tt.wantErr == "") != (got == "") || !strings.Contains(got, tt.wantErr) {
				t.Errorf("validate: got %q, want an error containing %q", got, tt.wantErr)
			}
		})
	}
}
