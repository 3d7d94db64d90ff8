package assistant

import "testing"

func TestDetect(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want Intent
	}{
		{"cosa serve per la carta d'identità?", IntentBring},
		{"Che documenti devo portare per il cambio di residenza", IntentBring},
		{"a che ora apre l'anagrafe?", IntentHours},
		{"orari tributi", IntentHours},
		{"L'ufficio è aperto il sabato?", IntentHours},
		{"dove si trova la polizia locale", IntentWhere},
		{"vorrei prenotare per la CIE", IntentBook},
		{"un appuntamento per domani", IntentBook},
		{"parla con un operatore", IntentOperator},
		{"voglio parlare con una persona vera per l'appuntamento", IntentOperator},
		{"devo disdire l'appuntamento", IntentCancel},
		{"posso spostare l'appuntamento a venerdì?", IntentMove},
		{"vorrei prendere il numero per l'anagrafe", IntentTicket},
		{"quanto costa la carta d'identità", IntentCost},
		{"grazie mille", IntentThanks},
		{"carta d'identità", IntentNone},
		{"ad aprile", IntentNone},
	} {
		if got := Detect(c.msg); got != c.want {
			t.Errorf("Detect(%q) = %q, want %q", c.msg, got, c.want)
		}
	}
}

// TestEnglishFallback checks common requests in English against the
// Italian demo catalogue.
func TestEnglishFallback(t *testing.T) {
	ix := NewIndex(DemoDocs())
	for q, want := range map[string]string{
		"I need to renew my identity card":                       "cie",
		"change of address":                                      "residenza",
		"how do I pay a parking ticket":                          "sanzioni",
		"school canteen registration":                            "mensa",
		"building permit for a veranda":                          "permesso-costruire",
		"waste tax":                                              "tari",
		"we want to get married":                                 "matrimonio",
		"bulky waste collection":                                 "ingombranti",
		"lost property office":                                   "oggetti-smarriti",
		"I am an EU citizen and need a registration certificate": "soggiorno-ue",
	} {
		if got := ix.Search(q, 1); len(got) == 0 || got[0].ServiceID != want {
			t.Errorf("Search(%q) = %v, want %s first", q, names(got), want)
		}
	}
	for msg, want := range map[string]Intent{
		"what do I need for the identity card": IntentBring,
		"opening hours":                        IntentHours,
		"I want to book an appointment":        IntentBook,
		"can I speak to an operator":           IntentOperator,
		"cancel my appointment":                IntentCancel,
	} {
		if got := Detect(msg); got != want {
			t.Errorf("Detect(%q) = %q, want %q", msg, got, want)
		}
	}
}
