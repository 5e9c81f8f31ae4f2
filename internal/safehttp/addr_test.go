package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// blocked4Cases lists an address or two from every special-use IPv4 range, with the words its
// refusal must contain.
func blocked4Cases() []struct{ addr, want string } {
	return []struct{ addr, want string }{
		{"0.0.0.0", "0.0.0.0/8"},
		{"0.1.2.3", "0.0.0.0/8"},
		{"10.0.0.1", "10.0.0.0/8"},
		{"10.255.255.255", "10.0.0.0/8"},
		{"100.64.0.1", "100.64.0.0/10"},
		{"100.127.255.254", "100.64.0.0/10"},
		{"127.0.0.1", "loopback 127.0.0.0/8"},
		{"127.1.2.3", "loopback 127.0.0.0/8"},
		{"169.254.169.254", "link-local 169.254.0.0/16"},
		{"172.16.0.1", "172.16.0.0/12"},
		{"172.31.255.255", "172.16.0.0/12"},
		{"192.0.0.1", "192.0.0.0/24"},
		{"192.0.0.170", "192.0.0.0/24"},
		{"192.0.2.1", "192.0.2.0/24"},
		{"192.31.196.1", "192.31.196.0/24"},
		{"192.52.193.1", "192.52.193.0/24"},
		{"192.88.99.1", "192.88.99.0/24"},
		{"192.168.1.1", "192.168.0.0/16"},
		{"192.175.48.1", "192.175.48.0/24"},
		{"198.18.0.1", "198.18.0.0/15"},
		{"198.19.255.255", "198.18.0.0/15"},
		{"198.51.100.7", "198.51.100.0/24"},
		{"203.0.113.9", "203.0.113.0/24"},
		{"224.0.0.1", "multicast 224.0.0.0/4"},
		{"239.255.255.250", "multicast 224.0.0.0/4"},
		{"240.0.0.1", "reserved 240.0.0.0/4"},
		{"255.255.255.254", "reserved 240.0.0.0/4"},
		{"255.255.255.255", "broadcast"},
	}
}

