package deflection

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Source says which settings level an effective setting came from, as the API
// shows it in "source".
type Source string

const (
	// SourceUser is an agent's own override, for agent-owned numbers.
	SourceUser Source = "user"
	// SourceTeam is the override of the agent's primary team.
	SourceTeam Source = "team"
	// SourceQueue is a queue's override, for queue-owned numbers.
	SourceQueue Source = "queue"
	// SourceGlobal is the tenant-wide setting every other level falls back to.
	SourceGlobal Source = "global"
)

// Validation error codes, as the API answers them with 422.
const (
	// CodeInvalidTimezone: the time zone is empty, "Local" or not an IANA name.
	CodeInvalidTimezone = "invalid_timezone"
	// CodeInvalidTime: a time is not HH:MM from 00:00 to 23:59 (or 24:00 as an end).
	CodeInvalidTime = "invalid_time"
	// CodeEmptyInterval: an interval ends when it starts.
	CodeEmptyInterval = "empty_interval"
	// CodeOverlappingIntervals: two intervals cover the same time of one day.
	CodeOverlappingIntervals = "overlapping_intervals"
	// CodeInvalidWeekday: a weekly key is not one of mon tue wed thu fri sat sun.
	CodeInvalidWeekday = "invalid_weekday"
	// CodeInvalidDate: an exception date is not a real YYYY-MM-DD date.
	CodeInvalidDate = "invalid_date"
	// CodeDuplicateException: two exceptions name the same date.
	CodeDuplicateException = "duplicate_exception"
	// CodeMessageRequired: deflection is enabled without a message to send.
	CodeMessageRequired = "message_required"
	// CodeMessageTooLong: the message is longer than MaxMessageLength.
	CodeMessageTooLong = "message_too_long"
)

// HorizonDays is how far NextOpen, NextClose and ClosedPeriodStart look, in
// days: more than a year, so that a schedule whose only opening is a dated
// exception up to a year away is still found, while a schedule that never
// opens costs a bounded amount of work.
const HorizonDays = 400

// MaxMessageLength is the longest deflection message, in characters: the
// longest SMS body carriers accept.
const MaxMessageLength = 1600

// NextOpenPlaceholder is replaced by RenderMessage with the next opening time.
const NextOpenPlaceholder = "{next_open}"

// noNextOpen replaces NextOpenPlaceholder when the schedule does not open
// within HorizonDays: a contact reads "We reopen soon." or "Back soon." as
// plainly as a date, and learns nothing false.
const noNextOpen = "soon"

const minutesPerDay = 24 * 60

// weekdayKeys are the API's weekly keys, indexed by time.Weekday.
var weekdayKeys = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// weekOrder is the order the API lists weekdays in, so that Validate reports
// the first problem an administrator reading the form would see.
var weekOrder = [7]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}

// Schedule is a set of hours of operation in one time zone: a weekly pattern
// and dated exceptions to it. The package documentation gives the rules for
// overnight intervals, exceptions and daylight-saving time.
//
// IsOpen and the search methods expect a schedule that passed Validate. On
// any other they do not fail: intervals that don't parse are ignored, and a
// schedule whose zone can't be loaded is never open.
type Schedule struct {
	// Timezone is the IANA name of the zone every time is read in.
	Timezone string `json:"timezone"`
	// Weekly maps "mon" … "sun" to that day's intervals; a missing or empty
	// day is closed.
	Weekly map[string][]Interval `json:"weekly"`
	// Exceptions replace the weekly intervals of single dates.
	Exceptions []Exception `json:"exceptions"`
}

// Interval is one opening of a day, from Start to End, both "HH:MM" local
// times. End may be "24:00", and an End before Start runs past midnight.
type Interval struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Exception gives a date its own intervals instead of its weekday's; no
// intervals means closed all day.
type Exception struct {
	// Date is the local date, "YYYY-MM-DD".
	Date      string     `json:"date"`
	Intervals []Interval `json:"intervals"`
}

