package legal_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/tenant"
	"github.com/sportello-virtuale/sportello/tenant/legal"
)

func TestSanitize(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"kept", `<h2>Titolo</h2><p>Testo <strong>forte</strong> e <em>enfasi</em>.<br>Riga</p><ul><li>uno</li></ul><ol><li>due</li></ol>`,
			`<h2>Titolo</h2><p>Testo <strong>forte</strong> e <em>enfasi</em>.<br>Riga</p><ul><li>uno</li></ul><ol><li>due</li></ol>`},
		{"h1 demoted", `<h1>Grande</h1>`, `<h2>Grande</h2>`},
		{"script dropped with content", `<p>a<script>alert(1)</script>b</p>`, `<p>ab</p>`},
		{"nested script", `<script><script>x</script>y</script><p>ok</p>`, `y<p>ok</p>`}, // the first </script> ends it, as in a browser
		{"style", `<style>p{color:red}</style><p>ok</p>`, `<p>ok</p>`},
		{"event handlers", `<p onclick="alert(1)" class="x" style="color:red">t</p>`, `<p>t</p>`},
		{"img onerror", `<img src=x onerror=alert(1)>testo`, `testo`},
		{"javascript link", `<a href="javascript:alert(1)">x</a>`, `<a>x</a>`},
		{"javascript entity", `<a href="jav&#x09;ascript:alert(1)">x</a>`, `<a>x</a>`},
		{"javascript case", `<a href=" JaVaScRiPt:alert(1)">x</a>`, `<a>x</a>`},
		{"data link", `<a href="data:text/html,<script>alert(1)</script>">x</a>`, `<a>x</a>`},
		{"vbscript", `<a href="vbscript:msgbox">x</a>`, `<a>x</a>`},
		{"protocol relative", `<a href="//evil.example/">x</a>`, `<a>x</a>`},
		{"https link", `<a href="https://www.garanteprivacy.it/" target="_blank" onclick="x()">G</a>`, `<a href="https://www.garanteprivacy.it/">G</a>`},
		{"mailto", `<a href="mailto:rpd@comune.bari.it">RPD</a>`, `<a href="mailto:rpd@comune.bari.it">RPD</a>`},
		{"path", `<a href="/prenota">prenota</a>`, `<a href="/prenota">prenota</a>`},
		{"unclosed", `<p><strong>aperto`, `<p><strong>aperto</strong></p>`},
		{"stray end", `</p>testo</ul>`, `testo`},
		{"text escaped", `1 < 2 &amp; "x"`, `1 &lt; 2 &amp; &#34;x&#34;`},
		{"unknown tag keeps text", `<div><span>dentro</span></div>`, `dentro`},
		{"iframe", `<iframe src="https://x"></iframe>fine`, `fine`},
		{"svg", `<svg><script>alert(1)</script></svg>ok`, `ok`},
		{"comment", `<!-- <script>x</script> -->ok`, `ok`},
		{"self closing", `<p/>x`, `<p></p>x`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := legal.Sanitize(c.in)
			if got != c.want {
				t.Errorf("Sanitize(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
			// Sanitising twice changes nothing: apply runs it again.
			if again := legal.Sanitize(got); again != got {
				t.Errorf("not idempotent: %q → %q", got, again)
			}
		})
	}
}

