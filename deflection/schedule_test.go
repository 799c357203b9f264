package deflection

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

const (
	newYork    = "America/New_York"
	kiritimati = "Pacific/Kiritimati"
)

// ivl is an Interval literal that keeps the tables one line per case.
func ivl(start, end string) Interval {
	return Interval{Start: start, End: end}
}

// closedOn is an exception closing date all day.
func closedOn(date string) Exception {
	return Exception{Date: date, Intervals: []Interval{}}
}

func schedule(zone string, weekly map[string][]Interval, exceptions ...Exception) Schedule {
	return Schedule{Timezone: zone, Weekly: weekly, Exceptions: exceptions}
}

// mustTime parses an RFC 3339 instant; the offset in the literal says which
// side of a daylight-saving change is meant.
func mustTime(t *testing.T, v string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("parse %q: %v", v, err)
	}
	return at
}

type isOpenCase struct {
	name string
	s    Schedule
	at   string
	want bool
}

func runIsOpen(t *testing.T, cases []isOpenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.s.IsOpen(mustTime(t, tc.at)); got != tc.want {
				t.Errorf("IsOpen(%s): got %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestIsOpen_IntervalOpensAtStartAndClosesAtEnd(t *testing.T) {
	t.Parallel()
	monday := schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}})
	runIsOpen(t, []isOpenCase{
		{"second before start is closed", monday, "2026-03-02T08:59:59-05:00", false},
		{"start is open", monday, "2026-03-02T09:00:00-05:00", true},
		{"last second is open", monday, "2026-03-02T16:59:59-05:00", true},
		{"end is closed", monday, "2026-03-02T17:00:00-05:00", false},
		{"other weekday is closed", monday, "2026-03-03T10:00:00-05:00", false},
		{"instant in another zone is read in the schedule's", monday, "2026-03-02T14:30:00Z", true},
	})
}

func TestIsOpen_OvernightIntervalSpillsIntoNextDay(t *testing.T) {
	t.Parallel()
	friday := schedule(newYork, map[string][]Interval{"fri": {ivl("22:00", "06:00")}})
	sunday := schedule(newYork, map[string][]Interval{"sun": {ivl("22:00", "06:00")}})
	runIsOpen(t, []isOpenCase{
		{"closed before start on its own day", friday, "2026-03-06T21:59:59-05:00", false},
		{"open from start on its own day", friday, "2026-03-06T22:00:00-05:00", true},
		{"open after midnight on the next day", friday, "2026-03-07T05:59:59-05:00", true},
		{"closed at end on the next day", friday, "2026-03-07T06:00:00-05:00", false},
		{"next day's evening is closed", friday, "2026-03-07T23:00:00-05:00", false},
		{"sunday evening is open", sunday, "2026-03-01T23:00:00-05:00", true},
		{"sunday interval wraps into monday", sunday, "2026-03-02T05:00:00-05:00", true},
		{"monday closes at end of sunday interval", sunday, "2026-03-02T06:00:00-05:00", false},
	})
}

func TestIsOpen_End2400IsMidnightEndingTheDay(t *testing.T) {
	t.Parallel()
	evening := schedule(newYork, map[string][]Interval{"mon": {ivl("18:00", "24:00")}})
	touching := schedule(newYork, map[string][]Interval{"mon": {ivl("18:00", "24:00")}, "tue": {ivl("00:00", "02:00")}})
	wholeDay := schedule(newYork, map[string][]Interval{"sat": {ivl("00:00", "24:00")}})
	runIsOpen(t, []isOpenCase{
		{"last second of the day is open", evening, "2026-03-02T23:59:59-05:00", true},
		{"midnight is closed", evening, "2026-03-03T00:00:00-05:00", false},
		{"touching next-day interval keeps it open at midnight", touching, "2026-03-03T00:00:00-05:00", true},
		{"00:00-24:00 opens at midnight", wholeDay, "2026-03-07T00:00:00-05:00", true},
		{"00:00-24:00 is open at the last second", wholeDay, "2026-03-07T23:59:59-05:00", true},
		{"00:00-24:00 does not reach the next day", wholeDay, "2026-03-08T00:00:00-05:00", false},
	})
}

func TestIsOpen_ExceptionReplacesWeekdayIntervals(t *testing.T) {
	t.Parallel()
	weekdays := map[string][]Interval{"thu": {ivl("09:00", "17:00")}, "fri": {ivl("09:00", "17:00")}}
	christmas := schedule(newYork, weekdays, closedOn("2026-12-25"))
	eve := schedule(newYork, weekdays, Exception{Date: "2026-12-24", Intervals: []Interval{ivl("09:00", "12:00")}})
	saturday := schedule(newYork, weekdays, Exception{Date: "2026-12-26", Intervals: []Interval{ivl("10:00", "14:00")}})
	runIsOpen(t, []isOpenCase{
		{"closed-all-day exception closes a working day", christmas, "2026-12-25T12:00:00-05:00", false},
		{"closed-all-day exception leaves the day before", christmas, "2026-12-24T12:00:00-05:00", true},
		{"closed-all-day exception leaves the same weekday next week", christmas, "2027-01-01T12:00:00-05:00", true},
		{"special hours are open", eve, "2026-12-24T11:59:59-05:00", true},
		{"weekly hours beyond special hours are closed", eve, "2026-12-24T13:00:00-05:00", false},
		{"special hours open a weekly-closed day", saturday, "2026-12-26T12:00:00-05:00", true},
	})
}

