package numbers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"directsms/directory"
	"directsms/internal/apperr"
)

// MaxBulkRows is the most data rows one bulk file may have; 10,000 agents is a large contact
// centre, and the rest is headroom.
const MaxBulkRows = 50_000

// MaxBulkCells is the most non-blank number cells one bulk file may have, which bounds the
// memory a file can take whatever its shape.
const MaxBulkCells = 250_000

// BulkFile is a parsed bulk-assignment file: `email,direct_number[,direct_number...]`.
type BulkFile struct {
	Rows []BulkRow
}

// BulkRow is one data row. Blank number cells are left out: a blank cell means no change.
type BulkRow struct {
	// Line is where the row starts in the file; the header is line 1, so it is the row number a
	// spreadsheet shows.
	Line    int
	Email   string
	Numbers []BulkCell
}

// BulkCell is one non-blank number cell; Column counts from 1 (the email is column 1).
type BulkCell struct {
	Column int
	Value  string
}

// BulkResult is what a bulk assignment did, or would do in a dry run. Applied and Unchanged
// count number cells (assignments made, and ones that already held); Failed counts error lines,
// one per failed cell or, when the row itself is at fault (its email), one per row.
type BulkResult struct {
	Rows      int         `json:"rows"`
	Applied   int         `json:"applied"`
	Unchanged int         `json:"unchanged"`
	Failed    int         `json:"failed"`
	DryRun    bool        `json:"dry_run"`
	Errors    []BulkError `json:"errors"`
}

