package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core's browser bundle, vendored by axe/update.sh and
// checked against its SHA256SUMS in CI: the tests never fetch it.
//
//go:embed axe/axe-core/axe.min.js
var axeSource string

// axeVersion is the version of the vendored axe-core, as update.sh wrote
// it.
//
//go:embed axe/axe-core/VERSION
var axeVersion string

// AxeVersion returns the version of the vendored axe-core ("4.14.1").
func AxeVersion() string { return strings.TrimSpace(axeVersion) }

// WCAG21AA are the axe-core tags of the rules that check WCAG 2.1 levels
// A and AA, the level Italian public administrations must meet (Legge
// 4/2004, EN 301 549).
func WCAG21AA() []string { return []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"} }

// Violation is one axe-core rule that the page breaks, with the elements
// that break it.
type Violation struct {
	ID          string          `json:"id"`
	Impact      string          `json:"impact"`
	Help        string          `json:"help"`
	HelpURL     string          `json:"helpUrl"`
	Tags        []string        `json:"tags"`
	Nodes       []ViolationNode `json:"nodes"`
	Description string          `json:"description"`
}

// ViolationNode is one element that breaks a rule: its CSS selector path
// (one entry per frame or shadow root), its HTML and axe's explanation.
type ViolationNode struct {
	Target         []string `json:"target"`
	HTML           string   `json:"html"`
	FailureSummary string   `json:"failureSummary"`
}

// String renders the violation for a test's log: the rule, its impact,
// and every element with axe's explanation.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s [%s]", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s  %s", strings.Join(n.Target, " >> "), truncate(n.HTML, 200))
		if s := strings.TrimSpace(n.FailureSummary); s != "" {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(s, "\n", "\n      "))
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// axeRun is evaluated in the page once axe is there: it runs the rules of
// the given tags on the whole document and keeps of the result only what
// Violation holds (axe's full result holds DOM references and the passes,
// which are large and not needed). Selectors into shadow roots come as
// arrays: they are joined.
const axeRun = `(async (tags) => {
	const r = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
	return r.violations.map(v => ({
		id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl, tags: v.tags, description: v.description,
		nodes: v.nodes.map(n => ({
			target: n.target.map(t => Array.isArray(t) ? t.join(" ") : String(t)),
			html: n.html, failureSummary: n.failureSummary || "",
		})),
	}));
})(%s)`

// Axe runs axe-core in the page that the chromedp context ctx shows (a
// context that has run once: see chromedp.Run) and returns the
// violations of the rules tagged with any of tags (WCAG21AA when none are
// given). The script goes in through the DevTools protocol
// (Runtime.evaluate), which the page's Content Security Policy does not
// govern: the pages under test forbid inline scripts, and must keep doing
// so while they are checked. The page must have finished loading.
func Axe(ctx context.Context, tags ...string) ([]Violation, error) {
	if len(tags) == 0 {
		tags = WCAG21AA()
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object" && typeof axe.run === "function"`))
	if err != nil {
		return nil, fmt.Errorf("axe: look for axe in the page: %w", err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource+"\n;0")); err != nil {
			return nil, fmt.Errorf("axe: inject axe-core %s: %w", AxeVersion(), err)
		}
	}
	arg, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[[]Violation](fmt.Sprintf(axeRun, arg), chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("axe: run: %w", err)
	}
	return out, nil
}
