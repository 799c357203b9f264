package directory_test

import (
	"reflect"
	"sort"
	"testing"

	"directsms/directory"
	"directsms/internal/apperr"
)

func TestEligibleMembers_ReasonsAndCapacityInOneAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	support := f.team("Support")
	ready := f.user("ready", directory.StatusAvailable, support)
	away := f.user("away", directory.StatusAway, support)
	smsOff := f.user("smsoff", directory.StatusAvailable, support)
	direct := f.user("direct", directory.StatusAvailable, f.team("Other"))
	gone := f.user("gone", directory.StatusAvailable, support)
	f.setChannel(smsOff, directory.ChannelSMS, directory.ChannelUpdate{Enabled: ptr(false)})
	f.setChannel(direct, directory.ChannelSMS, directory.ChannelUpdate{Capacity: directory.NullableOf(9)})
	if err := f.store.DeactivateUser(f.ctx, f.admin, gone); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	queue := f.queue("Sales", directory.QueueMembers{TeamIDs: []string{support}, UserIDs: []string{direct}})

	got, err := f.store.EligibleMembers(f.ctx, f.admin.TenantID, queue, directory.ChannelSMS)
	if err != nil {
		t.Fatalf("eligible members: %v", err)
	}
	byID := map[string]directory.Eligibility{}
	for _, e := range got {
		byID[e.UserID] = e
	}
	cases := []struct {
		name     string
		id       string
		eligible bool
		reason   directory.IneligibleReason
		capacity int
		source   directory.CapacitySource
	}{
		{"available with sms on, through the team", ready, true, "", 4, directory.CapacityFromGlobal},
		{"away is not available", away, false, directory.ReasonNotAvailable, 4, directory.CapacityFromGlobal},
		{"sms disabled for the user though the team is a member", smsOff, false, directory.ReasonChannelDisabled, 4, directory.CapacityFromGlobal},
		{"direct member with a capacity override", direct, true, "", 9, directory.CapacityFromUser},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, ok := byID[tc.id]
			if !ok {
				t.Fatalf("got no row for the user, want one")
			}
			if e.Eligible != tc.eligible || e.Reason != tc.reason || e.Capacity != tc.capacity || e.CapacitySource != tc.source {
				t.Fatalf("got %+v, want eligible=%v reason=%q capacity=%d source=%s", e, tc.eligible, tc.reason, tc.capacity, tc.source)
			}
		})
	}
	if _, ok := byID[gone]; ok || len(got) != 4 {
		t.Fatalf("got %d members (deactivated included: %v), want 4 without the deactivated user", len(got), ok)
	}
}

func TestEligible_DisabledSMSIsIneligibleWhateverTheTeamHas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	team := f.team("Support")
	u := f.user("ann", directory.StatusAvailable, team)
	f.queue("Sales", directory.QueueMembers{TeamIDs: []string{team}})

	e, err := f.store.Eligible(f.ctx, f.admin.TenantID, u, directory.ChannelSMS)
	if err != nil || !e.Eligible {
		t.Fatalf("got %+v, %v; want eligible before sms is turned off", e, err)
	}
	f.setChannel(u, directory.ChannelSMS, directory.ChannelUpdate{Enabled: ptr(false)})
	e, err = f.store.Eligible(f.ctx, f.admin.TenantID, u, directory.ChannelSMS)
	if err != nil || e.Eligible || e.Reason != directory.ReasonChannelDisabled {
		t.Fatalf("got %+v, %v; want ineligible with reason channel_disabled", e, err)
	}
	voice, err := f.store.Eligible(f.ctx, f.admin.TenantID, u, directory.ChannelVoice)
	if err != nil || !voice.Eligible {
		t.Fatalf("got voice %+v, %v; want voice still eligible", voice, err)
	}
	whatsapp, err := f.store.Eligible(f.ctx, f.admin.TenantID, u, directory.ChannelWhatsApp)
	if err != nil || whatsapp.Reason != directory.ReasonChannelDisabled {
		t.Fatalf("got whatsapp %+v, %v; want channel_disabled (off by default)", whatsapp, err)
	}
}

func TestEligible_ReasonsForInactiveUnknownAndBadChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusAvailable, f.team("Support"))
	if err := f.store.DeactivateUser(f.ctx, f.admin, u); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	e, err := f.store.Eligible(f.ctx, f.admin.TenantID, u, directory.ChannelSMS)
	if err != nil || e.Reason != directory.ReasonInactive {
		t.Fatalf("got %+v, %v; want reason inactive", e, err)
	}
	if _, err := f.store.Eligible(f.ctx, f.admin.TenantID, "6f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1", directory.ChannelSMS); !apperr.IsNotFound(err) {
		t.Fatalf("got %v for an unknown user, want not found", err)
	}
	if _, err := f.store.Eligible(f.ctx, f.admin.TenantID, u, "fax"); !apperr.HasCode(err, "invalid_channel") {
		t.Fatalf("got %v for channel fax, want invalid_channel", err)
	}
	other := newFixture(t)
	if _, err := other.store.Eligible(other.ctx, other.admin.TenantID, f.admin.UserID, directory.ChannelSMS); !apperr.IsNotFound(err) {
		t.Fatalf("got %v for another tenant's user, want not found", err)
	}
}

func TestCapacity_OverrideThenInheritTenantDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	u := f.user("ann", directory.StatusAvailable, f.team("Support"))
	steps := []struct {
		name   string
		upd    *directory.ChannelUpdate
		tenant *int
		want   int
		source directory.CapacitySource
	}{
		{"tenant default", nil, nil, 4, directory.CapacityFromGlobal},
		{"override", &directory.ChannelUpdate{Capacity: directory.NullableOf(12)}, nil, 12, directory.CapacityFromUser},
		{"tenant default changes under an override", nil, ptr(7), 12, directory.CapacityFromUser},
		{"override cleared inherits the new default", &directory.ChannelUpdate{Capacity: directory.NullValue[int]()}, nil, 7, directory.CapacityFromGlobal},
	}
	for _, st := range steps {
		if st.upd != nil {
			f.setChannel(u, directory.ChannelSMS, *st.upd)
		}
		if st.tenant != nil {
			if _, err := f.store.UpdateSettings(f.ctx, f.admin, directory.SettingsUpdate{Channels: map[string]directory.ChannelDefaultUpdate{"sms": {Capacity: st.tenant}}}); err != nil {
				t.Fatalf("%s: update settings: %v", st.name, err)
			}
		}
		got, err := f.store.Capacity(f.ctx, f.admin.TenantID, u, directory.ChannelSMS)
		if err != nil || got != st.want {
			t.Fatalf("%s: got capacity %d, %v; want %d", st.name, got, err, st.want)
		}
		chans, err := f.store.UserChannels(f.ctx, f.admin.TenantID, u)
		if err != nil || chans[0].Channel != directory.ChannelSMS || chans[0].CapacitySource != st.source {
			t.Fatalf("%s: got channels %+v, %v; want sms first with source %s", st.name, chans, err, st.source)
		}
	}
}

func TestEffectiveQueueMembers_FollowTeamChanges(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	support, sales := f.team("Support"), f.team("Sales")
	ann := f.user("ann", directory.StatusOffline, support)
	bob := f.user("bob", directory.StatusOffline, sales)
	queue := f.queue("Inbound", directory.QueueMembers{TeamIDs: []string{support}})

	want := func(step string, ids ...string) {
		t.Helper()
		got, err := f.store.EffectiveQueueMembers(f.ctx, f.admin.TenantID, queue)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		sort.Strings(ids)
		if !reflect.DeepEqual(got, ids) && !(len(got) == 0 && len(ids) == 0) {
			t.Fatalf("%s: got members %v, want %v", step, got, ids)
		}
	}
	want("the team's one user", ann)
	if _, err := f.store.AddTeamMember(f.ctx, f.admin, support, bob); err != nil {
		t.Fatalf("add bob: %v", err)
	}
	want("bob joined the member team", ann, bob)
	if err := f.store.RemoveTeamMember(f.ctx, f.admin, support, bob); err != nil {
		t.Fatalf("remove bob: %v", err)
	}
	want("bob left the member team", ann)
	if _, err := f.store.SetQueueMembers(f.ctx, f.admin, queue, directory.QueueMembers{UserIDs: []string{bob}, TeamIDs: []string{support}}); err != nil {
		t.Fatalf("set members: %v", err)
	}
	want("bob as a direct member is counted once", ann, bob)
	if err := f.store.DeactivateUser(f.ctx, f.admin, ann); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	want("a deactivated user is no member", bob)
	empty := f.queue("Empty", directory.QueueMembers{})
	got, err := f.store.EffectiveQueueMembers(f.ctx, f.admin.TenantID, empty)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v for a queue with no members, want none", got, err)
	}
	if _, err := f.store.EffectiveQueueMembers(f.ctx, f.admin.TenantID, "6f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"); !apperr.IsNotFound(err) {
		t.Fatalf("got %v for an unknown queue, want not found", err)
	}
}

func TestEligibleUsers_SetBasedLeavesUnknownOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	team := f.team("Support")
	a := f.user("a", directory.StatusAvailable, team)
	b := f.user("b", directory.StatusAway, team)
	got, err := f.store.EligibleUsers(f.ctx, f.admin.TenantID, []string{a, b, "nope", "6f1b6a62-3b8e-4b43-9d57-6a1c4bd5d9a1"}, directory.ChannelSMS)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %+v, %v; want two rows", got, err)
	}
	for _, e := range got {
		if (e.UserID == a) != e.Eligible {
			t.Fatalf("got %+v, want only a eligible", e)
		}
	}
}
