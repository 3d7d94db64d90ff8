package web

import (
	"fmt"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/tenant/site"
)

// The helpers below write Italian, for the back office (admin_*.go,
// agenda*.go, stats.go); citizen pages use the same methods of tr in the
// page's language (messages.go).

// dateLabel writes t's day: "giovedì 11 marzo 2027". t must already be in
// the Comune's zone.
func dateLabel(t time.Time) string { return it.date(t) }

// clockOf writes t's time of day: "10:00".
func clockOf(t time.Time) string { return t.Format("15:04") }

// slotLabel writes a slot's start: "giovedì 11 marzo 2027 ore 10:00".
func slotLabel(t time.Time) string { return it.dateTime(t) }

// rangeLabel writes an appointment: "giovedì 11 marzo 2027, dalle 10:00
// alle 10:30".
func rangeLabel(start, end time.Time) string { return it.span(start, end) }

// monthLabel writes a month: "marzo 2027".
func monthLabel(y int, m time.Month) string { return it.month(y, m) }

// channelLabel names a channel for citizens.
func channelLabel(c booking.Channel) string { return it.channel(c) }

// durationLabel writes a service's duration: "30 minuti", "1 ora e 15
// minuti".
func durationLabel(d time.Duration) string { return it.duration(d) }

// hoursLine is one weekday of an office's opening hours.
type hoursLine struct {
	Day   string // "lunedì"
	Hours string // "08:30–12:30, 15:00–17:00", or "chiuso" when Closed
	// Closed marks a day without opening hours; the pages write it in
	// their language.
	Closed bool
}

// hoursLines writes a week's opening hours Monday to Sunday, in Italian.
// A week with no interval at all gives no line.
func hoursLines(w booking.Week) []hoursLine { return it.hours(w) }

// hours writes a week's opening hours Monday to Sunday in l. A week with
// no interval at all gives no line.
func (l tr) hours(w booking.Week) []hoursLine {
	var lines []hoursLine
	open := false
	for i := 1; i <= 7; i++ {
		d := time.Weekday(i % 7)
		var ivs []string
		for _, iv := range w[d] {
			ivs = append(ivs, fmt.Sprintf("%02d:%02d–%02d:%02d", iv.Start/60, iv.Start%60, iv.End/60, iv.End%60))
		}
		line := hoursLine{Day: site.WeekdayName(string(l), d), Hours: l.T("hours.closed"), Closed: true}
		if len(ivs) > 0 {
			line.Hours, line.Closed, open = strings.Join(ivs, ", "), false, true
		}
		lines = append(lines, line)
	}
	if !open {
		return nil
	}
	return lines
}
