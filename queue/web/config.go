package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The settings of each office's queue, /gestione/coda/impostazioni, for
// the Comune's administrator: a GET form to choose the office, then a
// POST form of its queue.OfficeConfig. The form starts from the
// configuration as saved and changes only the fields it shows, so a
// field added to OfficeConfig later, or the letter of an archived
// service, survives a save. Every value is checked twice: parsed here
// (numbers), then by queue.CheckConfig, whose field errors are shown next
// to the fields; queue.Configure checks again in apply.

// Form fields of the settings. The group letter of a service is
// cfgGroupPrefix + the service's ID.
const (
	cfgOffice       = "ufficio"
	cfgGroupPrefix  = "gruppo_"
	cfgEarly        = "anticipo"
	cfgLate         = "ritardo"
	cfgSample       = "campione"
	cfgDailyCap     = "limite_giornaliero"
	cfgMaxPerDevice = "max_dispositivo"
	cfgMaxPerIP     = "max_indirizzo"
	cfgNotifyAhead  = "avviso"
	cfgProofOfWork  = "prova_lavoro"
	cfgStopBefore   = "stop_prima"
	cfgAlwaysOpen   = "sempre_aperta"
	cfgConfirmEmail = "conferma_email"
	cfgConfirmMins  = "conferma_minuti"
	cfgKioskOnly    = "solo_chioschi"
	// qCfgOutcome = "salvato" confirms a save.
	qCfgOutcome = "esito"
)

// cfgNumber describes one numeric field: its form name, the key
// queue.CheckConfig gives its errors, its label and hint, whether it is
// in minutes, its fieldset (arrivals and estimate, or limits), and where
// it lives in the configuration.
type cfgNumber struct {
	id, key, label, hint string
	minutes, arrival     bool
	// optional keeps the saved value when the field is absent or empty.
	optional bool
	get      func(c *queue.OfficeConfig) int
	set      func(c *queue.OfficeConfig, n int)
}

// minutesOf converts a duration to the form's whole minutes.
func minutesOf(d time.Duration) int { return int(d / time.Minute) }

// cfgNumbers are the numeric fields, in the form's order.
var cfgNumbers = []cfgNumber{
	{id: cfgEarly, key: "early_check_in", label: "Anticipo ammesso (minuti)", minutes: true, arrival: true,
		hint: "Quanti minuti prima dell'appuntamento un cittadino prenotato può registrare l'arrivo. Da 0 a 120.",
		get:  func(c *queue.OfficeConfig) int { return minutesOf(c.EarlyCheckIn) },
		set:  func(c *queue.OfficeConfig, n int) { c.EarlyCheckIn = time.Duration(n) * time.Minute }},
	{id: cfgLate, key: "late_check_in", label: "Ritardo ammesso (minuti)", minutes: true, arrival: true,
		hint: "Fino a quanti minuti dopo l'inizio dell'appuntamento l'arrivo mantiene l'orario; dopo, il cittadino passa nella coda senza appuntamento. Da 0 a 120.",
		get:  func(c *queue.OfficeConfig) int { return minutesOf(c.LateCheckIn) },
		set:  func(c *queue.OfficeConfig, n int) { c.LateCheckIn = time.Duration(n) * time.Minute }},
	{id: cfgSample, key: "sample", label: "Servizi usati per la stima dell'attesa", arrival: true,
		hint: "Quanti degli ultimi servizi del giorno si usano per stimare l'attesa mostrata ai cittadini. Da 1 a 100.",
		get:  func(c *queue.OfficeConfig) int { return c.Sample },
		set:  func(c *queue.OfficeConfig, n int) { c.Sample = n }},
	{id: cfgDailyCap, key: "daily_cap", label: "Biglietti al giorno",
		hint: "Quanti biglietti l'ufficio distribuisce in un giorno; 0 per nessun limite. I biglietti aggiunti da un operatore allo sportello non contano.",
		get:  func(c *queue.OfficeConfig) int { return c.DailyCap },
		set:  func(c *queue.OfficeConfig, n int) { c.DailyCap = n }},
	{id: cfgMaxPerDevice, key: "max_per_device", label: "Biglietti attivi per dispositivo",
		hint: "Quanti biglietti in attesa può avere insieme uno stesso telefono o browser; 0 per nessun limite.",
		get:  func(c *queue.OfficeConfig) int { return c.MaxPerDevice },
		set:  func(c *queue.OfficeConfig, n int) { c.MaxPerDevice = n }},
	{id: cfgMaxPerIP, key: "max_per_ip", label: "Biglietti attivi per indirizzo di rete",
		hint: "Quanti biglietti in attesa possono venire insieme da uno stesso indirizzo di rete; 0 per nessun limite. Se il chiosco e il Wi-Fi dell'ufficio escono dallo stesso indirizzo, serve un valore alto.",
		get:  func(c *queue.OfficeConfig) int { return c.MaxPerIP },
		set:  func(c *queue.OfficeConfig, n int) { c.MaxPerIP = n }},
	{id: cfgNotifyAhead, key: "notify_ahead", label: "Avviso «manca poco» (persone prima)",
		hint: "Chi ha lasciato l'email riceve l'avviso quando davanti a sé restano queste persone; 0 per non avvisare.",
		get:  func(c *queue.OfficeConfig) int { return c.NotifyAhead },
		set:  func(c *queue.OfficeConfig, n int) { c.NotifyAhead = n }},
	{id: cfgProofOfWork, key: "proof_of_work", label: "Prova di lavoro contro gli abusi (bit)",
		hint: "Difficoltà del calcolo che il browser o l'app svolge prima di prendere un biglietto da remoto: ogni bit in più raddoppia il tempo. 0 la disattiva; al massimo 24.",
		get:  func(c *queue.OfficeConfig) int { return c.ProofOfWork },
		set:  func(c *queue.OfficeConfig, n int) { c.ProofOfWork = n }},
	{id: cfgStopBefore, key: "stop_before", label: "Fine della distribuzione prima della chiusura (minuti)", minutes: true,
		hint: "Quanti minuti prima della chiusura dell'ufficio si smette di distribuire biglietti, perché l'ultimo cittadino possa essere servito.",
		get:  func(c *queue.OfficeConfig) int { return minutesOf(c.StopBefore) },
		set:  func(c *queue.OfficeConfig, n int) { c.StopBefore = time.Duration(n) * time.Minute }},
	{id: cfgConfirmMins, key: "confirm_within", label: "Tempo per confermare via email (minuti)", minutes: true, optional: true,
		hint: "Con la conferma via email attiva: entro quanti minuti il cittadino deve aprire il collegamento, altrimenti la richiesta decade. Da 5 a 120.",
		get:  func(c *queue.OfficeConfig) int { return minutesOf(c.ConfirmWithin) },
		set:  func(c *queue.OfficeConfig, n int) { c.ConfirmWithin = time.Duration(n) * time.Minute }},
}

