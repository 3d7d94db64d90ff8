package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// dateLabel writes t's day: "giovedì 11 marzo 2027". t must already be in
// the Comune's zone.
func dateLabel(t time.Time) string { return tenant.FormatCivilDate(civil.DateOf(t)) }

// clockOf writes t's time of day: "10:00".
func clockOf(t time.Time) string { return t.Format("15:04") }

// slotLabel writes a slot's start: "giovedì 11 marzo 2027 ore 10:00".
func slotLabel(t time.Time) string { return dateLabel(t) + " ore " + clockOf(t) }

// rangeLabel writes an appointment: "giovedì 11 marzo 2027, dalle 10:00
// alle 10:30".
func rangeLabel(start, end time.Time) string {
	return dateLabel(start) + ", dalle " + clockOf(start) + " alle " + clockOf(end)
}

// monthLabel writes a month: "marzo 2027".
func monthLabel(y int, m time.Month) string { return fmt.Sprintf("%s %d", tenant.MonthName(m), y) }

// channelLabel names a channel for citizens.
func channelLabel(c booking.Channel) string {
	switch c {
	case booking.InPerson:
		return "In presenza, presso l'ufficio"
	case booking.Video:
		return "In videochiamata"
	case booking.Phone:
		return "Al telefono"
	}
	return string(c)
}

// durationLabel writes a service's duration: "30 minuti", "1 ora e 15
// minuti".
func durationLabel(d time.Duration) string {
	h, m := int(d.Hours()), int(d.Minutes())%60
	var parts []string
	switch {
	case h == 1:
		parts = append(parts, "1 ora")
	case h > 1:
		parts = append(parts, fmt.Sprintf("%d ore", h))
	}
	switch {
	case m == 1:
		parts = append(parts, "1 minuto")
	case m > 1:
		parts = append(parts, fmt.Sprintf("%d minuti", m))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " e ")
}

// hoursLine is one weekday of an office's opening hours.
type hoursLine struct {
	Day   string // "lunedì"
	Hours string // "08:30–12:30, 15:00–17:00" or "chiuso"
}

// hoursLines writes a week's opening hours Monday to Sunday. A week with
// no interval at all gives no line.
func hoursLines(w booking.Week) []hoursLine {
	var lines []hoursLine
	open := false
	for i := 1; i <= 7; i++ {
		d := time.Weekday(i % 7)
		var ivs []string
		for _, iv := range w[d] {
			ivs = append(ivs, fmt.Sprintf("%02d:%02d–%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60))
		}
		text := "chiuso"
		if len(ivs) > 0 {
			text, open = strings.Join(ivs, ", "), true
		}
		lines = append(lines, hoursLine{Day: tenant.WeekdayName(d), Hours: text})
	}
	if !open {
		return nil
	}
	return lines
}
