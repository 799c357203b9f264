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
	"directsms/sql/pg"
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
}

const (
	sqlInsertUser = `INSERT INTO users (tenant_id, name, email, role, status, primary_team_id, created_at, status_changed_at)
		VALUES ($1, $2, $3, 'agent', 'available', $4, now(), now()) RETURNING id`
	sqlInsertTeamMember = `INSERT INTO team_members (tenant_id, team_id, user_id) VALUES ($1, $2, $3)`
	sqlInsertTeam       = `INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING id`
	sqlInsertQueue      = `INSERT INTO queues (tenant_id, name, kind) VALUES ($1, $2, 'sms') RETURNING id`
	sqlInsertQueueUser  = `INSERT INTO queue_members (tenant_id, queue_id, user_id) VALUES ($1, $2, $3)`
	sqlInsertQueueTeam  = `INSERT INTO queue_members (tenant_id, queue_id, team_id) VALUES ($1, $2, $3)`
	sqlMarkVerified     = `UPDATE numbers SET status = 'verified', verified_at = now(), verified_via = 'bench' WHERE tenant_id = $1 AND e164 = $2`
	sqlBenchAccount     = `SELECT account_sid, auth_token FROM carrier_accounts WHERE tenant_id = $1 AND provider = 'twilio' ORDER BY created_at LIMIT 1`
	sqlAvailable        = `UPDATE users SET status = 'available' WHERE tenant_id = $1 AND role = 'agent'`
)

// Prepare finds the bench tenant or creates it: a Twilio account, a team, two available agents,
// an SMS queue with one agent as a member and the other through the team, and the three bench
// numbers (verified directly: the bench does not talk to Twilio). Agents are set available
// again on every run.
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
	if _, err := db.ExecContext(ctx, sqlAvailable, tenantID); err != nil {
		return Target{}, fmt.Errorf("set bench agents available: %w", err)
	}
	return t, nil
}

func create(ctx context.Context, db *sqlx.DB, dir *directory.Store) (Target, error) {
	created, err := dir.CreateTenant(ctx, directory.NewTenant{Name: TenantName, AdminEmail: "bench@directsms.invalid"})
	if err != nil {
		return Target{}, err
	}
	t := Target{TenantID: created.TenantID, AccountSID: "AC" + randomHex(16), AuthToken: randomHex(16),
		Numbers: []string{AgentNumber, QueueNumber, QueueNonDirectNumber}}
	nums := numbers.NewStore(db, numbers.Config{})
	acct, err := nums.CreateAccount(ctx, t.TenantID, numbers.NewAccount{Provider: numbers.ProviderTwilio, Label: "bench", AccountSID: t.AccountSID, AuthToken: t.AuthToken})
	if err != nil {
		return Target{}, err
	}
	var agents [2]string
	var teamID, queueID string
	err = pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &teamID, sqlInsertTeam, t.TenantID, "Bench agents"); err != nil {
			return fmt.Errorf("create team: %w", err)
		}
		for i := range agents {
			name := fmt.Sprintf("Bench agent %d", i+1)
			if err := tx.GetContext(ctx, &agents[i], sqlInsertUser, t.TenantID, name, fmt.Sprintf("agent%d@directsms.invalid", i+1), teamID); err != nil {
				return fmt.Errorf("create %s: %w", name, err)
			}
			if _, err := tx.ExecContext(ctx, sqlInsertTeamMember, t.TenantID, teamID, agents[i]); err != nil {
				return fmt.Errorf("add %s to team: %w", name, err)
			}
		}
		if err := tx.GetContext(ctx, &queueID, sqlInsertQueue, t.TenantID, "Bench queue"); err != nil {
			return fmt.Errorf("create queue: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertQueueUser, t.TenantID, queueID, agents[0]); err != nil {
			return fmt.Errorf("add queue member: %w", err)
		}
		if _, err := tx.ExecContext(ctx, sqlInsertQueueTeam, t.TenantID, queueID, teamID); err != nil {
			return fmt.Errorf("add queue team: %w", err)
		}
		return nil
	})
	if err != nil {
		return Target{}, fmt.Errorf("set up bench agents: %w", err)
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
		if _, err := nums.AssignToQueue(ctx, t.TenantID, queueID, n); err != nil {
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
