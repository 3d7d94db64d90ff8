package booking

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sportello-virtuale/sportello/internal/civil"
	"github.com/sportello-virtuale/sportello/tenant"
)

// StatsRow counts the bookings of one service (or, in Stats.Total, of
// every service shown) whose appointment falls in the period. It holds no
// personal data: it may be exported as is.
type StatsRow struct {
	OfficeID, OfficeName   string
	ServiceID, ServiceName string
	// Made counts every booking of the period, whatever became of it.
	Made               int
	CancelledByCitizen int
	CancelledByOffice  int
	Served             int
	NoShow             int
	// LeadTime is the average time between making a booking and its
	// appointment, over the bookings made (0 when none).
	LeadTime time.Duration
	// leadSum is the sum behind LeadTime.
	leadSum time.Duration
}

// Stats is the supervisors' report of a period.
type Stats struct {
	From, To civil.Date
	Rows     []StatsRow
	Total    StatsRow
}

// Stats counts, per office and service, the bookings whose appointment
// starts on the days from..to (inclusive, in the Comune's zone) of the
// given offices (every office when offices is nil): made, cancelled by
// the citizen, cancelled by the office, served, no-show, and the average
// lead time. The period is of appointments, not of booking dates, so a
// row compares like with like: of the appointments of March, how many
// were kept. Rows are sorted by office and service name.
func (b *Book) Stats(ctx context.Context, t tenant.Tenant, offices []string, from, to civil.Date) (Stats, error) {
	loc := t.Location()
	lo, _ := wallTime(from, 0, loc)
	hi, _ := wallTime(to.AddDays(1), 0, loc)
	out := Stats{From: from, To: to}
	byKey := map[statsKey]*StatsRow{}
	// One range scan per office, on the (tenant, office_id, start_unix)
	// index; nil offices is every office, one scan of the Comune's range.
	scopes := []string{""}
	if offices != nil {
		scopes = offices
	}
	for _, office := range scopes {
		if err := b.statsScan(ctx, t, office, lo, hi, func(k statsKey, status Status, outcome Outcome, officeCancel bool, lead time.Duration) {
			r := byKey[k]
			if r == nil {
				r = &StatsRow{OfficeID: k.office, ServiceID: k.service}
				byKey[k] = r
			}
			r.Made++
			r.leadSum += lead
			switch {
			case status == Cancelled && officeCancel:
				r.CancelledByOffice++
			case status == Cancelled:
				r.CancelledByCitizen++
			case outcome == Served:
				r.Served++
			case outcome == NoShow:
				r.NoShow++
			}
		}); err != nil {
			return Stats{}, err
		}
	}
	officeNames, serviceNames := map[string]string{}, map[string]string{}
	for k, r := range byKey {
		if _, ok := officeNames[k.office]; !ok {
			o, err := loadOffice(ctx, b.db, t.ID, k.office)
			if err != nil {
				return Stats{}, err
			}
			officeNames[k.office] = o.Name
		}
		if _, ok := serviceNames[k.service]; !ok {
			s, err := loadService(ctx, b.db, t.ID, k.service)
			if err != nil {
				return Stats{}, err
			}
			serviceNames[k.service] = s.Name
		}
		r.OfficeName, r.ServiceName = officeNames[k.office], serviceNames[k.service]
		out.Rows = append(out.Rows, *r)
	}
	slices.SortFunc(out.Rows, func(a, b StatsRow) int {
		if c := strings.Compare(a.OfficeName, b.OfficeName); c != 0 {
			return c
		}
		if c := strings.Compare(a.ServiceName, b.ServiceName); c != 0 {
			return c
		}
		return strings.Compare(a.ServiceID, b.ServiceID)
	})
	for i := range out.Rows {
		r := &out.Rows[i]
		r.LeadTime = average(r.leadSum, r.Made)
		tt := &out.Total
		tt.Made += r.Made
		tt.CancelledByCitizen += r.CancelledByCitizen
		tt.CancelledByOffice += r.CancelledByOffice
		tt.Served += r.Served
		tt.NoShow += r.NoShow
		tt.leadSum += r.leadSum
	}
	out.Total.LeadTime = average(out.Total.leadSum, out.Total.Made)
	return out, nil
}

// average is sum/n rounded to the second, 0 for n = 0.
func average(sum time.Duration, n int) time.Duration {
	if n == 0 {
		return 0
	}
	return (sum / time.Duration(n)).Round(time.Second)
}

// statsKey is an office and a service.
type statsKey struct{ office, service string }

// statsScan calls add for every booking of office ("" for every office)
// with appointment in [lo, hi). The outcomes table exists from schema
// version 3; before it, no booking has an office's record.
func (b *Book) statsScan(ctx context.Context, t tenant.Tenant, office string, lo, hi time.Time,
	add func(k statsKey, status Status, outcome Outcome, officeCancel bool, lead time.Duration)) error {
	// The office condition is written only when there is one, so that
	// SQLite plans the (tenant, office_id, start_unix) index for it.
	where, args := `tenant = ? AND start_unix >= ? AND start_unix < ?`, []any{t.ID, lo.Unix(), hi.Unix()}
	if office != "" {
		where, args = `tenant = ? AND office_id = ? AND start_unix >= ? AND start_unix < ?`, []any{t.ID, office, lo.Unix(), hi.Unix()}
	}
	rows, err := b.db.QueryContext(ctx, `SELECT b.office_id, b.service_id, b.status, b.start_unix, b.created,
			coalesce(o.outcome, ''), coalesce(o.cancelled_unix, 0)
		FROM (SELECT id, office_id, service_id, status, start_unix, created FROM booking_bookings WHERE `+where+`) b
		LEFT JOIN booking_outcomes o ON o.tenant = ? AND o.booking_id = b.id`, append(args, t.ID)...)
	if isNoSuchTable(err) {
		rows, err = b.db.QueryContext(ctx, `SELECT office_id, service_id, status, start_unix, created, '', 0
			FROM booking_bookings WHERE `+where, args...)
	}
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k statsKey
		var status, created, outcome string
		var start, cancelled int64
		if err := rows.Scan(&k.office, &k.service, &status, &start, &created, &outcome, &cancelled); err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		made, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return fmt.Errorf("statistics: booking created %q: %w", created, err)
		}
		add(k, Status(status), Outcome(outcome), cancelled != 0, time.Unix(start, 0).Sub(made))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	return nil
}
