package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/tenant"
)

// The end of a Comune's service, in two steps as municipal IT expects:
// `tenant disable` stops the service and keeps every datum (reversible
// with `tenant enable`), and `tenant delete`, only for a disabled Comune
// and with its ID typed twice, removes it from the registry for good.

// tenantDisableBody is the body of POST /v1/tenants/{id}/disable.
type tenantDisableBody struct {
	Reason string `json:"reason"`
}

// tenantDeleteBody is the body of POST /v1/tenants/{id}/delete.
type tenantDeleteBody struct {
	Confirm string `json:"confirm"`
}

// tenantLifecycleRoutes adds the admin API of disable, enable and delete.
// Delete is a POST with the confirmation in the body rather than a DELETE,
// so that the confirmation cannot be left out by a client that drops
// query strings or bodies of DELETE requests.
func (a *adminServer) tenantLifecycleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/tenants/{id}/disable", func(w http.ResponseWriter, r *http.Request) {
		var in tenantDisableBody
		if !a.decode(w, r, &in) {
			return
		}
		t, err := a.tenants.Disable(r.Context(), tenant.ID(r.PathValue("id")), in.Reason)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Info("tenant disabled", "tenant", t.ID, "reason", t.Disabled.Reason)
		writeJSON(w, http.StatusOK, a.view(t))
	})
	mux.HandleFunc("POST /v1/tenants/{id}/enable", func(w http.ResponseWriter, r *http.Request) {
		t, err := a.tenants.Enable(r.Context(), tenant.ID(r.PathValue("id")))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Info("tenant enabled", "tenant", t.ID)
		writeJSON(w, http.StatusOK, a.view(t))
	})
	mux.HandleFunc("POST /v1/tenants/{id}/delete", func(w http.ResponseWriter, r *http.Request) {
		var in tenantDeleteBody
		if !a.decode(w, r, &in) {
			return
		}
		ts, err := a.tenants.Delete(r.Context(), tenant.ID(r.PathValue("id")), tenant.ID(in.Confirm))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.log.Warn("tenant deleted", "tenant", ts.ID, "name", ts.Name)
		writeJSON(w, http.StatusOK, ts)
	})
}

func tenantDisable(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("disable", stderr)
	reason := fs.String("reason", "", "a note for administrators, \"convenzione scaduta\" (citizens do not see it)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: sportello tenant disable ID [--reason TEXT] [--data DIR] [--json]

Stops the Comune's service and keeps its data: its hosts answer 503 "Il
servizio ... non è al momento disponibile", its API answers tenant_disabled,
no one can sign in to its back office and no certificate is issued for its
names. `+"`sportello tenant enable ID`"+` undoes it.

`)
		fs.PrintDefaults()
	}
	id, code := oneID(fs, args)
	if code != exitOK {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var v tenantView
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/tenants/"+id+"/disable", tenantDisableBody{Reason: *reason}, &v); err != nil {
		return reportAdminError(stderr, "tenant disable", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "Disabled %s (%s): %s now answers 503, data are kept.\nUndo with `sportello tenant enable %s`; remove for good with `sportello tenant delete %s --confirm %s`.\n",
		v.Tenant.Name, v.Tenant.ID, strings.Join(v.Hosts, ", "), v.Tenant.ID, v.Tenant.ID, v.Tenant.ID)
	return exitOK
}

func tenantEnable(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("enable", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello tenant enable ID [--data DIR] [--json]\n\nGives a disabled Comune its service back, as it was.\n\n")
		fs.PrintDefaults()
	}
	id, code := oneID(fs, args)
	if code != exitOK {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var v tenantView
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/tenants/"+id+"/enable", struct{}{}, &v); err != nil {
		return reportAdminError(stderr, "tenant enable", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "Enabled %s (%s): %s\n", v.Tenant.Name, v.Tenant.ID, v.URL)
	return exitOK
}

func tenantDelete(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("delete", stderr)
	confirm := fs.String("confirm", "", "the Comune's `ID` again, to confirm (required)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: sportello tenant delete ID --confirm ID [--data DIR] [--json]

Removes a disabled Comune from the registry: its host names become unknown
(404, no certificate) and its ID is never given to another Comune. Its
bookings, users and documents are not removed here: the privacy erasure
and retention rules remove them.

`)
		fs.PrintDefaults()
	}
	id, code := oneID(fs, args)
	if code != exitOK {
		return code
	}
	if *confirm == "" {
		fmt.Fprintf(stderr, "sportello tenant delete: missing --confirm %s (repeat the Comune's ID to confirm)\n", id)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var ts tenant.Tombstone
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/tenants/"+id+"/delete", tenantDeleteBody{Confirm: *confirm}, &ts); err != nil {
		return reportAdminError(stderr, "tenant delete", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, ts)
	}
	fmt.Fprintf(stdout, "Deleted %s (%s) at %s. The ID %s is retired; the Comune's other data go with privacy erasure and retention.\n",
		ts.Name, ts.ID, ts.Deleted, ts.ID)
	return exitOK
}

// oneID parses args, which must name exactly one Comune among the flags,
// and returns it escaped for a URL path.
func oneID(fs *flag.FlagSet, args []string) (string, int) {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", exitCodeOf(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", exitUsage
	}
	return url.PathEscape(pos[0]), exitOK
}

// disabledRow is the line of `tenant show` for a disabled Comune.
func disabledRow(t tenant.Tenant) string {
	if !t.IsDisabled() {
		return ""
	}
	s := "since " + t.Disabled.Since.Format(time.RFC3339)
	if t.Disabled.Reason != "" {
		s += ": " + t.Disabled.Reason
	}
	return s
}
