package numbers

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers/v2"
)

// E164 is a valid phone number in E.164 form, such as "+14155550171". Values
// come from Normalize or from an Address of KindNumber; converting arbitrary
// strings skips the validation that makes the type worth having.
type E164 string

// String returns the number in full. Use Masked when the value goes to a log.
func (n E164) String() string { return string(n) }

// Masked returns the number with its middle digits replaced by '*', such as
// "+1415*****71". The country and area prefix stay readable because they are
// what matters when debugging routing; the subscriber part is personal data
// and must not reach logs.
func (n E164) Masked() string {
	const keepPrefix, keepSuffix = 5, 2
	r := []rune(string(n))
	if len(r) <= keepPrefix+keepSuffix {
		// Too short to show anything without showing nearly everything.
		return strings.Repeat("*", len(r))
	}
	return string(r[:keepPrefix]) + strings.Repeat("*", len(r)-keepPrefix-keepSuffix) + string(r[len(r)-keepSuffix:])
}

// LogValue makes slog print the masked form, so logging a number as an
// attribute cannot leak it by accident.
func (n E164) LogValue() slog.Value { return slog.StringValue(n.Masked()) }

// Kind says what sort of address a contact has.
type Kind string

// The kinds of address a contact can have. Only KindNumber can be in the
// inventory; the other two exist because carriers deliver texts from them.
const (
	KindNumber       Kind = "number"
	KindShortCode    Kind = "short_code"
	KindAlphanumeric Kind = "alphanumeric"
)

// Address is a classified sender or recipient, as returned by ClassifyAddress.
type Address struct {
	// Value is the E.164 number for KindNumber, the digits without spaces for
	// KindShortCode, and the trimmed sender id for KindAlphanumeric. It is the
	// contact's identity, so the same party always yields the same Value.
	Value string
	// Kind says which of the three Value is.
	Kind Kind
	// Region is the region phonenumbers reports for a number, which can
	// differ from the region it was parsed with (a UK-format mobile may be
	// "GG" or "JE"), or "001" for non-geographic numbers. It is empty for short
	// codes and alphanumeric ids, which carry no region of their own.
	Region string
}

// maxInputLength is the longest input, in characters, that Normalize and
// ClassifyAddress will look at. Real numbers in any format are far shorter;
// the cap keeps pasted garbage away from the parser and out of error messages.
const maxInputLength = 64

// defaultRegion is the region used when the caller passes none.
const defaultRegion = "US"

// Reasons carried by InvalidNumberError, exported so callers (bulk imports,
// API error details) can branch on them without matching free text.
const (
	ReasonEmpty        = "empty"
	ReasonTooLong      = "longer than 64 characters"
	ReasonNotANumber   = "not a phone number"
	ReasonNotValid     = "not a valid number for any region"
	ReasonShortCode    = "short codes cannot be inventory numbers"
	ReasonAlphanumeric = "alphanumeric sender ids cannot be inventory numbers"
)

// ErrInvalidNumber matches every *InvalidNumberError with errors.Is, for
// callers that only need to know the input was at fault.
var ErrInvalidNumber = errors.New("invalid phone number")

// ErrUnknownRegion reports a default region that phonenumbers has no metadata
// for. It is a configuration fault, not a fault in the number, so it is not an
// ErrInvalidNumber.
var ErrUnknownRegion = errors.New("unknown region")

// InvalidNumberError is returned when an input cannot be used as a number.
// Reason is one of the Reason constants.
type InvalidNumberError struct {
	Input  string
	Reason string
}

// Error names the input and why it was refused. Overlong inputs are cut
// short so a pasted document cannot flood a log line or an API response.
func (e *InvalidNumberError) Error() string {
	in := e.Input
	if utf8.RuneCountInString(in) > maxInputLength {
		in = string([]rune(in)[:maxInputLength]) + "…"
	}
	return fmt.Sprintf("invalid phone number %q: %s", in, e.Reason)
}

// Is reports whether target is ErrInvalidNumber.
func (e *InvalidNumberError) Is(target error) bool { return target == ErrInvalidNumber }

// Normalize turns a number written in any common form into E.164: spaces,
// dashes, dots, brackets and slashes are ignored; "+" or a leading "00" starts
// an international number; anything else is read in the national format of
// region, an ISO 3166-1 alpha-2 code in any case ("US" when empty). Only
// numbers phonenumbers considers valid are accepted, because inventory and
// personal numbers must be reachable. Short codes and alphanumeric sender ids
// are refused with their own reasons, and an unknown region with
// ErrUnknownRegion.
func Normalize(input, region string) (E164, error) {
	addr, err := classify(input, region)
	if err != nil {
		return "", err
	}
	switch addr.Kind {
	case KindShortCode:
		return "", &InvalidNumberError{Input: input, Reason: ReasonShortCode}
	case KindAlphanumeric:
		return "", &InvalidNumberError{Input: input, Reason: ReasonAlphanumeric}
	}
	return E164(addr.Value), nil
}

