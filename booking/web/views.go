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
	Channels                        []string
	Checked                         bool
}

func newOfficeView(o booking.Office) officeView {
	v := officeView{ID: o.ID, Name: o.Name, Address: o.Address, Phone: o.Phone, Email: o.Email, Hours: hoursLines(o.Hours)}
	for _, s := range o.Services {
		v.Services = append(v.Services, newServiceView(s))
	}
	return v
}

func newServiceView(s booking.Service) serviceView {
	v := serviceView{
		ID: s.ID, Name: s.Name, Description: s.Description, Category: s.Category, OfficeID: s.OfficeID,
		WhatToBring: s.WhatToBring, Duration: durationLabel(s.Duration),
	}
	for _, c := range s.Channels {
		v.Channels = append(v.Channels, channelLabel(c))
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

func stepsHeader(current int) []stepView {
	out := make([]stepView, 0, stepCount)
	for n := 1; n <= stepCount; n++ {
		out = append(out, stepView{N: n, Title: stepTitles[n], Done: n < current, Current: n == current})
	}
	return out
}