func TestIsOpen_ExceptionOvernightIntervalSpillsIntoNextDay(t *testing.T) {
	t.Parallel()
	newYearsEve := schedule(newYork, nil, Exception{Date: "2026-12-31", Intervals: []Interval{ivl("20:00", "02:00")}})
	runIsOpen(t, []isOpenCase{
		{"open on the exception date", newYearsEve, "2026-12-31T23:00:00-05:00", true},
		{"open after midnight", newYearsEve, "2027-01-01T01:59:59-05:00", true},
		{"closed at end", newYearsEve, "2027-01-01T02:00:00-05:00", false},
	})
}

func TestIsOpen_OvernightIntervalRunsIntoClosedExceptionDate(t *testing.T) {
	t.Parallel()
	// The Christmas Eve night shift belongs to Thursday; closing Friday the
	// 25th closes the shift that would have started that evening.
	nights := schedule(newYork, map[string][]Interval{"thu": {ivl("22:00", "06:00")}, "fri": {ivl("22:00", "06:00")}}, closedOn("2026-12-25"))
	runIsOpen(t, []isOpenCase{
		{"previous evening's interval runs past midnight", nights, "2026-12-25T05:00:00-05:00", true},
		{"previous evening's interval still ends at its end", nights, "2026-12-25T06:00:00-05:00", false},
		{"exception date's own interval does not open", nights, "2026-12-25T23:00:00-05:00", false},
		{"and does not spill into the next day", nights, "2026-12-26T05:00:00-05:00", false},
	})
}

func TestIsOpen_SpringForwardWallTimeInGapIsEndOfGap(t *testing.T) {
	t.Parallel()
	// 2026-03-08 in America/New_York: 02:00 EST is followed by 03:00 EDT.
	sunday := func(ivs ...Interval) Schedule {
		return schedule(newYork, map[string][]Interval{"sun": ivs})
	}
	endsInGap := sunday(ivl("01:00", "02:30"))
	startsInGap := sunday(ivl("02:30", "05:00"))
	insideGap := sunday(ivl("02:00", "02:30"))
	overnightIntoGap := schedule(newYork, map[string][]Interval{"sat": {ivl("22:00", "02:30")}})
	wholeDay := sunday(ivl("00:00", "24:00"))
	morning := sunday(ivl("09:00", "17:00"))
	runIsOpen(t, []isOpenCase{
		{"interval ending in gap is open before the gap", endsInGap, "2026-03-08T01:59:59-05:00", true},
		{"interval ending in gap closes at 03:00 EDT", endsInGap, "2026-03-08T03:00:00-04:00", false},
		{"interval starting in gap is closed before the gap", startsInGap, "2026-03-08T01:59:59-05:00", false},
		{"interval starting in gap opens at 03:00 EDT", startsInGap, "2026-03-08T03:00:00-04:00", true},
		{"interval starting in gap still closes at 05:00 EDT", startsInGap, "2026-03-08T05:00:00-04:00", false},
		{"interval inside gap is closed before it", insideGap, "2026-03-08T01:59:59-05:00", false},
		{"interval inside gap is closed after it", insideGap, "2026-03-08T03:00:00-04:00", false},
		{"overnight interval ending in gap is open before it", overnightIntoGap, "2026-03-08T01:30:00-05:00", true},
		{"overnight interval ending in gap closes at 03:00 EDT", overnightIntoGap, "2026-03-08T03:00:00-04:00", false},
		{"whole day is open at its last second", wholeDay, "2026-03-08T23:59:59-04:00", true},
		{"whole day closes at midnight EDT", wholeDay, "2026-03-09T00:00:00-04:00", false},
		{"09:00 after the change is 09:00 EDT", morning, "2026-03-08T09:00:00-04:00", true},
		{"08:59 EDT is before 09:00", morning, "2026-03-08T08:59:59-04:00", false},
	})
}

