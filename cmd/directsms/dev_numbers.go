package main

import (
	"context"
	"fmt"
	"time"

	"directsms/internal/apperr"
	"directsms/internal/fakecarrier"
	"directsms/numbers"
)

// The demo's carrier: a fake Twilio account served in-process on loopback, holding the demo's
// three direct numbers (555-01xx numbers are reserved for fiction).
const (
	demoTwilioSID   = "ACdeadbeefdeadbeefdeadbeefdeadbeef"
	demoTwilioToken = "demo-auth-token"
)

// demoNumber is a number the demo seeds and who it goes to: an agent of demoAgents by index,
// or the demo SMS queue when agent is -1.
type demoNumber struct {
	E164  string
	Label string
	agent int
	Owner string // filled in by seedDemoNumbers: who has it, by name when it is who the demo chose
}

var demoNumbers = []demoNumber{
	{E164: "+12025550101", Label: "Alice direct", agent: 0},
	{E164: "+12025550102", Label: "Bob direct", agent: 1},
	{E164: "+12025550103", Label: "Sales line", agent: -1},
}

// demoCallbackDelay is how long the demo's fake carrier waits before each status callback
// (sent, then delivered), so a text's status can be watched moving.
const demoCallbackDelay = 500 * time.Millisecond

// startDemoCarrier serves a fake carrier holding the demo account and numbers; the caller
// closes it. Like Twilio, it posts status callbacks for every text sent through it.
func startDemoCarrier() (*fakecarrier.Server, error) {
	fake := fakecarrier.New(fakecarrier.WithAutoCallbacks(demoCallbackDelay))
	owned := make([]string, len(demoNumbers))
	for i, n := range demoNumbers {
		owned[i] = n.E164
	}
	fake.AddTwilioAccount(demoTwilioSID, demoTwilioToken, owned...)
	srv, err := fake.Start()
	if err != nil {
		return nil, fmt.Errorf("start the fake carrier: %w", err)
	}
	return srv, nil
}

// seedDemoNumbers registers the fake carrier's account in the demo tenant (pointing it at
// carrierURL, which changes every run), adds the demo numbers as direct numbers, verifies them
// through the real verification path, and gives one to each demo agent and one to the demo SMS
// queue. Like seedDemo it finds what earlier runs made; an assignment an admin has changed since
// is left as it is.
func seedDemoNumbers(ctx context.Context, nums *numbers.Store, seed *demoSeed, carrierURL string) error {
	account, err := demoAccount(ctx, nums, seed.TenantID, carrierURL)
	if err != nil {
		return fmt.Errorf("seed demo numbers: %w", err)
	}
	seed.CarrierAccountID, seed.CarrierURL = account, carrierURL
	seed.Numbers = nil
	for _, n := range demoNumbers {
		_, err := nums.CreateNumber(ctx, seed.TenantID, numbers.NewNumber{Number: n.E164, Label: n.Label, Direct: true, CarrierAccountID: account})
		if err != nil && !apperr.HasCode(err, "number_exists") {
			return fmt.Errorf("seed demo number %s: %w", n.E164, err)
		}
		if _, err := nums.Verify(ctx, seed.TenantID, n.E164); err != nil {
			return fmt.Errorf("verify demo number %s: %w", n.E164, err)
		}
		var got numbers.Number
		want, name := seed.QueueID, demoQueue
		if n.agent >= 0 {
			want, name = seed.Keys[n.agent+1].UserID, seed.Keys[n.agent+1].Who
			got, err = nums.AssignToUser(ctx, seed.TenantID, want, n.E164)
		} else {
			got, err = nums.AssignToQueue(ctx, seed.TenantID, want, n.E164)
		}
		if e, ok := apperr.As(err); ok && e.Kind == apperr.KindConflict {
			got, err = nums.GetNumber(ctx, seed.TenantID, n.E164)
		}
		if err != nil {
			return fmt.Errorf("assign demo number %s: %w", n.E164, err)
		}
		switch {
		case got.SMSOwner == nil:
			n.Owner = "none"
		case got.SMSOwner.UserID == want || got.SMSOwner.QueueID == want:
			n.Owner = name
		default:
			n.Owner = got.SMSOwner.UserID + got.SMSOwner.QueueID
		}
		seed.Numbers = append(seed.Numbers, n)
	}
	return nil
}

// demoAccount finds the demo's carrier account, or registers it, and points it at carrierURL.
func demoAccount(ctx context.Context, nums *numbers.Store, tenantID, carrierURL string) (string, error) {
	a, err := nums.AccountBySID(ctx, numbers.ProviderTwilio, demoTwilioSID)
	if apperr.IsNotFound(err) {
		a, err = nums.CreateAccount(ctx, tenantID, numbers.NewAccount{
			Provider: numbers.ProviderTwilio, Label: "Demo Twilio (fake carrier)", AccountSID: demoTwilioSID,
			AuthToken: demoTwilioToken, BaseURL: carrierURL,
		})
		if err != nil {
			return "", err
		}
		return a.ID, nil
	}
	if err != nil {
		return "", err
	}
	if a.TenantID != tenantID {
		return "", fmt.Errorf("the demo carrier account %s belongs to another tenant", demoTwilioSID)
	}
	token := demoTwilioToken
	if _, err := nums.UpdateAccount(ctx, tenantID, a.ID, numbers.AccountUpdate{BaseURL: &carrierURL, AuthToken: &token}); err != nil {
		return "", err
	}
	return a.ID, nil
}
