package chat

import (
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/booking"
)

// messages are the engine's replies: language → key → text with fmt
// verbs. Italian is complete; English has the same keys (TestMessages).
// German is answered in English (the understanding core has an English
// fallback, not a German one), and the first reply says so. Read-only
// after package initialisation.
var messages = map[string]map[string]string{
	"it": {
		"expired":          "La conversazione precedente è scaduta: ricominciamo da capo.",
		"too_many_turns":   "Questa conversazione è diventata troppo lunga: ne inizio una nuova.",
		"german_fallback":  "Ich spreche noch kein Deutsch: ich antworte auf Englisch. (Non parlo ancora tedesco: rispondo in inglese.)",
		"thanks":           "Prego! Se ti serve altro, scrivimi pure.",
		"restart":          "Va bene, ricominciamo. Di che cosa hai bisogno?",
		"cancel_move":      "Per annullare o spostare un appuntamento usa il link «Gestisci la prenotazione» nell'email di conferma che hai ricevuto: lì trovi la data, il codice e i pulsanti per annullare o cambiare orario.",
		"unknown":          "Non sono sicuro di aver capito di quale servizio hai bisogno. Prova a dirlo con altre parole (per esempio «rinnovare la carta d'identità»), oppure rivolgiti all'%s: %s.",
		"unknown_no_urp":   "Non sono sicuro di aver capito di quale servizio hai bisogno. Prova a dirlo con altre parole (per esempio «rinnovare la carta d'identità»), oppure guarda l'elenco dei servizi.",
		"which_service":    "Per quale servizio? Scrivimelo con parole tue, per esempio «carta d'identità» o «cambio di residenza».",
		"clarify":          "Ho trovato più servizi che potrebbero fare al caso tuo. Quale ti serve?",
		"describe":         "«%s» è un servizio dell'ufficio %s (%s).",
		"bring":            "Per «%s» porta:",
		"bring_none":       "Per «%s» il Comune non ha indicato documenti da portare. Per sicurezza chiedi all'ufficio %s: %s.",
		"hours":            "L'ufficio %s (%s) riceve per «%s»:",
		"office_hours":     "L'ufficio %s (%s) è aperto:",
		"actions_offices":  "Uffici e orari",
		"hours_none":       "Gli orari dell'ufficio %s non sono nei dati del Comune. Contatti: %s.",
		"where":            "L'ufficio %s si trova in %s.",
		"contacts":         "Contatti: %s.",
		"cost":             "Ecco cosa dicono i dati del Comune sul costo di «%s»:",
		"cost_none":        "Il costo di «%s» non è indicato nei dati del Comune: chiedi all'ufficio %s (%s).",
		"source":           "Fonte: %s",
		"faq_source":       "Fonte: %s",
		"actions_book":     "Prenota un appuntamento",
		"actions_ticket":   "Prendi il numero",
		"actions_page":     "Pagina del servizio",
		"actions_services": "Elenco dei servizi",
		"actions_operator": "Parla con un operatore",
		"msg_book":         "voglio prenotare un appuntamento",
		"msg_ticket":       "prendi il numero",
		"msg_operator":     "parla con un operatore",
		"slots":            "Ecco i primi orari liberi per «%s» all'ufficio %s (%s):",
		"slots_after":      "Nel periodo che hai indicato non ci sono posti liberi per «%s». I primi liberi dopo sono:",
		"slots_none":       "Non ci sono posti liberi per «%s» nei prossimi giorni. Puoi riprovare più avanti o contattare l'ufficio %s: %s.",
		"slots_pick":       "Scegli un orario (scrivi il numero), oppure dimmi un altro giorno.",
		"slots_phone_only": "«%s» si svolge solo al telefono: prenotalo dalla pagina %s, dove puoi lasciare il tuo numero.",
		"slot_line":        "%d. %s",
		"slot_gone":        "Quell'orario non è più disponibile.",
		"ask_given":        "Hai scelto %s. Per prenotare mi servono i tuoi dati: come ti chiami (nome)?",
		"ask_family":       "Qual è il tuo cognome?",
		"ask_fiscal":       "Qual è il tuo codice fiscale?",
		"ask_email":        "A quale indirizzo email ti mando la conferma?",
		"summary":          "Riepilogo: «%s» il %s, ufficio %s (%s). A nome di %s %s, codice fiscale %s, email %s.",
		"privacy":          "Prenotando accetti il trattamento dei dati descritto nell'informativa privacy: %s",
		"confirm_q":        "Confermi la prenotazione? (sì / no)",
		"confirm_again":    "Rispondi «sì» per confermare la prenotazione o «no» per annullarla.",
		"yes":              "Sì, confermo",
		"no":               "No",
		"msg_yes":          "sì",
		"msg_no":           "no",
		"declined":         "Va bene, non ho prenotato nulla.",
		"stopped":          "Va bene, ho interrotto la prenotazione: non ho prenotato nulla.",
		"booked":           "Fatto! Ho prenotato «%s» per %s all'ufficio %s (%s). Codice della prenotazione: %s.",
		"booked_email":     "Ti ho inviato un'email a %s con il riepilogo e il link per annullare o spostare l'appuntamento.",
		"manage":           "Gestisci la prenotazione",
		"already_booked":   "Risulta già una prenotazione attiva per «%s» con questo codice fiscale: per cambiarla usa il link nell'email di conferma.",
		"book_failed":      "Non sono riuscito a prenotare per un problema tecnico. Riprova fra qualche minuto rispondendo «sì».",
		"field_invalid":    "%s",
		"ticket":           "Il tuo numero è %s all'ufficio %s.",
		"ticket_wait":      "Prima di te ci sono %d persone; attesa stimata circa %d minuti.",
		"ticket_follow":    "Segui il tuo turno da questa pagina: %s",
		"ticket_link":      "Il tuo numero",
		"queue_page":       "Per prendere il numero dell'ufficio %s usa la pagina della coda: %s",
		"queue_page_label": "Coda dell'ufficio",
		"queue_closed":     "In questo momento la coda dell'ufficio %s non è aperta.",
		"queue_next":       "Riapre %s.",
		"queue_full":       "L'ufficio %s ha già distribuito tutti i numeri di oggi.",
		"queue_client":     "Hai già il massimo di numeri attivi per l'ufficio %s.",
		"queue_none":       "L'ufficio %s non ha una coda online.",
		"queue_failed":     "Non sono riuscito a prendere il numero per un problema tecnico: riprova fra qualche minuto.",
		"handoff":          "Ti ho messo in coda per parlare in videochiamata con un operatore dell'ufficio %s: il tuo numero è %s.",
		"handoff_follow":   "Apri questa pagina e attendi di essere chiamato: %s",
		"handoff_contacts": "In questo momento non posso metterti in contatto con un operatore online. Puoi rivolgerti all'ufficio %s: %s.",
		"handoff_label":    "Attendi l'operatore",
		"call":             "Chiama l'ufficio",
		"at":               "%s alle %s",
		"phone":            "telefono %s",
		"email":            "email %s",
		"address":          "%s",
		"closed_day":       "chiuso",
	},
	"en": {
		"expired":          "The previous conversation expired: let's start again.",
		"too_many_turns":   "This conversation got too long: I am starting a new one.",
		"german_fallback":  "Ich spreche noch kein Deutsch: ich antworte auf Englisch. (I do not speak German yet: I will answer in English.)",
		"thanks":           "You're welcome! Write to me if you need anything else.",
		"restart":          "All right, let's start again. What do you need?",
		"cancel_move":      "To cancel or move an appointment, use the link «Gestisci la prenotazione» (manage the booking) in the confirmation email you received: it shows the date, the code and the buttons to cancel or change the time.",
		"unknown":          "I am not sure which service you need. Try other words (for example «renew my identity card»), or ask the %s: %s.",
		"unknown_no_urp":   "I am not sure which service you need. Try other words (for example «renew my identity card»), or look at the list of services.",
		"which_service":    "For which service? Tell me in your own words, for example «identity card» or «change of address».",
		"clarify":          "I found several services that may be what you need. Which one is it?",
		"describe":         "«%s» is a service of the office %s (%s).",
		"bring":            "For «%s» bring:",
		"bring_none":       "For «%s» the Comune lists no documents to bring. To be sure, ask the office %s: %s.",
		"hours":            "The office %s (%s) receives for «%s»:",
		"office_hours":     "The office %s (%s) is open:",
		"actions_offices":  "Offices and hours",
		"hours_none":       "The opening hours of the office %s are not in the Comune's data. Contacts: %s.",
		"where":            "The office %s is at %s.",
		"contacts":         "Contacts: %s.",
		"cost":             "This is what the Comune's data say about the cost of «%s»:",
		"cost_none":        "The cost of «%s» is not in the Comune's data: ask the office %s (%s).",
		"source":           "Source: %s",
		"faq_source":       "Source: %s",
		"actions_book":     "Book an appointment",
		"actions_ticket":   "Take a number",
		"actions_page":     "Service page",
		"actions_services": "List of services",
		"actions_operator": "Talk to an operator",
		"msg_book":         "I want to book an appointment",
		"msg_ticket":       "take a number",
		"msg_operator":     "talk to an operator",
		"slots":            "These are the first free times for «%s» at the office %s (%s):",
		"slots_after":      "There are no free times for «%s» in the period you asked for. The first free ones after it are:",
		"slots_none":       "There are no free times for «%s» in the coming days. Try again later or contact the office %s: %s.",
		"slots_pick":       "Choose a time (write its number), or tell me another day.",
		"slots_phone_only": "«%s» takes place by phone only: book it on the page %s, where you can leave your number.",
		"slot_line":        "%d. %s",
		"slot_gone":        "That time is no longer free.",
		"ask_given":        "You chose %s. To book I need your details: what is your first name?",
		"ask_family":       "What is your surname?",
		"ask_fiscal":       "What is your codice fiscale (Italian tax code)?",
		"ask_email":        "Which email address should I send the confirmation to?",
		"summary":          "Summary: «%s» on %s, office %s (%s). In the name of %s %s, codice fiscale %s, email %s.",
		"privacy":          "By booking you accept the processing of your data described in the privacy notice: %s",
		"confirm_q":        "Do you confirm the booking? (yes / no)",
		"confirm_again":    "Answer «yes» to confirm the booking or «no» to drop it.",
		"yes":              "Yes, I confirm",
		"no":               "No",
		"msg_yes":          "yes",
		"msg_no":           "no",
		"declined":         "All right, I have not booked anything.",
		"stopped":          "All right, I stopped the booking: nothing was booked.",
		"booked":           "Done! I booked «%s» for %s at the office %s (%s). Booking code: %s.",
		"booked_email":     "I sent an email to %s with the summary and the link to cancel or move the appointment.",
		"manage":           "Manage the booking",
		"already_booked":   "There already is an active booking for «%s» with this codice fiscale: to change it, use the link in the confirmation email.",
		"book_failed":      "I could not book because of a technical problem. Try again in a few minutes by answering «yes».",
		"field_invalid":    "%s",
		"ticket":           "Your number is %s at the office %s.",
		"ticket_wait":      "There are %d people before you; the estimated wait is about %d minutes.",
		"ticket_follow":    "Follow your turn on this page: %s",
		"ticket_link":      "Your number",
		"queue_page":       "To take a number at the office %s use the queue page: %s",
		"queue_page_label": "Office queue",
		"queue_closed":     "The queue of the office %s is not open now.",
		"queue_next":       "It opens again %s.",
		"queue_full":       "The office %s has already given out all of today's numbers.",
		"queue_client":     "You already hold as many active numbers as the office %s allows.",
		"queue_none":       "The office %s has no online queue.",
		"queue_failed":     "I could not take a number because of a technical problem: try again in a few minutes.",
		"handoff":          "I put you in the queue for a video call with an operator of the office %s: your number is %s.",
		"handoff_follow":   "Open this page and wait to be called: %s",
		"handoff_contacts": "I cannot put you in touch with an operator online right now. You can contact the office %s: %s.",
		"handoff_label":    "Wait for the operator",
		"call":             "Call the office",
		"at":               "%s at %s",
		"phone":            "phone %s",
		"email":            "email %s",
		"address":          "%s",
		"closed_day":       "closed",
	},
}

