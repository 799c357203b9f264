package numbers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Status says whether a number was found in its carrier account.
type Status string

// The statuses: a number starts unverified, and only verified numbers take SMS owners.
const (
	StatusUnverified Status = "unverified"
	StatusVerified   Status = "verified"
)

// Number is one number of a tenant's inventory with its assignments.
type Number struct {
	ID               string     `json:"id"`
	TenantID         string     `json:"-"`
	E164             E164       `json:"number"`
	Region           string     `json:"region"`
	Label            string     `json:"label"`
	Direct           bool       `json:"direct"`
	Status           Status     `json:"status"`
	CarrierAccountID string     `json:"carrier_account_id"`
	VerifiedAt       *time.Time `json:"verified_at"`
	// VerifiedVia names the carrier lookup that found the number ("twilio:IncomingPhoneNumbers").
	VerifiedVia string `json:"verified_via,omitempty"`
	// CheckedAt is when the carrier was last asked, whatever it answered.
	CheckedAt *time.Time `json:"checked_at"`
	// SMSOwner is who gets the texts sent to the number: one user or one SMS queue, or nil.
	SMSOwner   *Owner  `json:"sms_owner"`
	IVRQueueID *string `json:"ivr_queue_id"`
	// Outbound lists who may send from a non-direct number besides its owner. LookupNumber
	// leaves it empty.
	Outbound  Senders   `json:"outbound"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Owner is a number's SMS owner: UserID (with the user's PersonalQueueID, where direct sessions
// live) for an agent's direct number, or QueueID for an SMS queue's.
type Owner struct {
	UserID          string `json:"user_id,omitempty"`
	PersonalQueueID string `json:"personal_queue_id,omitempty"`
	QueueID         string `json:"queue_id,omitempty"`
}

// Senders are the outbound assignments of a number.
type Senders struct {
	UserIDs  []string `json:"user_ids"`
	QueueIDs []string `json:"queue_ids"`
}

// Removed is an assignment a change took away: Kind "outbound" (a sender) or "sms_owner".
type Removed struct {
	Kind    string `json:"kind"`
	UserID  string `json:"user_id,omitempty"`
	QueueID string `json:"queue_id,omitempty"`
}

// The kinds of Removed.
const (
	RemovedOutbound = "outbound"
	RemovedSMSOwner = "sms_owner"
)

// numberColumns reads a number and, for an agent-owned one, the agent's personal queue; every
// query selecting numbers joins numberFrom.
const numberColumns = `n.id, n.tenant_id, n.e164, n.region, n.label, n.direct, n.status, n.carrier_account_id,
	n.verified_at, n.verified_via, n.checked_at, n.sms_user_id, n.sms_queue_id, n.ivr_queue_id,
	pq.id AS personal_queue_id, n.created_at, n.updated_at`

const numberFrom = ` FROM numbers n LEFT JOIN queues pq ON pq.personal_user_id = n.sms_user_id `

const (
	sqlInsertNumber = `INSERT INTO numbers (tenant_id, e164, region, label, direct, carrier_account_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`
	sqlSelectNumberByE164       = `SELECT ` + numberColumns + numberFrom + `WHERE n.e164 = $1`
	sqlSelectTenantNumber       = `SELECT ` + numberColumns + numberFrom + `WHERE n.tenant_id = $1 AND n.e164 = $2`
	sqlSelectTenantNumberLocked = sqlSelectTenantNumber + ` FOR UPDATE OF n`
	sqlSelectNumbersForList     = `SELECT ` + numberColumns + numberFrom + `WHERE n.tenant_id = $1
		AND ($2 = '' OR n.e164 > $2)
		AND (CAST($3 AS boolean) IS NULL OR n.direct = $3)
		AND ($4 = '' OR n.status = $4)
		AND ($5 = '' OR ($6 <> '' AND n.e164 LIKE '%' || $6 || '%') OR n.label ILIKE '%' || $7 || '%')
		ORDER BY n.e164 LIMIT $8`
	sqlSelectSenders = `SELECT number_id, user_id, queue_id FROM number_outbound
		WHERE number_id = ANY($1) ORDER BY created_at, user_id, queue_id`
	sqlDeleteSenders    = `DELETE FROM number_outbound WHERE number_id = $1 RETURNING user_id, queue_id`
	sqlUpdateLabel      = `UPDATE numbers SET label = $2, updated_at = $3 WHERE id = $1`
	sqlUpdateDirect     = `UPDATE numbers SET direct = $2, updated_at = $3 WHERE id = $1`
	sqlClearSMSOwner    = `UPDATE numbers SET sms_user_id = NULL, sms_queue_id = NULL, updated_at = $2 WHERE id = $1`
	sqlDeleteNumber     = `DELETE FROM numbers WHERE tenant_id = $1 AND e164 = $2`
	sqlSelectAccountRef = `SELECT true FROM carrier_accounts WHERE tenant_id = $1 AND id = $2`
)

// numberRow is a number as scanned.
type numberRow struct {
	ID               string     `db:"id"`
	TenantID         string     `db:"tenant_id"`
	E164             string     `db:"e164"`
	Region           string     `db:"region"`
	Label            string     `db:"label"`
	Direct           bool       `db:"direct"`
	Status           Status     `db:"status"`
	CarrierAccountID string     `db:"carrier_account_id"`
	VerifiedAt       *time.Time `db:"verified_at"`
	VerifiedVia      *string    `db:"verified_via"`
	CheckedAt        *time.Time `db:"checked_at"`
	SMSUserID        *string    `db:"sms_user_id"`
	SMSQueueID       *string    `db:"sms_queue_id"`
	IVRQueueID       *string    `db:"ivr_queue_id"`
	PersonalQueueID  *string    `db:"personal_queue_id"`
	CreatedAt        time.Time  `db:"created_at"`
	UpdatedAt        time.Time  `db:"updated_at"`
}

func (r numberRow) number() Number {
	n := Number{
		ID: r.ID, TenantID: r.TenantID, E164: E164(r.E164), Region: r.Region, Label: r.Label, Direct: r.Direct,
		Status: r.Status, CarrierAccountID: r.CarrierAccountID, VerifiedAt: utc(r.VerifiedAt), CheckedAt: utc(r.CheckedAt),
		IVRQueueID: r.IVRQueueID, Outbound: Senders{UserIDs: []string{}, QueueIDs: []string{}},
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.VerifiedVia != nil {
		n.VerifiedVia = *r.VerifiedVia
	}
	switch {
	case r.SMSUserID != nil:
		n.SMSOwner = &Owner{UserID: *r.SMSUserID}
		if r.PersonalQueueID != nil {
			n.SMSOwner.PersonalQueueID = *r.PersonalQueueID
		}
	case r.SMSQueueID != nil:
		n.SMSOwner = &Owner{QueueID: *r.SMSQueueID}
	}
	return n
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// NewNumber is what adding a number to the inventory takes. Number is read in the tenant's
// default region.
type NewNumber struct {
	Number           string
	Label            string
	Direct           bool
	CarrierAccountID string
}

// NumberUpdate changes a number; nil fields are left alone.
type NumberUpdate struct {
	Label  *string
	Direct *bool
}

// NumberFilter selects numbers to list. Query matches part of the number or of the label.
type NumberFilter struct {
	Direct *bool
	Status Status
	Query  string
	Limit  int
	Cursor string
}

// LookupNumber finds a number in any tenant, for the inbound path: tenant, SMS owner (with the
// agent's personal queue), direct flag, status and carrier account, in one indexed query.
// Outbound is not loaded. A number in no inventory is ErrNotFound.
func (s *Store) LookupNumber(ctx context.Context, n E164) (Number, error) {
	var row numberRow
	err := s.db.GetContext(ctx, &row, sqlSelectNumberByE164, string(n))
	if err == pg.ErrNoRows {
		return Number{}, ErrNotFound
	}
	if err != nil {
		return Number{}, fmt.Errorf("look up number %s: %w", n.Masked(), err)
	}
	return row.number(), nil
}

// CreateNumber adds a number to the tenant's inventory, unverified. A number already in any
// tenant's inventory is a 409 number_exists.
func (s *Store) CreateNumber(ctx context.Context, tenantID string, in NewNumber) (Number, error) {
	region, err := tenantRegion(ctx, s.db, tenantID)
	if err != nil {
		return Number{}, err
	}
	n, err := Normalize(in.Number, region)
	if err != nil {
		return Number{}, invalidNumber("number", err)
	}
	// The region phonenumbers reports, which can differ from the tenant's (a Guernsey mobile
	// written in UK format).
	addr, err := ClassifyAddress(string(n), region)
	if err != nil {
		return Number{}, invalidNumber("number", err)
	}
	in.Label = strings.TrimSpace(in.Label)
	if err := checkText("label", "invalid_label", in.Label, 200); err != nil {
		return Number{}, err
	}
	if !validUUID(in.CarrierAccountID) {
		return Number{}, errNoSuchAccount
	}
	var out Number
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		var ok bool
		if err := tx.GetContext(ctx, &ok, sqlSelectAccountRef, tenantID, in.CarrierAccountID); err == pg.ErrNoRows {
			return errNoSuchAccount
		} else if err != nil {
			return fmt.Errorf("find carrier account: %w", err)
		}
		var id string
		err := tx.GetContext(ctx, &id, sqlInsertNumber, tenantID, string(n), addr.Region, in.Label, in.Direct, in.CarrierAccountID, s.now())
		if pg.IsViolation(err, "numbers_e164_key") {
			return apperr.Conflict("number_exists", string(n)+" is already in an inventory")
		}
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		out, err = getNumber(ctx, tx, tenantID, n, false)
		return err
	})
	if err != nil {
		return Number{}, fmt.Errorf("create number %s: %w", n.Masked(), err)
	}
	return out, nil
}

var errNoSuchAccount = apperr.Invalid("carrier_account_id", "carrier_account_not_found", "carrier_account_id must be one of the tenant's carrier accounts")

// GetNumber returns a number of the tenant with its assignments; input is read like any number
// of the tenant.
func (s *Store) GetNumber(ctx context.Context, tenantID, input string) (Number, error) {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, err
	}
	return getNumber(ctx, s.db, tenantID, n, false)
}

// getNumber reads one number of the tenant and its senders, locking the number row first when
// lock is set (q must then be a transaction).
func getNumber(ctx context.Context, q sqlx.QueryerContext, tenantID string, n E164, lock bool) (Number, error) {
	query := sqlSelectTenantNumber
	if lock {
		query = sqlSelectTenantNumberLocked
	}
	var row numberRow
	err := sqlx.GetContext(ctx, q, &row, query, tenantID, string(n))
	if err == pg.ErrNoRows {
		return Number{}, ErrNotFound
	}
	if err != nil {
		return Number{}, fmt.Errorf("get number %s: %w", n.Masked(), err)
	}
	out := []Number{row.number()}
	if err := loadSenders(ctx, q, out); err != nil {
		return Number{}, err
	}
	return out[0], nil
}

// loadSenders fills in the outbound assignments of nums with one query.
func loadSenders(ctx context.Context, q sqlx.QueryerContext, nums []Number) error {
	if len(nums) == 0 {
		return nil
	}
	ids := make([]string, len(nums))
	byID := make(map[string]*Number, len(nums))
	for i := range nums {
		ids[i] = nums[i].ID
		byID[nums[i].ID] = &nums[i]
	}
	var rows []struct {
		NumberID string  `db:"number_id"`
		UserID   *string `db:"user_id"`
		QueueID  *string `db:"queue_id"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, sqlSelectSenders, pq.Array(ids)); err != nil {
		return fmt.Errorf("load outbound assignments: %w", err)
	}
	for _, r := range rows {
		n := byID[r.NumberID]
		if r.UserID != nil {
			n.Outbound.UserIDs = append(n.Outbound.UserIDs, *r.UserID)
		} else {
			n.Outbound.QueueIDs = append(n.Outbound.QueueIDs, *r.QueueID)
		}
	}
	return nil
}