// Settings are one level's after-hours deflection settings, and the effective
// settings a number ends up with.
type Settings struct {
	Enabled bool     `json:"enabled"`
	Hours   Schedule `json:"hours"`
	Message string   `json:"message"`
}

// ValidationError names the first invalid field of a schedule or settings in
// the API's terms, so the gateway can answer 422 with it unchanged: Field is
// a path into the request body such as "hours.weekly.mon[0].start", Code one
// of the Code constants.
type ValidationError struct {
	Field   string
	Code    string
	Message string
}

// Error returns the field and what is wrong with it.
func (e *ValidationError) Error() string {
	return e.Field + ": " + e.Message
}

// zones caches loaded time zones by name. IsOpen runs for every inbound text
// and time.LoadLocation reads the zone database each time; only zones that
// loaded are kept, so the cache is bounded by the zone database, not by what
// tenants type.
var zones sync.Map

// Location returns the schedule's time zone. The empty name and "Local" are
// refused although time.LoadLocation accepts them: they would mean UTC, or a
// zone that differs from one host to the next.
func (s Schedule) Location() (*time.Location, error) {
	if loc, ok := zones.Load(s.Timezone); ok {
		return loc.(*time.Location), nil
	}
	if s.Timezone == "" || s.Timezone == "Local" {
		return nil, fmt.Errorf("load time zone %q: not an IANA zone name", s.Timezone)
	}
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", s.Timezone, err)
	}
	zones.Store(s.Timezone, loc)
	return loc, nil
}

// Validate reports the first problem of the schedule as a *ValidationError,
// or nil. Checks run in the order of the form: zone, weekdays Monday to
// Sunday, then exceptions.
func (s Schedule) Validate() error {
	if _, err := s.Location(); err != nil {
		return &ValidationError{
			Field:   "hours.timezone",
			Code:    CodeInvalidTimezone,
			Message: fmt.Sprintf("%q is not a time zone: use an IANA name such as \"America/New_York\"", s.Timezone),
		}
	}

	var unknown []string
	for key := range s.Weekly {
		if !slices.Contains(weekdayKeys[:], key) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return &ValidationError{
			Field:   "hours.weekly." + unknown[0],
			Code:    CodeInvalidWeekday,
			Message: fmt.Sprintf("%q is not a weekday: use mon, tue, wed, thu, fri, sat or sun", unknown[0]),
		}
	}

	var weekly [7][]span
	for _, wd := range weekOrder {
		key := weekdayKeys[wd]
		spans, err := parseSpans(s.Weekly[key], "hours.weekly."+key, false)
		if err != nil {
			return err
		}
		weekly[wd] = spans
	}
	for _, wd := range weekOrder {
		if err := checkDay(weekly[wd], weekly[(wd+6)%7]); err != nil {
			return err
		}
	}

	dates := make([]date, len(s.Exceptions))
	byDate := make(map[date][]span, len(s.Exceptions))
	firstIndex := make(map[date]int, len(s.Exceptions))
	for i, ex := range s.Exceptions {
		field := fmt.Sprintf("hours.exceptions[%d]", i)
		d, ok := parseDate(ex.Date)
		if !ok {
			return &ValidationError{
				Field:   field + ".date",
				Code:    CodeInvalidDate,
				Message: fmt.Sprintf("%q is not a date: use YYYY-MM-DD", ex.Date),
			}
		}
		if j, dup := firstIndex[d]; dup {
			return &ValidationError{
				Field:   field + ".date",
				Code:    CodeDuplicateException,
				Message: fmt.Sprintf("%s already has hours.exceptions[%d]: give each date one exception", ex.Date, j),
			}
		}
		spans, err := parseSpans(ex.Intervals, field+".intervals", true)
		if err != nil {
			return err
		}
		dates[i], firstIndex[d], byDate[d] = d, i, spans
	}
	on := func(d date) []span {
		if spans, ok := byDate[d]; ok {
			return spans
		}
		return weekly[d.weekday()]
	}
	for _, d := range dates {
		// An exception meets its neighbours at both midnights: the evening
		// before may run into it, and it may run into the next day.
		if err := checkDay(on(d), on(d.addDays(-1))); err != nil {
			return err
		}
		if err := checkDay(on(d.addDays(1)), on(d)); err != nil {
			return err
		}
	}
	return nil
}

