package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The demo Comune. Its data is seeded through the same registry and book
// commands an administrator uses, so it is replicated and survives restarts
// like anything else.

// demoTenant is the Comune the demo creates on first run.
func demoTenant() tenant.Tenant {
	return tenant.Tenant{
		ID:         "bari",
		Name:       "Comune di Bari",
		Region:     "Regione Puglia",
		ISTAT:      "072006",
		CodePrefix: "BA",
		Branding:   tenant.Branding{PrimaryColor: "#9b1b30"},
		TimeZone:   tenant.DefaultTimeZone,
		Languages:  tenant.DefaultLanguages(),
		PatronDays: []tenant.PatronDay{{Name: "San Nicola", Month: time.December, Day: 6}},
		Sender:     tenant.Sender{Name: "Comune di Bari", Address: "noreply@bari.localhost"},
	}
}

// demoOffice is an office with the services it offers.
type demoOffice struct {
	office   booking.Office
	services []booking.Service
}

// hm is a wall-clock time in minutes from midnight.
func hm(h, m int) int { return h*60 + m }

// municipalHours is the common schedule of the Comune's counters: weekday
// mornings, and Tuesday and Thursday afternoons.
func municipalHours() booking.Week {
	var w booking.Week
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = []booking.Interval{{Start: hm(9, 0), End: hm(12, 0)}}
	}
	for _, d := range []time.Weekday{time.Tuesday, time.Thursday} {
		w[d] = append(w[d], booking.Interval{Start: hm(15, 30), End: hm(17, 30)})
	}
	return w
}

// service fills the rules every demo service shares: 60 days ahead,
// cancellation up to 24 hours before, one active booking per citizen.
func service(name, category, desc string, bring []string, minutes, desks int, notice time.Duration, ch ...booking.Channel) booking.Service {
	return booking.Service{
		ID:   slug(name),
		Name: name, Category: category, Description: desc, WhatToBring: bring,
		Duration: time.Duration(minutes) * time.Minute, Channels: ch, Capacity: desks,
		MinNotice: notice, HorizonDays: 60, CancelDeadline: 24 * time.Hour, MaxActivePerCitizen: 1,
	}
}

