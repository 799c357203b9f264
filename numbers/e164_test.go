package numbers

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize_AcceptsCommonForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		region string
		want   E164
	}{
		{name: "US national with brackets", input: "(415) 867-5309", region: "US", want: "+14158675309"},
		{name: "US 555-01xx is valid in this area code", input: "(202) 555-0143", region: "US", want: "+12025550143"},
		{name: "US digits only", input: "2025550143", region: "US", want: "+12025550143"},
		{name: "US dashes", input: "415-867-5309", region: "US", want: "+14158675309"},
		{name: "US dots", input: "415.867.5309", region: "US", want: "+14158675309"},
		{name: "US spaces", input: "415 867 5309", region: "US", want: "+14158675309"},
		{name: "US slash", input: "415/867-5309", region: "US", want: "+14158675309"},
		{name: "US trunk prefix 1", input: "1 (202) 555-0143", region: "US", want: "+12025550143"},
		{name: "US international with dashes", input: "+1-202-555-0143", region: "US", want: "+12025550143"},
		{name: "surrounding whitespace is trimmed", input: " \t+1 202 555 0143\n", region: "US", want: "+12025550143"},
		{name: "no-break space and en dash separate groups", input: "202\u00a0555\u20130143", region: "US", want: "+12025550143"},
		{name: "empty region defaults to US", input: "(202) 555-0143", region: "", want: "+12025550143"},
		{name: "region is case-insensitive", input: "020 7946 0958", region: "gb", want: "+442079460958"},
		{name: "international plus from US region", input: "+44 20 7946 0958", region: "US", want: "+442079460958"},
		{name: "international plus with bracketed trunk zero", input: "+44 (0)20 7946 0958", region: "US", want: "+442079460958"},
		{name: "leading 00 from US region is international", input: "0044 20 7946 0958", region: "US", want: "+442079460958"},
		{name: "leading 00 from GB region is international", input: "0044 20 7946 0958", region: "GB", want: "+442079460958"},
		{name: "US international prefix 011", input: "011 44 20 7946 0958", region: "US", want: "+442079460958"},
		{name: "Brazilian carrier-selecting international prefix", input: "0014 44 20 7946 0958", region: "BR", want: "+442079460958"},
		{name: "GB national format", input: "020 7946 0958", region: "GB", want: "+442079460958"},
		{name: "FR national mobile", input: "06 12 34 56 78", region: "FR", want: "+33612345678"},
		{name: "FR mobile from US region", input: "+33 6 12 34 56 78", region: "US", want: "+33612345678"},
		{name: "FR mobile with leading 00 from US region", input: "0033 6 12 34 56 78", region: "US", want: "+33612345678"},
		{name: "NANP national format resolving to Anguilla", input: "(264) 235-1234", region: "US", want: "+12642351234"},
		{name: "UK-format Guernsey mobile", input: "07781 123456", region: "GB", want: "+447781123456"},
		{name: "short-code-shaped but valid SG number", input: "6123 4567", region: "SG", want: "+6561234567"},
		{name: "non-geographic international freephone", input: "+800 1234 5678", region: "US", want: "+80012345678"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tc.input, tc.region)
			if err != nil {
				t.Fatalf("Normalize(%q, %q): got error %v, want %s", tc.input, tc.region, err, tc.want)
			}
			if got != tc.want {
				t.Errorf("Normalize(%q, %q): got %s, want %s", tc.input, tc.region, got, tc.want)
			}
		})
	}
}

// A NANP default region must not swallow "00" as part of a national number:
// phonenumbers alone formats that parse as "+100442079460958".
func TestNormalize_LeadingDoubleZeroIsNeverReadAsUS(t *testing.T) {
	t.Parallel()
	got, err := Normalize("0044 20 7946 0958", "US")
	if err != nil {
		t.Fatalf("got error %v, want a GB number", err)
	}
	if strings.HasPrefix(string(got), "+1") {
		t.Errorf("got %s, want a number outside NANP", got)
	}
}

