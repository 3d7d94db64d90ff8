package web

// pushMessages are the texts of the booking's notification partial
// (templates/_booking_push.html) and of its API's own error, kept
// beside the feature. init adds them to the package's catalog, before
// anything reads it, so .T, T and tr find them and TestMessagesComplete
// checks them with the rest; the lead may move them into
// messages_{it,en,de}.go and drop the init.
var pushMessages = map[string]map[string]string{
	"it": {
		"booking_push.title":     "Promemoria con una notifica",
		"booking_push.intro":     "Oltre all'email, possiamo ricordarti l'appuntamento con una notifica su questo dispositivo.",
		"booking_push.button":    "Ricevi un promemoria con una notifica",
		"booking_push.working":   "Attivazione delle notifiche in corso…",
		"booking_push.done":      "Fatto: prima dell'appuntamento riceverai un promemoria anche con una notifica su questo dispositivo.",
		"booking_push.denied":    "Le notifiche sono bloccate per questo sito nelle impostazioni del browser: puoi riattivarle da lì. Il promemoria arriverà comunque per email.",
		"booking_push.dismissed": "Non hai dato il permesso per le notifiche: il promemoria arriverà solo per email.",
		"booking_push.failed":    "Non siamo riusciti ad attivare le notifiche: riprova tra poco. Il promemoria arriverà comunque per email.",
		"booking_push.closed":    "L'appuntamento è annullato o già iniziato: non ci sono promemoria da inviare.",
	},
	"en": {
		"booking_push.title":     "Reminder by notification",
		"booking_push.intro":     "Besides the email, we can remind you of the appointment with a notification on this device.",
		"booking_push.button":    "Get a reminder by notification",
		"booking_push.working":   "Turning notifications on…",
		"booking_push.done":      "Done: before the appointment you will also get a reminder as a notification on this device.",
		"booking_push.denied":    "Notifications are blocked for this site in the browser's settings: you can allow them there. The reminder will still come by email.",
		"booking_push.dismissed": "You did not allow notifications: the reminder will come by email only.",
		"booking_push.failed":    "We could not turn notifications on: please try again shortly. The reminder will still come by email.",
		"booking_push.closed":    "The appointment is cancelled or has already begun: there are no reminders to send.",
	},
	"de": {
		"booking_push.title":     "Erinnerung per Benachrichtigung",
		"booking_push.intro":     "Zusätzlich zur E-Mail können wir Sie mit einer Benachrichtigung auf diesem Gerät an den Termin erinnern.",
		"booking_push.button":    "Erinnerung per Benachrichtigung erhalten",
		"booking_push.working":   "Benachrichtigungen werden aktiviert…",
		"booking_push.done":      "Erledigt: Vor dem Termin erhalten Sie zusätzlich eine Benachrichtigung auf diesem Gerät.",
		"booking_push.denied":    "Benachrichtigungen sind für diese Website in den Browsereinstellungen gesperrt: Dort können Sie sie erlauben. Die Erinnerung kommt trotzdem per E-Mail.",
		"booking_push.dismissed": "Sie haben Benachrichtigungen nicht erlaubt: Die Erinnerung kommt nur per E-Mail.",
		"booking_push.failed":    "Benachrichtigungen konnten nicht aktiviert werden: Bitte versuchen Sie es gleich noch einmal. Die Erinnerung kommt trotzdem per E-Mail.",
		"booking_push.closed":    "Der Termin ist abgesagt oder hat schon begonnen: Es gibt keine Erinnerungen mehr.",
	},
}

func init() {
	for lang, texts := range pushMessages {
		for k, v := range texts {
			messages[lang][k] = v
		}
	}
}
