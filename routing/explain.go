package routing

import (
	"context"
	"fmt"
	"time"

	"directsms/internal/apperr"
	"directsms/numbers"
)

// Explanation says what would happen to a text from a contact to a tenant number now, step by
// step, with the same rules (and the same SQL functions) the inbound path applies, after-hours
// deflection included.
type Explanation struct {
	To   string    `json:"to"`
	From *string   `json:"from"`
	At   time.Time `json:"at"`
	// Number is the inventory entry texted.
	Number ExplainedNumber `json:"number"`
	// Routed is false when the text would be kept as unrouted, for UnroutedReason.
	Routed         bool           `json:"routed"`
	UnroutedReason UnroutedReason `json:"unrouted_reason,omitempty"`
	Owner          *Owner         `json:"owner"`
	// SessionType is the type a new session would get, or the open session's.
	SessionType SessionType `json:"session_type,omitempty"`
	// OpenSession is the contact's open session on the number, which the text would continue.
	OpenSession *ExplainedSession `json:"open_session"`
	// ContactOptedOut is whether the contact has opted out of the tenant's texts.
	ContactOptedOut bool `json:"contact_opted_out"`
	// EligibleAgents could be offered the session now; IneligibleAgents could not, with why:
	// everyone the steps below considered.
	EligibleAgents   []ExplainedAgent `json:"eligible_agents"`
	IneligibleAgents []ExplainedAgent `json:"ineligible_agents"`
	// Steps are the fallback chain in order, each with whether it would take the session.
	Steps []ExplainedStep `json:"steps"`
	// Decision is the step that would take a new session and who it would be offered to.
	Decision *ExplainedStep `json:"decision"`
	// Deflection is the after-hours deflection the text would meet; null when unrouted.
	Deflection *ExplainedDeflection `json:"deflection"`
}

// ExplainedNumber is the number texted, as routing sees it.
type ExplainedNumber struct {
	Direct           bool   `json:"direct"`
	Status           string `json:"status"`
	CarrierAccountID string `json:"carrier_account_id"`
}

// ExplainedSession is an open session a text would continue.
type ExplainedSession struct {
	ID         string      `json:"id"`
	Type       SessionType `json:"type"`
	QueueID    *string     `json:"queue_id"`
	AssigneeID *string     `json:"assignee_id"`
}

// ExplainedAgent is a user routing considered; Reason (inactive, channel_disabled,
// not_available) is why it cannot be offered a session now.
type ExplainedAgent struct {
	UserID string `json:"user_id" db:"id"`
	Name   string `json:"name" db:"name"`
	Status string `json:"status" db:"status"`
	Reason string `json:"reason,omitempty" db:"reason"`
}

// ExplainedStep is one step of the fallback chain: owner, backup, team_queue, waiting.
type ExplainedStep struct {
	Step   string `json:"step"`
	Target *Owner `json:"target"`
	// Takes says whether the step would take the session; Reason says why not.
	Takes  bool   `json:"takes"`
	Reason string `json:"reason,omitempty"`
	// OfferTo are the users the step offers the session to; Direct whether as direct offers.
	OfferTo []string `json:"offer_to"`
	Direct  bool     `json:"direct"`
}

const (
	sqlExplainNumber = `SELECT n.direct, n.status, n.carrier_account_id, n.sms_user_id, n.sms_queue_id, t.sms_enabled
		FROM numbers n JOIN tenants t ON t.id = n.tenant_id WHERE n.tenant_id = $1 AND n.e164 = $2`
	sqlExplainContact = `SELECT c.opted_out, s.id AS session_id, s.type, s.queue_id, s.assignee_id
		FROM contacts c LEFT JOIN sessions s ON s.contact_id = c.id AND s.number = $3 AND s.status = 'open'
		WHERE c.tenant_id = $1 AND c.address = $2`
	sqlExplainUser = `SELECT u.id, u.name, u.status, COALESCE(routing_ineligible_reason(u.tenant_id, u.id), '') AS reason,
			u.backup_user_id, u.backup_queue_id, routing_team_queue(u.tenant_id, u.primary_team_id) AS team_queue_id,
			(SELECT q.id FROM queues q WHERE q.tenant_id = u.tenant_id AND q.personal_user_id = u.id) AS personal_queue_id
		FROM users u WHERE u.tenant_id = $1 AND u.id = $2`
	sqlExplainQueueMembers = `SELECT u.id, u.name, u.status, COALESCE(routing_ineligible_reason($1, u.id), '') AS reason
		FROM routing_queue_members($1, $2) m JOIN users u ON u.tenant_id = $1 AND u.id = m.user_id
		ORDER BY u.name, u.id`
	sqlExplainQueueIsSMS = `SELECT kind = 'sms' FROM queues WHERE tenant_id = $1 AND id = $2`
)

