package tenant

import (
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// ID identifies a Comune. It is the Comune's slug ("bari"), chosen at
// creation and never changed: it is the first argument of every storage
// call and appears in every query's WHERE.
type ID string

// Tenant is one Comune hosted by the cluster.
type Tenant struct {
	ID ID `json:"id"`
	// Name is the official name, "Comune di Bari".
	Name string `json:"name"`
	// Region is the label of the slim header above the Comune's name, the
	// body the Comune belongs to ("Regione Puglia"); optional.
	Region string `json:"region,omitempty"`
	// ISTAT is the six-digit ISTAT code, "072006".
	ISTAT string `json:"istat"`
	// CodePrefix starts every booking code of the Comune ("BA" → "BA-7K3Q9P").
	CodePrefix string `json:"code_prefix"`
	// Domains are the Comune's own host names ("servizi.comune.bari.it").
	// The subdomain <id>.<base-domain> is implied and not listed.
	Domains []string `json:"domains"`
	// Branding is the look of the Comune's pages.
	Branding Branding `json:"branding"`
	// TimeZone is an IANA zone name; "Europe/Rome" for every Italian Comune.
	TimeZone string `json:"time_zone"`
	// Languages are the page languages offered, the first being the default.
	Languages []string `json:"languages"`
	// PatronDays close every office of the Comune.
	PatronDays []PatronDay `json:"patron_days"`
	// Sender is the From identity of the Comune's email. It is optional:
	// with no Address the node's configured default sender is used.
	Sender Sender `json:"sender"`
	// Created is when the Comune was added (leader time).
	Created time.Time `json:"created"`
	// Disabled is set while the Comune is disabled (tenant.disable): its
	// hosts answer 503 and get no certificate, its data are kept. Create
	// and Update never change it; only Disable and Enable do.
	Disabled Disabled `json:"disabled,omitzero"`
}

// Disabled says since when and why a Comune is disabled; the zero value
// is an active Comune.
type Disabled struct {
	// Since is when the Comune was disabled (leader time).
	Since time.Time `json:"since"`
	// Reason is the administrator's note ("convenzione scaduta"), shown to
	// administrators only, never to citizens.
	Reason string `json:"reason,omitempty"`
}

// IsDisabled reports whether the Comune is disabled.
func (t Tenant) IsDisabled() bool { return !t.Disabled.Since.IsZero() }

// Branding is a Comune's logo and colour.
type Branding struct {
	// LogoURL is an absolute path or https URL of the coat of arms.
	LogoURL string `json:"logo_url"`
	// PrimaryColor is a CSS hex colour, "#0066cc".
	PrimaryColor string `json:"primary_color"`
}

// PatronDay is a closing day for the Comune's saint: every year on
// Month/Day, or once on Date when Date is set.
type PatronDay struct {
	Name  string     `json:"name"`
	Month time.Month `json:"month,omitempty"`
	Day   int        `json:"day,omitempty"`
	Date  civil.Date `json:"date,omitzero"`
}

// Sender is the From identity of a Comune's outgoing email.
type Sender struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}
