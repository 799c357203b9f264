package reporting

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"directsms/internal/apperr"
)

// fakeResolver answers from a table; anything else does not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	out := make([]net.IPAddr, len(ips))
	for i, ip := range ips {
		out[i] = net.IPAddr{IP: net.ParseIP(ip)}
	}
	return out, nil
}

func TestCheckURL_PrivateAddressesRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	s := &Store{resolver: fakeResolver{
		"hooks.example.com":    {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"internal.example.com": {"10.1.2.3"},
		"mixed.example.com":    {"93.184.215.14", "127.0.0.1"},
		"localhost":            {"127.0.0.1", "::1"},
	}}
	cases := []struct {
		url         string
		code        string // "" when accepted without the allowance
		allowedCode string // the code with it ("" accepted)
	}{
		{"https://hooks.example.com/directsms", "", ""},
		{"http://93.184.215.14:8080/x", "", ""},
		{"https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x", "", ""},
		{"http://localhost:8080/hooks", "private_url", ""},
		{"http://127.0.0.1/x", "private_url", ""},
		{"http://10.0.0.5/x", "private_url", ""},
		{"http://172.16.4.4/x", "private_url", ""},
		{"http://192.168.1.1/x", "private_url", ""},
		{"http://169.254.169.254/latest/meta-data", "private_url", ""},
		{"http://100.64.0.1/x", "private_url", ""},
		{"http://0.0.0.0/x", "private_url", ""},
		{"http://[::1]/x", "private_url", ""},
		{"http://[fd00::1]/x", "private_url", ""},
		{"http://[::ffff:127.0.0.1]/x", "private_url", ""},
		{"http://[64:ff9b::a00:1]/x", "private_url", ""},
		{"http://internal.example.com/x", "private_url", ""},
		{"http://mixed.example.com/x", "private_url", ""},
		{"http://nowhere.example.com/x", "invalid_url", ""},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			for _, allow := range []bool{false, true} {
				want := tc.code
				if allow {
					want = tc.allowedCode
				}
				_, err := s.checkURL(context.Background(), tc.url, allow)
				got := ""
				if e, ok := apperr.As(err); ok {
					got = e.Code
				} else if err != nil {
					t.Fatalf("allow=%v: got internal error %v", allow, err)
				}
				if got != want {
					t.Errorf("allow=%v: got %q, want %q", allow, got, want)
				}
			}
		})
	}
}

func TestIsPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2001:4860:4860::8888": true,
		"127.0.0.2": false, "10.255.255.255": false, "172.31.0.1": false, "192.168.0.1": false,
		"169.254.1.1": false, "224.0.0.1": false, "255.255.255.255": false, "198.18.0.1": false,
		"240.0.0.1": false, "::": false, "fe80::1": false, "ff02::1": false, "::ffff:10.0.0.1": false,
	} {
		if got := IsPublicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: got %v, want %v", addr, got, want)
		}
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "http://127.0.0.1:8080/", "http://[::1]/", "ftp://x", "http://u:p@h/", "http://h:99999/", "http://\x00/", "http://\xff/", "%", "https://internal.example.com/"} {
		f.Add(s)
	}
	s := &Store{resolver: fakeResolver{"hooks.example.com": {"93.184.215.14"}, "internal.example.com": {"10.1.2.3"}}}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, allow := range []bool{false, true} {
			u, err := s.checkURL(context.Background(), raw, allow)
			if err != nil {
				if _, ok := apperr.As(err); !ok {
					t.Fatalf("got a non-caller error %v", err)
				}
				continue
			}
			if !storable(u) || len(u) > MaxURLLength {
				t.Fatalf("accepted %q as %q", raw, u)
			}
		}
	})
}