// blocked6Cases lists IPv6 special-use addresses that do not embed an IPv4 address.
func blocked6Cases() []struct{ addr, want string } {
	return []struct{ addr, want string }{
		{"::", "unspecified"},
		{"::1", "loopback ::1/128"},
		{"::2", "IPv4-compatible"},
		{"::7f00:1", "IPv4-compatible"},
		{"::ffff:0:7f00:1", "outside 2000::/3"}, // IPv4-translated (RFC 2765)
		{"64:ff9b:1::1", "64:ff9b:1::/48"},
		{"64:ff9b:1:ffff::8.8.8.8", "64:ff9b:1::/48"},
		{"100::1", "100::/64"},
		{"100:0:0:1::1", "100:0:0:1::/64"},
		{"2001::1", "Teredo"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
		{"2001:1::1", "2001::/23"},
		{"2001:2::1", "2001:2::/48"},
		{"2001:3::1", "2001::/23"},
		{"2001:10::1", "2001:10::/28"},
		{"2001:20::1", "2001:20::/28"},
		{"2001:1ff::1", "2001::/23"},
		{"2001:db8::1", "2001:db8::/32"},
		{"2001:db8:ffff::1", "2001:db8::/32"},
		{"3fff::1", "3fff::/20"},
		{"3fff:fff::1", "3fff::/20"},
		{"5f00::1", "5f00::/16"},
		{"fc00::1", "fc00::/7"},
		{"fd12:3456::1", "fc00::/7"},
		{"fe80::1", "fe80::/10"},
		{"febf::1", "fe80::/10"},
		{"fec0::1", "fec0::/10"},
		{"ff02::1", "multicast ff00::/8"},
		{"ff05::1:3", "multicast ff00::/8"},
		{"4000::1", "outside 2000::/3"},
		{"::ff:1", "IPv4-compatible"},
	}
}

// publicCases lists addresses that must pass, including the edges just outside special ranges and
// the embedding forms of a public IPv4 address.
func publicCases() []string {
	return []string{
		"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
		"126.255.255.255", "128.0.0.1", "169.253.255.255", "172.15.255.255", "172.32.0.0",
		"192.0.1.1", "192.0.3.1", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0",
		"198.51.99.1", "203.0.112.1", "223.255.255.255",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2001:200::1", "2a00:1450::1", "3ffe::1",
		"::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
	}
}

// embedded returns the IPv4-mapped, NAT64 and 6to4 forms of an IPv4 address.
func embedded(v4 string) []string {
	a := netip.MustParseAddr(v4).As4()
	return []string{
		"::ffff:" + v4,
		"64:ff9b::" + v4,
		fmt.Sprintf("2002:%02x%02x:%02x%02x::1", a[0], a[1], a[2], a[3]),
	}
}

// allBlocked is every blocked case: the IPv4 table, the IPv4-mapped, NAT64 and 6to4 form of
// each, and the IPv6 table.
func allBlocked() []struct{ addr, want string } {
	var all []struct{ addr, want string }
	for _, c := range blocked4Cases() {
		all = append(all, c)
		for _, e := range embedded(c.addr) {
			all = append(all, struct{ addr, want string }{e, c.want})
		}
	}
	return append(all, blocked6Cases()...)
}

func TestSpecialUse(t *testing.T) {
	for _, c := range allBlocked() {
		r, bad := SpecialUse(netip.MustParseAddr(c.addr))
		if !bad || !strings.Contains(r, c.want) {
			t.Errorf("SpecialUse(%s) = %q, %v; want a refusal naming %q", c.addr, r, bad, c.want)
		}
	}
	for _, a := range publicCases() {
		if r, bad := SpecialUse(netip.MustParseAddr(a)); bad {
			t.Errorf("SpecialUse(%s) = %q, want public", a, r)
		}
	}
	if _, bad := SpecialUse(netip.Addr{}); !bad {
		t.Error("the zero Addr must be refused")
	}
	if r, bad := SpecialUse(netip.MustParseAddr("fe80::1%eth0")); !bad || !strings.Contains(r, "fe80") {
		t.Errorf("zoned link-local: %q, %v", r, bad)
	}
}

// TestBlockedAddressesNeverConnect is the hostile-address table: a public-looking name resolves
// to each special-use address in turn, and the same address is also put in the URL as a literal.
// Each fetch must fail with ErrBlockedAddress naming the right range, the dialer must never be
// asked, and the target listener (where any connection would land) must accept nothing.
func TestBlockedAddressesNeverConnect(t *testing.T) {
	tg := newTarget(t, nil)
	for _, c := range allBlocked() {
		ip := netip.MustParseAddr(c.addr)
		urls := []string{"https://victim.example/client.json"}
		if ip.Is4() {
			urls = append(urls, "https://"+c.addr+"/client.json")
		} else {
			urls = append(urls, "https://["+c.addr+"]/client.json")
		}
		for _, u := range urls {
			t.Run(c.addr+"/"+strings.SplitN(u, "/", 4)[2], func(t *testing.T) {
				d := &routingDialer{Fallback: tg.Addr()}
				cl := mustClient(t, Config{
					Resolver: fakeResolver{"victim.example": {ip}},
					Dialer:   d,
				})
				_, err := cl.Get(context.Background(), u, Options{JSON: true})
				var ae *AddrError
				if !errors.Is(err, ErrBlockedAddress) || !errors.As(err, &ae) {
					t.Fatalf("Get = %v, want ErrBlockedAddress", err)
				}
				if !strings.Contains(ae.Range, c.want) {
					t.Errorf("refused for %q, want %q", ae.Range, c.want)
				}
				if got := d.Asked(); len(got) != 0 {
					t.Errorf("dialer was asked for %v", got)
				}
			})
		}
	}
	if n := tg.Accepted(); n != 0 {
		t.Fatalf("target accepted %d connections, want 0", n)
	}
}

// TestHarnessPositiveControl shows that the harness above would have seen a connection: the
// same set-up with a public address reaches the target listener.
func TestHarnessPositiveControl(t *testing.T) {
	tg := newTarget(t, nil)
	d := &routingDialer{Fallback: tg.Addr()}
	cl := mustClient(t, Config{
		Resolver: fakeResolver{"victim.example": {netip.MustParseAddr("8.8.8.8")}},
		Dialer:   d,
	})
	_, err := cl.Get(context.Background(), "https://victim.example/client.json", Options{})
	if err == nil || errors.Is(err, ErrBlockedAddress) {
		t.Fatalf("Get = %v, want a TLS error (the target's certificate is not trusted)", err)
	}
	if got := d.Asked(); len(got) != 1 || got[0] != "8.8.8.8:443" {
		t.Errorf("dialer asked %v, want [8.8.8.8:443]", got)
	}
	if tg.Accepted() != 1 {
		t.Errorf("target accepted %d, want 1", tg.Accepted())
	}
}

// A name whose answer mixes a public and a private address is refused whole, whatever the order.
func TestMixedAnswerRefused(t *testing.T) {
	tg := newTarget(t, nil)
	for _, answer := range [][]netip.Addr{
		{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("10.0.0.1")},
		{netip.MustParseAddr("2606:4700::1"), netip.MustParseAddr("::ffff:127.0.0.1")},
	} {
		d := &routingDialer{Fallback: tg.Addr()}
		cl := mustClient(t, Config{Resolver: fakeResolver{"victim.example": answer}, Dialer: d})
		_, err := cl.Get(context.Background(), "https://victim.example/x", Options{})
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%v: Get = %v, want ErrBlockedAddress", answer, err)
		}
		if len(d.Asked()) != 0 {
			t.Errorf("%v: dialer asked %v", answer, d.Asked())
		}
	}
	if tg.Accepted() != 0 {
		t.Fatalf("target accepted %d", tg.Accepted())
	}
}