func TestIsOpen_FallBackRepeatedWallTimeIsFirstOccurrence(t *testing.T) {
	t.Parallel()
	// 2026-11-01 in America/New_York: 01:00-02:00 is shown in EDT, then
	// again in EST.
	sunday := func(ivs ...Interval) Schedule {
		return schedule(newYork, map[string][]Interval{"sun": ivs})
	}
	startsInRepeat := sunday(ivl("01:30", "02:00"))
	endsInRepeat := sunday(ivl("01:00", "01:30"))
	overnightIntoRepeat := schedule(newYork, map[string][]Interval{"sat": {ivl("22:00", "01:30")}})
	wholeDay := sunday(ivl("00:00", "24:00"))
	runIsOpen(t, []isOpenCase{
		{"closed before first 01:30", startsInRepeat, "2026-11-01T01:29:59-04:00", false},
		{"opens at first 01:30, EDT", startsInRepeat, "2026-11-01T01:30:00-04:00", true},
		{"stays open through repeated 01:15 EST", startsInRepeat, "2026-11-01T01:15:00-05:00", true},
		{"open at 01:59 EST", startsInRepeat, "2026-11-01T01:59:59-05:00", true},
		{"closes at 02:00 EST", startsInRepeat, "2026-11-01T02:00:00-05:00", false},
		{"open at first 01:15, EDT", endsInRepeat, "2026-11-01T01:15:00-04:00", true},
		{"closes at first 01:30, EDT", endsInRepeat, "2026-11-01T01:30:00-04:00", false},
		{"repeated 01:15 EST is closed", endsInRepeat, "2026-11-01T01:15:00-05:00", false},
		{"overnight interval closes at first 01:30", overnightIntoRepeat, "2026-11-01T01:30:00-04:00", false},
		{"overnight interval is closed in the repeated hour", overnightIntoRepeat, "2026-11-01T01:00:00-05:00", false},
		{"whole day lasts 25 hours", wholeDay, "2026-11-01T23:59:59-05:00", true},
	})
}

func TestIsOpen_UsesLocalDateOfZoneFarFromUTC(t *testing.T) {
	t.Parallel()
	// Pacific/Kiritimati is UTC+14: its Monday morning is Sunday in UTC.
	monday := schedule(kiritimati, map[string][]Interval{"mon": {ivl("09:00", "17:00")}})
	sunday := schedule(kiritimati, map[string][]Interval{"sun": {ivl("09:00", "17:00")}})
	tuesdayOff := schedule(kiritimati, map[string][]Interval{"tue": {ivl("09:00", "17:00")}}, closedOn("2026-03-10"))
	mondaySpecial := schedule(kiritimati, nil, Exception{Date: "2026-03-09", Intervals: []Interval{ivl("12:00", "13:00")}})
	runIsOpen(t, []isOpenCase{
		{"local monday open while UTC is sunday", monday, "2026-03-08T19:30:00Z", true},
		{"UTC sunday does not open local sunday hours", sunday, "2026-03-08T19:30:00Z", false},
		{"exception closes the local date", tuesdayOff, "2026-03-09T20:00:00Z", false},
		{"exception leaves the next local tuesday", tuesdayOff, "2026-03-16T20:00:00Z", true},
		{"exception special hours follow the local date", mondaySpecial, "2026-03-08T22:30:00Z", true},
	})
}

func TestIsOpen_ClockGoingBackAcrossMidnightKeepsNextDayOpen(t *testing.T) {
	t.Parallel()
	// In America/St_Johns 2010-11-07 00:01 NDT became 2010-11-06 23:01 NST:
	// Sunday had begun when the clock showed Saturday again, and Sunday's
	// first interval, opened at 00:00 NDT, runs until 00:30 NST.
	sunday := schedule("America/St_Johns", map[string][]Interval{"sun": {ivl("00:00", "00:30")}})
	runIsOpen(t, []isOpenCase{
		{"open at first midnight", sunday, "2010-11-07T00:00:00-02:30", true},
		{"open while the clock shows saturday again", sunday, "2010-11-06T23:30:00-03:30", true},
		{"closes at 00:30 NST", sunday, "2010-11-07T00:30:00-03:30", false},
	})
	closed := sunday.ClosedPeriodStart(mustTime(t, "2010-11-07T01:00:00-03:30"))
	if want := mustTime(t, "2010-11-07T00:30:00-03:30"); !closed.Equal(want) {
		t.Errorf("ClosedPeriodStart: got %s, want %s", closed, want)
	}
}

func TestIsOpen_UnknownZoneIsNeverOpen(t *testing.T) {
	t.Parallel()
	s := schedule("Mars/Olympus_Mons", map[string][]Interval{"mon": {ivl("00:00", "24:00")}})
	if got := s.IsOpen(mustTime(t, "2026-03-02T12:00:00Z")); got {
		t.Errorf("IsOpen: got %v, want false", got)
	}
}

func TestIsOpen_DoesNotAllocate(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	s := benchmarkSchedule()
	at := mustTime(t, "2026-12-24T10:00:00-05:00")
	s.IsOpen(at)
	if got := testing.AllocsPerRun(100, func() { s.IsOpen(at) }); got != 0 {
		t.Errorf("allocations per IsOpen: got %v, want 0", got)
	}
}

type searchCase struct {
	name   string
	s      Schedule
	at     string
	want   string
	wantOK bool
}