type explainUser struct {
	ID            string  `db:"id"`
	Name          string  `db:"name"`
	Status        string  `db:"status"`
	Reason        string  `db:"reason"`
	BackupUserID  *string `db:"backup_user_id"`
	BackupQueueID *string `db:"backup_queue_id"`
	TeamQueueID   *string `db:"team_queue_id"`
	PersonalQueue *string `db:"personal_queue_id"`
}

// Explain answers what would happen at at to a text from from (optional) to the tenant's number
// to. Both are read in the tenant's default region. Eligibility is as of now: statuses have no
// history to ask at another time.
func (s *Service) Explain(ctx context.Context, tenantID, to, from string, at time.Time) (Explanation, error) {
	var region string
	if err := s.db.GetContext(ctx, &region, sqlTenantRegion, tenantID); err != nil {
		return Explanation{}, fmt.Errorf("tenant %s region: %w", tenantID, err)
	}
	n, err := numbers.Normalize(to, region)
	if err != nil {
		return Explanation{}, apperr.Invalid("to", "invalid_number", err.Error())
	}
	ex := Explanation{To: string(n), At: at.UTC(), EligibleAgents: []ExplainedAgent{}, IneligibleAgents: []ExplainedAgent{}, Steps: []ExplainedStep{}}
	var num struct {
		Direct     bool    `db:"direct"`
		Status     string  `db:"status"`
		AccountID  string  `db:"carrier_account_id"`
		UserID     *string `db:"sms_user_id"`
		QueueID    *string `db:"sms_queue_id"`
		SMSEnabled bool    `db:"sms_enabled"`
	}
	if err := s.db.GetContext(ctx, &num, sqlExplainNumber, tenantID, string(n)); err != nil {
		if isNoRows(err) {
			return Explanation{}, apperr.NotFound("number")
		}
		return Explanation{}, fmt.Errorf("explain: number: %w", err)
	}
	ex.Number = ExplainedNumber{Direct: num.Direct, Status: num.Status, CarrierAccountID: num.AccountID}
	ex.SessionType = TypeInbound
	if num.Direct {
		ex.SessionType = TypeInboundDirect
	}
	if from != "" {
		addr, err := numbers.ClassifyAddress(from, region)
		if err != nil {
			return Explanation{}, apperr.Invalid("from", "invalid_number", err.Error())
		}
		ex.From = &addr.Value
		if err := s.explainContact(ctx, tenantID, addr.Value, &ex); err != nil {
			return Explanation{}, err
		}
	}
	switch {
	case !num.SMSEnabled:
		ex.UnroutedReason = UnroutedSMSDisabled
	case num.UserID == nil && num.QueueID == nil:
		ex.UnroutedReason = UnroutedNoOwner
	}
	if ex.UnroutedReason != "" {
		ex.SessionType, ex.OpenSession = "", nil
		return ex, nil
	}
	ex.Routed = true
	ex.Owner = &Owner{UserID: num.UserID, QueueID: num.QueueID}
	if err := s.explainDeflection(ctx, tenantID, *ex.Owner, &ex); err != nil {
		return Explanation{}, err
	}
	if num.QueueID != nil {
		step, err := s.explainQueue(ctx, tenantID, "owner", *num.QueueID, &ex)
		if err != nil {
			return Explanation{}, err
		}
		ex.Steps = append(ex.Steps, step)
		ex.Decision = &ex.Steps[0]
		return ex, nil
	}
	if err := s.explainOwnerChain(ctx, tenantID, *num.UserID, &ex); err != nil {
		return Explanation{}, err
	}
	for i := range ex.Steps {
		if ex.Steps[i].Takes {
			ex.Decision = &ex.Steps[i]
			break
		}
	}
	return ex, nil
}

func (s *Service) explainContact(ctx context.Context, tenantID, address string, ex *Explanation) error {
	var c struct {
		OptedOut   bool    `db:"opted_out"`
		SessionID  *string `db:"session_id"`
		Type       *string `db:"type"`
		QueueID    *string `db:"queue_id"`
		AssigneeID *string `db:"assignee_id"`
	}
	err := s.db.GetContext(ctx, &c, sqlExplainContact, tenantID, address, ex.To)
	if isNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("explain: contact: %w", err)
	}
	ex.ContactOptedOut = c.OptedOut
	if c.SessionID != nil {
		ex.OpenSession = &ExplainedSession{ID: *c.SessionID, Type: SessionType(*c.Type), QueueID: c.QueueID, AssigneeID: c.AssigneeID}
		ex.SessionType = SessionType(*c.Type)
	}
	return nil
}

