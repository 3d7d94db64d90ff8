package requests

import "fmt"

// emailMessages are the emails' texts by language. The package is a
// domain package and does not import tenant/site, so the emails keep a
// small catalog of their own, with the same rule as site.Messages:
// Italian is the reference, every language has its keys (the test says
// so) and an unknown language is Italian.
var emailMessages = map[string]map[string]string{
	"it": {
		"footer":           "È un messaggio automatico del Comune: non rispondere. Se non hai fatto tu la richiesta, ignora questo messaggio.",
		"footer.decision":  "È un messaggio automatico del Comune: non rispondere.",
		"link.subject":     "Accesso ai tuoi dati personali",
		"link.heading":     "Apri i tuoi dati personali",
		"link.asked":       "Hai chiesto di vedere i dati personali che il Comune conserva legati a questo indirizzo email.",
		"link.open":        "Apri il collegamento qui sotto entro le %s del %s. Il collegamento vale una sola volta.",
		"link.button":      "Apri i miei dati",
		"date":             "02/01/2006",
		"filed.subject":    "Abbiamo ricevuto la tua richiesta di cancellazione",
		"filed.recorded":   "Il Comune ha registrato la tua richiesta di cancellazione dei dati personali (numero %s).",
		"filed.next":       "L'amministratore del Comune la valuta: riceverai la decisione a questo indirizzo.",
		"decision.subject": "Decisione sulla tua richiesta di cancellazione",
		"decision.granted": "La tua richiesta di cancellazione (numero %s) è stata accolta: i tuoi dati personali sono stati cancellati o resi anonimi.",
		"decision.refused": "La tua richiesta di cancellazione (numero %s) non è stata accolta.",
		"decision.reason":  "Motivazione: %s",
		"decision.contact": "Per chiarimenti puoi rivolgerti al Comune o al suo responsabile della protezione dei dati.",
	},
	"en": {
		"footer":           "This is an automatic message from the Comune: do not reply. If you did not make the request, ignore this message.",
		"footer.decision":  "This is an automatic message from the Comune: do not reply.",
		"link.subject":     "Access to your personal data",
		"link.heading":     "Open your personal data",
		"link.asked":       "You asked to see the personal data the Comune keeps about this email address.",
		"link.open":        "Open the link below by %s on %s. The link can be used only once.",
		"link.button":      "Open my data",
		"date":             "02/01/2006",
		"filed.subject":    "We have received your erasure request",
		"filed.recorded":   "The Comune has recorded your request to erase your personal data (number %s).",
		"filed.next":       "The Comune's administrator will assess it: you will receive the decision at this address.",
		"decision.subject": "Decision on your erasure request",
		"decision.granted": "Your erasure request (number %s) has been granted: your personal data have been erased or made anonymous.",
		"decision.refused": "Your erasure request (number %s) has not been granted.",
		"decision.reason":  "Reason: %s",
		"decision.contact": "For clarifications, contact the Comune or its data protection officer.",
	},
	"de": {
		"footer":           "Dies ist eine automatische Nachricht der Gemeinde: Bitte nicht antworten. Wenn Sie die Anfrage nicht gestellt haben, ignorieren Sie diese Nachricht.",
		"footer.decision":  "Dies ist eine automatische Nachricht der Gemeinde: Bitte nicht antworten.",
		"link.subject":     "Zugang zu Ihren personenbezogenen Daten",
		"link.heading":     "Ihre personenbezogenen Daten öffnen",
		"link.asked":       "Sie haben gebeten, die personenbezogenen Daten zu sehen, die die Gemeinde zu dieser E-Mail-Adresse speichert.",
		"link.open":        "Öffnen Sie den Link unten bis %s Uhr am %s. Der Link kann nur einmal verwendet werden.",
		"link.button":      "Meine Daten öffnen",
		"date":             "02.01.2006",
		"filed.subject":    "Wir haben Ihren Antrag auf Löschung erhalten",
		"filed.recorded":   "Die Gemeinde hat Ihren Antrag auf Löschung Ihrer personenbezogenen Daten erfasst (Nummer %s).",
		"filed.next":       "Die Verwaltung der Gemeinde prüft ihn: Sie erhalten die Entscheidung an diese Adresse.",
		"decision.subject": "Entscheidung über Ihren Antrag auf Löschung",
		"decision.granted": "Ihrem Antrag auf Löschung (Nummer %s) wurde stattgegeben: Ihre personenbezogenen Daten wurden gelöscht oder anonymisiert.",
		"decision.refused": "Ihrem Antrag auf Löschung (Nummer %s) wurde nicht stattgegeben.",
		"decision.reason":  "Begründung: %s",
		"decision.contact": "Für Rückfragen wenden Sie sich an die Gemeinde oder ihre Datenschutzbeauftragte bzw. ihren Datenschutzbeauftragten.",
	},
}

// emailLang is the language of an email: its notice's, when the catalog
// has it; Italian otherwise, which is also what a notice stamped before
// notices carried a language means.
func emailLang(lang string) string {
	if _, ok := emailMessages[lang]; ok {
		return lang
	}
	return "it"
}

// et returns key's text in lang (a language emailLang accepted), with
// fmt args when given; Italian when lang lacks it.
func et(lang, key string, args ...any) string {
	s, ok := emailMessages[lang][key]
	if !ok {
		s = emailMessages["it"][key]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
