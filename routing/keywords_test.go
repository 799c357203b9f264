package routing

import (
	"strings"
	"testing"
)

func TestClassifyKeyword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want Keyword
	}{
		{name: "STOP opts out", body: "STOP", want: KeywordOptOut},
		{name: "STOPALL opts out", body: "STOPALL", want: KeywordOptOut},
		{name: "STOP ALL opts out", body: "STOP ALL", want: KeywordOptOut},
		{name: "UNSUBSCRIBE opts out", body: "UNSUBSCRIBE", want: KeywordOptOut},
		{name: "CANCEL opts out", body: "CANCEL", want: KeywordOptOut},
		{name: "END opts out", body: "END", want: KeywordOptOut},
		{name: "QUIT opts out", body: "QUIT", want: KeywordOptOut},
		{name: "REVOKE opts out", body: "REVOKE", want: KeywordOptOut},
		{name: "OPTOUT opts out", body: "OPTOUT", want: KeywordOptOut},
		{name: "OPT OUT opts out", body: "OPT OUT", want: KeywordOptOut},
		{name: "START opts in", body: "START", want: KeywordOptIn},
		{name: "YES opts in", body: "YES", want: KeywordOptIn},
		{name: "UNSTOP opts in", body: "UNSTOP", want: KeywordOptIn},
		{name: "HELP asks for help", body: "HELP", want: KeywordHelp},
		{name: "INFO asks for help", body: "INFO", want: KeywordHelp},
		{name: "lower case", body: "stop", want: KeywordOptOut},
		{name: "mixed case", body: "UnSubScribe", want: KeywordOptOut},
		{name: "surrounding whitespace", body: "  \tStart\r\n", want: KeywordOptIn},
		{name: "surrounding Unicode whitespace", body: "\u00a0help\u3000", want: KeywordHelp},
		{name: "inner run of whitespace", body: "stop \t\n all", want: KeywordOptOut},
		{name: "inner Unicode whitespace", body: "opt\u00a0out", want: KeywordOptOut},
		{name: "keyword with more words is not a keyword", body: "STOP PLEASE", want: KeywordNone},
		{name: "keyword inside a sentence is not a keyword", body: "please stop texting me", want: KeywordNone},
		{name: "three words are never a keyword", body: "stop all now", want: KeywordNone},
		{name: "trailing punctuation is not trimmed", body: "STOP.", want: KeywordNone},
		{name: "hyphenated opt-out is not listed", body: "OPT-OUT", want: KeywordNone},
		{name: "split word is not listed", body: "UN STOP", want: KeywordNone},
		{name: "words must be separated", body: "OPTOUTALL", want: KeywordNone},
		{name: "long s is not an s", body: "ſtop", want: KeywordNone},
		{name: "Kelvin sign is not a K", body: "REVO\u212aE", want: KeywordNone},
		{name: "fullwidth letters are not ASCII", body: "ＳＴＯＰ", want: KeywordNone},
		{name: "empty", body: "", want: KeywordNone},
		{name: "whitespace only", body: " \n\t", want: KeywordNone},
		{name: "ordinary text", body: "Hi, is my order ready?", want: KeywordNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ClassifyKeyword(tc.body); got != tc.want {
				t.Errorf("ClassifyKeyword(%q): got %q, want %q", tc.body, got, tc.want)
			}
		})
	}
}

func FuzzClassifyKeyword(f *testing.F) {
	for _, s := range []string{"STOP", "stop all", " Opt\tOut ", "STOP PLEASE", "ſtop", "", "\u00a0help"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := ClassifyKeyword(body)
		switch got {
		case KeywordNone, KeywordOptOut, KeywordOptIn, KeywordHelp:
		default:
			t.Fatalf("ClassifyKeyword(%q): got %q, want one of the Keyword constants", body, got)
		}
		// Case, padding and the width of inner whitespace never change the class.
		variant := " \t" + strings.Join(strings.Fields(asciiLower(body)), "\n  ") + "\r\n"
		if again := ClassifyKeyword(variant); again != got {
			t.Fatalf("ClassifyKeyword(%q) = %q but ClassifyKeyword(%q) = %q, want equal", body, got, variant, again)
		}
		if got != KeywordNone && len(strings.Fields(body)) > 2 {
			t.Fatalf("ClassifyKeyword(%q): got %q for more than two words, want none", body, got)
		}
	})
}

// asciiLower changes ASCII letters only, like asciiUpper, so the fuzz variant
// cannot turn a look-alike into a keyword by Unicode case mapping.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}
