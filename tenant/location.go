package tenant

import (
	"time"
	// The embedded zone database makes every node know the same zones,
	// whatever tzdata package its machine has, so that validating a
	// TimeZone inside apply gives the same answer on every node.
	_ "time/tzdata"
)

// DefaultTimeZone is the zone of every Italian Comune.
const DefaultTimeZone = "Europe/Rome"

// rome is loaded once and never changed; a *time.Location is safe to share
// between goroutines.
var rome = mustLoad(DefaultTimeZone)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("tenant: load " + name + ": " + err.Error())
	}
	return loc
}

// Location returns the Comune's time zone. A TimeZone that does not load
// (it is validated when saved, so only a hand-built Tenant can have one)
// falls back to Europe/Rome.
func (t Tenant) Location() *time.Location {
	if t.TimeZone == "" || t.TimeZone == DefaultTimeZone {
		return rome
	}
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return rome
	}
	return loc
}
