package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/certs"
)

// cmdTLS runs `sportello tls export-root`: the internal CA's root
// certificate in PEM, for the Comune's IT to install in its browsers and
// devices (closed networks, [tls] mode = "internal").
func cmdTLS(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export-root" {
		fmt.Fprintln(stderr, "usage: sportello tls export-root [--data DIR | --config FILE]")
		return exitUsage
	}
	fs := flag.NewFlagSet("tls export-root", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", defaultConfig().DataDir, "data `dir` of the running node")
	cfgPath := fs.String("config", "", "take the data dir from this configuration `file`")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sportello tls export-root [--data DIR | --config FILE]

Prints the root certificate of the cluster's internal CA in PEM. The CA
signs the Comuni's certificates when [tls] mode is "internal"; it is made
on first use, so the root can be exported and installed in the browsers
before switching to that mode. The root is the same on every node.

`)
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 0 {
		fs.Usage()
		return exitUsage
	}
	if *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "sportello tls: %v\n", err)
			return exitUsage
		}
		*dataDir = cfg.DataDir
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out struct {
		PEM string `json:"pem"`
	}
	if err := newAdminClient(*dataDir).do(ctx, "GET", "/v1/tls/root", nil, &out); err != nil {
		return reportAdminError(stderr, "tls export-root", *dataDir, err)
	}
	fmt.Fprint(stdout, out.PEM)
	return exitOK
}

// getTLSRoot answers the admin socket's GET /v1/tls/root.
func (a *adminServer) getTLSRoot(w http.ResponseWriter, r *http.Request) {
	var dataDir string
	if a.status != nil {
		dataDir = a.status().DataDir
	}
	secrets, err := auth.OpenSecrets(filepath.Join(dataDir, auth.SecretsFile))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	pem, err := certs.NewStorage(a.node, secrets, time.Now).InternalRootPEM(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"pem": string(pem)})
}
