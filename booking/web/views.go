package web

import (
	"github.com/sportello-virtuale/sportello/booking"
)

// officeView is an office as the pages show it.
type officeView struct {
	ID, Name, Address, Phone, Email string
	Hours                           []hoursLine
	Services                        []serviceView
}

// serviceView is a service as the pages show it.
type serviceView struct {
	ID, Name, Description, Category string
	OfficeID                        string
	WhatToBring                     []string
	Duration                        string
	// Channels are the channels' names; ChannelChoices add their values
	// (booking.Channel), which choose the icon.
	Channels       []string
	ChannelChoices []choice
	Checked        bool
}

// newOfficeView returns o as the pages in l show it.
func newOfficeView(l tr, o booking.Office) officeView {
	v := officeView{ID: o.ID, Name: o.Name, Address: o.Address, Phone: o.Phone, Email: o.Email, Hours: l.hours(o.Hours)}
	for _, s := range o.Services {
		v.Services = append(v.Services, newServiceView(l, s))
	}
	return v
}

// newServiceView returns s as the pages in l show it.
func newServiceView(l tr, s booking.Service) serviceView {
	v := serviceView{
		ID: s.ID, Name: s.Name, Description: s.Description, Category: s.Category, OfficeID: s.OfficeID,
		WhatToBring: s.WhatToBring, Duration: l.duration(s.Duration),
	}
	for _, c := range s.Channels {
		v.Channels = append(v.Channels, l.channel(c))
		v.ChannelChoices = append(v.ChannelChoices, choice{Value: string(c), Label: l.channel(c)})
	}
	return v
}

// choice is one radio button.
type choice struct {
	Value, Label string
	Checked      bool
}

// stepView is one entry of the steps header.
type stepView struct {
	N       int
	Title   string
	Done    bool
	Current bool
}

// stepsHeader returns the steps header in l with current marked.
func stepsHeader(l tr, current int) []stepView {
	out := make([]stepView, 0, stepCount)
	for n := 1; n <= stepCount; n++ {
		out = append(out, stepView{N: n, Title: l.stepTitle(n), Done: n < current, Current: n == current})
	}
	return out
}