// span is an interval read for validation: minutes after the midnight that
// starts its day, with an end past minutesPerDay when it runs overnight.
type span struct {
	start, end int
	iv         Interval
	field      string
	exception  bool
}

func parseSpans(ivs []Interval, field string, exception bool) ([]span, error) {
	spans := make([]span, 0, len(ivs))
	for i, iv := range ivs {
		f := fmt.Sprintf("%s[%d]", field, i)
		start, ok := parseClock(iv.Start, false)
		if !ok {
			return nil, &ValidationError{
				Field:   f + ".start",
				Code:    CodeInvalidTime,
				Message: fmt.Sprintf("%q is not a start time: use HH:MM from 00:00 to 23:59", iv.Start),
			}
		}
		end, ok := parseClock(iv.End, true)
		if !ok {
			return nil, &ValidationError{
				Field:   f + ".end",
				Code:    CodeInvalidTime,
				Message: fmt.Sprintf("%q is not an end time: use HH:MM from 00:00 to 23:59, or 24:00 for midnight", iv.End),
			}
		}
		if start == end {
			return nil, &ValidationError{
				Field:   f,
				Code:    CodeEmptyInterval,
				Message: fmt.Sprintf("%s-%s starts when it ends: use 00:00-24:00 for a whole day", iv.Start, iv.End),
			}
		}
		if end < start {
			end += minutesPerDay
		}
		spans = append(spans, span{start: start, end: end, iv: iv, field: f, exception: exception})
	}
	return spans, nil
}

// checkDay reports two intervals that cover the same time of one day: the
// day's own, and the part of the previous day's overnight intervals that runs
// into it.
func checkDay(own, previous []span) error {
	entries := make([]span, 0, len(own)+len(previous))
	for _, p := range previous {
		if p.end > minutesPerDay {
			p.start -= minutesPerDay
			p.end -= minutesPerDay
			entries = append(entries, p)
		}
	}
	entries = append(entries, own...)
	slices.SortStableFunc(entries, func(a, b span) int { return a.start - b.start })
	for i := 1; i < len(entries); i++ {
		earlier, later := entries[i-1], entries[i]
		if later.start >= earlier.end {
			continue
		}
		// Blame the exception when an exception meets the weekly pattern:
		// that is what the administrator is editing.
		blame, other := later, earlier
		if earlier.exception && !later.exception {
			blame, other = earlier, later
		}
		return &ValidationError{
			Field:   blame.field,
			Code:    CodeOverlappingIntervals,
			Message: fmt.Sprintf("%s-%s overlaps %s (%s-%s)", blame.iv.Start, blame.iv.End, other.field, other.iv.Start, other.iv.End),
		}
	}
	return nil
}

// parseClock reads "HH:MM" as minutes after midnight. Only the two-digit form
// is accepted, so a stored time has one spelling; allow24 admits "24:00",
// the midnight that ends a day.
func parseClock(v string, allow24 bool) (int, bool) {
	if len(v) != 5 || v[2] != ':' {
		return 0, false
	}
	h, okH := twoDigits(v[0], v[1])
	m, okM := twoDigits(v[3], v[4])
	switch {
	case !okH || !okM || m > 59:
		return 0, false
	case h == 24 && m == 0 && allow24:
		return minutesPerDay, true
	case h > 23:
		return 0, false
	}
	return h*60 + m, true
}