func TestNextOpen(t *testing.T) {
	t.Parallel()
	weekdays := map[string][]Interval{"mon": {ivl("09:00", "17:00")}, "tue": {ivl("09:00", "17:00")}}
	cases := []searchCase{
		{"open now returns t", schedule(newYork, weekdays), "2026-03-02T10:00:00-05:00", "2026-03-02T10:00:00-05:00", true},
		{"before opening returns the start", schedule(newYork, weekdays), "2026-03-02T08:00:00-05:00", "2026-03-02T09:00:00-05:00", true},
		{"at close returns next day's start", schedule(newYork, weekdays), "2026-03-02T17:00:00-05:00", "2026-03-03T09:00:00-05:00", true},
		{"end of week wraps to next week", schedule(newYork, weekdays), "2026-03-03T17:00:00-05:00", "2026-03-09T09:00:00-04:00", true},
		{"skips closed-all-day exception",
			schedule(newYork, map[string][]Interval{"thu": {ivl("09:00", "17:00")}, "fri": {ivl("09:00", "17:00")}}, closedOn("2026-12-25")),
			"2026-12-24T18:00:00-05:00", "2026-12-31T09:00:00-05:00", true},
		{"only exception opens after closed weeks",
			schedule(newYork, nil, Exception{Date: "2026-12-28", Intervals: []Interval{ivl("10:00", "14:00")}}),
			"2026-12-14T12:00:00-05:00", "2026-12-28T10:00:00-05:00", true},
		{"opening in spring-forward gap is 03:00 EDT",
			schedule(newYork, map[string][]Interval{"sun": {ivl("02:30", "05:00")}}),
			"2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00", true},
		{"opening in fall-back repeat is its first occurrence",
			schedule(newYork, map[string][]Interval{"sun": {ivl("01:30", "02:00")}}),
			"2026-11-01T00:00:00-04:00", "2026-11-01T01:30:00-04:00", true},
		{"opening follows local date far from UTC",
			schedule(kiritimati, map[string][]Interval{"mon": {ivl("09:00", "17:00")}}),
			"2026-03-08T12:00:00Z", "2026-03-08T19:00:00Z", true},
		{"exception within horizon is found",
			schedule(newYork, nil, Exception{Date: "2027-01-20", Intervals: []Interval{ivl("09:00", "10:00")}}),
			"2026-01-01T00:00:00-05:00", "2027-01-20T09:00:00-05:00", true},
		{"exception beyond horizon returns false",
			schedule(newYork, nil, Exception{Date: "2027-03-01", Intervals: []Interval{ivl("09:00", "10:00")}}),
			"2026-01-01T00:00:00-05:00", "", false},
		{"never-open schedule returns false", schedule(newYork, nil), "2026-03-02T10:00:00-05:00", "", false},
		{"unknown zone returns false", schedule("Nowhere/Special", weekdays), "2026-03-02T08:00:00-05:00", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.s.NextOpen(mustTime(t, tc.at))
			checkSearch(t, tc, got, ok)
		})
	}
}

func TestNextClose(t *testing.T) {
	t.Parallel()
	always := map[string][]Interval{}
	for _, key := range weekdayKeys {
		always[key] = []Interval{ivl("00:00", "24:00")}
	}
	cases := []searchCase{
		{"open returns the interval's end",
			schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}}),
			"2026-03-02T10:00:00-05:00", "2026-03-02T17:00:00-05:00", true},
		{"closed now returns t",
			schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}}),
			"2026-03-02T18:00:00-05:00", "2026-03-02T18:00:00-05:00", true},
		{"touching intervals across midnight are one opening",
			schedule(newYork, map[string][]Interval{"sun": {ivl("22:00", "24:00")}, "mon": {ivl("00:00", "06:00")}}),
			"2026-03-01T23:00:00-05:00", "2026-03-02T06:00:00-05:00", true},
		{"touching intervals within a day are one opening",
			schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "12:00"), ivl("12:00", "17:00")}}),
			"2026-03-02T10:00:00-05:00", "2026-03-02T17:00:00-05:00", true},
		{"interval ending in spring-forward gap closes at 03:00 EDT",
			schedule(newYork, map[string][]Interval{"sun": {ivl("01:00", "02:30")}}),
			"2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", true},
		{"interval ending after fall-back repeat closes at 02:00 EST",
			schedule(newYork, map[string][]Interval{"sun": {ivl("01:30", "02:00")}}),
			"2026-11-01T01:45:00-04:00", "2026-11-01T02:00:00-05:00", true},
		{"open around the clock returns false", schedule(newYork, always), "2026-03-02T10:00:00-05:00", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.s.NextClose(mustTime(t, tc.at))
			checkSearch(t, tc, got, ok)
		})
	}
}

func checkSearch(t *testing.T, tc searchCase, got time.Time, ok bool) {
	t.Helper()
	if ok != tc.wantOK {
		t.Fatalf("ok: got %v (%s), want %v", ok, got, tc.wantOK)
	}
	if !ok {
		return
	}
	if want := mustTime(t, tc.want); !got.Equal(want) {
		t.Errorf("got %s, want %s", got, want)
	}
	if zone := got.Location().String(); zone != tc.s.Timezone {
		t.Errorf("location: got %s, want %s", zone, tc.s.Timezone)
	}
}