// cfgCheck describes one checkbox of the settings.
type cfgCheck struct {
	id, key, label, hint string
	get                  func(c *queue.OfficeConfig) bool
	set                  func(c *queue.OfficeConfig, on bool)
}

// cfgChecks are the checkboxes, in the form's order.
var cfgChecks = []cfgCheck{
	{id: cfgAlwaysOpen, key: "always_open", label: "Coda sempre aperta",
		hint: "Distribuisci biglietti a qualsiasi ora, senza tener conto degli orari e delle chiusure dell'ufficio.",
		get:  func(c *queue.OfficeConfig) bool { return c.AlwaysOpen },
		set:  func(c *queue.OfficeConfig, on bool) { c.AlwaysOpen = on }},
	{id: cfgConfirmEmail, key: "confirm_email", label: "Conferma via email dei biglietti presi da remoto",
		hint: "Chi prende il numero dal sito o da un'app deve indicare l'email e aprire il collegamento ricevuto: entra in coda solo quando conferma. Il chiosco, gli arrivi dei prenotati e gli sportelli non sono toccati.",
		get:  func(c *queue.OfficeConfig) bool { return c.ConfirmEmail },
		set:  func(c *queue.OfficeConfig, on bool) { c.ConfirmEmail = on }},
	{id: cfgKioskOnly, key: "kiosk_only", label: "Solo chioschi registrati",
		hint: "La pagina del chiosco dà numeri solo ai chioschi registrati in «Chioschi»; un browser qualsiasi che la apre viene rifiutato.",
		get:  func(c *queue.OfficeConfig) bool { return c.KioskOnly },
		set:  func(c *queue.OfficeConfig, on bool) { c.KioskOnly = on }},
}

// cfgFieldOf maps a key of queue.CheckConfig's errors to the form's
// field; ok is false for a key the form does not show.
func cfgFieldOf(key string) (string, bool) {
	if svc, ok := strings.CutPrefix(key, "groups."); ok {
		return cfgGroupPrefix + svc, true
	}
	for _, n := range cfgNumbers {
		if n.key == key {
			return n.id, true
		}
	}
	for _, c := range cfgChecks {
		if c.key == key {
			return c.id, true
		}
	}
	return "", false
}