func twoDigits(a, b byte) (int, bool) {
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

// date is a calendar date in a schedule's zone.
type date struct {
	year  int
	month time.Month
	day   int
}

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

// parseDate reads "YYYY-MM-DD" and refuses dates that don't exist, such as
// 2026-02-30, which time.Date would quietly move to March.
func parseDate(v string) (date, bool) {
	if len(v) != 10 || v[4] != '-' || v[7] != '-' {
		return date{}, false
	}
	hi, ok1 := twoDigits(v[0], v[1])
	lo, ok2 := twoDigits(v[2], v[3])
	m, ok3 := twoDigits(v[5], v[6])
	d, ok4 := twoDigits(v[8], v[9])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return date{}, false
	}
	want := date{hi*100 + lo, time.Month(m), d}
	return want, dateOf(time.Date(want.year, want.month, want.day, 12, 0, 0, 0, time.UTC)) == want
}

func (d date) addDays(n int) date {
	return dateOf(time.Date(d.year, d.month, d.day+n, 12, 0, 0, 0, time.UTC))
}

func (d date) weekday() time.Weekday {
	return time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC).Weekday()
}

// iso spells d as an exception's Date, into an array so that comparing it
// with a string does not allocate.
func (d date) iso() [10]byte {
	var b [10]byte
	y := d.year
	for i := 3; i >= 0; i-- {
		b[i] = byte('0' + y%10)
		y /= 10
	}
	b[4], b[5], b[6] = '-', byte('0'+int(d.month)/10), byte('0'+int(d.month)%10)
	b[7], b[8], b[9] = '-', byte('0'+d.day/10), byte('0'+d.day%10)
	return b
}

// intervalsOn returns the intervals that start on d: its exception's if it
// has one, else its weekday's.
func (s Schedule) intervalsOn(d date) []Interval {
	if len(s.Exceptions) > 0 && d.year >= 0 && d.year <= 9999 {
		key := d.iso()
		for _, ex := range s.Exceptions {
			if ex.Date == string(key[:]) {
				return ex.Intervals
			}
		}
	}
	return s.Weekly[weekdayKeys[d.weekday()]]
}

// minutes reads an interval as minutes after the midnight that starts its
// day, the end past minutesPerDay when it runs overnight.
func (iv Interval) minutes() (start, end int, ok bool) {
	start, okStart := parseClock(iv.Start, false)
	end, okEnd := parseClock(iv.End, true)
	if !okStart || !okEnd || start == end {
		return 0, 0, false
	}
	if end < start {
		end += minutesPerDay
	}
	return start, end, true
}

// occurrence returns the instants an interval of day d opens and closes, and
// false when it covers no time at all, as one lying wholly in a
// daylight-saving gap does.
func occurrence(d date, start, end int, loc *time.Location) (from, until time.Time, ok bool) {
	from, until = instant(d, start, loc), instant(d, end, loc)
	return from, until, from.Before(until)
}

// instant returns the first instant at which the clock in loc shows the wall
// time minutes after the midnight starting d, or a later time; minutes may
// pass a day. This is the package's daylight-saving rule: a time in a
// spring-forward gap becomes the end of the gap, and a time the clock shows
// twice becomes its first occurrence. time.Date guarantees neither.
func instant(d date, minutes int, loc *time.Location) time.Time {
	want := time.Date(d.year, d.month, d.day, 0, minutes, 0, 0, time.UTC).Unix()
	t := time.Date(d.year, d.month, d.day, 0, minutes, 0, 0, loc)
	_, offset := t.Zone()
	switch wall := t.Unix() + int64(offset); {
	case wall < want:
		// In a gap, placed before it: the gap ends where t's zone does.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
		return t
	case wall > want:
		// In a gap, placed after it: the gap ended where t's zone began.
		start, _ := t.ZoneBounds()
		if !start.IsZero() {
			return start
		}
		return t
	}
	// If the clock went back when t's zone began, the same wall time may have
	// been shown earlier, under the previous, larger offset.
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return t
	}
	_, before := start.Add(-time.Second).Zone()
	if before <= offset {
		return t
	}
	first := t.Add(-time.Duration(before-offset) * time.Second)
	if _, firstOffset := first.Zone(); first.Before(start) && first.Unix()+int64(firstOffset) == want {
		return first
	}
	return t
}

