package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// The demo Comune's full catalogue (issue 9): the offices and services of
// a mid-size Comune from assistant.DemoCatalogue, so that the virtual
// assistant has something real to work on, with FAQ entries and synonyms
// as an administrator would add them in the back office. seedDemo keeps
// the four offices the earlier demo had (tests and screenshots name
// them); the catalogue adds to them and merges where both describe the
// same office or service.

// catalogueOffice maps an office of the catalogue onto the demo's own
// when both are the same office: its services go there.
var catalogueOffice = map[string]string{
	"urp":      "urp",
	"anagrafe": "anagrafe",
	"ambiente": "ambiente",
	"edilizia": "urbanistica",
}

// catalogueService maps a service of the catalogue onto the demo's own
// (by name) when both are the same service: it is not added again, and
// its synonyms and FAQ go to the demo's service.
var catalogueService = map[string]string{
	"cie":                  "Rilascio carta d'identità elettronica",
	"residenza":            "Cambio di residenza",
	"certificati":          "Certificati anagrafici e di stato civile",
	"autentiche":           "Autentica di firma e di copia",
	"urp-informazioni":     "Informazioni e reclami URP",
	"accesso-atti":         "Accesso civico e accesso agli atti amministrativi",
	"spid-facilitazione":   "Assistenza ai servizi online (SPID e CIE)",
	"cdu":                  "Certificato di destinazione urbanistica",
	"accesso-atti-edilizi": "Accesso agli atti edilizi",
}

// catalogueServiceID returns the ID the demo gives the catalogue's
// service id: the demo's own for a merged one, else the catalogue's.
func catalogueServiceID(id string) string {
	if name, ok := catalogueService[id]; ok {
		return slug(name)
	}
	return id
}

// demoCatalogue returns what the catalogue adds to demoOffices: the
// catalogue's services on the demo's offices where they are the same
// office, and the other offices with their services.
func demoCatalogue() []demoOffice {
	hours := municipalHours()
	own := map[string]booking.Office{}
	for _, d := range demoOffices() {
		own[d.office.ID] = d.office
	}
	var out []demoOffice
	index := map[string]int{}
	for _, o := range assistant.DemoOffices() {
		d := demoOffice{office: booking.Office{
			ID: o.ID, Name: o.Name, Address: o.Address + " – 70122 Bari", Phone: o.Phone,
			Email: strings.Replace(o.Email, "@comune.example.it", "@bari.localhost", 1), Hours: hours,
		}}
		if mine, ok := catalogueOffice[o.ID]; ok {
			d.office = own[mine]
		}
		index[o.ID] = len(out)
		out = append(out, d)
	}
	for _, s := range assistant.DemoCatalogue() {
		if _, merged := catalogueService[s.ID]; merged {
			continue
		}
		svc := booking.Service{
			ID: s.ID, Name: s.Name, Category: s.Category, Description: s.Description, WhatToBring: s.Bring,
			Duration: time.Duration(s.Minutes) * time.Minute, Channels: catalogueChannels(s.OfficeID),
			Capacity: 1, MinNotice: 24 * time.Hour, HorizonDays: 60, CancelDeadline: 24 * time.Hour,
			MaxActivePerCitizen: 1,
		}
		if s.Minutes == 0 {
			svc.Duration = 20 * time.Minute
		}
		i := index[s.OfficeID]
		out[i].services = append(out[i].services, svc)
	}
	return out
}

// catalogueChannels: every service is at the counter; the offices whose
// appointments are mostly a conversation (social services, taxes,
// building permits) also take them by video.
func catalogueChannels(office string) []booking.Channel {
	switch office {
	case "servizi-sociali", "tributi", "edilizia":
		return []booking.Channel{booking.InPerson, booking.Video}
	}
	return []booking.Channel{booking.InPerson}
}