func TestClosedPeriodStart_SameForEveryInstantOfOnePeriod(t *testing.T) {
	t.Parallel()
	nineToFive := []Interval{ivl("09:00", "17:00")}
	workweek := schedule(newYork, map[string][]Interval{"mon": nineToFive, "tue": nineToFive, "wed": nineToFive, "thu": nineToFive, "fri": nineToFive})
	cases := []struct {
		name     string
		s        Schedule
		instants []string
		want     string
	}{
		{"overnight between working days", workweek,
			[]string{"2026-03-02T17:00:00-05:00", "2026-03-02T23:59:59-05:00", "2026-03-03T08:59:59-05:00"},
			"2026-03-02T17:00:00-05:00"},
		{"weekend across spring forward", workweek,
			[]string{"2026-03-06T17:00:00-05:00", "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T08:59:59-04:00"},
			"2026-03-06T17:00:00-05:00"},
		{"weekend across fall back", workweek,
			[]string{"2026-10-30T17:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-02T08:59:59-05:00"},
			"2026-10-30T17:00:00-04:00"},
		{"closed-all-day exception joins the evening before",
			schedule(newYork, map[string][]Interval{"thu": nineToFive, "fri": nineToFive}, closedOn("2026-12-25")),
			[]string{"2026-12-24T17:00:00-05:00", "2026-12-25T12:00:00-05:00", "2026-12-27T12:00:00-05:00"},
			"2026-12-24T17:00:00-05:00"},
		{"overnight interval starts the period at its end",
			schedule(newYork, map[string][]Interval{"fri": {ivl("22:00", "06:00")}}),
			[]string{"2026-03-07T06:00:00-05:00", "2026-03-10T12:00:00-04:00", "2026-03-13T21:59:59-04:00"},
			"2026-03-07T06:00:00-05:00"},
		{"local date far from UTC",
			schedule(kiritimati, map[string][]Interval{"mon": nineToFive}),
			[]string{"2026-03-09T03:00:00Z", "2026-03-12T00:00:00Z", "2026-03-15T18:59:59Z"},
			"2026-03-09T03:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := mustTime(t, tc.want)
			for _, at := range tc.instants {
				if got := tc.s.ClosedPeriodStart(mustTime(t, at)); !got.Equal(want) {
					t.Errorf("ClosedPeriodStart(%s): got %s, want %s", at, got, want)
				}
			}
		})
	}
}

func TestClosedPeriodStart_NextClosedPeriodHasLaterStart(t *testing.T) {
	t.Parallel()
	s := schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}, "tue": {ivl("09:00", "17:00")}})
	first := s.ClosedPeriodStart(mustTime(t, "2026-03-02T23:00:00-05:00"))
	second := s.ClosedPeriodStart(mustTime(t, "2026-03-03T23:00:00-05:00"))
	if !second.After(first) {
		t.Fatalf("second period: got %s, want after %s", second, first)
	}
	if want := mustTime(t, "2026-03-03T17:00:00-05:00"); !second.Equal(want) {
		t.Errorf("second period: got %s, want %s", second, want)
	}
}

func TestClosedPeriodStart_NeverOpenScheduleIsZeroTime(t *testing.T) {
	t.Parallel()
	for _, s := range []Schedule{schedule(newYork, nil), schedule("Nowhere/Special", nil)} {
		if got := s.ClosedPeriodStart(mustTime(t, "2026-03-02T12:00:00Z")); !got.IsZero() {
			t.Errorf("%s: got %s, want the zero Time", s.Timezone, got)
		}
	}
}

func TestClosedPeriodStart_OpenInstantIsItself(t *testing.T) {
	t.Parallel()
	s := schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}})
	at := mustTime(t, "2026-03-02T10:00:00-05:00")
	if got := s.ClosedPeriodStart(at); !got.Equal(at) {
		t.Errorf("got %s, want %s", got, at)
	}
}

