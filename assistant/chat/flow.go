package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/assistant/knowledge"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/queue"
	"github.com/sportello-virtuale/sportello/tenant"
)

// turn is the handling of one message: the conversation's state, which
// it changes, and the reply it builds.
type turn struct {
	e   *Engine
	ctx context.Context
	t   tenant.Tenant
	cat *knowledge.Catalogue
	st  *state
	req Request
	msg string
	now time.Time

	lang        string
	reply       []string
	suggestions []Suggestion
	actions     []Action
	// grounded marks an informational reply that the language model may
	// reword; factLines are the Comune's data it was built from.
	grounded  bool
	factLines []string
}

// maxSlotsShown is how many free times one reply offers: enough to
// choose, few enough to read on a phone or hear from a screen reader.
const maxSlotsShown = 3

// maxSlotDays bounds the days one slot search reads.
const maxSlotDays = 62

func (c *turn) tr(key string, args ...any) string { return tr(c.lang, key, args...) }

func (c *turn) say(s string) { c.reply = append(c.reply, s) }

// fact records data of the Comune the reply states, for the language
// model's guard.
func (c *turn) fact(s string) { c.factLines = append(c.factLines, s) }

func (c *turn) facts() string { return strings.Join(append(c.factLines, c.reply...), "\n") }

// chooseLang picks the reply's language: English when the client asks
// for English or German, or when the message is written in English;
// Italian when asked or written in Italian; otherwise the language the
// conversation already has.
func (c *turn) chooseLang() string {
	switch c.req.Lang {
	case "en", "de":
		return "en"
	}
	g := ""
	switch c.st.Stage {
	case stageGiven, stageFamily, stageFiscal, stageEmail:
		// A name, a code or an address says nothing of the language
		// ("mario.rossi@example.it" is not English).
	default:
		g = guessLang(c.msg)
	}
	switch {
	case g != "":
		return g
	case c.req.Lang == "it":
		return "it"
	case c.st.Lang != "":
		return c.st.Lang
	}
	return "it"
}

// base is the Comune's origin for links.
func (c *turn) base() string { return strings.TrimRight(c.req.BaseURL, "/") }

func (c *turn) servicePage(id string) string { return c.base() + "/servizi/" + url.PathEscape(id) }

// respond builds the reply to the message.
func (c *turn) respond() {
	intent := detect(c.msg)
	if intent == assistant.IntentOperator {
		c.handoff()
		c.st.resetFlow()
		return
	}
	if isRestart(c.msg) {
		c.st.resetFlow()
		c.st.Service = ""
		c.say(c.tr("restart"))
		return
	}
	switch c.st.Stage {
	case stageChoose:
		if c.choose() {
			return
		}
	case stageSlot:
		if c.pickSlot() {
			return
		}
	case stageGiven, stageFamily, stageFiscal, stageEmail:
		if intent == assistant.IntentCancel || isStop(c.msg) {
			c.st.resetFlow()
			c.say(c.tr("stopped"))
			return
		}
		c.collect()
		return
	case stageConfirm:
		c.confirm()
		return
	}
	c.free(intent)
}

// free answers a message outside any question of the assistant.
func (c *turn) free(intent assistant.Intent) {
	c.st.resetFlow()
	// A request to book or take a number made before the service was
	// named ("voglio prendere il numero" → "per quale servizio?")
	// applies to the message that names it.
	pending := assistant.Intent(c.st.Intent)
	c.st.Intent = ""
	if intent == assistant.IntentNone {
		intent = pending
	}
	switch intent {
	case assistant.IntentThanks:
		c.say(c.tr("thanks"))
		return
	case assistant.IntentCancel, assistant.IntentMove:
		c.say(c.tr("cancel_move"))
		return
	}
	if intent != assistant.IntentBook && intent != assistant.IntentTicket && c.answerFAQ() {
		return
	}
	_, hasWhen := assistant.ParseWhen(c.msg, c.now, c.t.Location())
	if c.st.Service != "" && intent != assistant.IntentNone && contentWords(c.msg) == 0 {
		// A follow-up about the service being discussed ("a che ora
		// apre?", "dove si trova l'ufficio?"): its words are generic and
		// would match some other service by chance.
		if _, ok := c.cat.Services[c.st.Service]; ok {
			c.serviceTurn(c.st.Service, intent, hasWhen)
			return
		}
	}
	d := assistant.Decide(c.cat.Index.Search(c.query(), 5))
	var id string
	switch d.Outcome {
	case assistant.Confident:
		id = d.Choices[0].ServiceID
	case assistant.Clarify:
		if off, ok := c.oneOffice(d.Choices); ok {
			// "il numero per la tessera elettorale", "a che ora apre
			// l'anagrafe": the services differ, the office is the same.
			switch intent {
			case assistant.IntentTicket:
				c.ticket(off, "", queue.InPerson)
				return
			case assistant.IntentHours, assistant.IntentWhere:
				c.officeInfo(off, intent)
				return
			}
		}
		c.clarify(d.Choices, intent)
		return
	default:
		if off, ok := c.officeIn(c.msg); ok && c.st.Service == "" {
			switch intent {
			case assistant.IntentHours, assistant.IntentWhere:
				c.officeInfo(off, intent)
				return
			case assistant.IntentTicket:
				c.ticket(off, "", queue.InPerson)
				return
			}
		}
		if c.st.Service == "" && (intent == assistant.IntentBook || intent == assistant.IntentTicket) {
			c.st.Intent = string(intent)
			c.say(c.tr("which_service"))
			c.actions = append(c.actions, Action{Type: ActionLink, Label: c.tr("actions_services"), URL: c.base() + "/servizi"})
			return
		}
		if c.st.Service == "" || (intent == assistant.IntentNone && !hasWhen) {
			c.unknown()
			return
		}
		id = c.st.Service
	}
	if _, ok := c.cat.Services[id]; !ok {
		c.unknown()
		return
	}
	c.st.Service = id
	c.serviceTurn(id, intent, hasWhen)
}