func TestNormalize_RejectsWithReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		region string
		reason string
	}{
		{name: "empty", input: "", region: "US", reason: ReasonEmpty},
		{name: "whitespace only", input: " \t\u00a0\n", region: "US", reason: ReasonEmpty},
		{name: "short code of five digits", input: "22395", region: "US", reason: ReasonShortCode},
		{name: "short code of six digits", input: "737373", region: "GB", reason: ReasonShortCode},
		{name: "short code written with a space", input: "737 373", region: "GB", reason: ReasonShortCode},
		{name: "alphanumeric sender id", input: "ACME", region: "US", reason: ReasonAlphanumeric},
		{name: "mixed-case alphanumeric sender id", input: "MyBank", region: "GB", reason: ReasonAlphanumeric},
		{name: "alphanumeric sender id with a space", input: "My Bank", region: "GB", reason: ReasonAlphanumeric},
		{name: "punctuation", input: "hello!!", region: "US", reason: ReasonNotANumber},
		{name: "plus alone", input: "+", region: "US", reason: ReasonNotANumber},
		{name: "double plus", input: "++44", region: "US", reason: ReasonNotANumber},
		{name: "double plus before a valid number", input: "++44 20 7946 0958", region: "US", reason: ReasonNotANumber},
		{name: "plus in the middle", input: "44+20 7946 0958", region: "US", reason: ReasonNotANumber},
		{name: "vanity letters are not keypad digits", input: "1-800-FLOWERS", region: "US", reason: ReasonNotANumber},
		{name: "extension", input: "+1 202 555 0143 ext. 12", region: "US", reason: ReasonNotANumber},
		{name: "tel URI", input: "tel:+1-202-555-0143", region: "US", reason: ReasonNotANumber},
		{name: "fullwidth digits", input: "＋４４ ２０ ７９４６ ０９５８", region: "US", reason: ReasonNotANumber},
		{name: "Arabic-Indic digits", input: "٢٠٢٥٥٥٠١٤٣", region: "US", reason: ReasonNotANumber},
		{name: "country code alone", input: "+1", region: "US", reason: ReasonNotValid},
		{name: "unassigned country code", input: "+999 1234 5678", region: "US", reason: ReasonNotValid},
		{name: "plus before 00", input: "+0044 20 7946 0958", region: "US", reason: ReasonNotValid},
		{name: "two digits", input: "00", region: "US", reason: ReasonNotValid},
		{name: "GB national format is not guessed from US region", input: "020 7946 0958", region: "US", reason: ReasonNotValid},
		{name: "FR national format is not guessed from US region", input: "06 12 34 56 78", region: "US", reason: ReasonNotValid},
		{name: "US local-only number is possible but not valid", input: "867-5309", region: "US", reason: ReasonNotValid},
		{name: "GB drama range is possible but not valid", input: "07700 900123", region: "GB", reason: ReasonNotValid},
		{name: "too many digits for E.164", input: "+1 202 555 0143 0143 0143", region: "US", reason: ReasonNotValid},
		{name: "64 characters is parsed, not refused for length", input: strings.Repeat("1", 64), region: "US", reason: ReasonNotValid},
		{name: "65 characters is too long", input: strings.Repeat("1", 65), region: "US", reason: ReasonTooLong},
		{name: "length counts characters before trimming", input: "+44 20 7946 0958" + strings.Repeat(" ", 60), region: "US", reason: ReasonTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Normalize(tc.input, tc.region)
			if err == nil {
				t.Fatalf("Normalize(%q, %q): got %s, want error %q", tc.input, tc.region, got, tc.reason)
			}
			assertReason(t, err, tc.input, tc.reason)
		})
	}
}