// demoOffices returns the demo Comune's offices and services.
func demoOffices() []demoOffice {
	const (
		in    = booking.InPerson
		video = booking.Video
		phone = booking.Phone
	)
	hours := municipalHours()
	// Anagrafe opens also on Wednesday afternoon, for identity cards.
	anagrafe := municipalHours()
	anagrafe[time.Wednesday] = append(anagrafe[time.Wednesday], booking.Interval{Start: hm(15, 0), End: hm(17, 0)})
	return []demoOffice{
		{
			office: booking.Office{
				ID:      "urp",
				Name:    "Ufficio Relazioni con il Pubblico",
				Address: "Corso Vittorio Emanuele II, 84 – 70122 Bari",
				Phone:   "080 577 2001", Email: "urp@bari.localhost", Hours: hours,
			},
			services: []booking.Service{
				service("Informazioni e reclami URP", "",
					"Informazioni sui servizi del Comune, sui procedimenti in corso e sui relativi responsabili; presentazione di reclami, segnalazioni e suggerimenti.",
					[]string{"Un documento d'identità", "Eventuale documentazione relativa alla richiesta"},
					15, 2, 2*time.Hour, in, phone, video),
				service("Accesso civico e accesso agli atti amministrativi", "",
					"Assistenza alla presentazione delle istanze di accesso documentale (legge 241/1990) e di accesso civico semplice e generalizzato (d.lgs. 33/2013).",
					[]string{"Un documento d'identità", "Gli estremi degli atti richiesti, se noti", "Delega e documento del delegante, se si agisce per conto di altri"},
					20, 1, 24*time.Hour, in, video),
				service("Assistenza ai servizi online (SPID e CIE)", "",
					"Aiuto all'uso dei servizi digitali del Comune: accesso con SPID o CIE, presentazione di istanze online, consultazione delle proprie pratiche.",
					[]string{"Un documento d'identità", "Il proprio smartphone, con le credenziali SPID o il PIN della CIE"},
					20, 2, 2*time.Hour, in),
			},
		},
		{
			office: booking.Office{
				ID:      "ambiente",
				Name:    "Ripartizione Tutela Ambiente, Sanità e Igiene",
				Address: "Via Francesco Crispi, 85 – 70123 Bari",
				Phone:   "080 577 6402", Email: "ambiente@bari.localhost", Hours: hours,
			},
			services: []booking.Service{
				service("Segnalazioni igienico-sanitarie", "Ambiente",
					"Segnalazione di inconvenienti igienico-sanitari in abitazioni, aree pubbliche e private: rifiuti abbandonati, infestazioni, scarichi, esalazioni.",
					[]string{"Un documento d'identità", "Fotografie e indirizzo preciso del luogo segnalato"},
					15, 2, 2*time.Hour, in, phone),
				service("Richiesta di disinfestazione e derattizzazione", "Salute, benessere e assistenza",
					"Richiesta di interventi di disinfestazione, derattizzazione e sanificazione su aree pubbliche o di competenza comunale.",
					[]string{"Un documento d'identità", "Indicazione dell'area interessata (via, numero civico, riferimenti)"},
					15, 1, 24*time.Hour, in, phone),
				service("Autorizzazione in deroga ai limiti acustici", "Autorizzazioni",
					"Autorizzazione in deroga ai limiti di rumore per cantieri temporanei e manifestazioni: verifica della documentazione prima della presentazione della domanda.",
					[]string{"Un documento d'identità", "Relazione tecnica di un tecnico competente in acustica", "Planimetria dell'area e cronoprogramma delle attività rumorose"},
					30, 1, 48*time.Hour, in, video),
			},
		},
		{
			office: booking.Office{
				ID:      "urbanistica",
				Name:    "Ripartizione Urbanistica e Edilizia Privata",
				Address: "Via Giuseppe Capruzzi, 212 – 70124 Bari",
				Phone:   "080 577 5711", Email: "urbanistica@bari.localhost", Hours: hours,
			},
			services: []booking.Service{
				service("Certificato di destinazione urbanistica", "Catasto e urbanistica",
					"Rilascio del certificato che attesta le prescrizioni urbanistiche di un terreno, necessario per compravendite, successioni e divisioni.",
					[]string{"Un documento d'identità", "Estratto di mappa catastale con foglio e particelle", "Ricevuta del versamento dei diritti di segreteria"},
					30, 1, 48*time.Hour, in, video),
				service("Accesso agli atti edilizi", "Catasto e urbanistica",
					"Consultazione ed estrazione di copia di pratiche edilizie (licenze, concessioni, permessi di costruire, SCIA, condoni) conservate in archivio.",
					[]string{"Un documento d'identità", "Numero e anno della pratica, se noti", "Titolo che legittima l'accesso (proprietà, delega, incarico professionale)"},
					30, 2, 72*time.Hour, in),
				service("Consulenza su pratiche edilizie (CILA, SCIA, permesso di costruire)", "Catasto e urbanistica",
					"Incontro con un tecnico comunale per chiarimenti preliminari sulla pratica edilizia da presentare allo Sportello Unico per l'Edilizia.",
					[]string{"Un documento d'identità", "Elaborati grafici o bozza del progetto"},
					30, 1, 48*time.Hour, in, video),
			},
		},
		{
			office: booking.Office{
				ID:      "anagrafe",
				Name:    "Anagrafe",
				Address: "Largo Chiurlia, 27 – 70122 Bari",
				Phone:   "080 577 2250", Email: "anagrafe@bari.localhost", Hours: anagrafe,
			},
			services: []booking.Service{
				service("Rilascio carta d'identità elettronica", "Anagrafe e stato civile",
					"Richiesta della carta d'identità elettronica (CIE) per i residenti: primo rilascio, rinnovo alla scadenza, smarrimento o furto. La carta arriva per posta in circa sei giorni lavorativi.",
					[]string{"Una fototessera recente, su sfondo chiaro", "La carta d'identità scaduta o in scadenza, oppure la denuncia di smarrimento o furto", "La tessera sanitaria (codice fiscale)", "Ricevuta del pagamento di 22,21 euro"},
					20, 3, 2*time.Hour, in),
				service("Cambio di residenza", "Anagrafe e stato civile",
					"Dichiarazione di residenza per chi si trasferisce a Bari da un altro Comune o dall'estero, o cambia abitazione all'interno della città.",
					[]string{"Un documento d'identità di ogni componente maggiorenne", "Codice fiscale di ogni componente", "Contratto di locazione o titolo di proprietà dell'abitazione", "Patente e libretti dei veicoli intestati"},
					30, 2, 24*time.Hour, in),
				service("Certificati anagrafici e di stato civile", "Anagrafe e stato civile",
					"Rilascio di certificati di residenza, stato di famiglia, nascita, matrimonio e altri certificati anagrafici e di stato civile.",
					[]string{"Un documento d'identità", "Marca da bollo da 16 euro, se il certificato non è esente"},
					15, 3, 2*time.Hour, in),
				service("Autentica di firma e di copia", "Anagrafe e stato civile",
					"Autenticazione della firma su dichiarazioni e istanze, e della conformità all'originale di copie di documenti.",
					[]string{"Un documento d'identità valido", "Il documento da firmare, non ancora firmato, o l'originale con la copia", "Marca da bollo da 16 euro, se dovuta"},
					15, 2, 2*time.Hour, in),
			},
		},
	}
}