// query is the text searched: the message, without the English function
// words when the conversation is in English (the index is Italian, and
// words it does not know lower its confidence).
func (c *turn) query() string {
	if c.lang != "en" {
		return c.msg
	}
	var kept []string
	for _, w := range strings.Fields(c.msg) {
		if !englishFiller[fold(w)] {
			kept = append(kept, w)
		}
	}
	if len(kept) == 0 {
		return c.msg
	}
	return strings.Join(kept, " ")
}

// oneOffice returns the office of the suggestions when they all belong
// to the same one.
func (c *turn) oneOffice(s []assistant.Suggestion) (booking.Office, bool) {
	office := ""
	for i, x := range s {
		svc := c.cat.Services[x.ServiceID]
		if i > 0 && svc.OfficeID != office {
			return booking.Office{}, false
		}
		office = svc.OfficeID
	}
	off, ok := c.cat.Offices[office]
	return off, ok
}

// genericWords are words of questions about any service: alone they do
// not name a service.
var genericWords = wordSet(`ufficio uffici sportello trova trovo trovare trovate apre aprite aprono chiude chiudono orari
	orario ora ore serve servono occorre costa costo costano prezzo documenti documento portare porto numero numerino
	prenotare prenotazione appuntamento prendere prendi dove quando quanto quanti indirizzo aperto aperta andare venire
	adesso subito oggi grazie office open opening hours where when cost bring number appointment book`)

// englishFiller are English function words, dropped from an English
// query.
var englishFiller = wordSet(`i my me we need want would like how what where when which who is are am do does did can could
	please hello hi hey to for an a of and with the should have has it this that there their your from at on by get renew
	bring in`)

// contentWords counts the words of msg that may name a service: not
// stopwords, not generic question words, not numbers.
func contentWords(msg string) int {
	n := 0
	for _, tok := range assistant.Tokenize(msg) {
		if tok.Stop || genericWords[tok.Norm] || englishFiller[tok.Norm] {
			continue
		}
		if _, err := strconv.Atoi(tok.Norm); err == nil {
			continue
		}
		n++
	}
	return n
}

// serviceTurn answers about one service, by intent.
func (c *turn) serviceTurn(id string, intent assistant.Intent, hasWhen bool) {
	svc := c.cat.Services[id]
	off := c.cat.Offices[svc.OfficeID]
	c.suggestions = []Suggestion{{ServiceID: svc.ID, Name: svc.Name, Score: 1}}
	switch intent {
	case assistant.IntentBring:
		c.bring(svc, off)
	case assistant.IntentHours:
		c.hours(svc, off)
	case assistant.IntentWhere:
		c.where(svc, off)
	case assistant.IntentCost:
		c.cost(svc, off)
	case assistant.IntentTicket:
		c.ticket(off, svc.ID, queue.InPerson)
	case assistant.IntentBook:
		c.proposeSlots(svc, off, true)
	default:
		if hasWhen {
			c.proposeSlots(svc, off, true)
			return
		}
		c.describe(svc, off)
	}
}

// clarify asks which of a few services the citizen means.
func (c *turn) clarify(choices []assistant.Suggestion, intent assistant.Intent) {
	c.st.Stage, c.st.Choices, c.st.Intent = stageChoose, nil, string(intent)
	for _, s := range choices {
		svc, ok := c.cat.Services[s.ServiceID]
		if !ok {
			continue
		}
		c.st.Choices = append(c.st.Choices, s.ServiceID)
		c.suggestions = append(c.suggestions, Suggestion{ServiceID: s.ServiceID, Name: svc.Name, Score: round(s.Confidence)})
	}
	if len(c.st.Choices) == 0 {
		c.st.Stage = stageFree
		c.unknown()
		return
	}
	c.say(c.tr("clarify"))
}

// choose takes the answer to a clarifying question: a choice's number,
// name or ID. It reports false when the message is none of them (a new
// question).
func (c *turn) choose() bool {
	m := fold(c.msg)
	pick := ""
	if n, ok := ordinal(m); ok && n <= len(c.st.Choices) {
		pick = c.st.Choices[n-1]
	}
	for _, id := range c.st.Choices {
		if pick != "" {
			break
		}
		svc := c.cat.Services[id]
		if m == fold(svc.Name) || m == fold(id) {
			pick = id
		}
	}
	if pick == "" {
		return false
	}
	intent := assistant.Intent(c.st.Intent)
	c.st.resetFlow()
	c.st.Intent = ""
	c.st.Service = pick
	c.serviceTurn(pick, intent, false)
	return true
}

// unknown offers the URP (or the list of services) and an operator.
func (c *turn) unknown() {
	c.st.resetFlow()
	if urp, ok := c.urp(); ok {
		c.say(c.tr("unknown", urp.Name, c.contacts(urp)))
		c.fact(c.contacts(urp))
	} else {
		c.say(c.tr("unknown_no_urp"))
	}
	c.grounded = true
	c.actions = append(c.actions,
		Action{Type: ActionLink, Label: c.tr("actions_services"), URL: c.base() + "/servizi"},
		Action{Type: ActionHandoff, Label: c.tr("actions_operator"), Message: c.tr("msg_operator")})
}