// FindNumbers returns up to f.Limit+1 of the tenant's numbers after the cursor, in number
// order, so the caller can tell whether there is a next page; the cursor is a number.
func (s *Store) FindNumbers(ctx context.Context, tenantID string, f NumberFilter) ([]Number, error) {
	if f.Status != "" && f.Status != StatusVerified && f.Status != StatusUnverified {
		return nil, apperr.Invalid("status", "invalid_status", "status must be verified or unverified")
	}
	query := strings.TrimSpace(f.Query)
	if err := checkText("q", "invalid_query", query, 200); err != nil {
		return nil, err
	}
	if err := checkText("cursor", "invalid_cursor", f.Cursor, 64); err != nil {
		return nil, err
	}
	var rows []numberRow
	err := s.db.SelectContext(ctx, &rows, sqlSelectNumbersForList, tenantID, f.Cursor, f.Direct, string(f.Status),
		query, digitsOf(query), likeText(query), f.Limit+1)
	if err != nil {
		return nil, fmt.Errorf("list numbers: %w", err)
	}
	out := make([]Number, len(rows))
	for i, r := range rows {
		out[i] = r.number()
	}
	if err := loadSenders(ctx, s.db, out); err != nil {
		return nil, err
	}
	return out, nil
}

// digitsOf is the part of q that can match inside an E.164 number, so "(415) 555" finds
// +1415555…; a query without digits matches labels only.
func digitsOf(q string) string {
	var b strings.Builder
	for _, r := range q {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// likeText escapes q for ILIKE, so "%" and "_" in a label search mean themselves.
func likeText(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

// UpdateNumber changes a number's label or direct flag. Making a number direct removes its
// outbound assignments; clearing direct removes its agent or SMS-queue owner. The removed
// assignments are returned.
func (s *Store) UpdateNumber(ctx context.Context, tenantID, input string, upd NumberUpdate) (Number, []Removed, error) {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return Number{}, nil, err
	}
	if upd.Label != nil {
		label := strings.TrimSpace(*upd.Label)
		if err := checkText("label", "invalid_label", label, 200); err != nil {
			return Number{}, nil, err
		}
		upd.Label = &label
	}
	var out Number
	var removed []Removed
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		removed = []Removed{}
		cur, err := getNumber(ctx, tx, tenantID, n, true)
		if err != nil {
			return err
		}
		now := s.now()
		if upd.Label != nil && *upd.Label != cur.Label {
			if _, err := tx.ExecContext(ctx, sqlUpdateLabel, cur.ID, *upd.Label, now); err != nil {
				return fmt.Errorf("update label: %w", err)
			}
		}
		if upd.Direct != nil && *upd.Direct != cur.Direct {
			if removed, err = setDirect(ctx, tx, cur, *upd.Direct, now); err != nil {
				return err
			}
		}
		out, err = getNumber(ctx, tx, tenantID, n, false)
		return err
	})
	if err != nil {
		return Number{}, nil, fmt.Errorf("update number %s: %w", n.Masked(), err)
	}
	return out, removed, nil
}