// BulkError is one line of the error log.
type BulkError struct {
	Row     int    `json:"row"`
	Column  int    `json:"column"`
	Value   string `json:"value"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The codes of bulk error lines that are not assignment-rule codes.
const (
	BulkInvalidEmail    = "invalid_email"
	BulkUserNotFound    = "user_not_found"
	BulkInvalidNumber   = "invalid_number"
	BulkNumberNotFound  = "number_not_found"
	BulkDuplicateInFile = "duplicate_in_file"
)

// ParseBulkCSV reads a bulk-assignment file. The header must be "email" followed by one or more
// "direct_number…" columns (any case; a UTF-8 byte-order mark from a spreadsheet is skipped).
// Rows with nothing in them are skipped. A file that is not such a CSV is a 422 invalid_csv
// naming the line; row-level problems are left to BulkAssign's error log.
func ParseBulkCSV(r io.Reader) (BulkFile, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		br.Discard(3) //nolint:errcheck // the three bytes were just peeked
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return BulkFile{}, invalidCSV("the file is empty; the first line must be email,direct_number")
	}
	if err != nil {
		return BulkFile{}, csvError(err)
	}
	if err := checkHeader(header); err != nil {
		return BulkFile{}, err
	}
	var file BulkFile
	cells := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return file, nil
		}
		if err != nil {
			return BulkFile{}, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		row := BulkRow{Line: line, Email: strings.TrimSpace(rec[0])}
		for i, cell := range rec[1:] {
			if v := strings.TrimSpace(cell); v != "" {
				row.Numbers = append(row.Numbers, BulkCell{Column: i + 2, Value: v})
			}
		}
		if row.Email == "" && len(row.Numbers) == 0 {
			continue
		}
		if cells += len(row.Numbers); len(file.Rows) == MaxBulkRows || cells > MaxBulkCells {
			return BulkFile{}, invalidCSV(fmt.Sprintf("the file has more than %d rows or %d numbers; split it", MaxBulkRows, MaxBulkCells))
		}
		file.Rows = append(file.Rows, row)
	}
}

func checkHeader(header []string) error {
	want := "the first line must be email,direct_number[,direct_number...]"
	if len(header) < 2 || !strings.EqualFold(strings.TrimSpace(header[0]), "email") {
		return invalidCSV(want)
	}
	for _, h := range header[1:] {
		h = strings.ToLower(strings.TrimSpace(h))
		if !strings.HasPrefix(strings.ReplaceAll(h, " ", "_"), "direct_number") {
			return invalidCSV(fmt.Sprintf("%s; %q is not a direct_number column", want, h))
		}
	}
	return nil
}

func invalidCSV(message string) error {
	return apperr.Invalid("file", "invalid_csv", message)
}

// csvError reports a malformed file as a 422 naming the line; a failure to read it (a body over
// the limit, a dropped connection) is passed on as it is.
func csvError(err error) error {
	var perr *csv.ParseError
	if errors.As(err, &perr) {
		return invalidCSV(fmt.Sprintf("line %d: %v", perr.Line, perr.Err))
	}
	return fmt.Errorf("read bulk file: %w", err)
}

// WriteErrorsCSV writes the error log as CSV: row,column,value,code,message.
func WriteErrorsCSV(w io.Writer, errs []BulkError) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"row", "column", "value", "code", "message"}) //nolint:errcheck // reported by Flush
	for _, e := range errs {
		cw.Write([]string{fmt.Sprint(e.Row), fmt.Sprint(e.Column), e.Value, e.Code, e.Message}) //nolint:errcheck // reported by Flush
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write error log: %w", err)
	}
	return nil
}

const (
	sqlSelectAgentLimit = `SELECT max_direct_numbers_per_agent FROM tenants WHERE id = $1`
	sqlSelectBulkUsers  = `SELECT id, lower(email) AS email FROM users
		WHERE tenant_id = $1 AND lower(email) = ANY($2) AND active ORDER BY id`
	sqlSelectBulkNumbers = `SELECT id, e164, direct, status, sms_user_id, sms_queue_id FROM numbers
		WHERE tenant_id = $1 AND e164 = ANY($2) ORDER BY id`
	sqlSelectBulkUsersLocked   = sqlSelectBulkUsers + ` FOR NO KEY UPDATE`
	sqlSelectBulkNumbersLocked = sqlSelectBulkNumbers + ` FOR UPDATE`
	sqlCountOwnedNumbers       = `SELECT sms_user_id, count(*) FROM numbers WHERE sms_user_id = ANY($1) GROUP BY sms_user_id`
	sqlAssignMany              = `UPDATE numbers n SET sms_user_id = v.user_id, updated_at = $3
		FROM unnest(CAST($1 AS uuid[]), CAST($2 AS uuid[])) AS v(number_id, user_id) WHERE n.id = v.number_id AND n.tenant_id = $4`
)

// bulkUser and bulkNumber are what validation needs to know of the users and numbers a file
// names, loaded with one query each.
type bulkUser struct {
	ID    string `db:"id"`
	Email string `db:"email"`
}

type bulkNumber struct {
	ID         string  `db:"id"`
	E164       string  `db:"e164"`
	Direct     bool    `db:"direct"`
	Status     Status  `db:"status"`
	SMSUserID  *string `db:"sms_user_id"`
	SMSQueueID *string `db:"sms_queue_id"`
}

// bulkPlan is a validated file: the assignments to make and the counts and errors to report.
type bulkPlan struct {
	numberIDs, userIDs []string
	result             BulkResult
}

// BulkAssign assigns direct numbers to users as the file says, in one pass: the users and numbers
// it names are loaded (and, unless dryRun, locked) with a few queries, every row is validated in
// memory, and the valid assignments are made with one statement, in one transaction. Invalid
// cells are skipped and reported; a blank cell changes nothing, so running a file twice changes
// nothing the second time.
func (s *Store) BulkAssign(ctx context.Context, tenantID string, file BulkFile, dryRun bool) (BulkResult, error) {
	region, err := tenantRegion(ctx, s.db, tenantID)
	if err != nil {
		return BulkResult{}, fmt.Errorf("bulk assign: %w", err)
	}
	in := readBulkFile(file, region)
	var plan bulkPlan
	// The database's rules can still refuse the plan if something the transaction does not
	// lock changed after it was read (the tenant's limit); the file is then validated again
	// against the new state.
	for attempt := 1; ; attempt++ {
		err = s.inTx(ctx, func(tx *sqlx.Tx) error {
			users, nums, owned, limit, err := loadBulk(ctx, tx, tenantID, in, !dryRun)
			if err != nil {
				return err
			}
			plan = validateBulk(in, users, nums, owned, limit)
			if dryRun || len(plan.numberIDs) == 0 {
				return nil
			}
			if err := directory.EnsurePersonalQueues(ctx, tx, tenantID, distinct(plan.userIDs)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, sqlAssignMany, pq.Array(plan.numberIDs), pq.Array(plan.userIDs), s.now(), tenantID); err != nil {
				return ruleError(err, "")
			}
			return nil
		})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.KindConflict || attempt == 3 {
			break
		}
	}
	if err != nil {
		return BulkResult{}, fmt.Errorf("bulk assign for tenant %s: %w", tenantID, err)
	}
	plan.result.DryRun = dryRun
	return plan.result, nil
}

// bulkInput is a file with its emails and numbers read: what can be checked without the
// database.
type bulkInput struct {
	rows    []bulkInputRow
	emails  []string // distinct, lower case
	numbers []string // distinct E.164
}

type bulkInputRow struct {
	BulkRow
	email    string // lower case; "" when invalid
	emailErr string
	numbers  []E164 // per cell; "" when invalid
	numErrs  []string
}

func readBulkFile(file BulkFile, region string) bulkInput {
	in := bulkInput{rows: make([]bulkInputRow, len(file.Rows))}
	seenEmail, seenNumber := map[string]bool{}, map[E164]bool{}
	for i, row := range file.Rows {
		r := bulkInputRow{BulkRow: row, numbers: make([]E164, len(row.Numbers)), numErrs: make([]string, len(row.Numbers))}
		if email, err := directory.NormalizeEmail("email", row.Email); err != nil {
			r.emailErr = fmt.Sprintf("%q is not an email address", row.Email)
		} else {
			r.email = strings.ToLower(email)
			if !seenEmail[r.email] {
				seenEmail[r.email] = true
				in.emails = append(in.emails, r.email)
			}
		}
		for j, cell := range row.Numbers {
			n, err := Normalize(cell.Value, region)
			if err != nil {
				r.numErrs[j] = err.Error()
				continue
			}
			r.numbers[j] = n
			if !seenNumber[n] {
				seenNumber[n] = true
				in.numbers = append(in.numbers, string(n))
			}
		}
		in.rows[i] = r
	}
	return in
}

// loadBulk reads the users and numbers the file names, and how many numbers each user owns.
// When lock is set the users and then the numbers are locked, in id order, so that the state
// validated is the state written and concurrent bulk files cannot deadlock.
func loadBulk(ctx context.Context, tx *sqlx.Tx, tenantID string, in bulkInput, lock bool) (
	users map[string]string, nums map[E164]bulkNumber, owned map[string]int, limit int, err error,
) {
	userQuery, numberQuery := sqlSelectBulkUsers, sqlSelectBulkNumbers
	if lock {
		userQuery, numberQuery = sqlSelectBulkUsersLocked, sqlSelectBulkNumbersLocked
	}
	if err := tx.GetContext(ctx, &limit, sqlSelectAgentLimit, tenantID); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("read the agent limit: %w", err)
	}
	var userRows []bulkUser
	if err := tx.SelectContext(ctx, &userRows, userQuery, tenantID, pq.Array(in.emails)); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("load users: %w", err)
	}
	var numRows []bulkNumber
	if err := tx.SelectContext(ctx, &numRows, numberQuery, tenantID, pq.Array(in.numbers)); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("load numbers: %w", err)
	}
	users = make(map[string]string, len(userRows))
	ids := make([]string, len(userRows))
	for i, u := range userRows {
		users[u.Email], ids[i] = u.ID, u.ID
	}
	nums = make(map[E164]bulkNumber, len(numRows))
	for _, n := range numRows {
		nums[E164(n.E164)] = n
	}
	var counts []struct {
		UserID string `db:"sms_user_id"`
		Count  int    `db:"count"`
	}
	if err := tx.SelectContext(ctx, &counts, sqlCountOwnedNumbers, pq.Array(ids)); err != nil {
		return nil, nil, nil, 0, fmt.Errorf("count owned numbers: %w", err)
	}
	owned = make(map[string]int, len(counts))
	for _, c := range counts {
		owned[c.UserID] = c.Count
	}
	return users, nums, owned, limit, nil
}

// validateBulk decides every cell in file order, with the checks in the order the single-number
// API applies them. The first cell naming a number decides it; later ones are duplicates.
func validateBulk(in bulkInput, users map[string]string, nums map[E164]bulkNumber, owned map[string]int, limit int) bulkPlan {
	plan := bulkPlan{result: BulkResult{Rows: len(in.rows), Errors: []BulkError{}}}
	fail := func(row, col int, value, code, message string) {
		plan.result.Errors = append(plan.result.Errors, BulkError{Row: row, Column: col, Value: value, Code: code, Message: message})
	}
	type place struct{ row, column int }
	first := map[E164]place{}
	for _, r := range in.rows {
		if r.emailErr != "" {
			fail(r.Line, 1, r.Email, BulkInvalidEmail, r.emailErr)
			continue
		}
		userID, ok := users[r.email]
		if !ok {
			fail(r.Line, 1, r.Email, BulkUserNotFound, fmt.Sprintf("no active user has the email %s", r.Email))
			continue
		}
		for j, cell := range r.Numbers {
			n := r.numbers[j]
			if n == "" {
				fail(r.Line, cell.Column, cell.Value, BulkInvalidNumber, r.numErrs[j])
				continue
			}
			if at, dup := first[n]; dup {
				fail(r.Line, cell.Column, cell.Value, BulkDuplicateInFile,
					fmt.Sprintf("%s is already in row %d, column %d; a number has one owner", n, at.row, at.column))
				continue
			}
			first[n] = place{r.Line, cell.Column}
			num, ok := nums[n]
			if !ok {
				fail(r.Line, cell.Column, cell.Value, BulkNumberNotFound, fmt.Sprintf("%s is not in the tenant's inventory", n))
				continue
			}
			if rule := cellRule(num, userID, owned[userID], limit); rule != "" {
				conflict := ruleConflict(rule, n)
				fail(r.Line, cell.Column, cell.Value, conflict.Code, conflict.Message)
				continue
			}
			if num.SMSUserID != nil { // the user's already: cellRule refused anyone else's
				plan.result.Unchanged++
				continue
			}
			owned[userID]++
			plan.numberIDs = append(plan.numberIDs, num.ID)
			plan.userIDs = append(plan.userIDs, userID)
			plan.result.Applied++
		}
	}
	plan.result.Failed = len(plan.result.Errors)
	return plan
}

// cellRule is the assignment rule assigning num to userID breaks, or "": the checks of the
// numbers_check_assignment trigger, in its order. A number the user already owns breaks none.
func cellRule(num bulkNumber, userID string, owned, limit int) string {
	switch {
	case num.SMSUserID != nil && *num.SMSUserID == userID:
		return ""
	case !num.Direct:
		return "numbers_sms_user_direct_check"
	case num.Status != StatusVerified:
		return "numbers_sms_user_verified_check"
	case num.SMSUserID != nil:
		return "numbers_sms_owner_user_check"
	case num.SMSQueueID != nil:
		return "numbers_sms_owner_queue_check"
	case owned >= limit:
		return "numbers_agent_limit_check"
	}
	return ""
}

func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