// urp returns the Comune's public relations office: the office whose ID
// or name says URP, the office for citizens who do not know where to go.
func (c *turn) urp() (booking.Office, bool) {
	for _, o := range c.cat.Offices {
		if o.ID == "urp" {
			return o, true
		}
	}
	for _, o := range c.cat.Offices {
		n := fold(o.Name)
		if strings.Contains(" "+n+" ", " urp ") || strings.Contains(n, "relazioni con il pubblico") {
			return o, true
		}
	}
	return booking.Office{}, false
}

// contacts is "Via Roma 1, telefono 080…, email …": what the Comune's data
// say about reaching the office.
func (c *turn) contacts(o booking.Office) string {
	var parts []string
	if o.Address != "" {
		parts = append(parts, c.tr("address", o.Address))
	}
	if o.Phone != "" {
		parts = append(parts, c.tr("phone", o.Phone))
	}
	if o.Email != "" {
		parts = append(parts, c.tr("email", o.Email))
	}
	return strings.Join(parts, ", ")
}

func (c *turn) cite(svc booking.Service) {
	u := c.servicePage(svc.ID)
	c.say(c.tr("source", u))
	c.actions = append(c.actions, Action{Type: ActionLink, Label: c.tr("actions_page"), URL: u, ServiceID: svc.ID})
}

// offerNext adds the buttons to book, take a number and reach a person.
func (c *turn) offerNext(svc booking.Service) {
	c.actions = append(c.actions, Action{Type: ActionBook, Label: c.tr("actions_book"), Message: c.tr("msg_book"), ServiceID: svc.ID})
	if c.e.queue != nil {
		c.actions = append(c.actions, Action{Type: ActionTicket, Label: c.tr("actions_ticket"), Message: c.tr("msg_ticket"), ServiceID: svc.ID})
	}
}

// describe says which service and office, what to bring, with the page.
func (c *turn) describe(svc booking.Service, off booking.Office) {
	c.grounded = true
	c.say(c.tr("describe", svc.Name, off.Name, off.Address))
	if svc.Description != "" {
		c.say(svc.Description)
	}
	if len(svc.WhatToBring) > 0 {
		c.say(c.tr("bring", svc.Name) + "\n- " + strings.Join(svc.WhatToBring, "\n- "))
	}
	c.cite(svc)
	c.offerNext(svc)
}

func (c *turn) bring(svc booking.Service, off booking.Office) {
	c.grounded = true
	if len(svc.WhatToBring) == 0 {
		c.say(c.tr("bring_none", svc.Name, off.Name, c.contacts(off)))
	} else {
		c.say(c.tr("bring", svc.Name) + "\n- " + strings.Join(svc.WhatToBring, "\n- "))
	}
	c.cite(svc)
	c.offerNext(svc)
}

func (c *turn) hours(svc booking.Service, off booking.Office) {
	c.grounded = true
	w := off.Hours
	if !svc.Hours.IsZero() {
		w = svc.Hours
	}
	if lines := formatWeek(c.lang, w); len(lines) > 0 {
		c.say(c.tr("hours", off.Name, off.Address, svc.Name) + "\n" + strings.Join(lines, "\n"))
	} else {
		c.say(c.tr("hours_none", off.Name, c.contacts(off)))
	}
	c.cite(svc)
	c.offerNext(svc)
}

func (c *turn) where(svc booking.Service, off booking.Office) {
	c.grounded = true
	c.say(c.tr("where", off.Name, off.Address))
	if ct := c.contacts(off); ct != "" {
		c.say(c.tr("contacts", ct))
	}
	c.cite(svc)
	c.offerNext(svc)
}

// officeIn returns the office the message names: its ID as a word
// ("anagrafe", "urp", "tributi"), or the first two words of its name
// ("polizia locale", "servizi sociali"; one for a one-word name).
func (c *turn) officeIn(msg string) (booking.Office, bool) {
	words := map[string]bool{}
	for _, t := range assistant.Tokenize(msg) {
		words[t.Norm] = true
	}
	terms := stemSet(msg)
	ids := make([]string, 0, len(c.cat.Offices))
	for id := range c.cat.Offices {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if words[fold(id)] {
			return c.cat.Offices[id], true
		}
	}
	for _, id := range ids {
		name := assistant.Terms(c.cat.Offices[id].Name)
		if len(name) > 0 && (name[0] == "uffic" || name[0] == "ufficio") {
			name = name[1:]
		}
		if len(name) == 0 {
			continue
		}
		need := min(2, len(name))
		hit := 0
		for _, t := range name[:need] {
			if terms[t] {
				hit++
			}
		}
		if hit == need {
			return c.cat.Offices[id], true
		}
	}
	return booking.Office{}, false
}

// officeInfo answers the hours or the address of an office, citing the
// offices page.
func (c *turn) officeInfo(off booking.Office, intent assistant.Intent) {
	c.grounded = true
	if intent == assistant.IntentHours {
		if lines := formatWeek(c.lang, off.Hours); len(lines) > 0 {
			c.say(c.tr("office_hours", off.Name, off.Address) + "\n" + strings.Join(lines, "\n"))
		} else {
			c.say(c.tr("hours_none", off.Name, c.contacts(off)))
		}
	} else {
		c.say(c.tr("where", off.Name, off.Address))
		if ct := c.contacts(off); ct != "" {
			c.say(c.tr("contacts", ct))
		}
	}
	u := c.base() + "/uffici"
	c.say(c.tr("source", u))
	c.actions = append(c.actions, Action{Type: ActionLink, Label: c.tr("actions_offices"), URL: u})
}

