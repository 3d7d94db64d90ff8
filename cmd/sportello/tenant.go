package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// cmdTenant manages Comuni through the running node's admin socket.
func cmdTenant(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		tenantUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "create":
		return tenantCreate(args[1:], stdout, stderr)
	case "list":
		return tenantList(args[1:], stdout, stderr)
	case "show":
		return tenantShow(args[1:], stdout, stderr)
	case "disable":
		return tenantDisable(args[1:], stdout, stderr)
	case "enable":
		return tenantEnable(args[1:], stdout, stderr)
	case "delete":
		return tenantDelete(args[1:], stdout, stderr)
	case "oidc":
		return tenantOIDC(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		tenantUsage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "sportello tenant: unknown command %q\n\n", args[0])
	tenantUsage(stderr)
	return exitUsage
}

func tenantUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  sportello tenant create --id ID --name NAME --istat CODE [flags]
  sportello tenant list [--data DIR] [--json]
  sportello tenant show ID [--data DIR] [--json]
  sportello tenant disable ID [--reason TEXT]   stop the Comune's service, keep its data
  sportello tenant enable ID                    give a disabled Comune its service back
  sportello tenant delete ID --confirm ID       remove a disabled Comune for good
  sportello tenant oidc add|list ID ...   the Comune's OpenID providers for operators

The commands talk to the node running on --data (default ./sportello-data)
through its admin socket <data>/admin.sock.
`)
}

const adminTimeout = 30 * time.Second

// tenantFlags adds the flags every tenant subcommand has.
func tenantFlags(name string, stderr io.Writer) (fs *flag.FlagSet, dataDir *string, asJSON *bool) {
	fs = flag.NewFlagSet("tenant "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir = fs.String("data", defaultConfig().DataDir, "data `dir` of the running node")
	asJSON = fs.Bool("json", false, "print JSON instead of text")
	return fs, dataDir, asJSON
}

func tenantCreate(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("create", stderr)
	var (
		t       tenant.Tenant
		domains stringList
		patrons stringList
		sender  string
	)
	fs.Func("id", "the Comune's `slug`, used in its host name: lecce → lecce.<base-domain> (required)", func(s string) error {
		t.ID = tenant.ID(s)
		return nil
	})
	fs.StringVar(&t.Name, "name", "", "official `name`, \"Comune di Lecce\" (required)")
	fs.StringVar(&t.ISTAT, "istat", "", "six-digit ISTAT `code`, 075035 (required)")
	fs.StringVar(&t.Region, "region", "", "the body the Comune belongs to, \"Regione Puglia\"")
	fs.StringVar(&t.CodePrefix, "code-prefix", "", "booking code `prefix`, LE (default: from the id)")
	fs.Var(&domains, "domain", "a `host` name of the Comune's own, servizi.comune.lecce.it (repeatable)")
	fs.StringVar(&sender, "sender", "", "email sender, \"Comune di Lecce <noreply@comune.lecce.it>\"")
	fs.Var(&patrons, "patron", "patron saint's day closing every office, \"Sant'Oronzo=08-26\" or \"Name=YYYY-MM-DD\" once (repeatable)")
	fs.StringVar(&t.Branding.PrimaryColor, "color", "", "primary colour, `#rrggbb`")
	fs.StringVar(&t.Branding.LogoURL, "logo", "", "coat of arms `URL`")
	fs.StringVar(&t.TimeZone, "time-zone", "", "IANA time zone (default Europe/Rome)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello tenant create --id ID --name NAME --istat CODE [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	var missing []string
	for flag, v := range map[string]string{"--id": string(t.ID), "--name": t.Name, "--istat": t.ISTAT} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, flag)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 || fs.NArg() > 0 {
		if len(missing) > 0 {
			fmt.Fprintf(stderr, "sportello tenant create: missing %s\n", strings.Join(missing, ", "))
		} else {
			fmt.Fprintf(stderr, "sportello tenant create: unexpected argument %q\n", fs.Arg(0))
		}
		fs.Usage()
		return exitUsage
	}
	t.Domains = domains
	if sender != "" {
		a, err := mail.ParseAddress(sender)
		if err != nil {
			fmt.Fprintf(stderr, "sportello tenant create: --sender %q: %v\n", sender, err)
			return exitUsage
		}
		t.Sender = tenant.Sender{Name: a.Name, Address: a.Address}
	}
	for _, p := range patrons {
		pd, err := parsePatron(p)
		if err != nil {
			fmt.Fprintf(stderr, "sportello tenant create: --patron %q: %v\n", p, err)
			return exitUsage
		}
		t.PatronDays = append(t.PatronDays, pd)
	}

	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var v tenantView
	if err := newAdminClient(*dataDir).do(ctx, "POST", "/v1/tenants", t, &v); err != nil {
		return reportAdminError(stderr, "tenant create", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, v)
	}
	fmt.Fprintf(stdout, "Created %s (%s): %s\n", v.Tenant.Name, v.Tenant.ID, v.URL)
	return exitOK
}