// lastStartedDay returns the latest local date that has begun by t. That is
// t's own date, except just after a clock went back across midnight, when it
// shows the previous date again after the next one began: in
// America/St_Johns on 2010-11-07 00:01 NDT became 2010-11-06 23:01 NST.
func lastStartedDay(t time.Time, loc *time.Location) date {
	d := dateOf(t.In(loc))
	for !instant(d.addDays(1), 0, loc).After(t) {
		d = d.addDays(1)
	}
	return d
}

// coverEnd reports whether the schedule is open at t and, if so, the latest
// close of the intervals covering t. Only intervals of the last day begun by
// t and of the day before can cover t: a later day's intervals have not
// opened, and an interval closes by the midnight two days after its start.
func (s Schedule) coverEnd(t time.Time, loc *time.Location) (end time.Time, open bool) {
	today := lastStartedDay(t, loc)
	yesterday := today.addDays(-1)
	for _, d := range [2]date{yesterday, today} {
		for _, iv := range s.intervalsOn(d) {
			start, stop, ok := iv.minutes()
			if !ok || (d == yesterday && stop <= minutesPerDay) {
				continue
			}
			from, until, ok := occurrence(d, start, stop, loc)
			if ok && !t.Before(from) && t.Before(until) && until.After(end) {
				end, open = until, true
			}
		}
	}
	return end, open
}

// IsOpen reports whether the schedule is open at t.
func (s Schedule) IsOpen(t time.Time) bool {
	loc, err := s.Location()
	if err != nil {
		return false
	}
	_, open := s.coverEnd(t, loc)
	return open
}

// NextOpen returns the first instant at or after t at which the schedule is
// open, in the schedule's zone: t itself when open at t. It returns false
// when the schedule does not open within HorizonDays days of t.
func (s Schedule) NextOpen(t time.Time) (time.Time, bool) {
	loc, err := s.Location()
	if err != nil {
		return time.Time{}, false
	}
	if _, open := s.coverEnd(t, loc); open {
		return t.In(loc), true
	}
	// Intervals of earlier days opened before t. Openings only move later
	// from one day to the next, so the first day with one has the answer.
	today := dateOf(t.In(loc))
	for i := 0; i <= HorizonDays; i++ {
		d := today.addDays(i)
		var best time.Time
		for _, iv := range s.intervalsOn(d) {
			start, stop, ok := iv.minutes()
			if !ok {
				continue
			}
			from, _, ok := occurrence(d, start, stop, loc)
			if ok && from.After(t) && (best.IsZero() || from.Before(best)) {
				best = from
			}
		}
		if !best.IsZero() {
			return best, true
		}
	}
	return time.Time{}, false
}

// NextClose returns the first instant at or after t at which the schedule is
// closed, in the schedule's zone: t itself when closed at t. Touching
// intervals count as one opening, so Sunday's 22:00-24:00 followed by Monday's
// 00:00-06:00 closes at 06:00. It returns false when the schedule stays open
// for HorizonDays days, as one open around the clock does.
func (s Schedule) NextClose(t time.Time) (time.Time, bool) {
	loc, err := s.Location()
	if err != nil {
		return t, true
	}
	limit := t.AddDate(0, 0, HorizonDays)
	at := t
	for {
		end, open := s.coverEnd(at, loc)
		if !open {
			return at.In(loc), true
		}
		if end.After(limit) {
			return time.Time{}, false
		}
		at = end
	}
}