// cost quotes the sentences of the service's own text that speak of money;
// without any it says the cost is not in the data.
func (c *turn) cost(svc booking.Service, off booking.Office) {
	c.grounded = true
	var found []string
	for _, s := range append(sentences(svc.Description), svc.WhatToBring...) {
		f := fold(s)
		if strings.Contains(s, "€") || strings.Contains(f, "euro") || strings.Contains(f, "gratuit") ||
			strings.Contains(f, "costo") || strings.Contains(f, "marca da bollo") || strings.Contains(f, "diritti di segreteria") {
			found = append(found, s)
		}
	}
	if len(found) > 0 {
		c.say(c.tr("cost", svc.Name) + "\n- " + strings.Join(found, "\n- "))
	} else {
		c.say(c.tr("cost_none", svc.Name, off.Name, c.contacts(off)))
	}
	c.cite(svc)
}

// sentences splits text at full stops.
func sentences(text string) []string {
	var out []string
	for _, s := range strings.SplitAfter(text, ". ") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// answerFAQ answers from the Comune's FAQ when one entry clearly matches.
func (c *turn) answerFAQ() bool {
	f, ok := c.e.faqs.match(c.cat, c.msg)
	if !ok {
		return false
	}
	c.grounded = true
	c.say(f.Answer)
	if svc, ok := c.cat.Services[f.ServiceID]; ok {
		c.st.Service = svc.ID
		c.suggestions = []Suggestion{{ServiceID: svc.ID, Name: svc.Name, Score: 1}}
		c.cite(svc)
		c.offerNext(svc)
		return true
	}
	if off, ok := c.cat.Offices[f.OfficeID]; ok {
		c.say(c.tr("contacts", off.Name+": "+c.contacts(off)))
	}
	u := c.base() + "/servizi"
	c.say(c.tr("faq_source", u))
	c.actions = append(c.actions, Action{Type: ActionLink, Label: c.tr("actions_services"), URL: u})
	return true
}

// channelFor picks how the appointment takes place: in person when the
// service offers it, else by video; a phone-only service needs a phone
// number the assistant does not ask for ("" then).
func channelFor(svc booking.Service) booking.Channel {
	for _, ch := range []booking.Channel{booking.InPerson, booking.Video} {
		for _, o := range svc.Channels {
			if o == ch {
				return ch
			}
		}
	}
	return ""
}

// proposeSlots offers the first free times matching the date expression
// of the message (the first free ones when it has none).
func (c *turn) proposeSlots(svc booking.Service, off booking.Office, fromMessage bool) {
	ch := channelFor(svc)
	if ch == "" {
		u := c.base() + "/prenota"
		c.say(c.tr("slots_phone_only", svc.Name, u))
		c.actions = append(c.actions, Action{Type: ActionLink, Label: c.tr("actions_book"), URL: u})
		return
	}
	loc := c.t.Location()
	w, ok := assistant.When{From: c.now, Earliest: true}, false
	if fromMessage {
		if pw, found := assistant.ParseWhen(c.msg, c.now, loc); found {
			w, ok = pw, true
		}
	}
	after := int64(0)
	if !fromMessage && len(c.st.Slots) > 0 {
		after = c.st.Slots[len(c.st.Slots)-1]
	}
	slots, err := c.freeSlots(svc, w, after)
	if err != nil {
		c.e.log.Error("slots", "tenant", c.t.ID, "service", svc.ID, "err", err)
		c.say(c.tr("slots_none", svc.Name, off.Name, c.contacts(off)))
		return
	}
	head := c.tr("slots", svc.Name, off.Name, off.Address)
	if len(slots) == 0 && ok && !w.To.IsZero() {
		// Nothing in the span asked: the nearest after it.
		slots, err = c.freeSlots(svc, assistant.When{From: w.To}, 0)
		if err != nil {
			c.e.log.Error("slots", "tenant", c.t.ID, "service", svc.ID, "err", err)
		}
		head = c.tr("slots_after", svc.Name)
	}
	if len(slots) == 0 {
		c.say(c.tr("slots_none", svc.Name, off.Name, c.contacts(off)))
		c.cite(svc)
		return
	}
	c.st.Stage, c.st.Slots, c.st.Service, c.st.Channel = stageSlot, nil, svc.ID, string(ch)
	lines := []string{head}
	for i, s := range slots {
		label := formatWhen(c.lang, s.Start.In(loc))
		lines = append(lines, c.tr("slot_line", i+1, label))
		c.st.Slots = append(c.st.Slots, s.Start.Unix())
		start := s.Start.In(loc)
		c.actions = append(c.actions, Action{Type: ActionBook, Label: label, Message: strconv.Itoa(i + 1), ServiceID: svc.ID, Start: &start})
	}
	c.say(strings.Join(lines, "\n"))
	c.say(c.tr("slots_pick"))
}

// freeSlots returns up to maxSlotsShown free slots of svc starting in w
// (and after the Unix second after, when not 0).
func (c *turn) freeSlots(svc booking.Service, w assistant.When, after int64) ([]booking.Slot, error) {
	loc := c.t.Location()
	from := civil.DateOf(w.From.In(loc))
	if after > 0 {
		from = civil.DateOf(time.Unix(after, 0).In(loc))
	}
	horizon := svc.HorizonDays
	if horizon <= 0 || horizon > maxSlotDays {
		horizon = maxSlotDays
	}
	to := civil.DateOf(c.now.In(loc)).AddDays(horizon)
	if !w.To.IsZero() {
		if last := civil.DateOf(w.To.Add(-time.Nanosecond).In(loc)); last.Before(to) {
			to = last
		}
	}
	if to.Before(from) {
		return nil, nil
	}
	all, err := c.e.book.Slots(c.ctx, c.t, svc.ID, from, to)
	if err != nil {
		return nil, err
	}
	lo, hi, daily := dailyWindow(w, loc)
	var out []booking.Slot
	for _, s := range all {
		if s.Remaining <= 0 || s.Start.Before(w.From) || (!w.To.IsZero() && !s.Start.Before(w.To)) || s.Start.Unix() <= after {
			continue
		}
		if daily {
			st := s.Start.In(loc)
			if m := st.Hour()*60 + st.Minute(); m < lo || m >= hi {
				continue
			}
		}
		out = append(out, s)
		if len(out) == maxSlotsShown {
			break
		}
	}
	return out, nil
}

// dailyWindow returns the time of day a span of several days asks for:
// ParseWhen gives "la settimana prossima di mattina" as the first morning
// to the last, and leaves the caller to keep the mornings. A span whose
// start's time of day is not before its end's (midnight to midnight,
// "entro venerdì" from now) has none.
func dailyWindow(w assistant.When, loc *time.Location) (lo, hi int, ok bool) {
	if w.To.IsZero() || w.To.Sub(w.From) <= 24*time.Hour {
		return 0, 0, false
	}
	f, t := w.From.In(loc), w.To.In(loc)
	lo, hi = f.Hour()*60+f.Minute(), t.Hour()*60+t.Minute()
	return lo, hi, lo < hi
}

// pickSlot takes the answer to the offered times: a number, an ordinal,
// the time itself, or another day (new offers). It reports false when the
// message is something else.
func (c *turn) pickSlot() bool {
	svc, ok := c.cat.Services[c.st.Service]
	if !ok {
		return false
	}
	off := c.cat.Offices[svc.OfficeID]
	loc := c.t.Location()
	m := fold(c.msg)
	pick := int64(0)
	if n, ok := ordinal(m); ok && n <= len(c.st.Slots) {
		pick = c.st.Slots[n-1]
	}
	for _, s := range c.st.Slots {
		if pick == 0 && m == fold(formatWhen(c.lang, time.Unix(s, 0).In(loc))) {
			pick = s
		}
	}
	if pick == 0 {
		if w, found := assistant.ParseWhen(c.msg, c.now, loc); found {
			var match []int64
			for _, s := range c.st.Slots {
				t := time.Unix(s, 0)
				if !t.Before(w.From) && (w.To.IsZero() || t.Before(w.To)) {
					match = append(match, s)
				}
			}
			if len(match) == 1 && !w.Earliest {
				pick = match[0]
			} else {
				c.proposeSlots(svc, off, true)
				return true
			}
		}
	}
	if pick == 0 && (strings.Contains(m, "altr") || strings.Contains(m, "other") || strings.Contains(m, "later") || strings.Contains(m, "dopo")) {
		c.proposeSlots(svc, off, false)
		return true
	}
	if pick == 0 {
		return false
	}
	c.st.Start, c.st.Slots = pick, nil
	label := formatWhen(c.lang, time.Unix(pick, 0).In(loc))
	if c.st.Given != "" && c.st.Family != "" && c.st.Fiscal != "" && c.st.Email != "" {
		// The citizen's data are known (the first time was taken by
		// someone else): straight to the confirmation.
		c.summary()
		return true
	}
	c.st.Stage = stageGiven
	c.say(c.tr("ask_given", label))
	return true
}

// collect takes the citizen's data, one field a message, each checked by
// booking.CheckRequest as the web form checks it.
func (c *turn) collect() {
	v := strings.TrimSpace(c.msg)
	var r booking.Request
	var key string
	switch c.st.Stage {
	case stageGiven:
		r.Citizen.GivenName, key = v, "citizen.given_name"
	case stageFamily:
		r.Citizen.FamilyName, key = v, "citizen.family_name"
	case stageFiscal:
		r.Citizen.FiscalCode, key = v, "citizen.fiscal_code"
	case stageEmail:
		r.Citizen.Email, key = v, "citizen.email"
	}
	norm, err := booking.CheckRequest(r)
	var ve *booking.ValidationError
	if errors.As(err, &ve) {
		if m, bad := ve.Fields[key]; bad {
			c.say(c.fieldMessage(key, m))
			return
		}
	}
	switch c.st.Stage {
	case stageGiven:
		c.st.Given, c.st.Stage = norm.Citizen.GivenName, stageFamily
		c.say(c.tr("ask_family"))
	case stageFamily:
		c.st.Family, c.st.Stage = norm.Citizen.FamilyName, stageFiscal
		c.say(c.tr("ask_fiscal"))
	case stageFiscal:
		c.st.Fiscal, c.st.Stage = norm.Citizen.FiscalCode, stageEmail
		c.say(c.tr("ask_email"))
	case stageEmail:
		c.st.Email = norm.Citizen.Email
		c.summary()
	}
}

func (c *turn) fieldMessage(key, italian string) string {
	if c.lang == "en" {
		if m, ok := fieldMessagesEN[key]; ok {
			return m
		}
	}
	return italian
}

// summary repeats what will be booked and asks for the confirmation.
func (c *turn) summary() {
	svc := c.cat.Services[c.st.Service]
	off := c.cat.Offices[svc.OfficeID]
	when := formatWhen(c.lang, time.Unix(c.st.Start, 0).In(c.t.Location()))
	c.st.Stage = stageConfirm
	c.say(c.tr("summary", svc.Name, when, off.Name, off.Address, c.st.Given, c.st.Family, c.st.Fiscal, c.st.Email))
	c.say(c.tr("privacy", c.base()+"/privacy"))
	c.say(c.tr("confirm_q"))
	c.actions = append(c.actions,
		Action{Type: ActionConfirm, Label: c.tr("yes"), Message: c.tr("msg_yes")},
		Action{Type: ActionConfirm, Label: c.tr("no"), Message: c.tr("msg_no")})
}

// confirm takes the answer to "confermi?": only an explicit yes books.
func (c *turn) confirm() {
	switch {
	case isYes(c.msg):
		c.book()
	case isNo(c.msg):
		c.st.resetFlow()
		c.say(c.tr("declined"))
	default:
		c.say(c.tr("confirm_again"))
		c.actions = append(c.actions,
			Action{Type: ActionConfirm, Label: c.tr("yes"), Message: c.tr("msg_yes")},
			Action{Type: ActionConfirm, Label: c.tr("no"), Message: c.tr("msg_no")})
	}
}

// book creates the booking through booking.Book.Create, the web flow's
// own call: the same checks, rules, errors and confirmation email. The
// request ID makes a replayed confirmation (the same token sent twice, to
// any node) return the first booking instead of a second one.
func (c *turn) book() {
	svc := c.cat.Services[c.st.Service]
	off := c.cat.Offices[svc.OfficeID]
	loc := c.t.Location()
	req := booking.Request{
		ServiceID: svc.ID, Start: time.Unix(c.st.Start, 0).In(loc), Channel: booking.Channel(c.st.Channel),
		Citizen:         booking.Citizen{GivenName: c.st.Given, FamilyName: c.st.Family, FiscalCode: c.st.Fiscal, Email: c.st.Email},
		PrivacyAccepted: true, Lang: c.lang,
	}
	rid := sha256.Sum256([]byte(string(c.t.ID) + "\x00" + c.st.ID + "\x00" + strconv.FormatInt(c.st.Start, 10)))
	fp := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s", svc.ID, c.st.Start, req.Channel,
		c.st.Given, c.st.Family, c.st.Fiscal, c.st.Email)))
	ctx := cluster.WithRequestID(c.ctx, "assistant/"+hex.EncodeToString(rid[:16]), hex.EncodeToString(fp[:]))
	created, err := c.e.book.Create(ctx, c.t, req, c.base())
	var ve *booking.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		c.refused(ve)
		return
	case errors.Is(err, booking.ErrSlotFull), errors.Is(err, booking.ErrNotASlot), errors.Is(err, booking.ErrTooSoon),
		errors.Is(err, booking.ErrTooFar), errors.Is(err, booking.ErrClosed):
		c.say(c.tr("slot_gone"))
		c.st.Stage, c.st.Start = stageFree, 0
		c.proposeSlots(svc, off, false)
		return
	case errors.Is(err, booking.ErrAlreadyBooked):
		c.st.resetFlow()
		c.say(c.tr("already_booked", svc.Name))
		return
	default:
		c.e.log.Error("assistant booking failed", "tenant", c.t.ID, "service", svc.ID, "err", err)
		c.say(c.tr("book_failed"))
		return
	}
	bk := created.Booking
	c.e.log.Info("assistant booking", "tenant", c.t.ID, "service", svc.ID, "booking", bk.Code)
	c.st.resetFlow()
	c.say(c.tr("booked", svc.Name, formatWhen(c.lang, bk.Start.In(loc)), off.Name, off.Address, bk.Code))
	c.say(c.tr("booked_email", bk.Citizen.Email))
	c.actions = append(c.actions,
		Action{Type: ActionLink, Label: c.tr("manage"), URL: c.base() + booking.ManagePath(bk.Code, created.ManageToken)},
		Action{Type: ActionLink, Label: c.tr("actions_page"), URL: c.servicePage(svc.ID), ServiceID: svc.ID})
}

