package site

import "fmt"

// dictionaries hold the layout's strings by language and key. Italian is
// complete and is the fallback of every other language; English and German
// cover the layout. They are read-only after package initialisation.
var dictionaries = map[string]map[string]string{
	"it": {
		"app.description":       "Prenota appuntamenti, prendi il numero e segui la coda degli uffici del %s.",
		"offline.title":         "Sei offline",
		"offline.lead":          "La connessione si è interrotta e questa pagina non si può caricare adesso.",
		"offline.what":          "Cosa puoi fare",
		"offline.check":         "Controlla la connessione (Wi-Fi o dati mobili) e riprova.",
		"offline.ticket":        "Il tuo numero in coda resta valido: quando torni online la pagina del biglietto si aggiorna da sola.",
		"offline.push":          "Se hai attivato le notifiche, ti avvisiamo anche con l'app chiusa quando si avvicina il tuo turno.",
		"offline.online":        "Per prenotare, spostare o annullare un appuntamento serve la connessione.",
		"offline.retry":         "Riprova",
		"nav.label":             "Menu principale",
		"nav.services":          "Servizi",
		"nav.offices":           "Uffici",
		"nav.booking":           "Prenota",
		"skip.content":          "Vai al contenuto",
		"skip.footer":           "Vai al piè di pagina",
		"header.slim":           "Servizi al cittadino",
		"header.tagline":        "Sportello virtuale",
		"neutral.name":          "Servizi online",
		"breadcrumb.label":      "Percorso di navigazione",
		"footer.services":       "Servizi",
		"footer.booking":        "Prenota appuntamento",
		"footer.links":          "Link utili",
		"footer.privacy":        "Informativa privacy",
		"footer.accessibility":  "Dichiarazione di accessibilità",
		"footer.legal":          "Note legali",
		"footer.istat":          "Codice ISTAT %s",
		"home.intro":            "Prenota un appuntamento con gli uffici comunali, in presenza, in videochiamata o al telefono.",
		"home.booking":          "Prenota appuntamento",
		"error.title":           "Si è verificato un errore",
		"error.400":             "Richiesta non valida",
		"error.403":             "Accesso non consentito",
		"error.404":             "Pagina non trovata",
		"error.405":             "Operazione non consentita",
		"error.409":             "Richiesta in conflitto",
		"error.413":             "Richiesta troppo grande",
		"error.422":             "Dati non validi",
		"error.429":             "Troppe richieste",
		"error.500":             "Errore del servizio",
		"error.503":             "Servizio non disponibile",
		"error.message.400":     "La richiesta non è valida. Controlla i dati e riprova.",
		"error.message.403":     "Non hai i permessi per vedere questa pagina.",
		"error.message.404":     "La pagina che cerchi non esiste o è stata spostata. Controlla l'indirizzo.",
		"error.message.405":     "Questa operazione non è consentita su questa pagina.",
		"error.message.409":     "La richiesta è in conflitto con lo stato attuale. Ricarica la pagina e riprova.",
		"error.message.413":     "La richiesta è troppo grande.",
		"error.message.422":     "Alcuni dati non sono validi. Controlla e riprova.",
		"error.message.429":     "Hai inviato troppe richieste in poco tempo. Attendi qualche minuto e riprova.",
		"error.message.500":     "Si è verificato un errore imprevisto. Riprova più tardi.",
		"error.message.503":     "Il servizio non è al momento disponibile. Riprova tra qualche minuto.",
		"error.message.default": "Non è stato possibile completare la richiesta. Riprova più tardi.",
		"error.code":            "Codice errore: %d",
		"error.home":            "Torna alla pagina iniziale",
		"home":                  "Home",
	},
	"en": {
		"app.description":       "Book appointments, take a number and follow the queue at the offices of %s.",
		"offline.title":         "You are offline",
		"offline.lead":          "The connection was lost and this page cannot be loaded right now.",
		"offline.what":          "What you can do",
		"offline.check":         "Check your connection (Wi-Fi or mobile data) and try again.",
		"offline.ticket":        "Your number in the queue stays valid: when you are back online the ticket page updates by itself.",
		"offline.push":          "If you turned on notifications, we tell you when your turn is close even with the app closed.",
		"offline.online":        "Booking, moving or cancelling an appointment needs the connection.",
		"offline.retry":         "Try again",
		"nav.label":             "Main menu",
		"nav.services":          "Services",
		"nav.offices":           "Offices",
		"nav.booking":           "Book",
		"skip.content":          "Skip to content",
		"skip.footer":           "Skip to footer",
		"header.slim":           "Services for citizens",
		"header.tagline":        "Virtual front office",
		"neutral.name":          "Online services",
		"breadcrumb.label":      "Breadcrumb",
		"footer.services":       "Services",
		"footer.booking":        "Book an appointment",
		"footer.links":          "Useful links",
		"footer.privacy":        "Privacy notice",
		"footer.accessibility":  "Accessibility statement",
		"footer.legal":          "Legal notes",
		"footer.istat":          "ISTAT code %s",
		"home.intro":            "Book an appointment with the municipal offices, in person, by video call or by phone.",
		"home.booking":          "Book an appointment",
		"error.title":           "An error occurred",
		"error.404":             "Page not found",
		"error.500":             "Service error",
		"error.503":             "Service unavailable",
		"error.message.404":     "The page you are looking for does not exist or has moved. Check the address.",
		"error.message.500":     "An unexpected error occurred. Please try again later.",
		"error.message.503":     "The service is not available at the moment. Please try again in a few minutes.",
		"error.message.default": "The request could not be completed. Please try again later.",
		"error.code":            "Error code: %d",
		"error.home":            "Back to the home page",
		"home":                  "Home",
	},
	"de": {
		"app.description":       "Termine buchen, eine Nummer ziehen und die Warteschlange der Ämter von %s verfolgen.",
		"offline.title":         "Sie sind offline",
		"offline.lead":          "Die Verbindung wurde unterbrochen, diese Seite kann gerade nicht geladen werden.",
		"offline.what":          "Was Sie tun können",
		"offline.check":         "Prüfen Sie die Verbindung (WLAN oder mobile Daten) und versuchen Sie es erneut.",
		"offline.ticket":        "Ihre Wartenummer bleibt gültig: Sobald Sie wieder online sind, aktualisiert sich die Seite der Nummer von selbst.",
		"offline.push":          "Wenn Sie Benachrichtigungen aktiviert haben, melden wir uns auch bei geschlossener App, wenn Sie bald an der Reihe sind.",
		"offline.online":        "Zum Buchen, Verschieben oder Absagen eines Termins brauchen Sie eine Verbindung.",
		"offline.retry":         "Erneut versuchen",
		"nav.label":             "Hauptmenü",
		"nav.services":          "Dienste",
		"nav.offices":           "Ämter",
		"nav.booking":           "Termin buchen",
		"skip.content":          "Zum Inhalt springen",
		"skip.footer":           "Zur Fußzeile springen",
		"header.slim":           "Bürgerservice",
		"header.tagline":        "Virtueller Schalter",
		"neutral.name":          "Online-Dienste",
		"breadcrumb.label":      "Navigationspfad",
		"footer.services":       "Dienste",
		"footer.booking":        "Termin buchen",
		"footer.links":          "Nützliche Links",
		"footer.privacy":        "Datenschutzerklärung",
		"footer.accessibility":  "Erklärung zur Barrierefreiheit",
		"footer.legal":          "Rechtliche Hinweise",
		"footer.istat":          "ISTAT-Kennziffer %s",
		"home.intro":            "Buchen Sie einen Termin bei den Gemeindeämtern, vor Ort, per Videoanruf oder per Telefon.",
		"home.booking":          "Termin buchen",
		"error.title":           "Ein Fehler ist aufgetreten",
		"error.404":             "Seite nicht gefunden",
		"error.500":             "Dienstfehler",
		"error.503":             "Dienst nicht verfügbar",
		"error.message.404":     "Die gesuchte Seite existiert nicht oder wurde verschoben. Prüfen Sie die Adresse.",
		"error.message.500":     "Ein unerwarteter Fehler ist aufgetreten. Bitte versuchen Sie es später erneut.",
		"error.message.503":     "Der Dienst ist derzeit nicht verfügbar. Bitte versuchen Sie es in einigen Minuten erneut.",
		"error.message.default": "Die Anfrage konnte nicht abgeschlossen werden. Bitte versuchen Sie es später erneut.",
		"error.code":            "Fehlercode: %d",
		"error.home":            "Zurück zur Startseite",
		"home":                  "Startseite",
	},
}

// defaultLang is the language of every page until the language switch
// comes.
const defaultLang = "it"

// translate returns the string of key in lang, falling back to Italian and
// then to the key itself (so a missing key shows, rather than an empty
// text). With args the string is a fmt format.
func translate(lang, key string, args ...any) string {
	s, ok := dictionaries[lang][key]
	if !ok {
		if s, ok = dictionaries[defaultLang][key]; !ok {
			s = key
		}
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// hasKey reports whether key exists in lang (without fallback).
func hasKey(lang, key string) bool {
	_, ok := dictionaries[lang][key]
	return ok
}