// demoAnswers are the demo Comune's answers to the catalogue's FAQ, as
// its administrator would write them.
var demoAnswers = map[string]string{
	"Quanto costa la carta d'identità?":                                "La carta d'identità elettronica costa 22,21 euro; in caso di smarrimento, furto o deterioramento 27,37 euro. Si paga allo sportello con carta o bancomat, oppure prima con PagoPA.",
	"Posso fare la carta d'identità per mio figlio minorenne?":         "Sì, a qualsiasi età. Il minore deve essere presente con entrambi i genitori; se uno non può venire, serve il suo assenso scritto con la copia del suo documento. Sotto i 3 anni la carta vale 3 anni, dai 3 ai 18 anni 5 anni.",
	"Cosa faccio se ho perso la carta d'identità?":                     "Denuncia lo smarrimento ai Carabinieri o alla Polizia, poi prenota un appuntamento all'Anagrafe portando la denuncia, una fototessera e la tessera sanitaria.",
	"Quanto tempo ci vuole per il cambio di residenza?":                "L'Anagrafe registra la dichiarazione entro due giorni lavorativi, con effetto dal giorno in cui l'hai presentata. Nei 45 giorni successivi la Polizia locale verifica che abiti davvero all'indirizzo dichiarato.",
	"Posso spostare la residenza se vivo in affitto?":                  "Sì. Porta il contratto di affitto registrato; se non sei tu l'intestatario, serve la dichiarazione del proprietario o dell'intestatario con la copia del suo documento.",
	"Il certificato di residenza si può scaricare online?":             "Sì, gratis e senza bollo dall'Anagrafe nazionale (ANPR) con SPID, CIE o CNS. Allo sportello si chiede su appuntamento.",
	"Quando il certificato è esente dal bollo?":                        "Solo nei casi previsti dalla legge, per esempio per le pratiche di pensione, di lavoro, per la scuola o per l'adozione: chi lo chiede indica l'uso e la norma di esenzione. Negli altri casi serve una marca da bollo da 16 euro.",
	"Quanto tempo prima devo chiedere le pubblicazioni di matrimonio?": "Le pubblicazioni restano all'albo online per 8 giorni e il matrimonio si può celebrare dal quarto giorno dopo la fine dell'affissione ed entro 180 giorni. Conviene chiederle almeno un mese prima della data.",
	"Entro quando devo dichiarare il nuovo immobile ai fini TARI?":     "Entro il 30 giugno dell'anno successivo a quello in cui hai cominciato a occupare l'immobile, o nei termini indicati dal regolamento TARI del Comune.",
	"Come si calcola la TARI?":                                         "Per le abitazioni la TARI dipende dai metri quadri e dal numero di persone della famiglia, secondo le tariffe approvate ogni anno dal Consiglio comunale.",
	"Quando si paga l'IMU?":                                            "In due rate: l'acconto entro il 16 giugno e il saldo entro il 16 dicembre. Si può pagare tutto in un'unica soluzione entro il 16 giugno.",
	"Sulla prima casa si paga l'IMU?":                                  "No, l'abitazione principale non paga l'IMU, tranne le case di lusso (categorie catastali A/1, A/8 e A/9).",
	"Come faccio ricorso contro una multa?":                            "Entro 30 giorni dalla notifica al Giudice di pace, oppure entro 60 giorni al Prefetto. Allo sportello della Polizia locale puoi vedere le foto e i documenti del verbale.",
	"Entro quanti giorni pago la multa ridotta?":                       "Con lo sconto del 30% entro 5 giorni dalla notifica o dalla contestazione; poi l'importo pieno entro 60 giorni.",
	"Quali bonus dà il Comune?":                                        "Contributi per l'affitto e le utenze, buoni spesa e aiuti una tantum per chi è in difficoltà, secondo i bandi aperti. Un colloquio con l'assistente sociale serve a capire quali fanno al caso tuo.",
	"Serve l'ISEE per il contributo affitto?":                          "Sì, serve un ISEE in corso di validità entro la soglia indicata dal bando. Un CAF lo fa gratuitamente.",
	"Come iscrivo mio figlio alla mensa?":                              "Con la domanda di iscrizione alla refezione scolastica, prima dell'inizio dell'anno scolastico. Per una dieta speciale serve il certificato del pediatra.",
	"Quanto costa un pasto?":                                           "Il costo di un pasto dipende dalla fascia ISEE della famiglia, secondo le tariffe approvate ogni anno dal Comune; chi non presenta l'ISEE paga la tariffa massima.",
}