// refused shows the booking's field errors and goes back to the first
// field at fault.
func (c *turn) refused(ve *booking.ValidationError) {
	order := []struct{ key, stage string }{
		{"citizen.given_name", stageGiven}, {"citizen.family_name", stageFamily},
		{"citizen.fiscal_code", stageFiscal}, {"citizen.email", stageEmail},
	}
	for _, o := range order {
		if m, ok := ve.Fields[o.key]; ok {
			c.say(c.fieldMessage(o.key, m))
			c.st.Stage = o.stage
			return
		}
	}
	for _, m := range ve.Fields {
		c.say(m)
	}
	c.st.resetFlow()
}

// ticket takes a number in the office's queue through queue.Queue.Take,
// the call of the queue's own page and API, with the same admission
// limits. An office whose queue asks for a proof of work is left to its
// page, which computes it.
func (c *turn) ticket(off booking.Office, serviceID string, ch queue.Channel) {
	if c.e.queue == nil {
		c.say(c.tr("queue_none", off.Name) + " " + c.tr("contacts", c.contacts(off)))
		return
	}
	page := c.base() + "/coda/" + url.PathEscape(off.ID)
	open, err := c.e.queue.OpenState(c.ctx, c.t, off.ID)
	if err != nil {
		c.e.log.Error("queue state", "tenant", c.t.ID, "office", off.ID, "err", err)
		c.say(c.tr("queue_failed"))
		return
	}
	if !open.Open {
		c.queueClosed(off, open)
		return
	}
	cfg, err := c.e.queue.Config(c.ctx, c.t.ID, off.ID)
	if err != nil {
		c.e.log.Error("queue config", "tenant", c.t.ID, "office", off.ID, "err", err)
		c.say(c.tr("queue_failed"))
		return
	}
	if cfg.ProofOfWork > 0 {
		c.say(c.tr("queue_page", off.Name, page))
		c.actions = append(c.actions, Action{Type: ActionTicket, Label: c.tr("queue_page_label"), URL: page})
		return
	}
	taken, ok := c.take(off, serviceID, ch)
	if !ok {
		return
	}
	u := c.base() + "/coda/biglietto/" + url.PathEscape(taken.Ticket.ID) + "?secret=" + url.QueryEscape(taken.Secret)
	c.say(c.tr("ticket", taken.Ticket.Number, off.Name))
	c.say(c.tr("ticket_wait", taken.Status.Position, int((taken.Status.EstimatedWait+time.Minute-1)/time.Minute)))
	c.say(c.tr("ticket_follow", u))
	c.actions = append(c.actions, Action{Type: ActionTicket, Label: c.tr("ticket_link"), URL: u, Number: taken.Ticket.Number})
}

