package numbers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

// Store is the numbers' PostgreSQL store: carrier accounts, the inventory and its assignments.
type Store struct {
	db           *sqlx.DB
	verifier     Verifier
	allowPrivate bool
	nowFunc      func() time.Time
}

// Config is what a Store needs besides its database.
type Config struct {
	// Verifier asks carriers whether a number is in an account; Verify needs it.
	Verifier Verifier
	// AllowPrivateURLs lets carrier accounts use a base_url on a loopback or private address, or
	// over plain http: the fake carrier in development and tests.
	AllowPrivateURLs bool
	// NowFunc is the clock; time.Now when nil.
	NowFunc func() time.Time
}

// NewStore returns a store over db.
func NewStore(db *sqlx.DB, cfg Config) *Store {
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	return &Store{db: db, verifier: cfg.Verifier, allowPrivate: cfg.AllowPrivateURLs, nowFunc: cfg.NowFunc}
}

func (s *Store) now() time.Time { return s.nowFunc().UTC() }

// ErrNotFound is the answer for a number that is not in the tenant's inventory (or, for
// LookupNumber, in anyone's).
var ErrNotFound = apperr.NotFound("number")

// inTx runs fn in a transaction and runs it again, up to six times in all with a short random
// pause, when PostgreSQL aborted it to break a deadlock: concurrent assignments lock users,
// queues and numbers, and bulk assignment locks many at once.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	var err error
	for attempt := range 6 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(time.Duration(1+rand.IntN(10*attempt)) * time.Millisecond):
			}
		}
		err = pg.InTx(ctx, s.db, fn)
		if !pg.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// ruleCodes maps the names of the assignment rules (CHECK constraints, and the triggers that
// raise under the same kind of name) to the API's conflict codes.
var ruleCodes = map[string]struct{ code, message string }{
	"numbers_sms_user_direct_check":    {"number_not_direct", "only direct numbers can be assigned to an agent"},
	"numbers_sms_user_verified_check":  {"number_unverified", "only verified numbers can be assigned to an agent; verify it first"},
	"numbers_sms_queue_verified_check": {"number_unverified", "only verified numbers can be assigned to an SMS queue; verify it first"},
	"numbers_sms_owner_user_check":     {"number_assigned_to_agent", "the number is assigned to an agent; unassign it first"},
	"numbers_one_sms_owner_check":      {"number_assigned_to_agent", "the number is assigned to an agent; unassign it first"},
	"numbers_sms_owner_queue_check":    {"number_assigned_to_sms_queue", "the number is assigned to an SMS queue; unassign it first"},
	"numbers_ivr_owner_check":          {"number_assigned_to_ivr_queue", "the number is assigned to another IVR queue; unassign it first"},
	"numbers_agent_limit_check":        {"agent_number_limit", "the agent already owns the most direct numbers the tenant allows (max_direct_numbers_per_agent)"},
	"numbers_leaf_queue_check":         {"not_leaf_queue", "only leaf queues take numbers; this queue has child queues"},
	"numbers_personal_queue_check":     {"personal_queue", "a personal queue gets its numbers through its agent: assign the number to the agent"},
	"number_outbound_number_fkey":      {"number_is_direct", "a direct number has no outbound assignments; clear direct first"},
}

// ruleError translates a violated assignment rule into its 409, naming the number; any other
// error is returned unchanged.
func ruleError(err error, n E164) error {
	if c := pg.Code(err); c != pg.CodeCheckViolation && c != pg.CodeForeignKeyViolation {
		return err
	}
	name := pg.Constraint(err)
	if name == "numbers_sms_user_active_check" {
		return errUserNotFound
	}
	if _, known := ruleCodes[name]; !known {
		return err
	}
	return ruleConflict(name, n)
}

// ruleConflict is the 409 for the named rule, naming the number when there is one.
func ruleConflict(name string, n E164) *apperr.Error {
	rule := ruleCodes[name]
	if n == "" {
		return apperr.Conflict(rule.code, rule.message)
	}
	return apperr.Conflict(rule.code, string(n)+": "+rule.message)
}

// invalidNumber turns a Normalize error into the API's 422 for field; other errors (an unknown
// tenant region is a configuration fault) pass through.
func invalidNumber(field string, err error) error {
	var bad *InvalidNumberError
	if errors.As(err, &bad) {
		return apperr.Invalid(field, "invalid_number", bad.Error())
	}
	return err
}

// checkText refuses what a text column cannot hold (NUL, invalid UTF-8) and what is longer than
// max characters, as a 422 naming field, so such input never reaches PostgreSQL as an error.
func checkText(field, code, s string, max int) error {
	if strings.ContainsRune(s, 0) || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return apperr.Invalid(field, code, fmt.Sprintf("%s must be text of at most %d characters", field, max))
	}
	return nil
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validUUID reports whether s can be a row id, so a malformed id in a body is answered like an
// unknown one instead of reaching PostgreSQL as a cast error.
func validUUID(s string) bool { return uuidPattern.MatchString(s) }

const sqlSelectTenantRegion = `SELECT default_region FROM tenants WHERE id = $1`

// normalize reads input as a number of the tenant. A number written with "+" needs no region,
// which spares the inventory paths (/v1/numbers/+1415…) a query.
func (s *Store) normalize(ctx context.Context, tenantID, field, input string) (E164, error) {
	region := ""
	if !strings.HasPrefix(strings.TrimSpace(input), "+") {
		var err error
		if region, err = tenantRegion(ctx, s.db, tenantID); err != nil {
			return "", err
		}
	}
	n, err := Normalize(input, region)
	if err != nil {
		return "", invalidNumber(field, err)
	}
	return n, nil
}

// tenantRegion reads the tenant's default region; an unknown tenant (an operator's typo, since
// the API only ever passes its caller's) is not found.
func tenantRegion(ctx context.Context, q sqlx.QueryerContext, tenantID string) (string, error) {
	if !validUUID(tenantID) {
		return "", apperr.NotFound("tenant")
	}
	var region string
	err := sqlx.GetContext(ctx, q, &region, sqlSelectTenantRegion, tenantID)
	if err == pg.ErrNoRows {
		return "", apperr.NotFound("tenant")
	}
	if err != nil {
		return "", fmt.Errorf("read region of tenant %s: %w", tenantID, err)
	}
	return region, nil
}
