package deflection

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	weekdays := schedule(newYork, map[string][]Interval{
		"mon": {ivl("09:00", "17:00")}, "tue": {ivl("09:00", "17:00")},
	})
	on := Effective{Settings: Settings{Enabled: true, Hours: weekdays, Message: "Closed. Back {next_open}."}, Source: SourceTeam}
	off := on
	off.Enabled = false
	never := on
	never.Hours = schedule(newYork, nil)

	// Monday 2026-03-02 20:00 EST: closed since 17:00, opens Tuesday 09:00.
	evening := mustTime(t, "2026-03-02T20:00:00-05:00")
	eveningPeriod := mustTime(t, "2026-03-02T17:00:00-05:00")
	tuesdayNine := mustTime(t, "2026-03-03T09:00:00-05:00")
	ptr := func(v string) *time.Time { at := mustTime(t, v); return &at }

	cases := []struct {
		name            string
		eff             Effective
		now             time.Time
		deflectedPeriod *time.Time
		lastReply       *time.Time
		want            Decision
	}{
		{
			name: "closed and never deflected deflects with next opening",
			eff:  on, now: evening,
			want: Decision{Deflect: true, Period: eveningPeriod, Message: "Closed. Back Tue 09:00 EST.", NextOpen: tuesdayNine, Reason: ReasonDeflected},
		},
		{
			name: "open does not deflect",
			eff:  on, now: mustTime(t, "2026-03-02T10:00:00-05:00"),
			want: Decision{Open: true, NextOpen: mustTime(t, "2026-03-02T10:00:00-05:00"), Reason: ReasonOpen},
		},
		{
			name: "disabled does not deflect and is never closed",
			eff:  off, now: evening,
			want: Decision{Open: true, NextOpen: evening, Reason: ReasonDisabled},
		},
		{
			name: "already deflected in this closed period does not deflect again",
			eff:  on, now: evening, deflectedPeriod: ptr("2026-03-02T22:00:00Z"),
			want: Decision{Period: eveningPeriod, NextOpen: tuesdayNine, Reason: ReasonAlreadyDeflected},
		},
		{
			name: "deflected in the previous closed period deflects again",
			eff:  on, now: evening, deflectedPeriod: ptr("2026-02-24T17:00:00-05:00"),
			want: Decision{Deflect: true, Period: eveningPeriod, Message: "Closed. Back Tue 09:00 EST.", NextOpen: tuesdayNine, Reason: ReasonDeflected},
		},
		{
			name: "agent replied four minutes ago does not deflect",
			eff:  on, now: evening, lastReply: ptr("2026-03-02T19:56:00-05:00"),
			want: Decision{Period: eveningPeriod, NextOpen: tuesdayNine, Reason: ReasonAgentReplied},
		},
		{
			name: "agent replied exactly five minutes ago deflects",
			eff:  on, now: evening, lastReply: ptr("2026-03-02T19:55:00-05:00"),
			want: Decision{Deflect: true, Period: eveningPeriod, Message: "Closed. Back Tue 09:00 EST.", NextOpen: tuesdayNine, Reason: ReasonDeflected},
		},
		{
			name: "hours that never open deflect once with soon",
			eff:  never, now: evening,
			want: Decision{Deflect: true, Message: "Closed. Back soon.", Reason: ReasonDeflected},
		},
		{
			name: "hours that never open deflect once per session",
			eff:  never, now: evening, deflectedPeriod: &time.Time{},
			want: Decision{Reason: ReasonAlreadyDeflected},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Decide(tc.eff, tc.now, tc.deflectedPeriod, tc.lastReply)
			if got.Deflect != tc.want.Deflect || !got.Period.Equal(tc.want.Period) || got.Message != tc.want.Message ||
				got.Open != tc.want.Open || !got.NextOpen.Equal(tc.want.NextOpen) || got.Reason != tc.want.Reason {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
