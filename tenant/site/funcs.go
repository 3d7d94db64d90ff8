package site

import (
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sportello-virtuale/sportello/internal/civil"
)

// iconPattern and classPattern bound what the icon func writes into the
// page: sprite names of the kit and CSS class lists.
var (
	iconPattern  = regexp.MustCompile(`^it-[a-z0-9-]+$`)
	classPattern = regexp.MustCompile(`^[a-zA-Z0-9 _-]*$`)
)

// funcs returns the template functions with dates and times shown in loc,
// the Comune's time zone, and written in lang; T reads msgs, then the
// layout's catalog. doc.go lists them.
func (s *Site) funcs(loc *time.Location, lang string, msgs Messages) template.FuncMap {
	return template.FuncMap{
		// T is View.T as a function, for partials whose dot is not the
		// View: {{T "flow.next"}}.
		"T": func(key string, args ...any) string { return Translate(msgs, lang, key, args...) },
		"fmtDate": func(v any) (string, error) {
			d, ok, err := dateIn(v, loc)
			if !ok || err != nil {
				return "", err
			}
			return FormatDay(lang, d), nil
		},
		"fmtTime": func(v any) (string, error) {
			t, ok, err := timeOf(v)
			if !ok || err != nil {
				return "", err
			}
			return FormatTime(lang, t.In(loc)), nil
		},
		"fmtDateTime": func(v any) (string, error) {
			t, ok, err := timeOf(v)
			if !ok || err != nil {
				return "", err
			}
			return FormatDateTime(lang, t.In(loc)), nil
		},
		"fmtTimeRange": func(from, to any) (string, error) {
			a, okA, err := timeOf(from)
			if err != nil {
				return "", err
			}
			b, okB, err := timeOf(to)
			if err != nil || !okA || !okB {
				return "", err
			}
			return FormatTimeRange(lang, a.In(loc), b.In(loc)), nil
		},
		"fmtShortDate": func(v any) (string, error) {
			d, ok, err := dateIn(v, loc)
			if !ok || err != nil {
				return "", err
			}
			return FormatShortDate(lang, d), nil
		},
		"fmtMonth": func(v any) (string, error) {
			d, ok, err := dateIn(v, loc)
			if !ok || err != nil {
				return "", err
			}
			return FormatMonth(lang, d), nil
		},
		"fmtWeekday": func(v any) (string, error) {
			d, ok, err := dateIn(v, loc)
			if !ok || err != nil {
				return "", err
			}
			return WeekdayName(lang, d.Weekday()), nil
		},
		"isoDate": func(v any) (string, error) {
			d, ok, err := dateIn(v, loc)
			if !ok || err != nil {
				return "", err
			}
			return d.String(), nil
		},
		"isoDateTime": func(v any) (string, error) {
			t, ok, err := timeOf(v)
			if !ok || err != nil {
				return "", err
			}
			return t.In(loc).Format(time.RFC3339), nil
		},
		"ucfirst": ucfirst,
		"static":  s.assets.path,
		"icon":    s.icon,
	}
}

// timeOf accepts time.Time and *time.Time; ok is false for a zero or nil
// time, which the funcs show as "".
func timeOf(v any) (t time.Time, ok bool, err error) {
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return time.Time{}, false, nil
		}
		t = *x
	case nil:
		return time.Time{}, false, nil
	default:
		return time.Time{}, false, fmt.Errorf("want a time.Time, got %T", v)
	}
	return t, !t.IsZero(), nil
}

// dateIn accepts what timeOf does, taking the day in loc, and civil.Date
// (and *civil.Date), which has no zone.
func dateIn(v any, loc *time.Location) (d civil.Date, ok bool, err error) {
	switch x := v.(type) {
	case civil.Date:
		return x, !x.IsZero(), nil
	case *civil.Date:
		if x == nil {
			return civil.Date{}, false, nil
		}
		return *x, !x.IsZero(), nil
	}
	t, ok, err := timeOf(v)
	if err != nil {
		return civil.Date{}, false, fmt.Errorf("want a date: %w", err)
	}
	if !ok {
		return civil.Date{}, false, nil
	}
	return civil.DateOf(t.In(loc)), true, nil
}

// ucfirst upper-cases the first letter: {{ucfirst (fmtDate .Start)}} gives
// "Giovedì 11 marzo 2027" at the start of a line.
func ucfirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// icon returns an icon of the kit's sprite, hidden from screen readers
// (the text next to it says what it means): {{icon "it-calendar"}} or
// {{icon "it-calendar" "icon-sm icon-primary"}}.
func (s *Site) icon(name string, classes ...string) (template.HTML, error) {
	if !iconPattern.MatchString(name) {
		return "", fmt.Errorf("icon %q: not a sprite name", name)
	}
	class := "icon"
	for _, c := range classes {
		if !classPattern.MatchString(c) {
			return "", fmt.Errorf("icon %q: bad class %q", name, c)
		}
		class += " " + strings.TrimSpace(c)
	}
	href := s.assets.path("vendor/bootstrap-italia/svg/sprites.svg") + "#" + name
	return template.HTML(`<svg class="` + class + `" aria-hidden="true" focusable="false"><use href="` + href + `"></use></svg>`), nil
}
