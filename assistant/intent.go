package assistant

import "strings"

// Intent is what the citizen wants to do, apart from which service: the
// conversation layer combines it with the ranking (Search) and the time
// (ParseWhen).
type Intent string

// The intents Detect recognises.
const (
	// IntentNone: no verb of its own; the message names a service or a
	// time, and the conversation goes on from where it is.
	IntentNone Intent = ""
	// IntentBook: an appointment ("prenotare", "appuntamento").
	IntentBook Intent = "book"
	// IntentBring: what to bring ("cosa serve", "che documenti").
	IntentBring Intent = "bring"
	// IntentHours: opening hours ("a che ora apre", "orari").
	IntentHours Intent = "hours"
	// IntentWhere: the office's address ("dove si trova").
	IntentWhere Intent = "where"
	// IntentOperator: a person ("parla con un operatore").
	IntentOperator Intent = "operator"
	// IntentCancel: cancel a booking ("disdire", "annullare").
	IntentCancel Intent = "cancel"
	// IntentMove: move a booking ("spostare l'appuntamento").
	IntentMove Intent = "move"
	// IntentTicket: a queue ticket ("prendere il numero").
	IntentTicket Intent = "ticket"
	// IntentCost: the price ("quanto costa").
	IntentCost Intent = "cost"
	// IntentThanks: a closing ("grazie", "ciao").
	IntentThanks Intent = "thanks"
)

// intentRules are checked in order; the first whose phrase occurs in the
// folded message, as whole words, wins. Handoff and changes to a booking
// come first: "vorrei parlare con un operatore per l'appuntamento" is a
// request for a person, "annullare l'appuntamento" is not a new booking.
var intentRules = []struct {
	intent  Intent
	phrases []string
}{
	{IntentOperator, []string{"operatore", "operatrice", "persona reale", "persona vera", "parlare con qualcuno", "parlare con una persona", "impiegato", "umano", "essere umano", "videochiamata", "chiamatemi", "richiamatemi"}},
	{IntentCancel, []string{"disdire", "disdetta", "annullare", "annulla", "cancellare", "cancella", "non posso piu venire", "non vengo", "rinunciare"}},
	{IntentMove, []string{"spostare l appuntamento", "spostare appuntamento", "cambiare l appuntamento", "cambiare appuntamento", "cambiare data", "cambiare orario", "rinviare", "posticipare", "anticipare l appuntamento"}},
	{IntentTicket, []string{"prendere il numero", "prendere un numero", "numerino", "biglietto elimina code", "eliminacode", "mettermi in coda", "mettermi in fila", "in fila", "in coda", "ticket"}},
	{IntentBring, []string{"cosa serve", "cosa servono", "cosa mi serve", "cosa devo portare", "cosa porto", "che documenti", "quali documenti", "documenti servono", "documenti necessari", "cosa occorre", "requisiti"}},
	{IntentCost, []string{"quanto costa", "quanto si paga", "quanto devo pagare", "costo", "prezzo", "tariffa"}},
	{IntentHours, []string{"a che ora", "che orari", "orari", "orario di apertura", "quando apre", "quando chiude", "e aperto", "e aperta", "sono aperti", "apre", "chiude"}},
	{IntentWhere, []string{"dove si trova", "dove e", "dov e", "indirizzo dell ufficio", "come arrivo", "dove devo andare"}},
	{IntentBook, []string{"prenotare", "prenotazione", "prenoto", "appuntamento", "fissare", "prendere un appuntamento", "posto libero", "disponibilita"}},
	{IntentThanks, []string{"grazie", "ciao", "arrivederci", "buona giornata", "a posto cosi"}},
}

// Detect returns the intent of a message. It looks at words, not stems: the
// phrases are fixed expressions, and a stem would confuse "apre" with
// "aprile".
func Detect(message string) Intent {
	var words []string
	for _, t := range Tokenize(message) {
		words = append(words, t.Norm)
	}
	text := " " + strings.Join(words, " ") + " "
	for _, r := range append(intentRules[:len(intentRules):len(intentRules)], englishIntents...) {
		for _, p := range r.phrases {
			if strings.Contains(text, " "+p+" ") {
				return r.intent
			}
		}
	}
	return IntentNone
}
