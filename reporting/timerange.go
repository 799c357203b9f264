package reporting

import (
	"fmt"
	"sort"
	"time"

	"directsms/internal/apperr"
)

// MaxRangeDays is the longest time range one report or export covers, in the tenant's
// calendar days: a leap year.
const MaxRangeDays = 366

// Range is a half-open time range [From, To) of session creation times.
type Range struct {
	From time.Time
	To   time.Time
}

// ParseRange reads the from and to parameters of a report or export. Each is an RFC 3339
// instant ("2026-03-08T09:00:00-05:00") or a date ("2026-03-08") meaning the start of that day
// in loc: the first instant at which loc's clocks show that date (midnight, or the end of a
// daylight-saving jump over midnight). The range is half-open, so from=2026-03-01&to=2026-04-01
// is March. to must be after from and at most MaxRangeDays calendar days later in loc.
func ParseRange(from, to string, loc *time.Location) (Range, error) {
	f, err := parseBound("from", from, loc)
	if err != nil {
		return Range{}, err
	}
	t, err := parseBound("to", to, loc)
	if err != nil {
		return Range{}, err
	}
	if !t.After(f) {
		return Range{}, apperr.Invalid("to", "invalid_range", "to must be after from")
	}
	if t.After(f.In(loc).AddDate(0, 0, MaxRangeDays)) {
		return Range{}, apperr.Invalid("to", "range_too_long", fmt.Sprintf("a report covers at most %d days", MaxRangeDays))
	}
	return Range{From: f.UTC(), To: t.UTC()}, nil
}

func parseBound(field, v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, apperr.Invalid(field, "required", field+" is required (RFC 3339 time or YYYY-MM-DD date)")
	}
	if len(v) == len(time.DateOnly) {
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return time.Time{}, apperr.Invalid(field, "invalid_time", fmt.Sprintf("%s %q is not a YYYY-MM-DD date", field, v))
		}
		return StartOfDay(d.Year(), d.Month(), d.Day(), loc), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, apperr.Invalid(field, "invalid_time", fmt.Sprintf("%s %q is neither an RFC 3339 time nor a YYYY-MM-DD date", field, v))
	}
	return t, nil
}

// StartOfDay is the first instant at which loc's clocks show the date y-m-d. That is midnight,
// except in zones whose clocks jump over midnight, where the day starts at the jump. Go's
// time.Date leaves the choice for a missing wall time unspecified, so the instant is searched
// for instead: local dates never decrease as time passes, in any zone directsms serves.
func StartOfDay(y int, m time.Month, d int, loc *time.Location) time.Time {
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// Every zone's offset lies within ±18 hours of UTC.
	lo := day.Add(-18 * time.Hour)
	const span = 36 * 60 * 60
	i := sort.Search(span, func(sec int) bool {
		ly, lm, ld := lo.Add(time.Duration(sec) * time.Second).In(loc).Date()
		return !time.Date(ly, lm, ld, 0, 0, 0, 0, time.UTC).Before(day)
	})
	return lo.Add(time.Duration(i) * time.Second)
}
