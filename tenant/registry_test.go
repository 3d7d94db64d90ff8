package tenant_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
)

const base = "sportello.example.it"

// newRegistry starts a real one-node cluster with the tenant schema and
// returns a registry over it.
func newRegistry(t *testing.T) (*tenant.Registry, *cluster.Node) {
	t.Helper()
	n := clustertest.Node(t, tenant.Register)
	return tenant.NewRegistry(n, n.DB(), base), n
}

func bari() tenant.Tenant {
	return tenant.Tenant{
		ID:       "bari",
		Name:     "Comune di Bari",
		Region:   "Regione Puglia",
		ISTAT:    "072006",
		Domains:  []string{"Servizi.Comune.Bari.IT."},
		Branding: tenant.Branding{LogoURL: "/static/bari.png", PrimaryColor: "#0066CC"},
		PatronDays: []tenant.PatronDay{
			{Name: "San Nicola", Month: time.December, Day: 6},
		},
		Sender: tenant.Sender{Name: "Comune di Bari", Address: "noreply@comune.bari.it"},
	}
}

func lecce() tenant.Tenant {
	return tenant.Tenant{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035", Domains: []string{"servizi.comune.lecce.it"}}
}

func TestCreateGetList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newRegistry(t)
	before := time.Now().UTC()

	got, err := reg.Create(ctx, bari())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := bari()
	want.Domains = []string{"servizi.comune.bari.it"}
	want.Branding.PrimaryColor = "#0066cc"
	want.TimeZone = "Europe/Rome"
	want.Languages = []string{"it", "en", "de"}
	want.CodePrefix = "BA"
	if got.Created.Before(before.Add(-time.Second)) || got.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("Created = %v, want about %v", got.Created, before)
	}
	want.Created = got.Created
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Create returned\n %+v\nwant\n %+v", got, want)
	}
	fetched, err := reg.Get(ctx, "bari")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !reflect.DeepEqual(fetched, want) {
		t.Errorf("Get = %+v, want %+v", fetched, want)
	}

	if _, err := reg.Create(ctx, lecce()); err != nil {
		t.Fatalf("Create lecce: %v", err)
	}
	list, err := reg.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var ids []tenant.ID
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if !reflect.DeepEqual(ids, []tenant.ID{"bari", "lecce"}) {
		t.Errorf("List IDs = %v, want [bari lecce]", ids)
	}
	if !reflect.DeepEqual(list[0], want) {
		t.Errorf("List[0] = %+v, want %+v", list[0], want)
	}
	if _, err := reg.Get(ctx, "milano"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Get(milano) error = %v, want ErrNotFound", err)
	}
	if got, want := reg.Hosts(list[0]), []string{"bari." + base, "servizi.comune.bari.it"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Hosts = %v, want %v", got, want)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newRegistry(t)
	for _, x := range []tenant.Tenant{bari(), lecce()} {
		if _, err := reg.Create(ctx, x); err != nil {
			t.Fatalf("Create %s: %v", x.ID, err)
		}
	}
	tests := []struct {
		host string
		want tenant.ID // "" means ErrNotFound
	}{
		{"bari." + base, "bari"},
		{"BARI.Sportello.Example.IT", "bari"},
		{"bari." + base + ":8443", "bari"},
		{"bari." + base + ".", "bari"},
		{"servizi.comune.bari.it", "bari"},
		{"servizi.comune.bari.it:443", "bari"},
		{"SERVIZI.COMUNE.BARI.IT.", "bari"},
		{"lecce." + base, "lecce"},
		{"servizi.comune.lecce.it", "lecce"},
		{"milano." + base, ""},
		{base, ""},
		{"www.bari." + base, ""},
		{"comune.bari.it", ""},
		{"example.org", ""},
		{"127.0.0.1:8080", ""},
		{"[::1]:8080", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := reg.Resolve(ctx, tt.host)
			if tt.want == "" {
				if !errors.Is(err, tenant.ErrNotFound) {
					t.Errorf("Resolve(%q) = %s, %v; want ErrNotFound", tt.host, got.ID, err)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Errorf("Resolve(%q) = %s, %v; want %s", tt.host, got.ID, err, tt.want)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newRegistry(t)
	created, err := reg.Create(ctx, bari())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	u := created
	u.Name = "Città di Bari"
	u.Domains = []string{"prenota.comune.bari.it"}
	u.PatronDays = append(u.PatronDays, tenant.PatronDay{Name: "Traslazione di San Nicola", Month: time.May, Day: 8})
	u.Created = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // ignored
	// Resolve keeps what it found: the update must reach the next
	// resolution all the same.
	for _, host := range []string{"servizi.comune.bari.it", reg.PrimaryHost(created)} {
		if r, err := reg.Resolve(ctx, host); err != nil || r.Name != created.Name {
			t.Fatalf("before the update, %s resolves to %q, %v; want %q", host, r.Name, err, created.Name)
		}
	}
	got, err := reg.Update(ctx, u)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	u.Created = created.Created
	if !reflect.DeepEqual(got, u) {
		t.Errorf("Update returned %+v, want %+v", got, u)
	}
	if _, err := reg.Resolve(ctx, "servizi.comune.bari.it"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("old domain resolves (err %v), want ErrNotFound", err)
	}
	if r, err := reg.Resolve(ctx, "prenota.comune.bari.it"); err != nil || r.Name != "Città di Bari" {
		t.Errorf("new domain resolves to %q, %v; want Città di Bari", r.Name, err)
	}
	if r, err := reg.Resolve(ctx, reg.PrimaryHost(created)); err != nil || r.Name != "Città di Bari" || len(r.Domains) != 1 {
		t.Errorf("primary host resolves to %q with domains %v, %v; want Città di Bari with the new domain", r.Name, r.Domains, err)
	}
	if closed, reason := got.ClosedOn(civilDate(2027, time.May, 8)); !closed || reason != "Traslazione di San Nicola" {
		t.Errorf("ClosedOn(8 May) = %v, %q; want closed for the patron day", closed, reason)
	}

	missing := lecce()
	missing.TimeZone, missing.Languages, missing.CodePrefix = "Europe/Rome", []string{"it"}, "LE"
	if _, err := reg.Update(ctx, missing); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Update of a missing tenant: error %v, want ErrNotFound", err)
	}
}

// TestConflictsChangeNothing proves that a refused command leaves the
// replicated state exactly as it was.
func TestConflictsChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, n := newRegistry(t)
	if _, err := reg.Create(ctx, bari()); err != nil {
		t.Fatalf("Create bari: %v", err)
	}
	stored, err := reg.Create(ctx, lecce())
	if err != nil {
		t.Fatalf("Create lecce: %v", err)
	}
	before := dump(t, n)
	if !strings.Contains(before, "servizi.comune.bari.it") {
		t.Fatalf("dump does not show the tenants' rows:\n%s", before)
	}

	again := bari()
	again.Name = "Altro nome"
	again.Domains = []string{"altro.example.org"}
	thief := lecce()
	thief.Domains = []string{"servizi.comune.bari.it"}
	newcomer := tenant.Tenant{ID: "molfetta", Name: "Comune di Molfetta", ISTAT: "072029", Domains: []string{"altro.example.org", "SERVIZI.comune.bari.it"}}
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"duplicate id", func() error { _, err := reg.Create(ctx, again); return err }, tenant.ErrExists},
		{"create with taken domain", func() error { _, err := reg.Create(ctx, newcomer); return err }, tenant.ErrDomainTaken},
		{"update to taken domain", func() error {
			x := stored
			x.Domains = thief.Domains
			_, err := reg.Update(ctx, x)
			return err
		}, tenant.ErrDomainTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.op(); !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
			if d := clustertest.Diff(dump(t, n), before); d != "" {
				t.Errorf("state changed by a refused command: %s", d)
			}
		})
	}
	if _, err := reg.Get(ctx, "molfetta"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("Get(molfetta) error %v, want ErrNotFound", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, n := newRegistry(t)
	before := dump(t, n)
	tests := []struct {
		name   string
		edit   func(*tenant.Tenant)
		fields []string
	}{
		{"empty id", func(x *tenant.Tenant) { x.ID = "" }, []string{"id"}},
		{"upper-case id", func(x *tenant.Tenant) { x.ID = "Bari" }, []string{"id"}},
		{"id starting with digit", func(x *tenant.Tenant) { x.ID = "1bari" }, []string{"id"}},
		{"one-letter id", func(x *tenant.Tenant) { x.ID = "b" }, []string{"id"}},
		{"id with trailing hyphen", func(x *tenant.Tenant) { x.ID = "bari-" }, []string{"id"}},
		{"id too long", func(x *tenant.Tenant) { x.ID = "a234567890123456789012345678901234567890x" }, []string{"id"}},
		{"reserved id", func(x *tenant.Tenant) { x.ID = "www" }, []string{"id"}},
		{"no name", func(x *tenant.Tenant) { x.Name = " " }, []string{"name"}},
		{"name with newline", func(x *tenant.Tenant) { x.Name = "Comune\ndi Bari" }, []string{"name"}},
		{"istat five digits", func(x *tenant.Tenant) { x.ISTAT = "72006" }, []string{"istat"}},
		{"istat letters", func(x *tenant.Tenant) { x.ISTAT = "07200A" }, []string{"istat"}},
		{"bad domain", func(x *tenant.Tenant) { x.Domains = []string{"servizi..bari.it"} }, []string{"domains.0"}},
		{"single-label domain", func(x *tenant.Tenant) { x.Domains = []string{"ok.bari.it", "localhost"} }, []string{"domains.1"}},
		{"ip as domain", func(x *tenant.Tenant) { x.Domains = []string{"10.0.0.1"} }, []string{"domains.0"}},
		{"domain under base", func(x *tenant.Tenant) { x.Domains = []string{"altro." + base} }, []string{"domains.0"}},
		{"base domain itself", func(x *tenant.Tenant) { x.Domains = []string{base} }, []string{"domains.0"}},
		{"repeated domain", func(x *tenant.Tenant) { x.Domains = []string{"a.bari.it", "A.bari.it"} }, []string{"domains.1"}},
		{"colour name", func(x *tenant.Tenant) { x.Branding.PrimaryColor = "blue" }, []string{"branding.primary_color"}},
		{"colour injection", func(x *tenant.Tenant) { x.Branding.PrimaryColor = "#000;}</style>" }, []string{"branding.primary_color"}},
		{"logo over http", func(x *tenant.Tenant) { x.Branding.LogoURL = "http://example.org/a.png" }, []string{"branding.logo_url"}},
		{"logo javascript", func(x *tenant.Tenant) { x.Branding.LogoURL = "javascript:alert(1)" }, []string{"branding.logo_url"}},
		{"logo protocol-relative", func(x *tenant.Tenant) { x.Branding.LogoURL = "//evil.example/a.png" }, []string{"branding.logo_url"}},
		{"unknown zone", func(x *tenant.Tenant) { x.TimeZone = "Europe/Bari" }, []string{"time_zone"}},
		{"machine-local zone", func(x *tenant.Tenant) { x.TimeZone = "Local" }, []string{"time_zone"}},
		{"bad language", func(x *tenant.Tenant) { x.Languages = []string{"ita"} }, []string{"languages.0"}},
		{"bad prefix", func(x *tenant.Tenant) { x.CodePrefix = "B" }, []string{"code_prefix"}},
		{"patron day 31 April", func(x *tenant.Tenant) { x.PatronDays = []tenant.PatronDay{{Name: "X", Month: time.April, Day: 31}} }, []string{"patron_days.0.day"}},
		{"patron day month 13", func(x *tenant.Tenant) { x.PatronDays = []tenant.PatronDay{{Name: "X", Month: 13, Day: 1}} }, []string{"patron_days.0.month"}},
		{"patron day without name", func(x *tenant.Tenant) { x.PatronDays = []tenant.PatronDay{{Month: time.May, Day: 8}} }, []string{"patron_days.0.name"}},
		{"patron day both forms", func(x *tenant.Tenant) {
			x.PatronDays = []tenant.PatronDay{{Name: "X", Month: time.May, Day: 8, Date: civilDate(2026, time.May, 8)}}
		}, []string{"patron_days.0.date"}},
		{"patron date that does not exist", func(x *tenant.Tenant) {
			x.PatronDays = []tenant.PatronDay{{Name: "X", Date: civilDate(2027, time.February, 29)}}
		}, []string{"patron_days.0.date"}},
		{"sender not an email", func(x *tenant.Tenant) { x.Sender.Address = "comune di bari" }, []string{"sender.address"}},
		{"sender with display name", func(x *tenant.Tenant) { x.Sender.Address = "Bari <a@comune.bari.it>" }, []string{"sender.address"}},
		{"sender name with CRLF", func(x *tenant.Tenant) { x.Sender.Name = "Bari\r\nBcc: x@evil.example" }, []string{"sender.name"}},
		{"several fields", func(x *tenant.Tenant) { x.ISTAT = ""; x.Name = "" }, []string{"istat", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := bari()
			tt.edit(&x)
			_, err := reg.Create(ctx, x)
			checkFields(t, err, tt.fields)
		})
	}
	if d := clustertest.Diff(dump(t, n), before); d != "" {
		t.Errorf("state changed by invalid tenants: %s", d)
	}
}

// TestApplyValidates proposes commands that skip the registry's checks
// (as a buggy or older proposer could): apply refuses them itself.
func TestApplyValidates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, n := newRegistry(t)
	if _, err := reg.Create(ctx, bari()); err != nil {
		t.Fatalf("Create: %v", err)
	}
	before := dump(t, n)
	propose := func(typ string, tenantID string, payload any) error {
		cmd, err := cluster.NewCommand(typ, 1, tenantID, payload)
		if err != nil {
			t.Fatalf("NewCommand: %v", err)
		}
		_, err = n.Propose(ctx, cmd)
		return err
	}
	type payload struct {
		Tenant     tenant.Tenant `json:"tenant"`
		BaseDomain string        `json:"base_domain"`
	}
	bad := bari()
	bad.ID = "Lecce!"
	bad.Branding.PrimaryColor = "url(javascript:x)"
	if err := propose(tenant.CommandCreate, "", payload{bad, base}); err == nil {
		t.Errorf("create with invalid fields applied, want a *ValidationError")
	} else {
		checkFields(t, err, []string{"id", "branding.primary_color"})
	}
	under := lecce()
	under.Domains = []string{"x." + base}
	if err := propose(tenant.CommandCreate, "", payload{under, base}); err == nil {
		t.Errorf("create with a domain under the base domain applied")
	} else {
		checkFields(t, err, []string{"domains.0"})
	}
	if err := propose(tenant.CommandCreate, "", payload{bari(), base}); !errors.Is(err, tenant.ErrExists) {
		t.Errorf("second create of bari: error %v, want ErrExists", err)
	}
	thief := lecce()
	thief.Domains = []string{"servizi.comune.bari.it"}
	if err := propose(tenant.CommandCreate, "", payload{thief, base}); !errors.Is(err, tenant.ErrDomainTaken) {
		t.Errorf("create with a taken domain: error %v, want ErrDomainTaken", err)
	}
	if err := propose(tenant.CommandCreate, "", map[string]any{"tenant": bari(), "base_domain": base, "admin": true}); err == nil {
		t.Errorf("payload with an unknown field applied")
	}
	other := bari()
	other.Name = "Comune di Lecce"
	if err := propose(tenant.CommandUpdate, "lecce", payload{other, base}); err == nil {
		t.Errorf("update whose envelope names another tenant applied")
	}
	if d := clustertest.Diff(dump(t, n), before); d != "" {
		t.Errorf("state changed by refused commands: %s", d)
	}
}