func TestScheduleValidate(t *testing.T) {
	t.Parallel()
	nine := []Interval{ivl("09:00", "17:00")}
	cases := []struct {
		name      string
		s         Schedule
		wantField string
		wantCode  string
	}{
		{"zone without hours is valid", schedule(newYork, nil), "", ""},
		{"24:00 end is valid", schedule(newYork, map[string][]Interval{"mon": {ivl("18:00", "24:00")}}), "", ""},
		{"00:00-24:00 is valid", schedule(newYork, map[string][]Interval{"mon": {ivl("00:00", "24:00")}}), "", ""},
		{"00:00 end of overnight interval is valid", schedule(newYork, map[string][]Interval{"mon": {ivl("22:00", "00:00")}}), "", ""},
		{"touching intervals are valid", schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "12:00"), ivl("12:00", "17:00")}}), "", ""},
		{"next day may start when overnight interval ends",
			schedule(newYork, map[string][]Interval{"sun": {ivl("22:00", "06:00")}, "mon": {ivl("06:00", "10:00")}}), "", ""},
		{"exceptions closed and special are valid",
			schedule(newYork, map[string][]Interval{"fri": nine}, closedOn("2026-12-25"), Exception{Date: "2026-12-24", Intervals: []Interval{ivl("09:00", "12:00")}}), "", ""},

		{"empty zone", schedule("", nil), "hours.timezone", CodeInvalidTimezone},
		{"unknown zone", schedule("America/New_Yrok", nil), "hours.timezone", CodeInvalidTimezone},
		{"host-dependent Local zone", schedule("Local", nil), "hours.timezone", CodeInvalidTimezone},
		{"unknown weekday key", schedule(newYork, map[string][]Interval{"mon": nine, "monday": nine}), "hours.weekly.monday", CodeInvalidWeekday},
		{"hour 25", schedule(newYork, map[string][]Interval{"mon": {ivl("25:00", "26:00")}}), "hours.weekly.mon[0].start", CodeInvalidTime},
		{"hour without leading zero", schedule(newYork, map[string][]Interval{"mon": {ivl("9:00", "17:00")}}), "hours.weekly.mon[0].start", CodeInvalidTime},
		{"24:00 start", schedule(newYork, map[string][]Interval{"mon": {ivl("24:00", "06:00")}}), "hours.weekly.mon[0].start", CodeInvalidTime},
		{"minute 60 end", schedule(newYork, map[string][]Interval{"tue": {ivl("08:00", "09:00"), ivl("12:00", "12:60")}}), "hours.weekly.tue[1].end", CodeInvalidTime},
		{"24:01 end", schedule(newYork, map[string][]Interval{"mon": {ivl("18:00", "24:01")}}), "hours.weekly.mon[0].end", CodeInvalidTime},
		{"end equals start", schedule(newYork, map[string][]Interval{"wed": {ivl("09:00", "09:00")}}), "hours.weekly.wed[0]", CodeEmptyInterval},
		{"00:00-00:00", schedule(newYork, map[string][]Interval{"wed": {ivl("00:00", "00:00")}}), "hours.weekly.wed[0]", CodeEmptyInterval},
		{"overlap on one weekday", schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "12:00"), ivl("11:00", "13:00")}}), "hours.weekly.mon[1]", CodeOverlappingIntervals},
		{"overlap names the later-starting interval", schedule(newYork, map[string][]Interval{"mon": {ivl("13:00", "17:00"), ivl("09:00", "14:00")}}), "hours.weekly.mon[0]", CodeOverlappingIntervals},
		{"same start overlaps", schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "10:00"), ivl("09:00", "12:00")}}), "hours.weekly.mon[1]", CodeOverlappingIntervals},
		{"previous weekday's overnight spill overlaps",
			schedule(newYork, map[string][]Interval{"mon": {ivl("22:00", "06:00")}, "tue": {ivl("05:00", "09:00")}}), "hours.weekly.tue[0]", CodeOverlappingIntervals},
		{"sunday's overnight spill overlaps monday",
			schedule(newYork, map[string][]Interval{"sun": {ivl("22:00", "06:00")}, "mon": {ivl("05:00", "09:00")}}), "hours.weekly.mon[0]", CodeOverlappingIntervals},
		{"exception intervals overlap",
			schedule(newYork, nil, closedOn("2026-12-25"), Exception{Date: "2026-12-31", Intervals: []Interval{ivl("09:00", "12:00"), ivl("10:00", "11:00")}}),
			"hours.exceptions[1].intervals[1]", CodeOverlappingIntervals},
		{"exception overlaps previous weekday's overnight spill",
			schedule(newYork, map[string][]Interval{"thu": {ivl("22:00", "06:00")}}, Exception{Date: "2026-12-25", Intervals: []Interval{ivl("05:00", "10:00")}}),
			"hours.exceptions[0].intervals[0]", CodeOverlappingIntervals},
		{"exception overnight spill overlaps next weekday",
			schedule(newYork, map[string][]Interval{"fri": {ivl("05:00", "10:00")}}, Exception{Date: "2026-12-24", Intervals: []Interval{ivl("22:00", "06:00")}}),
			"hours.exceptions[0].intervals[0]", CodeOverlappingIntervals},
		{"month 13", schedule(newYork, nil, closedOn("2026-12-25"), closedOn("2026-13-01")), "hours.exceptions[1].date", CodeInvalidDate},
		{"february 30", schedule(newYork, nil, closedOn("2026-02-30")), "hours.exceptions[0].date", CodeInvalidDate},
		{"two-digit year", schedule(newYork, nil, closedOn("26-12-25")), "hours.exceptions[0].date", CodeInvalidDate},
		{"slashes", schedule(newYork, nil, closedOn("2026/12/25")), "hours.exceptions[0].date", CodeInvalidDate},
		{"same date twice", schedule(newYork, nil, closedOn("2026-12-25"), closedOn("2026-12-25")), "hours.exceptions[1].date", CodeDuplicateException},
		{"bad time in exception", schedule(newYork, nil, Exception{Date: "2026-12-24", Intervals: []Interval{ivl("09:00", "5pm")}}), "hours.exceptions[0].intervals[0].end", CodeInvalidTime},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkValidationError(t, tc.s.Validate(), tc.wantField, tc.wantCode)
		})
	}
}

