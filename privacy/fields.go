package privacy

import (
	"errors"

	"github.com/sportello-virtuale/sportello/booking"
)

// Keys seals the bookings' most sensitive texts too (booking.FieldSealer:
// the citizen's details, the office's notes), in the proposer, so that
// destroying a Comune's key erases them with its documents.
var _ booking.FieldSealer = (*Keys)(nil)

// Destroyed reports whether err, from Open, means the value's key is gone
// for good (ErrKeyDestroyed): readers show it as erased, not as an error.
func (k *Keys) Destroyed(err error) bool { return errors.Is(err, ErrKeyDestroyed) }