// parsePatron reads "Name=MM-DD" (every year) or "Name=YYYY-MM-DD" (once).
func parsePatron(s string) (tenant.PatronDay, error) {
	name, day, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return tenant.PatronDay{}, errors.New("want Name=MM-DD or Name=YYYY-MM-DD")
	}
	if d, err := civil.ParseDate(day); err == nil {
		return tenant.PatronDay{Name: name, Date: d}, nil
	}
	md, err := time.Parse("01-02", day)
	if err != nil {
		return tenant.PatronDay{}, errors.New("want Name=MM-DD or Name=YYYY-MM-DD")
	}
	return tenant.PatronDay{Name: name, Month: md.Month(), Day: md.Day()}, nil
}

func tenantList(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("list", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello tenant list [--data DIR] [--json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCodeOf(err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var out struct {
		Tenants []tenantView `json:"tenants"`
	}
	if err := newAdminClient(*dataDir).do(ctx, "GET", "/v1/tenants", nil, &out); err != nil {
		return reportAdminError(stderr, "tenant list", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, out)
	}
	if len(out.Tenants) == 0 {
		fmt.Fprintln(stdout, "No Comuni yet: add one with `sportello tenant create`.")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tISTAT\tURL\tSTATE")
	for _, v := range out.Tenants {
		state := "active"
		if v.Tenant.IsDisabled() {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Tenant.ID, v.Tenant.Name, v.Tenant.ISTAT, v.URL, state)
	}
	tw.Flush()
	return exitOK
}

func tenantShow(args []string, stdout, stderr io.Writer) int {
	fs, dataDir, asJSON := tenantFlags("show", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sportello tenant show ID [--data DIR] [--json]\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCodeOf(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	var v tenantView
	if err := newAdminClient(*dataDir).do(ctx, "GET", "/v1/tenants/"+pos[0], nil, &v); err != nil {
		return reportAdminError(stderr, "tenant show", *dataDir, err)
	}
	if *asJSON {
		return printJSON(stdout, v)
	}
	t := v.Tenant
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("ID", string(t.ID))
	row("Name", t.Name)
	row("Region", t.Region)
	row("ISTAT", t.ISTAT)
	row("Code prefix", t.CodePrefix)
	row("URL", v.URL)
	row("Disabled", disabledRow(t))
	row("Hosts", strings.Join(v.Hosts, ", "))
	row("Time zone", t.TimeZone)
	row("Languages", strings.Join(t.Languages, ", "))
	var patrons []string
	for _, p := range t.PatronDays {
		if !p.Date.IsZero() {
			patrons = append(patrons, fmt.Sprintf("%s (%s)", p.Name, p.Date))
		} else {
			patrons = append(patrons, fmt.Sprintf("%s (%d %s)", p.Name, p.Day, tenant.MonthName(p.Month)))
		}
	}
	row("Patron days", strings.Join(patrons, ", "))
	if t.Sender.Address != "" {
		row("Sender", (&mail.Address{Name: t.Sender.Name, Address: t.Sender.Address}).String())
	}
	row("Colour", t.Branding.PrimaryColor)
	row("Logo", t.Branding.LogoURL)
	if !t.Created.IsZero() {
		row("Created", t.Created.Format(time.RFC3339))
	}
	tw.Flush()
	return exitOK
}

// reportAdminError prints err for a person and returns its exit code.
func reportAdminError(stderr io.Writer, cmd, dataDir string, err error) int {
	code := exitCodeFor(err)
	if code == exitUnavailable {
		fmt.Fprintf(stderr, "sportello %s: no node is running with data dir %s (%v).\nStart one with `sportello demo --data %s` or `sportello serve --config FILE`, or pass the right --data.\n",
			cmd, dataDir, err, dataDir)
		return code
	}
	fmt.Fprintf(stderr, "sportello %s: %v\n", cmd, err)
	return code
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitFailure
	}
	return exitOK
}