func checkValidationError(t *testing.T, err error, wantField, wantCode string) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	if verr.Field != wantField || verr.Code != wantCode {
		t.Errorf("got %s %s (%s), want %s %s", verr.Field, verr.Code, verr.Message, wantField, wantCode)
	}
	if verr.Message == "" {
		t.Errorf("message: got empty, want an explanation")
	}
}

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	hours := schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}})
	cases := []struct {
		name      string
		s         Settings
		wantField string
		wantCode  string
	}{
		{"disabled and empty is valid", Settings{}, "", ""},
		{"enabled with hours and message is valid", Settings{Enabled: true, Hours: hours, Message: "We're closed."}, "", ""},
		{"1600 characters is valid even when multi-byte", Settings{Enabled: true, Hours: hours, Message: strings.Repeat("é", MaxMessageLength)}, "", ""},
		{"enabled without message", Settings{Enabled: true, Hours: hours}, "message", CodeMessageRequired},
		{"enabled with blank message", Settings{Enabled: true, Hours: hours, Message: " \n"}, "message", CodeMessageRequired},
		{"enabled without hours", Settings{Enabled: true, Message: "We're closed."}, "hours.timezone", CodeInvalidTimezone},
		{"disabled with invalid hours", Settings{Hours: schedule(newYork, map[string][]Interval{"mon": {ivl("9", "17")}})}, "hours.weekly.mon[0].start", CodeInvalidTime},
		{"1601 characters", Settings{Enabled: true, Hours: hours, Message: strings.Repeat("a", MaxMessageLength+1)}, "message", CodeMessageTooLong},
		{"too long while disabled", Settings{Message: strings.Repeat("a", MaxMessageLength+1)}, "message", CodeMessageTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkValidationError(t, tc.s.Validate(), tc.wantField, tc.wantCode)
		})
	}
}

