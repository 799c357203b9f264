package routing

import (
	"strings"
	"testing"
	"unicode/utf8"
)

const emoji = "😀" // U+1F600: one character, two UTF-16 code units

func TestCountSegments(t *testing.T) {
	t.Parallel()
	a := func(n int) string { return strings.Repeat("a", n) }
	zhe := func(n int) string { return strings.Repeat("ж", n) } // in the BMP, not in GSM-7
	tests := []struct {
		name     string
		body     string
		segments int
		enc      Encoding
	}{
		{name: "empty body costs nothing", body: "", segments: 0, enc: EncodingGSM7},
		{name: "one character", body: "a", segments: 1, enc: EncodingGSM7},
		{name: "GSM-7 160 septets fit one segment", body: a(160), segments: 1, enc: EncodingGSM7},
		{name: "GSM-7 161 septets need two", body: a(161), segments: 2, enc: EncodingGSM7},
		{name: "GSM-7 306 septets fill two segments of 153", body: a(306), segments: 2, enc: EncodingGSM7},
		{name: "GSM-7 307 septets need three", body: a(307), segments: 3, enc: EncodingGSM7},
		{name: "extension character costs two septets at the single-segment limit", body: a(158) + "€", segments: 1, enc: EncodingGSM7},
		{name: "extension character pushes past the single-segment limit", body: a(159) + "€", segments: 2, enc: EncodingGSM7},
		{name: "form feed costs two septets", body: "\f" + a(159), segments: 2, enc: EncodingGSM7},
		{name: "eighty braces fit one segment", body: strings.Repeat("{", 80), segments: 1, enc: EncodingGSM7},
		{name: "extension character ending at septet 153 stays in the segment", body: a(151) + "€" + a(152), segments: 2, enc: EncodingGSM7},
		{name: "extension character at septet 153 moves to the next segment", body: a(152) + "€" + a(152), segments: 3, enc: EncodingGSM7},
		{name: "extension character moved at the boundary with a short tail", body: a(152) + "[" + a(10), segments: 2, enc: EncodingGSM7},
		{name: "capital C cedilla is GSM-7", body: strings.Repeat("Ç", 160), segments: 1, enc: EncodingGSM7},
		{name: "small c cedilla forces UCS-2", body: "ç" + a(69), segments: 1, enc: EncodingUCS2},
		{name: "small c cedilla makes 71 code units two segments", body: "ç" + a(70), segments: 2, enc: EncodingUCS2},
		{name: "accented letters of the default alphabet stay GSM-7", body: "èéùìòÅåØøÆæßÉÄÖÑÜäöñüà", segments: 1, enc: EncodingGSM7},
		{name: "Greek capitals of the default alphabet stay GSM-7", body: "ΔΦΓΛΩΠΨΣΘΞ", segments: 1, enc: EncodingGSM7},
		{name: "Greek small letter forces UCS-2", body: "δ", segments: 1, enc: EncodingUCS2},
		{name: "currency and inverted marks stay GSM-7", body: "@£$¥¤§¡¿", segments: 1, enc: EncodingGSM7},
		{name: "line feed and carriage return stay GSM-7", body: "hi\r\nthere", segments: 1, enc: EncodingGSM7},
		{name: "backtick forces UCS-2", body: "`", segments: 1, enc: EncodingUCS2},
		{name: "tab forces UCS-2", body: "a\tb", segments: 1, enc: EncodingUCS2},
		{name: "acute a forces UCS-2", body: "á", segments: 1, enc: EncodingUCS2},
		{name: "curly apostrophe forces UCS-2", body: "it’s", segments: 1, enc: EncodingUCS2},
		{name: "UCS-2 70 code units fit one segment", body: zhe(70), segments: 1, enc: EncodingUCS2},
		{name: "UCS-2 71 code units need two", body: zhe(71), segments: 2, enc: EncodingUCS2},
		{name: "UCS-2 134 code units fill two segments of 67", body: zhe(134), segments: 2, enc: EncodingUCS2},
		{name: "UCS-2 135 code units need three", body: zhe(135), segments: 3, enc: EncodingUCS2},
		{name: "35 emoji are 70 code units", body: strings.Repeat(emoji, 35), segments: 1, enc: EncodingUCS2},
		{name: "35 emoji and a letter are 71 code units", body: strings.Repeat(emoji, 35) + "a", segments: 2, enc: EncodingUCS2},
		{name: "emoji ending at code unit 70", body: zhe(68) + emoji, segments: 1, enc: EncodingUCS2},
		{name: "emoji ending at code unit 71", body: zhe(69) + emoji, segments: 2, enc: EncodingUCS2},
		{name: "surrogate pair ending at code unit 67 stays in the segment", body: zhe(65) + emoji + zhe(67), segments: 2, enc: EncodingUCS2},
		{name: "surrogate pair at code unit 67 is not split", body: zhe(66) + emoji + zhe(66), segments: 3, enc: EncodingUCS2},
		{name: "GSM-7 1530 septets are ten segments", body: a(1530), segments: MaxSegments, enc: EncodingGSM7},
		{name: "GSM-7 1531 septets are eleven segments", body: a(1531), segments: MaxSegments + 1, enc: EncodingGSM7},
		{name: "UCS-2 670 code units are ten segments", body: zhe(670), segments: MaxSegments, enc: EncodingUCS2},
		{name: "UCS-2 671 code units are eleven segments", body: zhe(671), segments: MaxSegments + 1, enc: EncodingUCS2},
		{name: "invalid UTF-8 counts as a replacement character", body: "\xff", segments: 1, enc: EncodingUCS2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			segments, enc := CountSegments(tc.body)
			if segments != tc.segments || enc != tc.enc {
				t.Errorf("CountSegments(%d characters): got %d %s, want %d %s", utf8.RuneCountInString(tc.body), segments, enc, tc.segments, tc.enc)
			}
		})
	}
}

