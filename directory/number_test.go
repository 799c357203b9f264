package directory_test

import (
	"regexp"
	"testing"

	"directsms/directory"
	"directsms/internal/apperr"
)

func TestNormalizePersonalNumber_ValidNumbersBecomeE164(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, input, region, want string
	}{
		{"US national with punctuation", "(415) 555-0171", "US", "+14155550171"},
		{"international with spaces", "+44 20 7946 0958", "US", "+442079460958"},
		{"GB national", "020 7946 0958", "GB", "+442079460958"},
		{"00 prefix from a NANP region", "0044 20 7946 0958", "US", "+442079460958"},
		{"dots", "415.555.0171", "US", "+14155550171"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := directory.NormalizePersonalNumber(tc.input, tc.region)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestNormalizePersonalNumber_InvalidIsInvalidNumber(t *testing.T) {
	t.Parallel()
	for _, input := range []string{"", "   ", "12", "555-0100", "+1 415 555 01", "call me", "1-800-FLOWERS", "+999 123 456 789", "41555501711234567890"} {
		t.Run(input, func(t *testing.T) {
			_, err := directory.NormalizePersonalNumber(input, "US")
			e, ok := apperr.As(err)
			if !ok || e.Code != "invalid_number" || e.Field != "personal_number" {
				t.Fatalf("got %v, want invalid_number on personal_number", err)
			}
		})
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func FuzzNormalizePersonalNumber(f *testing.F) {
	for _, s := range []string{"(415) 555-0171", "+44 20 7946 0958", "0044 20 7946 0958", "", "+", "00", "call me"} {
		f.Add(s, "US")
	}
	f.Add("020 7946 0958", "GB")
	f.Fuzz(func(t *testing.T, input, region string) {
		if directory.ValidateRegion("region", region) != nil {
			return
		}
		got, err := directory.NormalizePersonalNumber(input, region)
		if err != nil {
			if !apperr.HasCode(err, "invalid_number") {
				t.Fatalf("got %v, want only invalid_number errors", err)
			}
			return
		}
		if !e164.MatchString(got) {
			t.Fatalf("got %q from %q, want E.164 the users table accepts", got, input)
		}
		again, err := directory.NormalizePersonalNumber(got, region)
		if err != nil || again != got {
			t.Fatalf("normalizing %q again gave %q, %v", got, again, err)
		}
	})
}