func TestNormalize_RejectsUnknownRegion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		region string
	}{
		{name: "not an ISO code", region: "ZZ"},
		{name: "UK is not the ISO code for the United Kingdom", region: "UK"},
		{name: "three-letter code", region: "USA"},
		{name: "non-geographic pseudo-region", region: "001"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// An international number would parse without a region; the
			// region is refused anyway so a misconfigured tenant is noticed.
			_, err := Normalize("+44 20 7946 0958", tc.region)
			if !errors.Is(err, ErrUnknownRegion) {
				t.Fatalf("got error %v, want ErrUnknownRegion", err)
			}
			if errors.Is(err, ErrInvalidNumber) {
				t.Errorf("got ErrInvalidNumber, want only ErrUnknownRegion: a bad region is not the number's fault")
			}
		})
	}
}

func TestInvalidNumberError_NamesInputAndReason(t *testing.T) {
	t.Parallel()
	_, err := Normalize("22395", "US")
	if !errors.Is(err, ErrInvalidNumber) {
		t.Fatalf("got %v, want errors.Is ErrInvalidNumber", err)
	}
	want := `invalid phone number "22395": short codes cannot be inventory numbers`
	if got := err.Error(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestInvalidNumberError_TruncatesLongInputInMessage(t *testing.T) {
	t.Parallel()
	input := strings.Repeat("9", 1000)
	_, err := Normalize(input, "US")
	var invalid *InvalidNumberError
	if !errors.As(err, &invalid) {
		t.Fatalf("got %v, want *InvalidNumberError", err)
	}
	if invalid.Input != input {
		t.Errorf("got Input of %d characters, want the whole input of %d", len(invalid.Input), len(input))
	}
	if got, limit := len(err.Error()), 150; got > limit {
		t.Errorf("got message of %d bytes, want at most %d", got, limit)
	}
}

func TestClassifyAddress_Kinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		region string
		want   Address
	}{
		{name: "US number", input: "+1 202 555 0143", region: "US", want: Address{Value: "+12025550143", Kind: KindNumber, Region: "US"}},
		{name: "GB number from US region", input: "+44 20 7946 0958", region: "US", want: Address{Value: "+442079460958", Kind: KindNumber, Region: "GB"}},
		{name: "UK-format mobile reports Guernsey", input: "07781 123456", region: "GB", want: Address{Value: "+447781123456", Kind: KindNumber, Region: "GG"}},
		{name: "UK-format mobile reports Jersey", input: "07797 123456", region: "GB", want: Address{Value: "+447797123456", Kind: KindNumber, Region: "JE"}},
		{name: "UK mobile reports GB", input: "07400 123456", region: "GB", want: Address{Value: "+447400123456", Kind: KindNumber, Region: "GB"}},
		{name: "NANP number reports Anguilla", input: "(264) 235-1234", region: "US", want: Address{Value: "+12642351234", Kind: KindNumber, Region: "AI"}},
		{name: "non-geographic number reports 001", input: "+800 1234 5678", region: "US", want: Address{Value: "+80012345678", Kind: KindNumber, Region: "001"}},
		{name: "valid number wins over short-code shape", input: "61234567", region: "SG", want: Address{Value: "+6561234567", Kind: KindNumber, Region: "SG"}},
		{name: "short code of five digits", input: "22395", region: "US", want: Address{Value: "22395", Kind: KindShortCode}},
		{name: "short code of six digits", input: "737373", region: "GB", want: Address{Value: "737373", Kind: KindShortCode}},
		{name: "short code loses its spaces", input: " 737 373 ", region: "GB", want: Address{Value: "737373", Kind: KindShortCode}},
		{name: "short code of three digits", input: "123", region: "US", want: Address{Value: "123", Kind: KindShortCode}},
		{name: "short code of eight digits", input: "12345678", region: "US", want: Address{Value: "12345678", Kind: KindShortCode}},
		{name: "alphanumeric sender id", input: "ACME", region: "US", want: Address{Value: "ACME", Kind: KindAlphanumeric}},
		{name: "alphanumeric sender id keeps its case", input: "MyBank", region: "US", want: Address{Value: "MyBank", Kind: KindAlphanumeric}},
		{name: "alphanumeric sender id is trimmed", input: "  My Bank\t", region: "US", want: Address{Value: "My Bank", Kind: KindAlphanumeric}},
		{name: "alphanumeric sender id of one letter", input: "A", region: "US", want: Address{Value: "A", Kind: KindAlphanumeric}},
		{name: "alphanumeric sender id of eleven characters", input: "ACME BANK 1", region: "US", want: Address{Value: "ACME BANK 1", Kind: KindAlphanumeric}},
		{name: "alphanumeric sender id with digits", input: "2FA4U", region: "US", want: Address{Value: "2FA4U", Kind: KindAlphanumeric}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ClassifyAddress(tc.input, tc.region)
			if err != nil {
				t.Fatalf("ClassifyAddress(%q, %q): got error %v, want %+v", tc.input, tc.region, err, tc.want)
			}
			if got != tc.want {
				t.Errorf("ClassifyAddress(%q, %q): got %+v, want %+v", tc.input, tc.region, got, tc.want)
			}
		})
	}
}