// ClassifyAddress classifies a contact's address: a valid phone number (in
// E.164), else a short code (3 to 8 digits), else an alphanumeric sender id
// (1 to 11 letters, digits and spaces, with at least one letter). Numbers are
// tried first because an 8-digit string can be both a valid national number
// and short-code shaped, and the number is the better reading. Anything else
// is an *InvalidNumberError; region is handled as in Normalize.
func ClassifyAddress(input, region string) (Address, error) {
	return classify(input, region)
}

// classify is ClassifyAddress; Normalize narrows its answer to numbers so the
// two can never disagree about what a number is.
func classify(input, region string) (Address, error) {
	region = strings.ToUpper(region)
	if region == "" {
		region = defaultRegion
	}
	if !phonenumbers.GetSupportedRegions()[region] {
		return Address{}, fmt.Errorf("%w %q", ErrUnknownRegion, region)
	}
	if utf8.RuneCountInString(input) > maxInputLength {
		return Address{}, &InvalidNumberError{Input: input, Reason: ReasonTooLong}
	}
	s := strings.TrimSpace(input)
	if s == "" {
		return Address{}, &InvalidNumberError{Input: input, Reason: ReasonEmpty}
	}

	dialled, looksLikeNumber := dialString(s)
	if looksLikeNumber {
		if num := parseValid(dialled, region); num != nil {
			return Address{
				Value:  phonenumbers.Format(num, phonenumbers.E164),
				Kind:   KindNumber,
				Region: phonenumbers.GetRegionCodeForNumber(num),
			}, nil
		}
	}
	if code, ok := shortCode(s); ok {
		return Address{Value: code, Kind: KindShortCode}, nil
	}
	if isAlphanumericID(s) {
		return Address{Value: s, Kind: KindAlphanumeric}, nil
	}
	if looksLikeNumber {
		return Address{}, &InvalidNumberError{Input: input, Reason: ReasonNotValid}
	}
	return Address{}, &InvalidNumberError{Input: input, Reason: ReasonNotANumber}
}

// dialString reduces s to an optional leading "+" and its ASCII digits,
// reporting false when s holds anything but digits and the separators people
// write numbers with. phonenumbers itself is more lenient (letters become
// keypad digits, extensions and non-ASCII digits are accepted); we are not,
// because a vanity or extension-bearing string is not an SMS address and an
// alphanumeric sender id must never be read as a keypad number.
func dialString(s string) (string, bool) {
	var b strings.Builder
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == '.' || r == '(' || r == ')' || r == '/' ||
			unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
		default:
			return "", false
		}
	}
	return b.String(), digits > 0
}

// parseValid parses a dial string and returns the number only if it is valid.
// A leading "00" is the international prefix in most of the world but not in
// NANP regions, where phonenumbers would read "0044 20…" as a malformed US
// number; when the regional reading is invalid, the international one is
// tried. The regional reading goes first so that regions whose international
// prefix starts with "00" followed by a carrier code (Brazil's "0014…") keep
// phonenumbers' own, correct handling.
func parseValid(dialled, region string) *phonenumbers.PhoneNumber {
	if num, err := phonenumbers.Parse(dialled, region); err == nil && phonenumbers.IsValidNumber(num) {
		return num
	}
	if rest, ok := strings.CutPrefix(dialled, "00"); ok {
		if num, err := phonenumbers.Parse("+"+rest, region); err == nil && phonenumbers.IsValidNumber(num) {
			return num
		}
	}
	return nil
}

// shortCode reports whether s is 3 to 8 ASCII digits once spaces are removed,
// and returns those digits.
func shortCode(s string) (string, bool) {
	code := strings.Join(strings.Fields(s), "")
	if len(code) < 3 || len(code) > 8 {
		return "", false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return code, true
}

// isAlphanumericID reports whether s can be an alphanumeric sender id: 1 to 11
// ASCII letters, digits and spaces with at least one letter. Carriers only
// accept ASCII here, and refusing look-alike letters from other scripts keeps
// one sender from appearing under two identities.
func isAlphanumericID(s string) bool {
	if len(s) > 11 {
		return false
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z':
			letter = true
		case r >= '0' && r <= '9' || r == ' ':
		default:
			return false
		}
	}
	return letter
}