// setDirect flips the direct flag of a locked number, first removing what the new state does
// not allow: senders of a number becoming direct, the SMS owner of one that stops being direct.
func setDirect(ctx context.Context, tx *sqlx.Tx, cur Number, direct bool, now time.Time) ([]Removed, error) {
	removed := []Removed{}
	if direct {
		var senders []struct {
			UserID  *string `db:"user_id"`
			QueueID *string `db:"queue_id"`
		}
		if err := tx.SelectContext(ctx, &senders, sqlDeleteSenders, cur.ID); err != nil {
			return nil, fmt.Errorf("remove outbound assignments: %w", err)
		}
		for _, r := range senders {
			if r.UserID != nil {
				removed = append(removed, Removed{Kind: RemovedOutbound, UserID: *r.UserID})
			} else {
				removed = append(removed, Removed{Kind: RemovedOutbound, QueueID: *r.QueueID})
			}
		}
	} else if cur.SMSOwner != nil {
		if _, err := tx.ExecContext(ctx, sqlClearSMSOwner, cur.ID, now); err != nil {
			return nil, fmt.Errorf("remove sms owner: %w", err)
		}
		removed = append(removed, Removed{Kind: RemovedSMSOwner, UserID: cur.SMSOwner.UserID, QueueID: cur.SMSOwner.QueueID})
	}
	if _, err := tx.ExecContext(ctx, sqlUpdateDirect, cur.ID, direct, now); err != nil {
		return nil, fmt.Errorf("update direct: %w", err)
	}
	return removed, nil
}

// DeleteNumber removes a number from the inventory with its assignments.
func (s *Store) DeleteNumber(ctx context.Context, tenantID, input string) error {
	n, err := s.normalize(ctx, tenantID, "number", input)
	if err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, sqlDeleteNumber, tenantID, string(n))
	if err != nil {
		return fmt.Errorf("delete number %s: %w", n.Masked(), err)
	}
	if c, _ := res.RowsAffected(); c == 0 {
		return ErrNotFound
	}
	return nil
}
