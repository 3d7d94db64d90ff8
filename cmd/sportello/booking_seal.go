package main

import (
	"github.com/sportello-virtuale/sportello/auth"
	"github.com/sportello-virtuale/sportello/booking"
	"github.com/sportello-virtuale/sportello/cluster"
	"github.com/sportello-virtuale/sportello/privacy"
)

// sealBookingFields makes book seal the bookings' details and the
// office's notes under each Comune's data key (issue 11,
// crypto-shredding), as the call documents are (calls.go): the key that
// seals the data keys comes from secrets.key, which every node of the
// cluster holds. Without secrets.key the texts stay in the clear, as
// before, and rely on deletion and compaction. book may already be in
// use (SealFields is safe then).
func sealBookingFields(book *booking.Book, node *cluster.Node, secrets *auth.Secrets) {
	if wrap := secrets.Derive(privacy.KeysPurpose); wrap != nil {
		book.SealFields(privacy.NewKeys(node, node.DB(), wrap, nil))
	}
}