// With the real resolver and the real dialer, a loopback server that is not a test host is
// refused, by IP literal and by the name localhost.
func TestRealDialerRefusesLoopback(t *testing.T) {
	tg := newTarget(t, nil)
	cl := mustClient(t, Config{TestRootCAs: tg.Roots()})
	_, port, _ := strings.Cut(tg.Addr(), ":")
	for _, u := range []string{tg.URL + "/x", "https://localhost:" + port + "/x", "https://[::ffff:127.0.0.1]:" + port + "/x"} {
		_, err := cl.Get(context.Background(), u, Options{})
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("Get(%s) = %v, want ErrBlockedAddress", u, err)
		}
	}
	if tg.Accepted() != 0 {
		t.Fatalf("target accepted %d", tg.Accepted())
	}
}

// The Control hook of the default dialer refuses by socket address, without any DNS.
func TestCheckSocketAddr(t *testing.T) {
	for _, c := range allBlocked() {
		ap := netip.AddrPortFrom(netip.MustParseAddr(c.addr), 443).String()
		if err := checkSocketAddr("tcp", ap, nil); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("checkSocketAddr(%s) = %v", ap, err)
		}
	}
	for _, a := range publicCases() {
		ap := netip.AddrPortFrom(netip.MustParseAddr(a), 443).String()
		if err := checkSocketAddr("tcp", ap, nil); err != nil {
			t.Errorf("checkSocketAddr(%s) = %v", ap, err)
		}
	}
	if err := checkSocketAddr("tcp", "not-an-address", nil); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("unparseable socket address: %v", err)
	}
}

func BenchmarkSpecialUse(b *testing.B) {
	addrs := []netip.Addr{
		netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("2606:4700::1"),
		netip.MustParseAddr("::ffff:10.0.0.1"), netip.MustParseAddr("fd00::1"),
	}
	for i := 0; b.Loop(); i++ {
		SpecialUse(addrs[i%len(addrs)])
	}
}