// take calls queue.Take and explains a refusal; ok is false when it was
// refused (the reply then says why).
func (c *turn) take(off booking.Office, serviceID string, ch queue.Channel) (queue.Taken, bool) {
	req := queue.TakeRequest{OfficeID: off.ID, ServiceID: serviceID, Channel: ch, Lang: c.lang,
		ClientIP: c.req.ClientIP, Source: queue.SourceAPI}
	taken, err := c.e.queue.Take(c.ctx, c.t, req)
	var ve *queue.ValidationError
	if errors.As(err, &ve) && serviceID != "" {
		// The service is not in the office's line: a ticket for the
		// office.
		req.ServiceID = ""
		taken, err = c.e.queue.Take(c.ctx, c.t, req)
	}
	switch {
	case err == nil:
		return taken, true
	case errors.Is(err, queue.ErrClosed):
		open, _ := c.e.queue.OpenState(c.ctx, c.t, off.ID)
		c.queueClosed(off, open)
	case errors.Is(err, queue.ErrDailyCap):
		c.say(c.tr("queue_full", off.Name) + " " + c.tr("contacts", c.contacts(off)))
	case errors.Is(err, queue.ErrClientCap):
		c.say(c.tr("queue_client", off.Name))
	default:
		c.e.log.Error("assistant ticket failed", "tenant", c.t.ID, "office", off.ID, "err", err)
		c.say(c.tr("queue_failed"))
	}
	return queue.Taken{}, false
}