// TestTemplatesFilledIn renders both templates with a Comune's data.
func TestTemplatesFilledIn(t *testing.T) {
	data := legal.Data{Name: "Comune di Bari", ISTAT: "072006", Host: "bari.example.it", RetentionDays: 30,
		Details: legal.Details{Address: "Corso Vittorio Emanuele II, 84 – 70122 Bari", PEC: "protocollo@pec.comune.bari.it",
			DPOName: "Maria Rossi", DPOEmail: "rpd@comune.bari.it", AccessibilityEmail: "accessibilita@comune.bari.it"}}
	p, err := legal.Template(legal.Privacy, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Comune di Bari", "072006", "Corso Vittorio Emanuele II, 84", `href="mailto:protocollo@pec.comune.bari.it"`,
		"Maria Rossi", `href="mailto:rpd@comune.bari.it"`, "dopo 30 giorni", "articolo 13", "Garante"} {
		if !strings.Contains(p, want) {
			t.Errorf("privacy template lacks %q:\n%s", want, p)
		}
	}
	a, err := legal.Template(legal.Accessibility, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Comune di Bari", "parzialmente conforme", `href="mailto:accessibilita@comune.bari.it"`, "Difensore civico per il digitale", "legge 9 gennaio 2004"} {
		if !strings.Contains(a, want) {
			t.Errorf("accessibility template lacks %q:\n%s", want, a)
		}
	}
	// Data is escaped, never markup.
	data.Name = `Comune di <script>alert(1)</script>`
	p, _ = legal.Template(legal.Privacy, data)
	if strings.Contains(p, "<script") {
		t.Errorf("a name with markup reached the page: %s", p)
	}
}

