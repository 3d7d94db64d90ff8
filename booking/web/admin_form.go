package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant"
)

// field is one input of a back-office form as the templates show it
// (partial "gestione-field"): the value as typed, and its error.
type field struct {
	ID, Label, Type, Value, Help, Error string
	Required                            bool
	// MaxLen is the maxlength of a text input; Rows > 0 makes a textarea.
	MaxLen, Rows int
	// Min is the min attribute of a number input.
	Min string
}

// DescribedBy is the field's aria-describedby: its help and its error.
func (f field) DescribedBy() string {
	var ids []string
	if f.Help != "" {
		ids = append(ids, f.ID+"-aiuto")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-errore")
	}
	return strings.Join(ids, " ")
}

// formSpec names a form's fields in page order with their labels: the
// error summary lists them in that order and links to their IDs.
type formSpec struct {
	order  []string
	labels map[string]string
}

// errorList returns fe in the form's order, for the error summary.
func (s formSpec) errorList(fe formErrors) []fieldError {
	var out []fieldError
	for _, id := range s.order {
		if msg, ok := fe[id]; ok {
			out = append(out, fieldError{Field: id, Label: s.labels[id], Message: msg})
		}
	}
	return out
}

// fromDomain copies the messages of a *booking.ValidationError into fe,
// renaming its keys with names (domain key → form field); it reports
// whether err was one. A key without a form field (the ID, which the form
// does not edit) becomes the general message.
func (fe formErrors) fromDomain(err error, names map[string]string) (general string, ok bool) {
	var ve *booking.ValidationError
	if !errors.As(err, &ve) {
		return "", false
	}
	for k, msg := range ve.Fields {
		if strings.HasPrefix(k, "hours.") {
			if d, err := strconv.Atoi(strings.TrimPrefix(k, "hours.")); err == nil && d >= 0 && d < 7 {
				fe[hoursField(time.Weekday(d))] = msg
				continue
			}
		}
		if name, ok := names[k]; ok {
			fe[name] = msg
			continue
		}
		general = msg
	}
	return general, true
}

// Limits of texts that package booking does not bound itself.
const (
	maxDescription = 2000
	maxCategory    = 100
	maxBringLines  = 30
	maxBringLine   = 300
)

// checkLength sets fe[id] when v is longer than max characters.
func (fe formErrors) checkLength(id, v string, max int) {
	if utf8.RuneCountInString(v) > max {
		fe[id] = fmt.Sprintf("Il testo è troppo lungo: al massimo %d caratteri.", max)
	}
}

// weekOrder lists the weekdays as Italian calendars do, Monday first.
var weekOrder = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// hoursField is the form field of a weekday's hours: "orari-1" (Monday).
func hoursField(d time.Weekday) string { return "orari-" + strconv.Itoa(int(d)) }

// hoursFields returns the seven weekday inputs of a week, with the values
// as typed (typed[weekday]) and the errors of fe. Their fieldset explains
// how to type them.
func hoursFields(typed [7]string, fe formErrors) []field {
	out := make([]field, 0, 7)
	for _, d := range weekOrder {
		id := hoursField(d)
		out = append(out, field{ID: id, Label: ucfirstWord(tenant.WeekdayName(d)), Type: "text", Value: typed[d],
			Error: fe[id], MaxLen: 200})
	}
	return out
}

// hoursLabels names the weekday fields in the error summary.
func hoursLabels(labels map[string]string) {
	for _, d := range weekOrder {
		labels[hoursField(d)] = "Orari di " + tenant.WeekdayName(d)
	}
}

// hoursOrder is the weekday fields in page order.
func hoursOrder() []string {
	out := make([]string, 0, 7)
	for _, d := range weekOrder {
		out = append(out, hoursField(d))
	}
	return out
}

// readWeek parses the seven weekday fields of a form into a week, setting
// an error for each field that does not parse. typed keeps what was sent.
func readWeek(get func(string) string, fe formErrors) (w booking.Week, typed [7]string) {
	for _, d := range weekOrder {
		id := hoursField(d)
		typed[d] = get(id)
		ivs, err := parseIntervals(typed[d])
		if err != nil {
			fe[id] = err.Error()
			continue
		}
		w[d] = ivs
	}
	return w, typed
}

// weekText writes a week's intervals as the form shows them.
func weekText(w booking.Week) (typed [7]string) {
	for d := range w {
		typed[d] = intervalsText(w[d])
	}
	return typed
}

// intervalsText writes intervals as "08:30-12:30, 15:00-17:00".
func intervalsText(ivs []booking.Interval) string {
	parts := make([]string, 0, len(ivs))
	for _, iv := range ivs {
		parts = append(parts, fmt.Sprintf("%02d:%02d-%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60))
	}
	return strings.Join(parts, ", ")
}

// errIntervals is the message of hours that do not parse.
var errIntervals = errors.New("Scrivi gli orari come 08:30-12:30, più intervalli separati da virgole.")

// parseIntervals reads "08:30-12:30, 15:00-17:00" (also with "–", "." or
// whole hours: "8-12"). Empty text is no interval. Whether the intervals
// make sense (start before end, no overlap) is package booking's check.
func parseIntervals(s string) ([]booking.Interval, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []booking.Interval
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		part = strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(part), "–", "-"), "—", "-")
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return nil, errIntervals
		}
		start, ok1 := parseClock(from)
		end, ok2 := parseClock(to)
		if !ok1 || !ok2 {
			return nil, errIntervals
		}
		out = append(out, booking.Interval{Start: start, End: end})
	}
	if len(out) == 0 || len(out) > 12 {
		return nil, errIntervals
	}
	return out, nil
}

// parseClock reads "8", "08:30" or "8.30" as minutes from midnight;
// "24:00" is the end of the day.
func parseClock(s string) (int, bool) {
	s = strings.TrimSpace(s)
	hh, mm, found := strings.Cut(strings.ReplaceAll(s, ".", ":"), ":")
	h, err := strconv.Atoi(hh)
	if err != nil || len(hh) > 2 || h < 0 || h > 24 {
		return 0, false
	}
	m := 0
	if found {
		if len(mm) != 2 {
			return 0, false
		}
		if m, err = strconv.Atoi(mm); err != nil || m < 0 || m > 59 {
			return 0, false
		}
	}
	if h == 24 && m != 0 {
		return 0, false
	}
	return h*60 + m, true
}

// parseCount reads a whole number of a form field, setting fe[id] when it
// is not one; empty text is def.
func (fe formErrors) parseCount(id, s string, def int) int {
	s = strings.TrimSpace(s)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1_000_000 {
		fe[id] = "Scrivi un numero intero, senza decimali."
		return def
	}
	return n
}

// ucfirstWord capitalises the first letter of an Italian word.
func ucfirstWord(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return strings.ToUpper(string(r)) + s[n:]
}

// selectView is a select of choices (partial "gestione-select").
type selectView struct {
	ID, Label, Prompt, Error string
	Required                 bool
	Choices                  []choice
}
