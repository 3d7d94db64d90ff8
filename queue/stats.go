package queue

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// Times sums up a set of durations: how many there were, their mean and
// their 90th percentile (nearest rank: the smallest duration that at
// least 90% of them do not exceed), both rounded to the second. The zero
// Times is "no data".
type Times struct {
	N   int
	Avg time.Duration
	P90 time.Duration
}

// StatsRow holds the figures of one group of tickets: those taken in one
// hour of the day, of one service, or called by one desk. It holds IDs and
// counts, never a citizen's data, so it may be exported as is.
type StatsRow struct {
	// OfficeID is the office of a service's or a desk's row ("" in the
	// hours and the total, which may span offices).
	OfficeID string
	// Hour is the Comune-local hour (0–23) the tickets of an hour's row
	// were taken in.
	Hour int
	// ServiceID is the service of a service's row ("" for the tickets
	// taken without a service); Desk the desk of a desk's row.
	ServiceID string
	Desk      string
	// Taken counts the tickets of the row; the others count what became
	// of them. Abandoned are those the citizen cancelled (waiting or
	// called); Open are still waiting, called, parked or being served
	// (today's, or a day the office closed with people in the line).
	Taken, Called, Served, NoShow, Abandoned, Open int
	// Wait is the time from taking the ticket to its (last) call, over
	// the called tickets; Service the time from start to served.
	Wait, Service Times
	// MaxLine is the longest the line of one office grew: during the
	// hour (every ticket waiting then, whenever taken), counting only the
	// service's tickets, or (in the total) at any time. It is 0 in a
	// desk's row, where it has no meaning.
	MaxLine int

	waits, services []int64
}

// Stats is the supervisors' report of the queue over a period of
// Comune-local days.
type Stats struct {
	From, To civil.Date
	// Hours has a row for each hour of the day with tickets taken or
	// people waiting, earliest first.
	Hours []StatsRow
	// Services has a row for each office and service with tickets, by
	// office then service ID; Desks one for each office and desk that
	// called a ticket, by office then desk ID. The web page puts names on
	// them and sorts them again.
	Services []StatsRow
	Desks    []StatsRow
	Total    StatsRow
}

// statsTicket is what the report reads of a ticket.
type statsTicket struct {
	office, day, service, desk string
	state                      State
	taken, called, started     int64
	done                       int64
}

// Stats reports on the tickets of the given offices (every office of the
// Comune when offices is nil, none when it is empty) taken on the days
// from..to, inclusive. The days are the tickets' own Comune-local days,
// stamped at taking, so the period needs no time zone arithmetic; the
// hours are those of the Comune's zone.
//
// Percentiles and the line's length need every ticket, so the report
// reads the period's tickets (one range scan per office on the
// (tenant, office_id, day) index, a few integers each) and sums them up
// in memory: a year of a busy office is some 100,000 rows.
func (q *Queue) Stats(ctx context.Context, t tenant.Tenant, offices []string, from, to civil.Date) (Stats, error) {
	out := Stats{From: from, To: to}
	if to.Before(from) {
		return out, &ValidationError{Fields: map[string]string{"to": "L'ultimo giorno precede il primo."}}
	}
	scopes := []string{""}
	if offices != nil {
		scopes = offices
	}
	var all []statsTicket
	for _, office := range scopes {
		ts, err := q.statsScan(ctx, t.ID, office, from.String(), to.String())
		if err != nil {
			return Stats{}, err
		}
		all = append(all, ts...)
	}
	loc := t.Location()

	type rowKey struct {
		office, service, desk string
		hour                  int
	}
	hours, services, desks := map[int]*StatsRow{}, map[rowKey]*StatsRow{}, map[rowKey]*StatsRow{}
	row := func(m map[rowKey]*StatsRow, k rowKey) *StatsRow {
		r := m[k]
		if r == nil {
			r = &StatsRow{OfficeID: k.office, ServiceID: k.service, Desk: k.desk}
			m[k] = r
		}
		return r
	}
	hourRow := func(h int) *StatsRow {
		r := hours[h]
		if r == nil {
			r = &StatsRow{Hour: h}
			hours[h] = r
		}
		return r
	}
	for _, k := range all {
		h := time.Unix(k.taken, 0).In(loc).Hour()
		for _, r := range []*StatsRow{&out.Total, hourRow(h), row(services, rowKey{office: k.office, service: k.service})} {
			r.add(k)
		}
		if k.desk != "" {
			row(desks, rowKey{office: k.office, desk: k.desk}).add(k)
		}
	}

	// The line's length: one sweep per office and day over the moments
	// tickets joined and left it, for every ticket (the total and the
	// hours) and for each service's tickets alone.
	type dayKey struct{ office, day string }
	byDay := map[dayKey][]statsTicket{}
	for _, k := range all {
		byDay[dayKey{k.office, k.day}] = append(byDay[dayKey{k.office, k.day}], k)
	}
	for _, ts := range byDay {
		peaks := linePeaks(ts, loc)
		out.Total.MaxLine = max(out.Total.MaxLine, peaks.max)
		for h, n := range peaks.byHour {
			if n > 0 {
				r := hourRow(h)
				r.MaxLine = max(r.MaxLine, n)
			}
		}
		bySvc := map[string][]statsTicket{}
		for _, k := range ts {
			bySvc[k.service] = append(bySvc[k.service], k)
		}
		for svc, st := range bySvc {
			r := row(services, rowKey{office: st[0].office, service: svc})
			r.MaxLine = max(r.MaxLine, linePeaks(st, loc).max)
		}
	}

	out.Total.finish()
	for _, r := range hours {
		r.finish()
		out.Hours = append(out.Hours, *r)
	}
	slices.SortFunc(out.Hours, func(a, b StatsRow) int { return a.Hour - b.Hour })
	for _, r := range services {
		r.finish()
		out.Services = append(out.Services, *r)
	}
	slices.SortFunc(out.Services, func(a, b StatsRow) int {
		return cmp.Or(cmp.Compare(a.OfficeID, b.OfficeID), cmp.Compare(a.ServiceID, b.ServiceID))
	})
	for _, r := range desks {
		r.finish()
		out.Desks = append(out.Desks, *r)
	}
	slices.SortFunc(out.Desks, func(a, b StatsRow) int {
		return cmp.Or(cmp.Compare(a.OfficeID, b.OfficeID), cmp.Compare(a.Desk, b.Desk))
	})
	return out, nil
}