func TestClassifyAddress_RejectsWithReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		input  string
		region string
		reason string
	}{
		{name: "empty", input: "", region: "US", reason: ReasonEmpty},
		{name: "punctuation", input: "hello!!", region: "US", reason: ReasonNotANumber},
		{name: "alphanumeric id of twelve characters", input: "ACMEBANKLTD1", region: "US", reason: ReasonNotANumber},
		{name: "alphanumeric id with a dash", input: "ACME-1", region: "US", reason: ReasonNotANumber},
		{name: "alphanumeric id with a non-ASCII letter", input: "Café", region: "FR", reason: ReasonNotANumber},
		{name: "alphanumeric id with a Cyrillic look-alike", input: "АСМЕ", region: "US", reason: ReasonNotANumber},
		{name: "fullwidth short code", input: "２２３９５", region: "US", reason: ReasonNotANumber},
		{name: "two digits", input: "12", region: "US", reason: ReasonNotValid},
		{name: "nine digits is neither number nor short code", input: "123456789", region: "US", reason: ReasonNotValid},
		{name: "short code with a dash", input: "737-373", region: "GB", reason: ReasonNotValid},
		{name: "plus before a short code", input: "+22395", region: "US", reason: ReasonNotValid},
		{name: "65 characters is too long", input: strings.Repeat("A", 65), region: "US", reason: ReasonTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ClassifyAddress(tc.input, tc.region)
			if err == nil {
				t.Fatalf("ClassifyAddress(%q, %q): got %+v, want error %q", tc.input, tc.region, got, tc.reason)
			}
			assertReason(t, err, tc.input, tc.reason)
		})
	}
}

func TestClassifyAddress_RejectsUnknownRegion(t *testing.T) {
	t.Parallel()
	_, err := ClassifyAddress("ACME", "ZZ")
	if !errors.Is(err, ErrUnknownRegion) {
		t.Errorf("got error %v, want ErrUnknownRegion", err)
	}
}