// seedDemo creates the demo Comune with its offices and services, skipping
// whatever already exists (by ID for the Comune, by name for offices and
// services): a restart changes nothing, and a first run interrupted half
// way is completed by the next one.
//
// Each office created here gets a virtual queue that is always open and
// has no per-address cap: a newcomer tries the demo at any hour, from
// 127.0.0.1, and should see the queue work rather than "closed".
func seedDemo(ctx context.Context, tenants *tenant.Registry, book *booking.Book, lines *queue.Queue, log *slog.Logger) (tenant.Tenant, error) {
	t, err := tenants.Get(ctx, demoTenant().ID)
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		t, err = tenants.Create(ctx, demoTenant())
		if err != nil {
			return tenant.Tenant{}, fmt.Errorf("seed demo: create %s: %w", demoTenant().ID, err)
		}
		log.Info("demo Comune created", "tenant", t.ID)
	case err != nil:
		return tenant.Tenant{}, fmt.Errorf("seed demo: %w", err)
	}
	created, err := seedOffices(ctx, t.ID, book, lines, demoOffices())
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("seed demo: %w", err)
	}
	if created > 0 {
		log.Info("demo offices and services seeded", "tenant", t.ID, "created", created)
	}
	return t, nil
}

// seedOffices saves the offices and services of list that the Comune
// lacks (offices by name, services by name within their office) and
// returns how many it created. Each office it creates gets a virtual
// queue that is always open and has no per-address cap, and two counters
// and a video station.
func seedOffices(ctx context.Context, t tenant.ID, book *booking.Book, lines *queue.Queue, list []demoOffice) (int, error) {
	existing, err := book.Offices(ctx, t)
	if err != nil {
		return 0, err
	}
	created := 0
	for _, d := range list {
		var office booking.Office
		for _, o := range existing {
			if o.Name == d.office.Name {
				office = o
			}
		}
		if office.ID == "" {
			office, err = book.SaveOffice(ctx, t, d.office)
			if err != nil {
				return created, fmt.Errorf("office %q: %w", d.office.Name, err)
			}
			created++
			qc, err := lines.Config(ctx, t, office.ID)
			if err != nil {
				return created, fmt.Errorf("queue of %q: %w", d.office.Name, err)
			}
			qc.AlwaysOpen, qc.MaxPerIP = true, 0
			if err := lines.Configure(ctx, t, qc); err != nil {
				return created, fmt.Errorf("queue of %q: %w", d.office.Name, err)
			}
			// Two counters and a station for video and phone
			// appointments, so the desk page can call at once.
			for _, dk := range []booking.Desk{
				{OfficeID: office.ID, Label: "Sportello 1", Kind: booking.DeskCounter},
				{OfficeID: office.ID, Label: "Sportello 2", Kind: booking.DeskCounter},
				{OfficeID: office.ID, Label: "Postazione video", Kind: booking.DeskRemote},
			} {
				if _, err := book.WriteDesk(ctx, t, dk, false); err != nil {
					return created, fmt.Errorf("desk %q of %q: %w", dk.Label, d.office.Name, err)
				}
			}
		}
	services:
		for _, s := range d.services {
			for _, have := range office.Services {
				if have.Name == s.Name {
					continue services
				}
			}
			s.OfficeID = office.ID
			if _, err := book.SaveService(ctx, t, s); err != nil {
				return created, fmt.Errorf("service %q: %w", s.Name, err)
			}
			created++
		}
	}
	return created, nil
}

// slug turns a service's name into the readable ID of its page
// ("Rilascio carta d'identità elettronica" → "rilascio-carta-d-identita-elettronica"),
// cut at a word boundary to at most 48 characters.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case strings.ContainsRune("àáâä", r):
			b.WriteByte('a')
			dash = false
		case strings.ContainsRune("èéêë", r):
			b.WriteByte('e')
			dash = false
		case strings.ContainsRune("ìíîï", r):
			b.WriteByte('i')
			dash = false
		case strings.ContainsRune("òóôö", r):
			b.WriteByte('o')
			dash = false
		case strings.ContainsRune("ùúûü", r):
			b.WriteByte('u')
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	for len(out) > 48 {
		i := strings.LastIndexByte(out[:48], '-')
		if i < 0 {
			return out[:48]
		}
		out = out[:i]
	}
	return out
}
