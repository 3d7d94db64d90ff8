package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// TestPubliccodeYML checks publiccode.yml at the repository root against
// the publiccode.yml standard 0.4 and its Italian extension 1.0.
//
// It stands in for the official parser,
// github.com/italia/publiccode-parser-go, which the module proxy this
// project builds with does not serve (403 on its version list): the test
// decodes the file strictly into the standard's structure (an unknown or
// misspelt key fails, as the parser's warnings would) and checks the
// required keys and the value formats the standard prescribes. It does
// not do what needs the network (fetching the logo, resolving the
// repository, looking codiceIPA up in the IPA index). When the parser is
// available, CI should run it as well.
func TestPubliccodeYML(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "publiccode.yml"))
	if err != nil {
		t.Fatalf("read publiccode.yml: %v", err)
	}
	var pc publiccode
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&pc); err != nil {
		t.Fatalf("publiccode.yml does not decode strictly: %v", err)
	}
	for _, p := range pc.check() {
		t.Errorf("publiccode.yml: %s", p)
	}
	// The licence must agree with LICENSE once the repository has one.
	if lic, err := os.ReadFile(filepath.Join("..", "..", "LICENSE")); err == nil {
		if strings.HasPrefix(pc.Legal.License, "AGPL-3.0") && !bytes.Contains(lic, []byte("GNU AFFERO GENERAL PUBLIC LICENSE")) {
			t.Errorf("legal.license %s, but LICENSE is not the GNU AGPL", pc.Legal.License)
		}
	}
}

// TestPubliccodeCheckFindsMistakes makes sure the stand-in check refuses
// what the official parser refuses: a test of the test.
func TestPubliccodeCheckFindsMistakes(t *testing.T) {
	good := func() publiccode {
		return publiccode{
			PubliccodeYmlVersion: "0.4", Name: "x", URL: "https://example.org/x.git",
			Platforms: []string{"web"}, Categories: []string{"online-booking"},
			DevelopmentStatus: "beta", SoftwareType: "standalone/web",
			Description: map[string]pcDescription{"it": {
				ShortDescription: "breve", LongDescription: strings.Repeat("lungo ", 30), Features: []string{"una"},
			}},
			Legal:        pcLegal{License: "AGPL-3.0-or-later"},
			Maintenance:  pcMaintenance{Type: "community", Contacts: []pcContact{{Name: "A"}}},
			Localisation: pcLocalisation{LocalisationReady: new(bool), AvailableLanguages: []string{"it"}},
			IT:           &pcItaly{CountryExtensionVersion: "1.0"},
		}
	}
	if p := good().check(); len(p) != 0 {
		t.Fatalf("a valid file: got problems %v", p)
	}
	cases := []struct {
		name string
		edit func(*publiccode)
		want string
	}{
		{"version", func(p *publiccode) { p.PubliccodeYmlVersion = "0.2" }, "publiccodeYmlVersion"},
		{"url", func(p *publiccode) { p.URL = "github.com/x" }, "url"},
		{"date", func(p *publiccode) { p.SoftwareVersion = "1.0"; p.ReleaseDate = "27/11/2026" }, "releaseDate"},
		{"category", func(p *publiccode) { p.Categories = []string{"booking"} }, "categories"},
		{"status", func(p *publiccode) { p.DevelopmentStatus = "alpha" }, "developmentStatus"},
		{"type", func(p *publiccode) { p.SoftwareType = "web" }, "softwareType"},
		{"short", func(p *publiccode) {
			d := p.Description["it"]
			d.ShortDescription = strings.Repeat("x", 151)
			p.Description["it"] = d
		}, "shortDescription"},
		{"long", func(p *publiccode) {
			d := p.Description["it"]
			d.LongDescription = "troppo corta"
			p.Description["it"] = d
		}, "longDescription"},
		{"licence", func(p *publiccode) { p.Legal.License = "AGPL 3" }, "legal.license"},
		{"contacts", func(p *publiccode) { p.Maintenance.Contacts = nil }, "maintenance.contacts"},
		{"languages", func(p *publiccode) { p.Localisation.AvailableLanguages = []string{"italiano"} }, "availableLanguages"},
		{"ready", func(p *publiccode) { p.Localisation.LocalisationReady = nil }, "localisationReady"},
		{"ipa", func(p *publiccode) { p.IT.Riuso = &pcRiuso{CodiceIPA: "not an ipa code!"} }, "codiceIPA"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := good()
			p.Description = map[string]pcDescription{"it": p.Description["it"]}
			c.edit(&p)
			probs := p.check()
			if !slices.ContainsFunc(probs, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("got problems %v, want one about %s", probs, c.want)
			}
		})
	}
}