// demoGroups are synonym groups of the demo Comune: phrases its citizens
// use for its offices.
var demoGroups = [][]string{
	{"vigili", "vigili urbani", "polizia municipale", "polizia locale"},
	{"ufficio tecnico", "edilizia privata", "tecnico comunale"},
}

// demoServiceSynonyms are other names of the demo's own services that
// the catalogue does not cover, by service name.
var demoServiceSynonyms = []struct {
	service string
	phrases []string
}{
	{"Richiesta di disinfestazione e derattizzazione", []string{"zanzare", "topi", "ratti", "blatte", "scarafaggi", "zecche"}},
	{"Segnalazioni igienico-sanitarie", []string{"cattivo odore", "rifiuti abbandonati", "discarica abusiva", "puzza"}},
	{"Autorizzazione in deroga ai limiti acustici", []string{"rumore del cantiere", "lavori rumorosi", "musica per un evento"}},
	{"Consulenza su pratiche edilizie (CILA, SCIA, permesso di costruire)", []string{"parlare con un tecnico", "geometra del Comune"}},
}

// seedDemoCatalogue adds the catalogue to the demo Comune t (after
// seedDemo): offices and services, then the FAQ and synonyms. It skips
// what exists (FAQ by question, groups by their first phrase and
// service), so a second run changes nothing.
func seedDemoCatalogue(ctx context.Context, t tenant.Tenant, book *booking.Book, lines *queue.Queue, know *knowledge.Store, log *slog.Logger) error {
	created, err := seedOffices(ctx, t.ID, book, lines, demoCatalogue())
	if err != nil {
		return fmt.Errorf("seed demo catalogue: %w", err)
	}
	faqs, err := know.FAQs(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("seed demo catalogue: %w", err)
	}
	haveFAQ := map[string]bool{}
	for _, f := range faqs {
		haveFAQ[f.Question] = true
	}
	groups, err := know.Synonyms(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("seed demo catalogue: %w", err)
	}
	haveGroup := map[string]bool{}
	for _, g := range groups {
		haveGroup[g.ServiceID+"|"+g.Phrases[0]] = true
	}
	addGroup := func(g knowledge.SynonymGroup) error {
		if haveGroup[g.ServiceID+"|"+g.Phrases[0]] {
			return nil
		}
		if _, err := know.SaveSynonyms(ctx, t.ID, g); err != nil {
			return fmt.Errorf("seed demo catalogue: synonyms %q: %w", g.Phrases[0], err)
		}
		created++
		return nil
	}
	for _, s := range assistant.DemoCatalogue() {
		id := catalogueServiceID(s.ID)
		for _, q := range s.FAQ {
			if haveFAQ[q] || demoAnswers[q] == "" {
				continue
			}
			if _, err := know.SaveFAQ(ctx, t.ID, knowledge.FAQ{Question: q, Answer: demoAnswers[q], ServiceID: id}); err != nil {
				return fmt.Errorf("seed demo catalogue: FAQ %q: %w", q, err)
			}
			created++
		}
		if len(s.Synonyms) > 0 {
			if err := addGroup(knowledge.SynonymGroup{ServiceID: id, Phrases: s.Synonyms}); err != nil {
				return err
			}
		}
	}
	for _, d := range demoServiceSynonyms {
		if err := addGroup(knowledge.SynonymGroup{ServiceID: slug(d.service), Phrases: d.phrases}); err != nil {
			return err
		}
	}
	for _, phrases := range demoGroups {
		if err := addGroup(knowledge.SynonymGroup{Phrases: phrases}); err != nil {
			return err
		}
	}
	if created > 0 {
		log.Info("demo catalogue seeded", "tenant", t.ID, "created", created)
	}
	return nil
}