func (c *turn) queueClosed(off booking.Office, open queue.QueueOpen) {
	s := c.tr("queue_closed", off.Name)
	if !open.Next.IsZero() {
		s += " " + c.tr("queue_next", formatWhen(c.lang, open.Next.In(c.t.Location())))
	}
	if ct := c.contacts(off); ct != "" {
		s += " " + c.tr("contacts", ct)
	}
	c.say(s)
	c.handoffContacts(off, false)
}

// handoff puts the citizen in the video line of the right office when its
// queue is open and a remote desk takes video, else gives the office's
// contacts. The right office is the one of the service named in the
// message, else of the service being discussed, else the URP.
func (c *turn) handoff() {
	off, ok := c.handoffOffice()
	if !ok {
		c.unknown()
		return
	}
	if c.e.queue != nil && c.remoteDesk(off.ID) {
		open, err := c.e.queue.OpenState(c.ctx, c.t, off.ID)
		cfg, cerr := c.e.queue.Config(c.ctx, c.t.ID, off.ID)
		if err == nil && cerr == nil && open.Open && cfg.ProofOfWork == 0 {
			if taken, ok := c.take(off, "", queue.Video); ok {
				u := c.base() + "/coda/biglietto/" + url.PathEscape(taken.Ticket.ID) + "?secret=" + url.QueryEscape(taken.Secret)
				c.say(c.tr("handoff", off.Name, taken.Ticket.Number))
				c.say(c.tr("handoff_follow", u))
				c.actions = append(c.actions, Action{Type: ActionHandoff, Label: c.tr("handoff_label"), URL: u, Number: taken.Ticket.Number})
				return
			}
			c.handoffContacts(off, false)
			return
		}
	}
	c.handoffContacts(off, true)
}