// ClosedPeriodStart returns the instant the closed period containing t began,
// in the schedule's zone: the last close at or before t. Every instant of one
// closed period maps to the same instant and the next closed period to a later
// one, which is what lets routing deflect at most once per session and closed
// period; compare results with time.Time.Equal.
//
// When the schedule did not close within HorizonDays days before t, as one
// that is never open, the result is the zero Time: all such instants share
// one period. (A closed period longer than the horizon thus has two keys, its
// real start and, once that is out of reach, the zero Time.) When the schedule
// is open at t there is no closed period and the result is t itself.
func (s Schedule) ClosedPeriodStart(t time.Time) time.Time {
	loc, err := s.Location()
	if err != nil {
		return time.Time{}
	}
	if _, open := s.coverEnd(t, loc); open {
		return t.In(loc)
	}
	// Intervals of days that have not begun by t have not closed either.
	today := lastStartedDay(t, loc)
	var best time.Time
	for i := 0; i <= HorizonDays; i++ {
		d := today.addDays(-i)
		// Intervals of d and earlier days close by midnight two days after d.
		if !best.IsZero() && !instant(d.addDays(2), 0, loc).After(best) {
			break
		}
		for _, iv := range s.intervalsOn(d) {
			start, stop, ok := iv.minutes()
			if !ok {
				continue
			}
			_, until, ok := occurrence(d, start, stop, loc)
			if ok && !until.After(t) && until.After(best) {
				best = until
			}
		}
	}
	return best
}

// Validate reports the first problem of the settings as a *ValidationError,
// or nil. Hours are checked when deflection is enabled or any hours are
// given: a disabled level may be saved without hours or message, but never
// with wrong hours. The length limit applies either way, since the message
// is stored either way.
func (s Settings) Validate() error {
	if s.Enabled || s.Hours.Timezone != "" || len(s.Hours.Weekly) > 0 || len(s.Hours.Exceptions) > 0 {
		if err := s.Hours.Validate(); err != nil {
			return err
		}
	}
	if s.Enabled && strings.TrimSpace(s.Message) == "" {
		return &ValidationError{
			Field:   "message",
			Code:    CodeMessageRequired,
			Message: "a message is required to enable deflection",
		}
	}
	if n := utf8.RuneCountInString(s.Message); n > MaxMessageLength {
		return &ValidationError{
			Field:   "message",
			Code:    CodeMessageTooLong,
			Message: fmt.Sprintf("the message has %d characters: at most %d are allowed", n, MaxMessageLength),
		}
	}
	return nil
}

// RenderMessage returns msg with every NextOpenPlaceholder replaced by the
// next opening time in loc (UTC when nil), as a contact reads it on a phone:
// "Mon 09:00 EST" when it falls within the six days after now's date, where a
// weekday name is unambiguous, else "Mon Jan 4 09:00 EST". A zone without a
// lettered abbreviation shows its offset, "UTC+14". When ok is false (the
// schedule does not open within HorizonDays) the placeholder becomes "soon".
//
// now is the caller's clock, passed in so that the text is reproducible.
func RenderMessage(msg string, now, nextOpen time.Time, ok bool, loc *time.Location) string {
	if !strings.Contains(msg, NextOpenPlaceholder) {
		return msg
	}
	return strings.ReplaceAll(msg, NextOpenPlaceholder, formatNextOpen(now, nextOpen, ok, loc))
}

func formatNextOpen(now, nextOpen time.Time, ok bool, loc *time.Location) string {
	if !ok {
		return noNextOpen
	}
	if loc == nil {
		loc = time.UTC
	}
	local := nextOpen.In(loc)
	layout := "Mon 15:04"
	if days := daysBetween(dateOf(now.In(loc)), dateOf(local)); days < 0 || days > 6 {
		layout = "Mon Jan 2 15:04"
	}
	zone, _ := local.Zone()
	if strings.HasPrefix(zone, "+") || strings.HasPrefix(zone, "-") {
		zone = "UTC" + zone
	}
	return local.Format(layout) + " " + zone
}

func daysBetween(from, to date) int {
	a := time.Date(from.year, from.month, from.day, 0, 0, 0, 0, time.UTC)
	b := time.Date(to.year, to.month, to.day, 0, 0, 0, 0, time.UTC)
	return int(b.Sub(a).Hours() / 24)
}