// The tables are typed by hand from GSM 03.38; these checks catch a dropped
// or duplicated character.
func TestGSMTables_MatchTheStandard(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		table string
		want  int
	}{
		{name: "default alphabet has 127 characters besides the escape", table: gsmBasic, want: 127},
		{name: "extension table has ten characters", table: gsmExtension, want: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seen := map[rune]bool{}
			for _, r := range tc.table {
				if seen[r] {
					t.Errorf("got %q twice, want each character once", r)
				}
				seen[r] = true
			}
			if got := len(seen); got != tc.want {
				t.Errorf("got %d characters, want %d", got, tc.want)
			}
		})
	}
}

func TestCountSegments_ASCIIOutsideGSM7(t *testing.T) {
	t.Parallel()
	// Every printable ASCII character is GSM-7 except the backtick; of the
	// control characters only LF, CR and form feed are.
	for c := rune(0); c < utf8.RuneSelf; c++ {
		want := EncodingGSM7
		if c == '`' || c == 0x7F || (c < ' ' && c != '\n' && c != '\r' && c != '\f') {
			want = EncodingUCS2
		}
		if _, got := CountSegments(string(c)); got != want {
			t.Errorf("CountSegments(%q): got %s, want %s", c, got, want)
		}
	}
}

func FuzzCountSegments(f *testing.F) {
	for _, s := range []string{
		"", "a", "€", "\f", "Ç", "ç", emoji, "\xff", "it’s", "STOP",
		strings.Repeat("a", 152) + "€" + strings.Repeat("a", 152),
		strings.Repeat("ж", 66) + emoji + strings.Repeat("ж", 66),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		segments, enc := CountSegments(body)
		if body == "" {
			if segments != 0 {
				t.Fatalf("got %d segments for an empty body, want 0", segments)
			}
			return
		}
		units, single, multi := 0, ucs2Single, ucs2Multi
		switch enc {
		case EncodingGSM7:
			single, multi = gsm7Single, gsm7Multi
			for _, r := range body {
				units += gsmSeptets[r]
			}
		case EncodingUCS2:
			for _, r := range body {
				units += utf16Units(r)
			}
		default:
			t.Fatalf("got encoding %q, want GSM-7 or UCS-2", enc)
		}
		if segments < 1 || segments > utf8.RuneCountInString(body) {
			t.Fatalf("got %d segments for %d characters, want between 1 and the character count", segments, utf8.RuneCountInString(body))
		}
		if (units <= single) != (segments == 1) {
			t.Fatalf("got %d segments for %d units, want 1 exactly when units <= %d", segments, units, single)
		}
		if segments > 1 && segments*multi < units {
			t.Fatalf("got %d segments of %d for %d units, want room for all of them", segments, multi, units)
		}
		// Keeping characters whole wastes at most one unit per segment.
		if segments > 1 && (segments-1)*(multi-1) >= units {
			t.Fatalf("got %d segments of %d for %d units, want no more than packing needs", segments, multi, units)
		}
	})
}