// TestConcurrentCreate races creations of one ID and of one domain: the
// invariants hold because apply checks them, one command at a time.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg, _ := newRegistry(t)
	const racers = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*racers)
	for i := range racers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := reg.Create(ctx, bari())
			errs <- err
		}()
		go func() {
			defer wg.Done()
			x := tenant.Tenant{ID: tenant.ID("comune-" + string(rune('a'+i))), Name: "Comune", ISTAT: "000001", Domains: []string{"contesa.example.org"}}
			_, err := reg.Create(ctx, x)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	var ok, exists, taken int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, tenant.ErrExists):
			exists++
		case errors.Is(err, tenant.ErrDomainTaken):
			taken++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 2 || exists != racers-1 || taken != racers-1 {
		t.Errorf("got %d created, %d ErrExists, %d ErrDomainTaken; want 2, %d, %d", ok, exists, taken, racers-1, racers-1)
	}
	list, err := reg.List(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("List = %d tenants, %v; want 2", len(list), err)
	}
}

// dump returns the node's state without the cluster's own tables, whose
// applied index moves with every command, refused or not.
func dump(t *testing.T, n *cluster.Node) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(clustertest.Dump(t, n), "\n") {
		if !strings.HasPrefix(l, "cluster_") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func checkFields(t *testing.T, err error, want []string) {
	t.Helper()
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got error %v, want a *tenant.ValidationError", err)
	}
	if len(ve.Fields) != len(want) {
		b, _ := json.Marshal(ve.Fields)
		t.Errorf("got fields %s, want exactly %v", b, want)
	}
	for _, f := range want {
		msg, ok := ve.Fields[f]
		if !ok {
			t.Errorf("no message for field %q in %v", f, ve.Fields)
			continue
		}
		if msg == "" {
			t.Errorf("empty message for field %q", f)
		}
	}
}
