package directory

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/nyaruka/phonenumbers/v2"

	"directsms/internal/apperr"
	"directsms/sql/pg"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validUUID reports whether s can be a server id; anything else is refused before it reaches a
// query, where casting it would be a database error rather than the caller's.
func validUUID(s string) bool { return uuidPattern.MatchString(s) }

// nullUUID is s as a query argument: NULL when empty, so optional filters read
// `CAST($n AS uuid) IS NULL OR …`.
func nullUUID(s string) any {
	if s == "" {
		return nil
	}
	return strings.ToLower(s)
}

// Page is one page of a list: up to Limit rows after the row whose id is Cursor. Stores fetch
// Limit+1 rows so the caller can tell whether another page follows.
type Page struct {
	Cursor string
	Limit  int
}

// check validates the cursor, which is the id of the last row of the previous page.
func (p Page) check() error {
	if p.Cursor != "" && !validUUID(p.Cursor) {
		return apperr.Invalid("cursor", "invalid_cursor", "cursor must be the next_cursor of a previous page")
	}
	if p.Limit < 1 || p.Limit > 500 {
		return apperr.Invalid("limit", "invalid_limit", "limit must be a whole number from 1 to 500")
	}
	return nil
}

// fetch is how many rows a store reads for the page: one more than it answers.
func (p Page) fetch() int { return p.Limit + 1 }

// cleanName trims a display name and checks its length (1 to 200 characters).
func cleanName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return "", apperr.Invalid(field, "invalid_name", field+" must be 1 to 200 characters")
	}
	return name, nil
}

var extensionPattern = regexp.MustCompile(`^[0-9]{1,8}$`)

// checkExtension accepts 1 to 8 digits: what a caller dials after the greeting.
func checkExtension(ext string) error {
	if !extensionPattern.MatchString(ext) {
		return apperr.Invalid("extension", "invalid_extension", "extension must be 1 to 8 digits")
	}
	return nil
}

// normalizePersonalNumber returns input in E.164, reading national formats in the tenant's
// region. Only numbers phonenumbers calls valid are kept: formatting a number that is merely
// possible gives a plausible but wrong E.164. A leading 00 is tried as the international prefix
// when the regional reading fails, as numbers.Normalize does; directory cannot import numbers
// (numbers builds on directory), so the rule is repeated here.
func normalizePersonalNumber(input, region string) (string, error) {
	bad := apperr.Invalid("personal_number", "invalid_number", fmt.Sprintf("%q is not a valid phone number", truncate(input, 64)))
	s := strings.TrimSpace(input)
	if s == "" || len(s) > 64 {
		return "", bad
	}
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '+' && i == 0:
		case strings.ContainsRune(" .-()/", r):
		default:
			return "", bad
		}
	}
	if num, err := phonenumbers.Parse(s, region); err == nil && phonenumbers.IsValidNumber(num) {
		return phonenumbers.Format(num, phonenumbers.E164), nil
	}
	if rest, ok := strings.CutPrefix(strings.TrimLeft(s, " ("), "00"); ok {
		if num, err := phonenumbers.Parse("+"+rest, region); err == nil && phonenumbers.IsValidNumber(num) {
			return phonenumbers.Format(num, phonenumbers.E164), nil
		}
	}
	return "", bad
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// cleanIDs lower-cases and de-duplicates ids, keeping their order; an id that cannot be a
// server id is refused as unknown, like one that does not exist.
func cleanIDs(field, code, what string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for _, id := range ids {
		if !validUUID(id) {
			return nil, apperr.Invalid(field, code, fmt.Sprintf("no %s %q in this tenant", what, truncate(id, 64)))
		}
		id = strings.ToLower(id)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

const sqlSelectTeamIDs = `SELECT id FROM teams WHERE tenant_id = $1 AND id = ANY($2)`

// checkTeamsExist answers 422 unknown_team naming the first id that is not a team of the tenant.
func checkTeamsExist(ctx context.Context, q sqlx.QueryerContext, tenantID, field string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var found []string
	if err := sqlx.SelectContext(ctx, q, &found, sqlSelectTeamIDs, tenantID, pq.Array(ids)); err != nil {
		return fmt.Errorf("find teams: %w", err)
	}
	if missing := firstMissing(ids, found); missing != "" {
		return apperr.Invalid(field, "unknown_team", fmt.Sprintf("no team %q in this tenant", missing))
	}
	return nil
}

// firstMissing is the first of want not in got, or "".
func firstMissing(want, got []string) string {
	have := make(map[string]bool, len(got))
	for _, id := range got {
		have[id] = true
	}
	for _, id := range want {
		if !have[id] {
			return id
		}
	}
	return ""
}

// goneError turns a foreign-key violation, from a referenced row deleted while the request ran,
// into the same 422 as if it had been missing from the start; other errors are wrapped with
// action.
func goneError(err error, field, code, what, action string) error {
	if pg.Code(err) == pg.CodeForeignKeyViolation {
		return apperr.Invalid(field, code, "no such "+what+" in this tenant")
	}
	return fmt.Errorf("%s: %w", action, err)
}
