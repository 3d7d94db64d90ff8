package booking

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCreateReturnsTheStoredBooking checks that the booking Create returns
// without reading it back (it comes from the apply function) is the row
// as stored, field by field, for every channel.
func TestCreateReturnsTheStoredBooking(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := context.Background()
	for i, ch := range []Channel{InPerson, Video} {
		t.Run(string(ch), func(t *testing.T) {
			req := f.request(f.svc.ID, f.at(2026, 3, 10, 9, 0).Add(f.svc.Duration*time.Duration(i)), 100+i)
			req.Channel = ch
			c, err := f.book.Create(ctx, bari, req, "https://bari.example.it")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := loadBookingByID(ctx, f.node.DB(), bari.ID, c.Booking.ID)
			if err != nil {
				t.Fatal(err)
			}
			got, want := fmt.Sprintf("%+v", c.Booking), fmt.Sprintf("%+v", inZone(stored.Booking, f.loc))
			if got != want {
				t.Errorf("Create returned\n  %s\nstored\n  %s", got, want)
			}
			if ch == Video && c.Booking.JoinToken == "" {
				t.Errorf("video booking: got no join token")
			}
		})
	}
}