// explainOwnerChain walks an agent-owned number's chain as routing_place does, recording every
// step up to the one that would take the session.
func (s *Service) explainOwnerChain(ctx context.Context, tenantID, ownerID string, ex *Explanation) error {
	owner, err := s.explainUser(ctx, tenantID, ownerID, ex)
	if err != nil {
		return err
	}
	taken := false
	decide := func(step ExplainedStep) {
		ex.Steps = append(ex.Steps, step)
		taken = taken || step.Takes
	}
	ownerStep := ExplainedStep{Step: "owner", Target: &Owner{UserID: &owner.ID}, Takes: owner.Reason == "", Reason: owner.Reason, OfferTo: []string{}, Direct: true}
	if ownerStep.Takes {
		ownerStep.OfferTo = []string{owner.ID}
	}
	decide(ownerStep)
	if taken {
		return nil
	}
	switch {
	case owner.BackupUserID != nil:
		backup, err := s.explainUser(ctx, tenantID, *owner.BackupUserID, ex)
		if err != nil {
			return err
		}
		step := ExplainedStep{Step: "backup", Target: &Owner{UserID: &backup.ID}, Takes: backup.Reason == "", Reason: backup.Reason, OfferTo: []string{}, Direct: true}
		if step.Takes {
			step.OfferTo = []string{backup.ID}
		}
		decide(step)
	case owner.BackupQueueID != nil:
		var isSMS bool
		if err := s.db.GetContext(ctx, &isSMS, sqlExplainQueueIsSMS, tenantID, *owner.BackupQueueID); err != nil && !isNoRows(err) {
			return fmt.Errorf("explain: backup queue: %w", err)
		}
		if !isSMS {
			decide(ExplainedStep{Step: "backup", Target: &Owner{QueueID: owner.BackupQueueID}, Reason: "not_an_sms_queue", OfferTo: []string{}})
			break
		}
		step, err := s.explainQueue(ctx, tenantID, "backup", *owner.BackupQueueID, ex)
		if err != nil {
			return err
		}
		decide(step)
	default:
		decide(ExplainedStep{Step: "backup", Reason: "no_backup", OfferTo: []string{}})
	}
	if taken {
		return nil
	}
	if owner.TeamQueueID != nil {
		step, err := s.explainQueue(ctx, tenantID, "team_queue", *owner.TeamQueueID, ex)
		if err != nil {
			return err
		}
		decide(step)
		return nil
	}
	decide(ExplainedStep{Step: "team_queue", Reason: "no_team_sms_queue", OfferTo: []string{}})
	decide(ExplainedStep{Step: "waiting", Target: &Owner{QueueID: owner.PersonalQueue}, Takes: true, Reason: "no_eligible_agent", OfferTo: []string{}})
	return nil
}

// explainQueue is a queue step: it takes the session always (it waits there when nobody is
// eligible) and offers it to every eligible member.
func (s *Service) explainQueue(ctx context.Context, tenantID, name, queueID string, ex *Explanation) (ExplainedStep, error) {
	var members []ExplainedAgent
	if err := s.db.SelectContext(ctx, &members, sqlExplainQueueMembers, tenantID, queueID); err != nil {
		return ExplainedStep{}, fmt.Errorf("explain: members of queue %s: %w", queueID, err)
	}
	step := ExplainedStep{Step: name, Target: &Owner{QueueID: &queueID}, Takes: true, OfferTo: []string{}}
	for _, m := range members {
		ex.add(m)
		if m.Reason == "" {
			step.OfferTo = append(step.OfferTo, m.UserID)
		}
	}
	if len(step.OfferTo) == 0 {
		step.Reason = "no_eligible_member"
	}
	return step, nil
}

func (s *Service) explainUser(ctx context.Context, tenantID, userID string, ex *Explanation) (explainUser, error) {
	var u explainUser
	if err := s.db.GetContext(ctx, &u, sqlExplainUser, tenantID, userID); err != nil {
		return explainUser{}, fmt.Errorf("explain: user %s: %w", userID, err)
	}
	ex.add(ExplainedAgent{UserID: u.ID, Name: u.Name, Status: u.Status, Reason: u.Reason})
	return u, nil
}

// add lists an agent once, as eligible or not.
func (ex *Explanation) add(a ExplainedAgent) {
	for _, list := range [][]ExplainedAgent{ex.EligibleAgents, ex.IneligibleAgents} {
		for _, x := range list {
			if x.UserID == a.UserID {
				return
			}
		}
	}
	if a.Reason == "" {
		ex.EligibleAgents = append(ex.EligibleAgents, a)
	} else {
		ex.IneligibleAgents = append(ex.IneligibleAgents, a)
	}
}
