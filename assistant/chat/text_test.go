package chat

import (
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/assistant"
	"github.com/sportello-virtuale/sportello/tenant"
)

// TestMessages: English has exactly Italian's keys.
func TestMessages(t *testing.T) {
	for k := range messages["it"] {
		if _, ok := messages["en"][k]; !ok {
			t.Errorf("en lacks %s", k)
		}
	}
	for k := range messages["en"] {
		if _, ok := messages["it"][k]; !ok {
			t.Errorf("it lacks %s", k)
		}
	}
}

func TestGuessLang(t *testing.T) {
	for msg, want := range map[string]string{
		"I need to renew my identity card": "en", "vorrei rinnovare la carta d'identità": "it",
		"Mario": "", "RSSMRA80A01H501U": "", "come si fa": "it", "hello": "en",
	} {
		if got := guessLang(msg); got != want {
			t.Errorf("guessLang(%q) = %q, want %q", msg, got, want)
		}
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		msg, q string
		want   bool
	}{
		{"dove si parcheggia vicino al municipio", "Dove posso parcheggiare vicino al municipio?", true},
		{"la carta d'identità cartacea vale ancora per l'espatrio?", "La carta d'identità cartacea è ancora valida per l'espatrio?", true},
		{"cosa serve per la carta d'identità", "La carta d'identità cartacea è ancora valida per l'espatrio?", false},
		{"municipio", "Dove posso parcheggiare vicino al municipio?", false},
		{"posso portare il cane in municipio e anche il gatto, il criceto e il pappagallo al mercato del sabato?", "Posso portare il cane in municipio?", false},
	} {
		if got := overlaps(tc.msg, tc.q); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.msg, tc.q, got, tc.want)
		}
	}
}

func TestDailyWindow(t *testing.T) {
	loc := tenant.Tenant{}.Location()
	now := time.Date(2027, 3, 1, 10, 37, 0, 0, loc) // a Monday
	for text, want := range map[string][3]int{
		"la settimana prossima di mattina":    {9 * 60, 13 * 60, 1},
		"la settimana prossima di pomeriggio": {14 * 60, 18 * 60, 1},
		"la settimana prossima":               {0, 0, 0},
		"entro venerdì":                       {0, 0, 0},
		"domani mattina":                      {0, 0, 0},
	} {
		w, ok := assistant.ParseWhen(text, now, loc)
		if !ok {
			t.Fatalf("ParseWhen(%q) found nothing", text)
		}
		lo, hi, daily := dailyWindow(w, loc)
		got := [3]int{lo, hi, 0}
		if daily {
			got[2] = 1
		} else {
			got = [3]int{0, 0, 0}
		}
		if got != want {
			t.Errorf("%q (%v–%v): window %v, want %v", text, w.From, w.To, got, want)
		}
	}
}