// handoffContacts gives the office's contacts as a handoff action (and,
// with say, as the reply).
func (c *turn) handoffContacts(off booking.Office, say bool) {
	if say {
		c.grounded = true
		c.fact(c.contacts(off))
		c.say(c.tr("handoff_contacts", off.Name, c.contacts(off)))
		if lines := formatWeek(c.lang, off.Hours); len(lines) > 0 {
			c.say(c.tr("hours", off.Name, off.Address, off.Name) + "\n" + strings.Join(lines, "\n"))
		}
	}
	a := Action{Type: ActionHandoff, Label: c.tr("call"), Phone: off.Phone, Email: off.Email}
	if off.Phone != "" {
		a.URL = "tel:" + strings.Map(func(r rune) rune {
			if r == '+' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, off.Phone)
	}
	if a.Phone != "" || a.Email != "" {
		c.actions = append(c.actions, a)
	}
}

func (c *turn) handoffOffice() (booking.Office, bool) {
	// The words asking for a person say nothing of the office and
	// would match services that mention "operatore" or "persona".
	var rest []string
	for _, w := range strings.Fields(c.msg) {
		if !operatorWords[fold(w)] {
			rest = append(rest, w)
		}
	}
	d := assistant.Decide(c.cat.Index.Search(strings.Join(rest, " "), 5))
	if d.Outcome == assistant.Confident {
		if svc, ok := c.cat.Services[d.Choices[0].ServiceID]; ok {
			if off, ok := c.cat.Offices[svc.OfficeID]; ok {
				return off, true
			}
		}
	}
	if off, ok := c.officeIn(c.msg); ok {
		return off, true
	}
	if svc, ok := c.cat.Services[c.st.Service]; ok {
		if off, ok := c.cat.Offices[svc.OfficeID]; ok {
			return off, true
		}
	}
	// The candidates of a clarifying question, when they are all of one
	// office: the citizen did not pick the service, but the office is
	// clear.
	office := ""
	for i, id := range c.st.Choices {
		svc := c.cat.Services[id]
		if i > 0 && svc.OfficeID != office {
			office = ""
			break
		}
		office = svc.OfficeID
	}
	if off, ok := c.cat.Offices[office]; ok {
		return off, true
	}
	return c.urp()
}

// operatorWords are the words of a request for a person.
var operatorWords = wordSet(`vorrei voglio posso parlare parla parlo con un una uno operatore operatrice operatori persona
	persone reale vera qualcuno impiegato impiegata umano essere videochiamata chiamatemi richiamatemi talk speak to an
	operator someone person human please`)

// remoteDesk reports whether some desk of the office takes video
// citizens: a video ticket elsewhere would wait for a desk that never
// calls it.
func (c *turn) remoteDesk(officeID string) bool {
	desks, err := c.e.book.Desks(c.ctx, c.t.ID, officeID)
	if err != nil {
		c.e.log.Error("desks", "tenant", c.t.ID, "office", officeID, "err", err)
		return false
	}
	for _, d := range desks {
		if !d.Archived && d.Takes(booking.Video) {
			return true
		}
	}
	return false
}

// ticketPhrases are the ways to ask for a number now that the core's
// Detect does not list: the imperative the assistant's own button sends,
// and "I am coming now".
var ticketPhrases = []string{"prendi il numero", "prendi un numero", "prendimi il numero", "prendimi un numero",
	"dammi il numero", "dammi un numero", "andare adesso", "venire adesso", "vengo adesso", "andare ora", "vengo ora",
	"andare subito", "take a number", "get a number", "come now", "go now"}

// bookPhrases are imperatives of booking that the core's Detect does not
// list.
var bookPhrases = []string{"prenota", "prenotami", "prenotiamo", "prenotate", "book", "book me", "make an appointment"}

// detect is assistant.Detect with ticketPhrases and bookPhrases.
func detect(msg string) assistant.Intent {
	in := assistant.Detect(msg)
	if in != assistant.IntentNone && in != assistant.IntentBook {
		return in
	}
	m := " " + strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return ' '
	}, assistant.Fold(msg))), " ") + " "
	for _, p := range ticketPhrases {
		if strings.Contains(m, " "+p+" ") {
			return assistant.IntentTicket
		}
	}
	if in == assistant.IntentNone {
		for _, p := range bookPhrases {
			if strings.Contains(m, " "+p+" ") {
				return assistant.IntentBook
			}
		}
	}
	return in
}

// fold is the message folded and trimmed of punctuation at the ends.
func fold(s string) string {
	return strings.Trim(strings.Join(strings.Fields(assistant.Fold(s)), " "), ".,;:!?«»\"' ")
}

var ordinals = map[string]int{
	"1": 1, "2": 2, "3": 3, "4": 4, "5": 5,
	"primo": 1, "prima": 1, "il primo": 1, "la prima": 1, "secondo": 2, "seconda": 2, "il secondo": 2, "la seconda": 2,
	"terzo": 3, "terza": 3, "il terzo": 3, "la terza": 3, "first": 1, "the first": 1, "second": 2, "the second": 2,
	"third": 3, "the third": 3, "uno": 1, "due": 2, "tre": 3, "one": 1, "two": 2, "three": 3,
	"1.": 1, "2.": 2, "3.": 3, "numero 1": 1, "numero 2": 2, "numero 3": 3,
}

// ordinal reads "2", "il secondo", "the second".
func ordinal(m string) (int, bool) {
	n, ok := ordinals[m]
	return n, ok
}

func isYes(m string) bool {
	switch fold(m) {
	case "si", "sì", "si confermo", "confermo", "ok", "va bene", "certo", "yes", "yes i confirm", "confirm", "i confirm", "sure", "si grazie", "confermo grazie", "ja":
		return true
	}
	return false
}

func isNo(m string) bool {
	switch fold(m) {
	case "no", "no grazie", "annulla", "lascia stare", "non confermo", "no thanks", "cancel", "nein":
		return true
	}
	return false
}

func isStop(m string) bool {
	switch fold(m) {
	case "stop", "basta", "annulla", "lascia stare", "esci", "cancel", "quit":
		return true
	}
	return false
}

func isRestart(m string) bool {
	switch fold(m) {
	case "ricomincia", "ricominciamo", "da capo", "reset", "start over", "restart":
		return true
	}
	return false
}

// round keeps two decimals of a score, for the JSON.
func round(x float64) float64 { return float64(int(x*100+0.5)) / 100 }