// add counts one ticket in the row.
func (r *StatsRow) add(k statsTicket) {
	r.Taken++
	if k.called > 0 {
		r.Called++
		r.waits = append(r.waits, max(k.called-k.taken, 0))
	}
	switch k.state {
	case Served:
		r.Served++
		if k.started > 0 && k.done > 0 {
			r.services = append(r.services, max(k.done-k.started, 0))
		}
	case NoShow:
		r.NoShow++
	case Cancelled:
		r.Abandoned++
	default:
		r.Open++
	}
}

// finish computes the row's times from the durations it collected.
func (r *StatsRow) finish() {
	r.Wait, r.Service = summarize(r.waits), summarize(r.services)
	r.waits, r.services = nil, nil
}

// summarize returns the mean and the nearest-rank 90th percentile of
// durations in seconds.
func summarize(secs []int64) Times {
	if len(secs) == 0 {
		return Times{}
	}
	slices.Sort(secs)
	var sum int64
	for _, s := range secs {
		sum += s
	}
	rank := int(math.Ceil(0.9*float64(len(secs)))) - 1
	avg := time.Duration(float64(sum) / float64(len(secs)) * float64(time.Second)).Round(time.Second)
	return Times{N: len(secs), Avg: avg, P90: time.Duration(secs[rank]) * time.Second}
}

// peaks is the longest line of one office's day, overall and in each
// Comune-local hour.
type peaks struct {
	max    int
	byHour [24]int
}

// linePeaks sweeps the moments the tickets of one office's day joined the
// line (taken) and left it (called, or cancelled while waiting). A ticket
// still waiting never leaves. Leaving is counted before joining at the
// same second, so a call and a take at once do not make the line look
// longer than it was. A recall restamps the call, so a recalled ticket
// seems to leave the line late: the peak can be overstated by the
// tickets recalled at that time, never understated.
func linePeaks(ts []statsTicket, loc *time.Location) peaks {
	type event struct {
		at    int64
		delta int
	}
	evs := make([]event, 0, 2*len(ts))
	for _, k := range ts {
		evs = append(evs, event{k.taken, +1})
		switch {
		case k.called > 0:
			evs = append(evs, event{k.called, -1})
		case k.state == Cancelled && k.done > 0:
			evs = append(evs, event{k.done, -1})
		}
	}
	slices.SortFunc(evs, func(a, b event) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.delta, b.delta)) })
	var p peaks
	cur, lastHour := 0, -1
	for _, e := range evs {
		h := time.Unix(e.at, 0).In(loc).Hour()
		// The line as it was since the last event lasts into this hour
		// and every hour in between.
		if lastHour >= 0 && h != lastHour {
			for x := lastHour + 1; x <= h && x < 24; x++ {
				p.byHour[x] = max(p.byHour[x], cur)
			}
		}
		cur += e.delta
		p.byHour[h] = max(p.byHour[h], cur)
		p.max = max(p.max, cur)
		lastHour = h
	}
	return p
}

// statsScan reads the tickets of office ("" for every office) on the
// days from..to, inclusive.
func (q *Queue) statsScan(ctx context.Context, t tenant.ID, office, from, to string) ([]statsTicket, error) {
	const cols = `SELECT office_id, day, service_id, state, desk, taken, called, started, done FROM queue_tickets`
	query, args := cols+` WHERE tenant = ? AND day >= ? AND day <= ?`, []any{t, from, to}
	if office != "" {
		query, args = cols+` WHERE tenant = ? AND office_id = ? AND day >= ? AND day <= ?`, []any{t, office, from, to}
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("queue statistics of %q: %w", office, err)
	}
	defer rows.Close()
	var out []statsTicket
	for rows.Next() {
		var k statsTicket
		if err := rows.Scan(&k.office, &k.day, &k.service, &k.state, &k.desk, &k.taken, &k.called, &k.started, &k.done); err != nil {
			return nil, fmt.Errorf("queue statistics of %q: %w", office, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue statistics of %q: %w", office, err)
	}
	return out, nil
}