// configView is the data of config.html.
type configView struct {
	CSRF, Flash string
	HasOffices  bool
	Office      formField
	OfficeID    string
	OfficeName  string
	// Groups has one select per active service of the office.
	Groups []formField
	// Arrivals are the check-in window and the estimate; Limits the
	// admission and notification settings.
	Arrivals, Limits []formField
	// Checks are the checkboxes (always open, confirmation by email,
	// kiosks only).
	Checks []formField
	Errors []fieldError
	// General is an error no field shows.
	General string
	// AppIO links the office's App IO settings (appio_web.go) when the
	// node serves them.
	AppIO bool
}

// configOffices returns the Comune's active offices; the administrator
// may configure all of them.
func (p *officePages) configOffices(ctx context.Context, a deskReq) ([]booking.Office, error) {
	cfg, err := p.book.Configuration(ctx, a.t.ID)
	if err != nil {
		return nil, err
	}
	var out []booking.Office
	for _, o := range cfg.Offices {
		if cfg.ArchivedOffices[o.ID] {
			continue
		}
		var services []booking.Service
		for _, s := range o.Services {
			if !cfg.ArchivedServices[s.ID] {
				services = append(services, s)
			}
		}
		o.Services = services
		out = append(out, o)
	}
	return out, nil
}

// configShow answers GET /gestione/coda/impostazioni?ufficio=…: the
// settings of the office (the first one when none is named).
func (p *officePages) configShow(w http.ResponseWriter, r *http.Request, a deskReq) {
	officeID := strings.TrimSpace(r.URL.Query().Get(cfgOffice))
	flash := ""
	if r.URL.Query().Get(qCfgOutcome) == "salvato" {
		flash = "Impostazioni salvate: valgono per i prossimi biglietti."
	}
	p.configRender(w, r, a, http.StatusOK, officeID, nil, nil, flash)
}

// configSave answers POST /gestione/coda/impostazioni: it saves the
// office's settings and goes back to the page (303), or shows the form
// again with its errors (422), having changed nothing.
func (p *officePages) configSave(w http.ResponseWriter, r *http.Request, a deskReq) {
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, err)
		return
	}
	ctx := r.Context()
	officeID := strings.TrimSpace(r.PostForm.Get(cfgOffice))
	if officeID == "" {
		p.configRender(w, r, a, http.StatusUnprocessableEntity, "", r.PostForm,
			map[string]string{"": "Scegli l'ufficio di cui salvare le impostazioni."}, "")
		return
	}
	office, ok, err := p.activeOffice(ctx, a, officeID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	if !ok {
		p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
		return
	}
	c, err := p.h.q.Config(ctx, a.t.ID, office.ID)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	fe := readConfigForm(&c, office, r.PostForm)
	if len(fe) == 0 {
		err = queue.CheckConfig(c)
		if err == nil {
			err = p.h.q.Configure(ctx, a.t.ID, c)
		}
		var ve *queue.ValidationError
		switch {
		case errors.As(err, &ve):
			fe = map[string]string{}
			for key, msg := range ve.Fields {
				if id, ok := cfgFieldOf(key); ok {
					fe[id] = msg
				} else {
					fe[""] = msg
				}
			}
		case errors.Is(err, queue.ErrNotFound):
			p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
			return
		case err != nil:
			p.fail(w, r, err)
			return
		}
	}
	if len(fe) > 0 {
		p.configRender(w, r, a, http.StatusUnprocessableEntity, office.ID, r.PostForm, fe, "")
		return
	}
	p.h.log.Info("queue settings saved", "tenant", a.t.ID, "office", office.ID, "user", a.user.ID)
	v := url.Values{cfgOffice: {office.ID}, qCfgOutcome: {"salvato"}}
	http.Redirect(w, r, "/gestione/coda/impostazioni?"+v.Encode(), http.StatusSeeOther)
}

// activeOffice returns the active office officeID with its active
// services.
func (p *officePages) activeOffice(ctx context.Context, a deskReq, officeID string) (booking.Office, bool, error) {
	offices, err := p.configOffices(ctx, a)
	if err != nil {
		return booking.Office{}, false, err
	}
	for _, o := range offices {
		if o.ID == officeID {
			return o, true, nil
		}
	}
	return booking.Office{}, false, nil
}

