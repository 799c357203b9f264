package reporting_test

import (
	"slices"
	"testing"
	"time"

	"directsms/internal/apperr"
	"directsms/reporting"
)

func mustLoad(t testing.TB, zone string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseRange_DatesAreLocalDaysAndTheRangeIsHalfOpen(t *testing.T) {
	t.Parallel()
	ny := mustLoad(t, "America/New_York")
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, from, to   string
		wantFrom, wantTo time.Time
		code             string
	}{
		{"the 23-hour spring-forward day", "2026-03-08", "2026-03-09", utc("2026-03-08T05:00:00Z"), utc("2026-03-09T04:00:00Z"), ""},
		{"the 25-hour fall-back day", "2026-11-01", "2026-11-02", utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"), ""},
		{"March by dates", "2026-03-01", "2026-04-01", utc("2026-03-01T05:00:00Z"), utc("2026-04-01T04:00:00Z"), ""},
		{"RFC 3339 in any offset", "2026-03-08T01:30:00-05:00", "2026-03-08T12:00:00Z", utc("2026-03-08T06:30:00Z"), utc("2026-03-08T12:00:00Z"), ""},
		{"a date and a time mixed", "2026-03-08", "2026-03-08T12:00:00Z", utc("2026-03-08T05:00:00Z"), utc("2026-03-08T12:00:00Z"), ""},
		{"a whole leap year", "2028-01-01", "2029-01-01", utc("2028-01-01T05:00:00Z"), utc("2029-01-01T05:00:00Z"), ""},
		{"a leap year and a day", "2028-01-01", "2029-01-02", time.Time{}, time.Time{}, "range_too_long"},
		{"366 local days across a DST change", "2026-03-01", "2027-03-02", utc("2026-03-01T05:00:00Z"), utc("2027-03-02T05:00:00Z"), ""},
		{"empty", "2026-03-08", "2026-03-08", time.Time{}, time.Time{}, "invalid_range"},
		{"backwards", "2026-03-09", "2026-03-08", time.Time{}, time.Time{}, "invalid_range"},
		{"no to", "2026-03-09", "", time.Time{}, time.Time{}, "required"},
		{"slashes", "2026/03/09", "2026-03-10", time.Time{}, time.Time{}, "invalid_time"},
		{"no offset", "2026-03-09T10:00:00", "2026-03-10", time.Time{}, time.Time{}, "invalid_time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := reporting.ParseRange(tc.from, tc.to, ny)
			if tc.code != "" {
				if e, ok := apperr.As(err); !ok || e.Code != tc.code {
					t.Fatalf("got %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.From.Equal(tc.wantFrom) || !r.To.Equal(tc.wantTo) {
				t.Errorf("got [%s, %s), want [%s, %s)", r.From, r.To, tc.wantFrom, tc.wantTo)
			}
		})
	}
}

func TestStartOfDay_IsTheFirstInstantOfTheLocalDate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		zone string
		date time.Time
		want string
	}{
		{"America/New_York", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-08T05:00:00Z"},
		{"America/New_York", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "2026-11-01T04:00:00Z"},
		{"Asia/Kolkata", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), "2026-03-07T18:30:00Z"},
		// São Paulo's clocks jumped from 00:00 to 01:00 on 2018-11-04: the day began at 01:00.
		{"America/Sao_Paulo", time.Date(2018, 11, 4, 0, 0, 0, 0, time.UTC), "2018-11-04T03:00:00Z"},
		// Samoa skipped 2011-12-30 entirely: the 31st began when the 29th ended.
		{"Pacific/Apia", time.Date(2011, 12, 31, 0, 0, 0, 0, time.UTC), "2011-12-30T10:00:00Z"},
	}
	for _, tc := range cases {
		t.Run(tc.zone+" "+tc.date.Format(time.DateOnly), func(t *testing.T) {
			t.Parallel()
			got := reporting.StartOfDay(tc.date.Year(), tc.date.Month(), tc.date.Day(), mustLoad(t, tc.zone))
			if got.UTC().Format(time.RFC3339) != tc.want {
				t.Errorf("got %s, want %s", got.UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestParseDimensions_RepeatsCountOnceAndOrderIsKept(t *testing.T) {
	t.Parallel()
	got, err := reporting.ParseDimensions([]string{"day, type", "type,,agent"})
	if err != nil {
		t.Fatal(err)
	}
	want := []reporting.Dimension{reporting.DimDay, reporting.DimType, reporting.DimAgent}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range [][2]string{{"2026-03-08", "2026-03-09"}, {"2026-03-08T01:30:00-05:00", "2026-11-01"}, {"", "x"}, {"9999-12-31", "0001-01-01"}} {
		f.Add(s[0], s[1])
	}
	ny := mustLoad(f, "America/New_York")
	f.Fuzz(func(t *testing.T, from, to string) {
		r, err := reporting.ParseRange(from, to, ny)
		if err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("got a non-caller error %v", err)
			}
			return
		}
		if !r.To.After(r.From) || r.To.Sub(r.From) > 367*24*time.Hour {
			t.Fatalf("accepted [%s, %s)", r.From, r.To)
		}
	})
}

func FuzzParseDimensions(f *testing.F) {
	f.Add("type,agent,queue,team,number,day,hour")
	f.Add(" day ,, hour,day")
	f.Add("colour")
	f.Fuzz(func(t *testing.T, in string) {
		dims, err := reporting.ParseDimensions([]string{in})
		if err != nil {
			if e, ok := apperr.As(err); !ok || e.Field != "group_by" {
				t.Fatalf("got %v, want a 422 on group_by", err)
			}
			return
		}
		for i, d := range dims {
			if !slices.Contains(reporting.Dimensions, d) || slices.Contains(dims[:i], d) {
				t.Fatalf("got %v", dims)
			}
		}
	})
}