// publiccode is the structure of publiccode.yml 0.4, the keys this file
// may use. Optional keys it does not use are listed too, so that adding
// one later does not need a change here.
type publiccode struct {
	PubliccodeYmlVersion string                    `yaml:"publiccodeYmlVersion"`
	Name                 string                    `yaml:"name"`
	ApplicationSuite     string                    `yaml:"applicationSuite"`
	URL                  string                    `yaml:"url"`
	LandingURL           string                    `yaml:"landingURL"`
	IsBasedOn            []string                  `yaml:"isBasedOn"`
	SoftwareVersion      string                    `yaml:"softwareVersion"`
	ReleaseDate          string                    `yaml:"releaseDate"`
	Logo                 string                    `yaml:"logo"`
	Platforms            []string                  `yaml:"platforms"`
	Categories           []string                  `yaml:"categories"`
	UsedBy               []string                  `yaml:"usedBy"`
	Roadmap              string                    `yaml:"roadmap"`
	DevelopmentStatus    string                    `yaml:"developmentStatus"`
	SoftwareType         string                    `yaml:"softwareType"`
	IntendedAudience     map[string][]string       `yaml:"intendedAudience"`
	Description          map[string]pcDescription  `yaml:"description"`
	Legal                pcLegal                   `yaml:"legal"`
	Maintenance          pcMaintenance             `yaml:"maintenance"`
	Localisation         pcLocalisation            `yaml:"localisation"`
	DependsOn            map[string][]pcDependency `yaml:"dependsOn"`
	IT                   *pcItaly                  `yaml:"it"`
}

type pcDescription struct {
	LocalisedName    string   `yaml:"localisedName"`
	ShortDescription string   `yaml:"shortDescription"`
	LongDescription  string   `yaml:"longDescription"`
	Documentation    string   `yaml:"documentation"`
	APIDocumentation string   `yaml:"apiDocumentation"`
	Features         []string `yaml:"features"`
	Screenshots      []string `yaml:"screenshots"`
	Videos           []string `yaml:"videos"`
	Awards           []string `yaml:"awards"`
}

type pcLegal struct {
	License            string `yaml:"license"`
	MainCopyrightOwner string `yaml:"mainCopyrightOwner"`
	RepoOwner          string `yaml:"repoOwner"`
	AuthorsFile        string `yaml:"authorsFile"`
}

type pcMaintenance struct {
	Type        string      `yaml:"type"`
	Contractors []yaml.Node `yaml:"contractors"`
	Contacts    []pcContact `yaml:"contacts"`
}

type pcContact struct {
	Name        string `yaml:"name"`
	Email       string `yaml:"email"`
	Phone       string `yaml:"phone"`
	Affiliation string `yaml:"affiliation"`
}

type pcLocalisation struct {
	LocalisationReady  *bool    `yaml:"localisationReady"`
	AvailableLanguages []string `yaml:"availableLanguages"`
}

type pcDependency struct {
	Name       string `yaml:"name"`
	VersionMin string `yaml:"versionMin"`
	VersionMax string `yaml:"versionMax"`
	Version    string `yaml:"version"`
	Optional   bool   `yaml:"optional"`
}

type pcItaly struct {
	CountryExtensionVersion string          `yaml:"countryExtensionVersion"`
	Conforme                map[string]bool `yaml:"conforme"`
	Piattaforme             map[string]bool `yaml:"piattaforme"`
	Riuso                   *pcRiuso        `yaml:"riuso"`
}

type pcRiuso struct {
	CodiceIPA string `yaml:"codiceIPA"`
}

