// Package loadgen drives directsms's inbound webhook the way Twilio does, with correctly signed
// texts from many connections at once, measures throughput and latency, and then checks in the
// database that every acknowledged text was stored exactly once. It backs "directsms bench
// inbound". It may import the domain stores and gateway/twilio (for the signature); never gateway
// or cmd.
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"directsms/directory"
	"directsms/internal/apperr"
	"directsms/numbers"
)

// TenantName is the tenant the bench creates once and reuses.
const TenantName = "directsms bench"

// The bench's numbers: one agent's direct number, and a direct and a non-direct number on an
// SMS queue both agents are members of (one directly, one through a team).
const (
	AgentNumber          = "+14155550170"
	QueueNumber          = "+14155550171"
	QueueNonDirectNumber = "+14155550172"
)

// Target is what the load needs to know about the bench tenant.
type Target struct {
	TenantID   string
	AccountSID string
	AuthToken  string
	Numbers    []string
	// Agents are the bench agents' user ids.
	Agents []string
}

const (
	sqlMarkVerified = `UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'bench' WHERE tenant_id = $1 AND e164 = $2`
	sqlBenchAccount = `SELECT account_sid, auth_token FROM carrier_accounts WHERE tenant_id = $1 AND provider = 'twilio' ORDER BY created_at LIMIT 1`
)

// Prepare finds the bench tenant or creates it through the stores: a Twilio account, a team,
// two available agents, an SMS queue with one agent as a member and the other through the team,
// and the three bench numbers (marked verified directly: the bench does not talk to Twilio).
// Agents are set available again on every run.
func Prepare(ctx context.Context, db *sqlx.DB) (Target, error) {
	dir := directory.NewStore(db, nil)
	tenantID, err := dir.TenantIDByName(ctx, TenantName)
	if apperr.IsNotFound(err) {
		return create(ctx, db, dir)
	}
	if err != nil {
		return Target{}, err
	}
	t := Target{TenantID: tenantID, Numbers: []string{AgentNumber, QueueNumber, QueueNonDirectNumber}}
	if err := db.QueryRowxContext(ctx, sqlBenchAccount, tenantID).Scan(&t.AccountSID, &t.AuthToken); err != nil {
		return Target{}, fmt.Errorf("find the bench's twilio account: %w", err)
	}
	admin, err := benchAdmin(ctx, dir, tenantID)
	if err != nil {
		return Target{}, err
	}
	agents, err := dir.FindUsers(ctx, tenantID, directory.UserFilter{Role: directory.RoleAgent, Page: directory.Page{Limit: 10}})
	if err != nil {
		return Target{}, err
	}
	for _, a := range agents {
		t.Agents = append(t.Agents, a.ID)
		if a.Status != directory.StatusAvailable {
			if _, err := dir.ChangeStatus(ctx, admin, a.ID, directory.StatusAvailable, "bench"); err != nil {
				return Target{}, err
			}
		}
	}
	return t, nil
}

// benchAdmin is the bench tenant's admin, acting for the setup.
func benchAdmin(ctx context.Context, dir *directory.Store, tenantID string) (directory.Principal, error) {
	id, err := dir.UserIDByEmail(ctx, tenantID, adminEmail)
	if err != nil {
		return directory.Principal{}, fmt.Errorf("find the bench admin: %w", err)
	}
	return directory.Principal{TenantID: tenantID, UserID: id, Role: directory.RoleAdmin}, nil
}

const adminEmail = "bench@directsms.invalid"

func create(ctx context.Context, db *sqlx.DB, dir *directory.Store) (Target, error) {
	created, err := dir.CreateTenant(ctx, directory.NewTenant{Name: TenantName, AdminEmail: adminEmail})
	if err != nil {
		return Target{}, err
	}
	admin := directory.Principal{TenantID: created.TenantID, UserID: created.AdminUserID, Role: directory.RoleAdmin}
	t := Target{TenantID: created.TenantID, AccountSID: "AC" + randomHex(16), AuthToken: randomHex(16),
		Numbers: []string{AgentNumber, QueueNumber, QueueNonDirectNumber}}
	nums := numbers.NewStore(db, numbers.Config{})
	acct, err := nums.CreateAccount(ctx, t.TenantID, numbers.NewAccount{Provider: numbers.ProviderTwilio, Label: "bench", AccountSID: t.AccountSID, AuthToken: t.AuthToken})
	if err != nil {
		return Target{}, err
	}
	team, err := dir.CreateTeam(ctx, admin, directory.NewTeam{Name: "Bench agents"})
	if err != nil {
		return Target{}, err
	}
	var agents [2]string
	for i := range agents {
		u, err := dir.CreateUser(ctx, admin, directory.NewUser{
			Name: fmt.Sprintf("Bench agent %d", i+1), Email: fmt.Sprintf("agent%d@directsms.invalid", i+1),
			Role: directory.RoleAgent, TeamIDs: []string{team.ID}, Status: directory.StatusAvailable,
		})
		if err != nil {
			return Target{}, err
		}
		agents[i] = u.ID
	}
	t.Agents = agents[:]
	queue, err := dir.CreateQueue(ctx, admin, directory.NewQueue{Name: "Bench queue", Kind: directory.QueueSMS,
		UserIDs: []string{agents[0]}, TeamIDs: []string{team.ID}})
	if err != nil {
		return Target{}, err
	}
	for _, n := range t.Numbers {
		if _, err := nums.CreateNumber(ctx, t.TenantID, numbers.NewNumber{Number: n, Direct: n != QueueNonDirectNumber, CarrierAccountID: acct.ID}); err != nil {
			return Target{}, err
		}
		if _, err := db.ExecContext(ctx, sqlMarkVerified, t.TenantID, n); err != nil {
			return Target{}, fmt.Errorf("verify bench number: %w", err)
		}
	}
	if _, err := nums.AssignToUser(ctx, t.TenantID, agents[0], AgentNumber); err != nil {
		return Target{}, err
	}
	for _, n := range []string{QueueNumber, QueueNonDirectNumber} {
		if _, err := nums.AssignToQueue(ctx, t.TenantID, queue.ID, n); err != nil {
			return Target{}, err
		}
	}
	return t, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed: " + err.Error()))
	}
	return hex.EncodeToString(b)
}