// tr returns the text of key in lang (Italian when lang has none).
func tr(lang, key string, args ...any) string {
	s, ok := messages[lang][key]
	if !ok {
		s, ok = messages["it"][key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// fieldMessagesEN are the English versions of booking.CheckRequest's
// field errors, by field.
var fieldMessagesEN = map[string]string{
	"citizen.given_name":  "That first name is not valid: write it with letters only, at most 100 characters.",
	"citizen.family_name": "That surname is not valid: write it with letters only, at most 100 characters.",
	"citizen.fiscal_code": "That codice fiscale is not valid: check that you wrote all 16 characters correctly.",
	"citizen.email":       "That email address is not valid: use the form name@example.com.",
}

var (
	weekdayIT = [7]string{"domenica", "lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato"}
	weekdayEN = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthIT   = [13]string{"", "gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre", "ottobre", "novembre", "dicembre"}
	monthEN   = [13]string{"", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// formatDay is "giovedì 3 dicembre 2026" / "Thursday 3 December 2026".
func formatDay(lang string, t time.Time) string {
	if lang == "en" {
		return fmt.Sprintf("%s %d %s %d", weekdayEN[t.Weekday()], t.Day(), monthEN[t.Month()], t.Year())
	}
	return fmt.Sprintf("%s %d %s %d", weekdayIT[t.Weekday()], t.Day(), monthIT[t.Month()], t.Year())
}

// formatWhen is "giovedì 3 dicembre 2026 alle 10:00".
func formatWhen(lang string, t time.Time) string {
	return tr(lang, "at", formatDay(lang, t), t.Format("15:04"))
}

// formatWeek lists the open days of w, one a line: "lunedì: 9:00–12:00,
// 15:00–17:00"; nil when w has no interval.
func formatWeek(lang string, w booking.Week) []string {
	var out []string
	days := weekdayIT
	if lang == "en" {
		days = weekdayEN
	}
	for i := 1; i <= 7; i++ {
		d := time.Weekday(i % 7)
		if len(w[d]) == 0 {
			continue
		}
		var spans []string
		for _, iv := range w[d] {
			spans = append(spans, fmt.Sprintf("%d:%02d–%d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60))
		}
		out = append(out, "- "+days[d]+": "+strings.Join(spans, ", "))
	}
	return out
}

// englishWords and italianWords are frequent function words and request
// words of each language: a message with more of one than of the other is
// taken to be in it. Names, codes and addresses have none and keep the
// conversation's language.
var (
	englishWords = wordSet(`the i my me we need want would like how what where when which who is are am do does did can could
		please hello hi hey to for an of and with book appointment open opening hours card identity ticket thanks thank you
		get renew speak talk someone office cost much tomorrow morning afternoon yes no bring should have has it this that
		there their your from at on by next week day today any soon possible`)
	italianWords = wordSet(`il lo la gli le un una uno per di del della dello dei delle che come cosa dove quando quale vorrei
		devo posso ho sono mi ciao buongiorno buonasera grazie prenotare prenotazione appuntamento carta domani si sì con e
		non serve servono ufficio orari numero al alla allo ai alle dal dalla nel nella sul sulla mio mia miei mie voglio
		bisogno documenti rinnovare quanto costa apre chiude prossimo prossima settimana mattina pomeriggio oggi subito`)
)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[assistant.Fold(w)] = true
	}
	return m
}

// guessLang returns "en" or "it" when the message's words say so, "" when
// they do not (a name, a code, a number).
func guessLang(msg string) string {
	var en, it int
	for _, w := range strings.FieldsFunc(assistant.Fold(msg), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		if englishWords[w] {
			en++
		}
		if italianWords[w] {
			it++
		}
	}
	switch {
	case en > it:
		return "en"
	case it > en:
		return "it"
	}
	return ""
}