// The standard's closed vocabularies (publiccode.yml 0.4).
var (
	pcStatuses = []string{"concept", "development", "beta", "stable", "obsolete"}
	pcTypes    = []string{"standalone/mobile", "standalone/iot", "standalone/desktop", "standalone/web",
		"standalone/backend", "standalone/other", "addon", "library", "configurationFiles"}
	pcMaintenanceTypes = []string{"internal", "contract", "community", "none"}
	pcDependsKinds     = []string{"open", "proprietary", "hardware"}
	pcConforme         = []string{"lineeGuidaDesign", "modelloInteroperabilita", "misureMinimeSicurezza", "gdpr"}
	pcPiattaforme      = []string{"spid", "cie", "anpr", "pagopa", "io"}
	// pcCategories is the standard's category list.
	pcCategories = strings.Fields(`accounting agile-project-management applicant-tracking
		application-development appointment-scheduling backup billing-and-invoicing blog budgeting
		business-intelligence business-process-management cad call-center-management cloud-management
		collaboration communications compliance-management contact-management content-management crm
		customer-service-and-support data-analytics data-collection data-visualization
		digital-asset-management digital-citizenship document-management donor-management e-commerce
		e-signature email-management email-marketing employee-management enterprise-project-management
		enterprise-social-networking erp event-management facility-management
		feedback-and-reviews-management financial-reporting fleet-management fundraising gamification
		geographic-information-systems grant-management graphic-design help-desk hr ide
		instant-messaging inventory-management it-asset-management it-development it-management
		it-security it-service-management knowledge-management learning-management-system marketing
		mind-mapping mobile-marketing mobile-payment network-management office online-booking
		online-community payment-gateway payroll predictive-analysis procurement productivity-suite
		project-collaboration project-management property-management real-estate-management
		remote-support resource-management sales-management seo service-desk-software
		social-media-management survey task-management taxes-management test-management
		time-management time-tracking translation video-conferencing video-editing visitor-management
		voip warehouse-management web-collaboration web-conferencing website-builder whistleblowing
		workflow-management`)
	// pcLanguage is a BCP 47 tag as the standard uses them: a two- or
	// three-letter language with an optional region or script.
	pcLanguage = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$`)
	// pcSPDX is an SPDX expression of licence identifiers joined by
	// AND/OR/WITH, with the -or-later and -only suffixes.
	pcSPDX = regexp.MustCompile(`^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$`)
	// pcIPA is an IPA code: lowercase letters, digits and underscores.
	pcIPA = regexp.MustCompile(`^[a-z0-9_]{2,20}$`)
)

// check returns every way p departs from the standard, one line each.
func (p publiccode) check() []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if p.PubliccodeYmlVersion != "0.4" && !strings.HasPrefix(p.PubliccodeYmlVersion, "0.4.") {
		bad("publiccodeYmlVersion %q: want 0.4", p.PubliccodeYmlVersion)
	}
	if strings.TrimSpace(p.Name) == "" {
		bad("name is required")
	}
	if !httpsURL(p.URL) {
		bad("url %q: want the repository's https URL", p.URL)
	}
	if p.LandingURL != "" && !httpsURL(p.LandingURL) {
		bad("landingURL %q: want an https URL", p.LandingURL)
	}
	if p.SoftwareVersion != "" && p.ReleaseDate == "" {
		bad("releaseDate is required with softwareVersion")
	}
	if p.ReleaseDate != "" {
		if _, err := time.Parse(time.DateOnly, p.ReleaseDate); err != nil {
			bad("releaseDate %q: want YYYY-MM-DD", p.ReleaseDate)
		}
	}
	if len(p.Platforms) == 0 {
		bad("platforms: at least one is required")
	}
	if len(p.Categories) == 0 {
		bad("categories: at least one is required")
	}
	for _, c := range p.Categories {
		if !slices.Contains(pcCategories, c) {
			bad("categories: %q is not in the standard's list", c)
		}
	}
	if !slices.Contains(pcStatuses, p.DevelopmentStatus) {
		bad("developmentStatus %q: want one of %v", p.DevelopmentStatus, pcStatuses)
	}
	if !slices.Contains(pcTypes, p.SoftwareType) {
		bad("softwareType %q: want one of %v", p.SoftwareType, pcTypes)
	}
	if len(p.Description) == 0 {
		bad("description: at least one language is required")
	}
	for lang, d := range p.Description {
		if !pcLanguage.MatchString(lang) {
			bad("description.%s: not a BCP 47 language tag", lang)
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(d.ShortDescription)); n == 0 || n > 150 {
			bad("description.%s.shortDescription: %d characters, want 1 to 150", lang, n)
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(d.LongDescription)); n < 150 || n > 10000 {
			bad("description.%s.longDescription: %d characters, want 150 to 10000", lang, n)
		}
		if len(d.Features) == 0 {
			bad("description.%s.features: at least one is required", lang)
		}
		for _, f := range d.Features {
			if n := utf8.RuneCountInString(f); n == 0 || n > 100 {
				bad("description.%s.features: %q has %d characters, want 1 to 100", lang, f, n)
			}
		}
		for _, u := range append([]string{d.Documentation, d.APIDocumentation}, d.Videos...) {
			if u != "" && !httpsURL(u) {
				bad("description.%s: %q is not an https URL", lang, u)
			}
		}
	}
	if !pcSPDX.MatchString(p.Legal.License) {
		bad("legal.license %q: want an SPDX licence expression", p.Legal.License)
	}
	switch m := p.Maintenance; {
	case !slices.Contains(pcMaintenanceTypes, m.Type):
		bad("maintenance.type %q: want one of %v", m.Type, pcMaintenanceTypes)
	case (m.Type == "internal" || m.Type == "community") && len(m.Contacts) == 0:
		bad("maintenance.contacts: required with type %s", m.Type)
	case m.Type == "contract" && len(m.Contractors) == 0:
		bad("maintenance.contractors: required with type contract")
	}
	for i, c := range p.Maintenance.Contacts {
		if strings.TrimSpace(c.Name) == "" {
			bad("maintenance.contacts[%d].name is required", i)
		}
		if c.Email != "" && !strings.Contains(c.Email, "@") {
			bad("maintenance.contacts[%d].email %q is not an address", i, c.Email)
		}
	}
	if p.Localisation.LocalisationReady == nil {
		bad("localisation.localisationReady is required")
	}
	if len(p.Localisation.AvailableLanguages) == 0 {
		bad("localisation.availableLanguages: at least one is required")
	}
	for _, l := range p.Localisation.AvailableLanguages {
		if !pcLanguage.MatchString(l) {
			bad("localisation.availableLanguages: %q is not a BCP 47 language tag", l)
		}
	}
	for kind, deps := range p.DependsOn {
		if !slices.Contains(pcDependsKinds, kind) {
			bad("dependsOn.%s: want one of %v", kind, pcDependsKinds)
		}
		for i, d := range deps {
			if strings.TrimSpace(d.Name) == "" {
				bad("dependsOn.%s[%d].name is required", kind, i)
			}
			if d.Version != "" && (d.VersionMin != "" || d.VersionMax != "") {
				bad("dependsOn.%s[%d]: version excludes versionMin and versionMax", kind, i)
			}
		}
	}
	if it := p.IT; it != nil {
		if it.CountryExtensionVersion != "1.0" {
			bad("it.countryExtensionVersion %q: want 1.0", it.CountryExtensionVersion)
		}
		for k := range it.Conforme {
			if !slices.Contains(pcConforme, k) {
				bad("it.conforme.%s: not a key of the Italian extension", k)
			}
		}
		for k := range it.Piattaforme {
			if !slices.Contains(pcPiattaforme, k) {
				bad("it.piattaforme.%s: not a key of the Italian extension", k)
			}
		}
		if it.Riuso != nil && !pcIPA.MatchString(it.Riuso.CodiceIPA) {
			bad("it.riuso.codiceIPA %q: want an IPA code (lowercase letters, digits, _)", it.Riuso.CodiceIPA)
		}
	}
	return out
}

func httpsURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}