// env is a three-node cluster with two Comuni.
type env struct {
	nodes []*cluster.Node
	reg   *tenant.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	nodes := clustertest.Cluster(t, 3, tenant.Register, legal.Register)
	leader := clustertest.Leader(t, nodes...)
	reg := tenant.NewRegistry(leader, leader.DB(), "example.it")
	ctx := context.Background()
	for _, c := range []tenant.Tenant{
		{ID: "bari", Name: "Comune di Bari", ISTAT: "072006"},
		{ID: "lecce", Name: "Comune di Lecce", ISTAT: "075035"},
	} {
		// A busy test machine may hold an election: try again while no
		// leader is known.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := reg.Create(ctx, c)
			if err == nil {
				break
			}
			if !strings.Contains(err.Error(), "no leader") && !strings.Contains(err.Error(), "not the leader") || time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return &env{nodes: nodes, reg: reg}
}

// TestStoreOverRaft saves through one node and reads on another: the
// text is sanitised, the details kept per document, each Comune sees only
// its own, and a reset restores the template.
func TestStoreOverRaft(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	writer := legal.NewStore(e.nodes[1], e.nodes[1].DB())
	other := e.nodes[2]
	reader := legal.NewStore(other, other.DB())

	doc, err := reader.Get(ctx, "bari", legal.Privacy)
	if err != nil || doc.Custom || doc.Body != "" {
		t.Fatalf("before any save: %+v, %v; want the template", doc, err)
	}
	d := legal.Details{Address: " Corso Vittorio Emanuele II, 84 ", DPOEmail: "rpd@comune.bari.it", AccessibilityEmail: "ignored@comune.bari.it"}
	idx, err := writer.Save(ctx, "bari", legal.Privacy, `<h2>Informativa</h2><p onclick="x()">Testo<script>alert(1)</script></p>`, d, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.WaitApplied(ctx, idx); err != nil {
		t.Fatal(err)
	}
	doc, err = reader.Get(ctx, "bari", legal.Privacy)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.Custom || doc.Body != `<h2>Informativa</h2><p>Testo</p>` || doc.UpdatedBy != "admin" || doc.Updated.IsZero() {
		t.Errorf("after save, on another node: %+v", doc)
	}
	if doc.Details.Address != "Corso Vittorio Emanuele II, 84" || doc.Details.DPOEmail != "rpd@comune.bari.it" || doc.Details.AccessibilityEmail != "" {
		t.Errorf("details: %+v; want the privacy fields only, trimmed", doc.Details)
	}
	// Lecce is untouched.
	if l, err := reader.Get(ctx, "lecce", legal.Privacy); err != nil || l.Custom || l.Details != (legal.Details{}) {
		t.Errorf("Lecce after Bari's save: %+v, %v", l, err)
	}
	// The accessibility statement's details do not erase the privacy ones.
	idx, err = writer.SaveDetails(ctx, "bari", legal.Accessibility, legal.Details{AccessibilityEmail: "acc@comune.bari.it", Conformity: "conforme"}, "admin")
	if err != nil {
		t.Fatal(err)
	}
	other.WaitApplied(ctx, idx)
	acc, _ := reader.Get(ctx, "bari", legal.Accessibility)
	if acc.Custom || acc.Details.AccessibilityEmail != "acc@comune.bari.it" || acc.Details.Conformity != "conforme" || acc.Details.DPOEmail != "rpd@comune.bari.it" {
		t.Errorf("accessibility after its details: %+v", acc)
	}
	body, err := legal.Body(acc, legal.Data{Name: "Comune di Bari"})
	if err != nil || !strings.Contains(body, "<strong>conforme</strong>") {
		t.Errorf("accessibility body: %v\n%s", err, body)
	}

	// Reset restores the template and keeps the details.
	idx, err = writer.Reset(ctx, "bari", legal.Privacy, "admin")
	if err != nil {
		t.Fatal(err)
	}
	other.WaitApplied(ctx, idx)
	doc, _ = reader.Get(ctx, "bari", legal.Privacy)
	if doc.Custom || doc.Body != "" || doc.Details.DPOEmail != "rpd@comune.bari.it" {
		t.Errorf("after reset: %+v", doc)
	}
}

func TestStoreRefuses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := legal.NewStore(e.nodes[0], e.nodes[0].DB())
	var ve *legal.ValidationError
	cases := []struct {
		name  string
		save  func() error
		field string
	}{
		{"too long", func() error {
			_, err := s.Save(ctx, "bari", legal.Privacy, "<p>"+strings.Repeat("a", legal.MaxBodyBytes)+"</p>", legal.Details{}, "a")
			return err
		}, "body"},
		{"only markup", func() error {
			_, err := s.Save(ctx, "bari", legal.Privacy, "<script>x</script><p> </p>", legal.Details{}, "a")
			return err
		}, "body"},
		{"bad email", func() error {
			_, err := s.Save(ctx, "bari", legal.Privacy, "<p>x</p>", legal.Details{DPOEmail: "rpd@"}, "a")
			return err
		}, "details.dpo_email"},
		{"bad conformity", func() error {
			_, err := s.SaveDetails(ctx, "bari", legal.Accessibility, legal.Details{Conformity: "quasi"}, "a")
			return err
		}, "details.conformity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.save()
			if !errors.As(err, &ve) || ve.Fields[c.field] == "" {
				t.Errorf("got %v, want a ValidationError on %s", err, c.field)
			}
		})
	}
	if _, err := s.Save(ctx, "nessuno", legal.Privacy, "<p>x</p>", legal.Details{}, "a"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("save for a missing Comune: got %v, want tenant.ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "bari", legal.Kind("cookie")); !errors.Is(err, legal.ErrUnknownKind) {
		t.Errorf("unknown kind: got %v", err)
	}
	// Nothing was stored by the refused saves.
	if doc, _ := s.Get(ctx, "bari", legal.Privacy); doc.Custom {
		t.Errorf("a refused save was stored: %+v", doc)
	}
}

// TestApplySanitisesAgain proposes a raw command, as a node that skipped
// the store's checks would: apply sanitises and checks it again.
func TestApplySanitisesAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := e.nodes[0]
	cmd, err := cluster.NewCommand(legal.CommandSave, 1, "bari", map[string]any{
		"kind": "privacy", "custom": true, "body": `<p>ok<img src=x onerror=alert(1)><a href="javascript:alert(1)">l</a></p>`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	doc, _ := legal.NewStore(n, n.DB()).Get(ctx, "bari", legal.Privacy)
	if doc.Body != `<p>ok<a>l</a></p>` {
		t.Errorf("stored body: %q", doc.Body)
	}
	cmd, _ = cluster.NewCommand(legal.CommandSave, 1, "bari", map[string]any{
		"kind": "privacy", "custom": true, "body": strings.Repeat("x", legal.MaxBodyBytes+1),
	})
	var ve *legal.ValidationError
	if _, err := n.Propose(ctx, cmd); !errors.As(err, &ve) {
		t.Errorf("oversized raw command: got %v, want a ValidationError", err)
	}
}
