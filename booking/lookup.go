package booking

import (
	"context"

	"github.com/sportello-virtuale/sportello/tenant"
)

// ByCode returns the booking with code (ErrNotFound when the Comune has
// none), without any token: for packages of the binary that hold another
// credential for it — the queue's check-in at the office's kiosk, and the
// join token of a video or phone appointment, which the caller compares.
// Never hand its result to a citizen as is. Times are in UTC.
func (b *Book) ByCode(ctx context.Context, t tenant.ID, code string) (Booking, error) {
	bk, err := b.loadByCode(ctx, t, code)
	if err != nil {
		return Booking{}, err
	}
	b.openBooking(ctx, t, &bk.Booking)
	return bk.Booking, nil
}