func TestE164_MaskedHidesSubscriberDigits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   E164
		want string
	}{
		{name: "US number", in: "+14155550171", want: "+1415*****71"},
		{name: "GB number", in: "+442079460958", want: "+4420******58"},
		{name: "shortest real number masks one digit", in: "+6834002", want: "+6834*02"},
		{name: "too short to show anything", in: "+123456", want: "*******"},
		{name: "empty", in: "", want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.in.Masked(); got != tc.want {
				t.Errorf("Masked(): got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestE164_LogValueIsMasked(t *testing.T) {
	t.Parallel()
	n := E164("+14155550171")
	if got, want := n.LogValue().String(), "+1415*****71"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := n.String(), "+14155550171"; got != want {
		t.Errorf("String(): got %q, want %q", got, want)
	}
}

// fuzzRegions are the default regions the fuzzers pick from: fuzzing the
// region string itself would almost always hit ErrUnknownRegion.
var fuzzRegions = []string{"", "US", "GB", "FR", "BR", "SG", "IN", "DE", "AU", "JP"}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"(415) 867-5309", "+44 20 7946 0958", "0044 20 7946 0958", "011 44 20 7946 0958",
		"0014 44 20 7946 0958", "07781 123456", "22395", "ACME", "hello!!", "+1", "++44", "",
		"１２０２５５５０１４３", "1-800-FLOWERS", strings.Repeat("9", 65),
	} {
		for i := range fuzzRegions {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, input string, r uint8) {
		region := fuzzRegions[int(r)%len(fuzzRegions)]
		got, err := Normalize(input, region)
		if err != nil {
			if !errors.Is(err, ErrInvalidNumber) {
				t.Fatalf("Normalize(%q, %q): got error %v, want an ErrInvalidNumber", input, region, err)
			}
			return
		}
		assertE164Shape(t, string(got))
		again, err := Normalize(string(got), region)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q, %q) = %s, which normalizes to %s, %v; want %s, nil", input, region, got, again, err, got)
		}
		addr, err := ClassifyAddress(input, region)
		if err != nil || addr.Kind != KindNumber || addr.Value != string(got) {
			t.Fatalf("ClassifyAddress(%q, %q): got %+v, %v; want number %s", input, region, addr, err, got)
		}
	})
}

func FuzzClassifyAddress(f *testing.F) {
	for _, s := range []string{
		"+1 202 555 0143", "(264) 235-1234", "61234567", "22395", " 737 373 ", "ACME",
		"  My Bank\t", "ACMEBANKLTD1", "Café", "+22395", "", "\u00a0", "00",
	} {
		for i := range fuzzRegions {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, input string, r uint8) {
		region := fuzzRegions[int(r)%len(fuzzRegions)]
		got, err := ClassifyAddress(input, region)
		if err != nil {
			var invalid *InvalidNumberError
			if !errors.As(err, &invalid) || invalid.Reason == "" {
				t.Fatalf("ClassifyAddress(%q, %q): got error %v, want *InvalidNumberError with a reason", input, region, err)
			}
			return
		}
		switch got.Kind {
		case KindNumber:
			assertE164Shape(t, got.Value)
			if got.Region == "" {
				t.Errorf("ClassifyAddress(%q, %q): got empty region for %s, want the number's region", input, region, got.Value)
			}
		case KindShortCode:
			if n := len(got.Value); n < 3 || n > 8 || strings.Trim(got.Value, "0123456789") != "" {
				t.Errorf("ClassifyAddress(%q, %q): got short code %q, want 3 to 8 digits", input, region, got.Value)
			}
		case KindAlphanumeric:
			if n := len(got.Value); n < 1 || n > 11 || strings.TrimSpace(got.Value) != got.Value {
				t.Errorf("ClassifyAddress(%q, %q): got sender id %q, want 1 to 11 trimmed characters", input, region, got.Value)
			}
		default:
			t.Fatalf("ClassifyAddress(%q, %q): got kind %q, want one of the Kind constants", input, region, got.Kind)
		}
		again, err := ClassifyAddress(got.Value, region)
		if err != nil || again != got {
			t.Fatalf("ClassifyAddress(%q, %q) = %+v, which classifies as %+v, %v; want it unchanged", input, region, got, again, err)
		}
	})
}

func assertReason(t *testing.T, err error, input, reason string) {
	t.Helper()
	if !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("got %v, want errors.Is ErrInvalidNumber", err)
	}
	var invalid *InvalidNumberError
	if !errors.As(err, &invalid) {
		t.Fatalf("got %T %v, want *InvalidNumberError", err, err)
	}
	if invalid.Reason != reason {
		t.Errorf("got reason %q, want %q", invalid.Reason, reason)
	}
	if invalid.Input != input {
		t.Errorf("got Input %q, want %q", invalid.Input, input)
	}
}

func assertE164Shape(t *testing.T, s string) {
	t.Helper()
	if len(s) < 2 || s[0] != '+' || strings.Trim(s[1:], "0123456789") != "" {
		t.Fatalf("got %q, want + followed by digits", s)
	}
}