// readConfigForm writes the form's values into c and returns the errors
// of the values that are not numbers (by form field). The ranges are
// CheckConfig's to judge, with its messages.
func readConfigForm(c *queue.OfficeConfig, office booking.Office, form url.Values) map[string]string {
	fe := map[string]string{}
	groups := make(map[string]string, len(c.Groups)+len(office.Services))
	for svc, l := range c.Groups {
		groups[svc] = l
	}
	for _, s := range office.Services {
		// An absent select keeps the saved letter; a present one must be
		// a letter, which CheckConfig checks.
		if l, ok := form[cfgGroupPrefix+s.ID]; ok {
			groups[s.ID] = strings.ToUpper(strings.TrimSpace(l[0]))
		}
	}
	c.Groups = groups
	for _, n := range cfgNumbers {
		s := strings.TrimSpace(form.Get(n.id))
		v, err := strconv.Atoi(s)
		switch {
		case s == "" && n.optional:
			// A page from before the field keeps the saved value.
		case s == "":
			fe[n.id] = "Indica un numero."
		case err != nil:
			fe[n.id] = "Scrivi un numero intero, senza decimali né spazi."
		case n.minutes && (v < 0 || v > 24*60):
			// Beyond a day, minutes could overflow a Duration into a
			// value CheckConfig accepts.
			fe[n.id] = "Indica da 0 a 1440 minuti (un giorno)."
		default:
			n.set(c, v)
		}
	}
	for _, ck := range cfgChecks {
		ck.set(c, form.Get(ck.id) != "")
	}
	return fe
}

// configRender renders the settings of officeID ("" for the first
// office); form and fe, when not nil, are a refused POST's values and
// errors (by form field, "" for an error of no field).
func (p *officePages) configRender(w http.ResponseWriter, r *http.Request, a deskReq, status int, officeID string, form url.Values, fe map[string]string, flash string) {
	ctx := r.Context()
	offices, err := p.configOffices(ctx, a)
	if err != nil {
		p.fail(w, r, err)
		return
	}
	v := configView{CSRF: a.csrf, Flash: flash, HasOffices: len(offices) > 0, General: fe[""], AppIO: p.h.appIOOn()}
	if officeID == "" && len(offices) > 0 && status == http.StatusOK {
		officeID = offices[0].ID
	}
	v.Office = formField{ID: cfgOffice, Label: "Ufficio", Prompt: "Scegli l'ufficio"}
	var office booking.Office
	found := false
	for _, o := range offices {
		sel := o.ID == officeID
		if sel {
			office, found = o, true
		}
		v.Office.Choices = append(v.Office.Choices, deskChoice{Value: o.ID, Label: o.Name, Selected: sel})
	}
	if officeID != "" && !found {
		p.h.site.Error(w, r, http.StatusNotFound, "Ufficio inesistente o archiviato.")
		return
	}
	if found {
		c, err := p.h.q.Config(ctx, a.t.ID, office.ID)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		v.OfficeID, v.OfficeName = office.ID, office.Name
		value := func(id, saved string) string {
			if form != nil {
				return form.Get(id)
			}
			return saved
		}
		for _, s := range office.Services {
			id := cfgGroupPrefix + s.ID
			saved := c.Groups[s.ID]
			if saved == "" {
				saved = queue.DefaultLetter
			}
			cur := value(id, saved)
			f := formField{ID: id, Label: "Lettera di «" + s.Name + "»", Error: fe[id],
				Hint: "I biglietti del servizio avranno questa lettera (per esempio " + cur + "014); i servizi con la stessa lettera condividono la numerazione."}
			for l := 'A'; l <= 'Z'; l++ {
				f.Choices = append(f.Choices, deskChoice{Value: string(l), Label: string(l), Selected: string(l) == cur})
			}
			v.Groups = append(v.Groups, f)
		}
		for _, n := range cfgNumbers {
			f := formField{ID: n.id, Label: n.label, Type: "text", Numeric: true, Hint: n.hint, Error: fe[n.id],
				Value: value(n.id, strconv.Itoa(n.get(&c)))}
			if n.arrival {
				v.Arrivals = append(v.Arrivals, f)
			} else {
				v.Limits = append(v.Limits, f)
			}
		}
		for _, ck := range cfgChecks {
			checked := ck.get(&c)
			if form != nil {
				checked = form.Get(ck.id) != ""
			}
			v.Checks = append(v.Checks, formField{ID: ck.id, Type: "checkbox", Label: ck.label, Checked: checked,
				Error: fe[ck.id], Hint: ck.hint})
		}
		// The summary lists the errors in the form's order.
		for _, f := range slices.Concat(v.Groups, v.Arrivals, v.Limits, v.Checks) {
			if f.Error != "" {
				v.Errors = append(v.Errors, fieldError{Field: f.ID, Label: f.Label, Message: f.Error})
			}
		}
	}
	if v.General != "" {
		v.Errors = append([]fieldError{{Field: cfgOffice, Label: "Ufficio", Message: v.General}}, v.Errors...)
	}
	crumbs := []site.Crumb{{Label: "Home", URL: "/"}, {Label: "Gestione", URL: "/gestione"}, {Label: "Impostazioni della coda"}}
	w.Header().Set("X-Frame-Options", "DENY")
	p.pages.Render(w, r, status, "config.html", site.Page{Title: "Impostazioni della coda", Breadcrumbs: crumbs, Data: v})
}
