package booking

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/cluster/clustertest"
	"github.com/sportello-virtuale/sportello/internal/civil"
)

// TestCodeTakenLeavesNothing: booking.create with a code the Comune
// already uses is refused with ErrCodeTaken by the table's unique key, and
// the refused command leaves nothing behind: no booking, no outbox item,
// no contacts filed for fair access, no manage link kept.
func TestCodeTakenLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	first, err := f.book.Create(ctx, bari, f.request(f.svc.ID, f.at(2026, 3, 10, 9, 0), 1), "https://bari.example.it")
	if err != nil {
		t.Fatal(err)
	}
	side := func() string {
		var contacts, links int
		db := f.node.DB()
		if err := db.QueryRow(`SELECT count(*) FROM booking_fair_contacts`).Scan(&contacts); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT count(*) FROM booking_reminder_links`).Scan(&links); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%s contacts=%d links=%d", f.state(t), contacts, links)
	}
	before := side()
	id, err := f.book.newID()
	if err != nil {
		t.Fatal(err)
	}
	req := f.request(f.svc.ID, f.at(2026, 3, 10, 9, 30), 2)
	p := createPayload{
		ID: id, Code: first.Booking.Code, ServiceID: f.svc.ID, Start: req.Start.UTC(), Channel: req.Channel,
		Citizen: req.Citizen, TokenHash: hashToken("token"), Comune: comuneOf(bari),
		BaseURL: "https://bari.example.it", ManageURL: "https://bari.example.it" + ManagePath(first.Booking.Code, "token"),
	}
	for _, lang := range []string{LangIT, LangEN} {
		_, err = f.book.proposeCreate(ctx, bari.ID, p, lang)
		if !errors.Is(err, ErrCodeTaken) {
			t.Fatalf("%s: create with a taken code: %v, want ErrCodeTaken", lang, err)
		}
		if after := side(); after != before {
			t.Errorf("%s: the refused create changed the state:\nbefore %s\nafter  %s", lang, before, after)
		}
	}
}

// undoMigrations starts a one-node cluster and, unless undo is empty,
// runs the SQL undo through the log (a test command), to stand for a node
// whose log predates some migrations.
func undoMigrations(t *testing.T, clk *clustertest.Clock, undo string) *cluster.Node {
	t.Helper()
	node := clustertest.New(t, cluster.Config{Now: clk.Now}, Register, clustertest.HandleSQL)
	clustertest.Start(t, node)
	if undo != "" {
		clustertest.RunSQL(t, node, undo)
	}
	return node
}

// TestCreateBeforeMigrations: on a node whose schema predates the
// language column, the waiting lists, App IO, fair access and the capped
// mark of schema 9 (dropped
// here by a test command, as the log would have them before their
// migrations), booking.create takes its slower path and applies the same
// rules: an English booking is stored Italian, the citizen's cap and the
// slot's capacity hold.
func TestCreateBeforeMigrations(t *testing.T) {
	t.Parallel()
	const schema9 = `DROP INDEX booking_bookings_citizen;
		ALTER TABLE booking_bookings DROP COLUMN capped;
		CREATE INDEX booking_bookings_citizen ON booking_bookings (tenant, service_id, fiscal_code, start_unix)
			WHERE status = 'active'`
	for _, c := range []struct {
		name string
		undo string // what the test command drops
		old  bool   // before the language column
	}{
		{"current", "", false},
		{"before schema 9", schema9, false},
		{"before languages", `DROP TABLE booking_waitlist_offers;
			DROP TABLE booking_appio; DROP TABLE booking_fair_settings; DROP TABLE booking_fair_admits;
			DROP TABLE booking_fair_contacts;
			ALTER TABLE booking_bookings DROP COLUMN lang;` + schema9, true},
	} {
		old := c.old
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clk := clustertest.NewClock(startTime)
			node := undoMigrations(t, clk, c.undo)
			ctx := context.Background()
			book := NewBook(node, node.DB(), clk.Now, rand.Reader)
			var week Week
			week[time.Tuesday] = []Interval{{hm(8, 30), hm(12, 30)}}
			office, err := book.SaveOffice(ctx, bari.ID, Office{Name: "Anagrafe", Address: "Corso Vittorio Emanuele II 84", Hours: week})
			if err != nil {
				t.Fatal(err)
			}
			svc, err := book.SaveService(ctx, bari.ID, Service{
				OfficeID: office.ID, Name: "Carta d'identità", Duration: 30 * time.Minute,
				Channels: []Channel{InPerson}, Capacity: 2, HorizonDays: 60, MaxActivePerCitizen: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			start, _ := civil.Date{Year: 2026, Month: 3, Day: 10}.In(bari.Location(), 9, 0)
			req := func(citizen int) Request {
				return Request{ServiceID: svc.ID, Start: start, Channel: InPerson, Lang: LangEN, PrivacyAccepted: true,
					Citizen: Citizen{GivenName: "Maria", FamilyName: "Rossi", FiscalCode: testFiscalCode(citizen),
						Email: fmt.Sprintf("maria%d@example.it", citizen)}}
			}
			c, err := book.Create(ctx, bari, req(1), "https://bari.example.it")
			if err != nil {
				t.Fatal(err)
			}
			wantLang := LangEN
			if old {
				wantLang = LangIT
			}
			if c.Booking.Lang != wantLang {
				t.Errorf("booking's language %q, want %q", c.Booking.Lang, wantLang)
			}
			if stored, err := loadLang(ctx, node.DB(), bari.ID, c.Booking.ID); err != nil || stored != wantLang {
				t.Errorf("stored language %q, %v, want %q", stored, err, wantLang)
			}
			later := req(1)
			later.Start = start.Add(time.Hour)
			if _, err := book.Create(ctx, bari, later, ""); !errors.Is(err, ErrAlreadyBooked) {
				t.Errorf("second booking of the citizen: %v, want ErrAlreadyBooked", err)
			}
			if _, err := book.Create(ctx, bari, req(2), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := book.Create(ctx, bari, req(3), ""); !errors.Is(err, ErrSlotFull) {
				t.Errorf("third booking of a two-seat slot: %v, want ErrSlotFull", err)
			}
		})
	}
}
