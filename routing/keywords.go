package routing

import "strings"

// Keyword is the consent meaning of an inbound text, as carriers define it.
type Keyword string

// The keyword classes. Carriers act on these themselves (blocking after STOP,
// for example), so directsms must recognise exactly the same messages to keep
// its consent records in step with the carrier's.
const (
	KeywordNone   Keyword = ""
	KeywordOptOut Keyword = "opt_out"
	KeywordOptIn  Keyword = "opt_in"
	KeywordHelp   Keyword = "help"
)

// keywords maps each keyword, upper-case with single spaces, to its class.
var keywords = map[string]Keyword{
	"STOP":        KeywordOptOut,
	"STOPALL":     KeywordOptOut,
	"STOP ALL":    KeywordOptOut,
	"UNSUBSCRIBE": KeywordOptOut,
	"CANCEL":      KeywordOptOut,
	"END":         KeywordOptOut,
	"QUIT":        KeywordOptOut,
	"REVOKE":      KeywordOptOut,
	"OPTOUT":      KeywordOptOut,
	"OPT OUT":     KeywordOptOut,
	"START":       KeywordOptIn,
	"YES":         KeywordOptIn,
	"UNSTOP":      KeywordOptIn,
	"HELP":        KeywordHelp,
	"INFO":        KeywordHelp,
}

// ClassifyKeyword reports whether body, taken as a whole, is an opt-out,
// opt-in or help keyword. Leading and trailing whitespace is ignored, inner
// runs of whitespace count as one space, and case does not matter, so
// " stop   all\n" is an opt-out; any other text, such as "STOP PLEASE" or
// "stop.", is KeywordNone.
func ClassifyKeyword(body string) Keyword {
	words := strings.Fields(body)
	// No keyword has more than two words, so ordinary texts stop here.
	if len(words) == 0 || len(words) > 2 {
		return KeywordNone
	}
	return keywords[asciiUpper(strings.Join(words, " "))]
}

// asciiUpper upper-cases ASCII letters only. The keywords are ASCII words, and
// Unicode case mapping would also accept look-alikes (strings.ToUpper turns
// "ſtop" into "STOP" and the Kelvin sign into K): a change of consent should
// come only from the words carriers list.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
