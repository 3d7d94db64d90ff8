package main

import "github.com/sportello-virtuale/sportello/tenant/site"

// callStatusMessages are the strings of chiamata_stato.html, the page a
// citizen sees while the operator has not opened the call (or after
// closing it). It is the only call page of the citizen rendered here;
// the call itself is media/web's, with its own catalog, which that
// package does not export. Italian is the reference: every language has
// exactly its keys (calls_messages_test.go).
var callStatusMessages = site.Messages{
	"it": {
		"call.title":           "Videochiamata",
		"call.not_open":        "La chiamata non è ancora aperta",
		"call.not_open.auto":   "La chiamata non è ancora aperta: l'operatore ti farà entrare a breve. Tieni aperta questa pagina: si aggiorna da sola.",
		"call.not_open.manual": "La chiamata non è ancora aperta: l'operatore ti farà entrare a breve. Aggiorna questa pagina per entrare.",
		"call.ended":           "La chiamata è terminata",
		"call.ended.text":      "L'operatore ha chiuso la chiamata. Se la riapre, questa pagina ti farà entrare da sola.",
		"call.refresh":         "La pagina si aggiorna da sola ogni %d secondi.",
		"call.refresh.stop":    "Interrompi l'aggiornamento automatico",
		"call.back":            "Torna alla sala d'attesa",
	},
	"en": {
		"call.title":           "Video call",
		"call.not_open":        "The call is not open yet",
		"call.not_open.auto":   "The call is not open yet: the operator will let you in shortly. Keep this page open: it refreshes by itself.",
		"call.not_open.manual": "The call is not open yet: the operator will let you in shortly. Reload this page to enter.",
		"call.ended":           "The call has ended",
		"call.ended.text":      "The operator has closed the call. If they open it again, this page will let you in by itself.",
		"call.refresh":         "The page refreshes by itself every %d seconds.",
		"call.refresh.stop":    "Stop the automatic refresh",
		"call.back":            "Back to the waiting room",
	},
	"de": {
		"call.title":           "Videoanruf",
		"call.not_open":        "Der Anruf ist noch nicht geöffnet",
		"call.not_open.auto":   "Der Anruf ist noch nicht geöffnet: Die Mitarbeiterin oder der Mitarbeiter lässt Sie in Kürze eintreten. Lassen Sie diese Seite geöffnet: Sie aktualisiert sich von selbst.",
		"call.not_open.manual": "Der Anruf ist noch nicht geöffnet: Die Mitarbeiterin oder der Mitarbeiter lässt Sie in Kürze eintreten. Laden Sie diese Seite neu, um einzutreten.",
		"call.ended":           "Der Anruf ist beendet",
		"call.ended.text":      "Der Anruf wurde geschlossen. Wird er wieder geöffnet, lässt Sie diese Seite von selbst eintreten.",
		"call.refresh":         "Die Seite aktualisiert sich alle %d Sekunden von selbst.",
		"call.refresh.stop":    "Automatische Aktualisierung beenden",
		"call.back":            "Zurück zum Warteraum",
	},
}

// callStatus returns the status page of a call the citizen cannot enter
// yet, in lang: ended when the operator closed the room, not open yet
// otherwise; reload is the address of the same page without the
// reload, "" when the citizen turned it off.
func callStatus(lang string, ended bool, back, reload string) statusPage {
	tr := func(key string) string { return site.Translate(callStatusMessages, lang, key) }
	d := statusPage{Heading: tr("call.not_open"), Text: tr("call.not_open.manual"), Back: back}
	if reload != "" {
		d.Text, d.Refresh, d.StopURL = tr("call.not_open.auto"), notOpenRefresh, reload
	}
	if ended {
		d.Heading, d.Text = tr("call.ended"), tr("call.ended.text")
	}
	return d
}