func TestRenderMessage(t *testing.T) {
	t.Parallel()
	ny, err := schedule(newYork, nil).Location()
	if err != nil {
		t.Fatal(err)
	}
	kiri, err := schedule(kiritimati, nil).Location()
	if err != nil {
		t.Fatal(err)
	}
	const msg = "We're closed. We reopen {next_open}."
	friday := "2026-03-06T18:00:00-05:00"
	cases := []struct {
		name     string
		msg      string
		now      string
		nextOpen string
		ok       bool
		loc      *time.Location
		want     string
	}{
		{"same day uses weekday", msg, friday, "2026-03-06T20:00:00-05:00", true, ny, "We're closed. We reopen Fri 20:00 EST."},
		{"within six days uses weekday and new zone abbreviation", msg, friday, "2026-03-09T09:00:00-04:00", true, ny, "We're closed. We reopen Mon 09:00 EDT."},
		{"six days away uses weekday", msg, friday, "2026-03-12T09:00:00-04:00", true, ny, "We're closed. We reopen Thu 09:00 EDT."},
		{"seven days away adds the date", msg, friday, "2026-03-13T09:00:00-04:00", true, ny, "We're closed. We reopen Fri Mar 13 09:00 EDT."},
		{"instant is shown in the given zone", msg, friday, "2026-03-09T13:00:00Z", true, ny, "We're closed. We reopen Mon 09:00 EDT."},
		{"days are counted on the zone's calendar", msg, "2026-03-08T09:00:00Z", "2026-03-14T11:00:00Z", true, kiri, "We're closed. We reopen Sun Mar 15 01:00 UTC+14."},
		{"numeric zone abbreviation reads as UTC offset", msg, "2026-03-08T12:00:00Z", "2026-03-08T19:00:00Z", true, kiri, "We're closed. We reopen Mon 09:00 UTC+14."},
		{"no next opening reads soon", msg, friday, "0001-01-01T00:00:00Z", false, ny, "We're closed. We reopen soon."},
		{"nil zone is UTC", msg, friday, "2026-03-09T13:00:00Z", true, nil, "We're closed. We reopen Mon 13:00 UTC."},
		{"every placeholder is replaced", "{next_open} / {next_open}", friday, "2026-03-09T09:00:00-04:00", true, ny, "Mon 09:00 EDT / Mon 09:00 EDT"},
		{"message without placeholder is unchanged", "Closed.", friday, "2026-03-09T09:00:00-04:00", true, ny, "Closed."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := RenderMessage(tc.msg, mustTime(t, tc.now), mustTime(t, tc.nextOpen), tc.ok, tc.loc)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSchedule_JSONShapeMatchesAPI(t *testing.T) {
	t.Parallel()
	const body = `{"timezone":"America/New_York","weekly":{"mon":[{"start":"09:00","end":"17:00"}]},"exceptions":[{"date":"2026-12-25","intervals":[]}]}`
	var s Schedule
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := schedule(newYork, map[string][]Interval{"mon": {ivl("09:00", "17:00")}}, closedOn("2026-12-25"))
	if s.Timezone != want.Timezone || len(s.Weekly["mon"]) != 1 || s.Weekly["mon"][0] != want.Weekly["mon"][0] ||
		len(s.Exceptions) != 1 || s.Exceptions[0].Date != "2026-12-25" || s.Exceptions[0].Intervals == nil {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if string(out) != body {
		t.Errorf("got %s, want %s", out, body)
	}
}

func TestLocation_SharesOneZonePerName(t *testing.T) {
	t.Parallel()
	a, errA := schedule(newYork, nil).Location()
	b, errB := schedule(newYork, nil).Location()
	if errA != nil || errB != nil {
		t.Fatalf("got errors %v, %v, want none", errA, errB)
	}
	if a != b {
		t.Errorf("got two *time.Location for %s, want one shared", newYork)
	}
}

func FuzzScheduleJSON(f *testing.F) {
	seeds := []string{
		`{"timezone":"America/New_York","weekly":{"mon":[{"start":"09:00","end":"17:00"}]},"exceptions":[{"date":"2026-12-25","intervals":[]}]}`,
		`{"timezone":"America/New_York","weekly":{"sun":[{"start":"01:00","end":"02:30"},{"start":"22:00","end":"01:30"}],"sat":[{"start":"02:30","end":"02:00"}]}}`,
		`{"timezone":"Pacific/Kiritimati","weekly":{"mon":[{"start":"00:00","end":"24:00"}]},"exceptions":[{"date":"2026-03-10","intervals":[{"start":"23:00","end":"01:00"}]}]}`,
		`{"timezone":"America/Santiago","weekly":{"sat":[{"start":"23:30","end":"00:30"}],"sun":[{"start":"00:00","end":"00:30"}]}}`,
		`{"timezone":"Australia/Lord_Howe","weekly":{"sun":[{"start":"01:45","end":"02:15"}]}}`,
		`{"timezone":"Pacific/Apia","exceptions":[{"date":"2011-12-30","intervals":[{"start":"09:00","end":"10:00"}]}]}`,
		`{"timezone":"UTC"}`,
		`{"timezone":"Europe/London","weekly":{"mon":[{"start":"24:00","end":"01:00"}]}}`,
	}
	for i, seed := range seeds {
		f.Add([]byte(seed), int64(1772960000+i*86400))
	}
	f.Fuzz(func(t *testing.T, data []byte, unix int64) {
		var s Schedule
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) || verr.Field == "" || verr.Code == "" {
				t.Fatalf("Validate: got %#v, want a *ValidationError with field and code", err)
			}
			return
		}
		// Keep instants between 1970 and 2100, the years tenants live in.
		const span = 130 * 365 * 24 * 60 * 60
		at := time.Unix((unix%span+span)%span, 0)

		open := s.IsOpen(at)
		if next, ok := s.NextOpen(at); ok {
			if next.Before(at) || !s.IsOpen(next) {
				t.Fatalf("NextOpen(%s): got %s, want an open instant at or after it", at, next)
			}
			if open && !next.Equal(at) {
				t.Fatalf("NextOpen(%s) while open: got %s, want %s", at, next, at)
			}
		}
		if next, ok := s.NextClose(at); ok {
			if next.Before(at) || s.IsOpen(next) {
				t.Fatalf("NextClose(%s): got %s, want a closed instant at or after it", at, next)
			}
		}
		if !open {
			start := s.ClosedPeriodStart(at)
			if !start.IsZero() && (start.After(at) || s.IsOpen(start) || !s.ClosedPeriodStart(start).Equal(start)) {
				t.Fatalf("ClosedPeriodStart(%s): got %s, want a closed instant at or before it that starts its period", at, start)
			}
		}
	})
}

// benchmarkSchedule is a contact centre's usual hours: weekdays, a short
// Saturday, and a year of holidays.
func benchmarkSchedule() Schedule {
	day := []Interval{ivl("08:00", "12:00"), ivl("13:00", "18:00")}
	return schedule(newYork,
		map[string][]Interval{"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": {ivl("10:00", "14:00")}},
		closedOn("2026-01-01"), closedOn("2026-01-19"), closedOn("2026-02-16"), closedOn("2026-05-25"),
		closedOn("2026-07-03"), closedOn("2026-09-07"), closedOn("2026-11-26"), closedOn("2026-12-25"),
		Exception{Date: "2026-12-24", Intervals: []Interval{ivl("08:00", "12:00")}},
		Exception{Date: "2026-12-31", Intervals: []Interval{ivl("08:00", "12:00")}},
	)
}

func BenchmarkIsOpen(b *testing.B) {
	s := benchmarkSchedule()
	for _, at := range []string{"2026-12-23T10:00:00-05:00", "2026-12-25T10:00:00-05:00", "2026-12-27T03:00:00-05:00"} {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(at, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.IsOpen(t)
			}
		})
	}
}
