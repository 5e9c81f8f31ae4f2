package safehttp

import (
	"net/netip"
)

// SpecialUse reports whether addr is in a special-use range that safehttp never connects to, and
// if so which one, in words fit for a log line (for example "loopback 127.0.0.0/8 (RFC 1122)").
//
// The ranges are those of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890
// and its updates), plus multicast, the reserved 240.0.0.0/4 block, and everything outside the
// IPv6 global unicast block 2000::/3. Entries the registries mark as globally reachable but that
// no web server lives on (AS112, AMT, the anycast relays) are refused too: refusing them costs
// nothing and keeps the rule simple.
//
// Forms that embed an IPv4 address are judged by the address they embed: IPv4-mapped
// (::ffff:0:0/96, RFC 4291 §2.5.5.2), the well-known NAT64 prefix (64:ff9b::/96, RFC 6052) and
// 6to4 (2002::/16, RFC 3056). On an IPv6-only network with DNS64 every public site is reached
// through 64:ff9b::/96, so that prefix cannot be refused outright. The local-use NAT64 prefix
// 64:ff9b:1::/48 (RFC 8215) and Teredo (2001::/32, RFC 4380) are refused whole.
//
// The checks are written as comparisons on the address bytes rather than a table of
// netip.Prefix values so that the package needs no global state and a check costs a few
// nanoseconds.
func SpecialUse(addr netip.Addr) (string, bool) {
	addr = addr.WithZone("")
	switch {
	case !addr.IsValid():
		return "invalid address", true
	case addr.Is4():
		r := special4(addr.As4())
		return r, r != ""
	case addr.Is4In6():
		if r := special4(addr.Unmap().As4()); r != "" {
			return "IPv4-mapped ::ffff:0:0/96 form of " + r, true
		}
		return "", false
	}
	r := special6(addr.As16())
	return r, r != ""
}

// special4 names the special-use IPv4 range a is in, or returns "".
func special4(a [4]byte) string {
	switch {
	case a[0] == 0:
		return "this network 0.0.0.0/8 (RFC 791)"
	case a[0] == 10:
		return "private 10.0.0.0/8 (RFC 1918)"
	case a[0] == 100 && a[1]&0xc0 == 64:
		return "shared address space (CGNAT) 100.64.0.0/10 (RFC 6598)"
	case a[0] == 127:
		return "loopback 127.0.0.0/8 (RFC 1122)"
	case a[0] == 169 && a[1] == 254:
		return "link-local 169.254.0.0/16 (RFC 3927)"
	case a[0] == 172 && a[1]&0xf0 == 16:
		return "private 172.16.0.0/12 (RFC 1918)"
	case a[0] == 192 && a[1] == 0 && a[2] == 0:
		return "IETF protocol assignments 192.0.0.0/24 (RFC 6890)"
	case a[0] == 192 && a[1] == 0 && a[2] == 2:
		return "documentation TEST-NET-1 192.0.2.0/24 (RFC 5737)"
	case a[0] == 192 && a[1] == 31 && a[2] == 196:
		return "AS112-v4 192.31.196.0/24 (RFC 7535)"
	case a[0] == 192 && a[1] == 52 && a[2] == 193:
		return "AMT 192.52.193.0/24 (RFC 7450)"
	case a[0] == 192 && a[1] == 88 && a[2] == 99:
		return "deprecated 6to4 relay anycast 192.88.99.0/24 (RFC 7526)"
	case a[0] == 192 && a[1] == 168:
		return "private 192.168.0.0/16 (RFC 1918)"
	case a[0] == 192 && a[1] == 175 && a[2] == 48:
		return "AS112 direct delegation 192.175.48.0/24 (RFC 7534)"
	case a[0] == 198 && a[1]&0xfe == 18:
		return "benchmarking 198.18.0.0/15 (RFC 2544)"
	case a[0] == 198 && a[1] == 51 && a[2] == 100:
		return "documentation TEST-NET-2 198.51.100.0/24 (RFC 5737)"
	case a[0] == 203 && a[1] == 0 && a[2] == 113:
		return "documentation TEST-NET-3 203.0.113.0/24 (RFC 5737)"
	case a[0]&0xf0 == 224:
		return "multicast 224.0.0.0/4 (RFC 5771)"
	case a == [4]byte{255, 255, 255, 255}:
		return "limited broadcast 255.255.255.255/32 (RFC 919)"
	case a[0]&0xf0 == 240:
		return "reserved 240.0.0.0/4 (RFC 1112)"
	}
	return ""
}

// special6 names the special-use IPv6 range b is in, or returns "". IPv4-mapped addresses are
// handled by the caller.
func special6(b [16]byte) string {
	// zeroTo reports whether b[:n] are all zero.
	zeroTo := func(n int) bool {
		for _, x := range b[:n] {
			if x != 0 {
				return false
			}
		}
		return true
	}
	v4 := func(i int) [4]byte { return [4]byte{b[i], b[i+1], b[i+2], b[i+3]} }

	switch {
	case zeroTo(16):
		return "unspecified ::/128 (RFC 4291)"
	case zeroTo(15) && b[15] == 1:
		return "loopback ::1/128 (RFC 4291)"
	case zeroTo(12):
		return "IPv4-compatible ::/96 (deprecated, RFC 4291 §2.5.5.1)"

	// 64:ff9b::/96, the well-known NAT64 prefix: judged by the IPv4 address in the last 32 bits.
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeroTo4to12(b):
		if r := special4(v4(12)); r != "" {
			return "NAT64 64:ff9b::/96 form of " + r
		}
		return ""
	case b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1:
		return "local-use NAT64 64:ff9b:1::/48 (RFC 8215)"
	case b[0] == 0x01 && b[1] == 0x00 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 &&
		b[6] == 0 && b[7] == 0:
		return "discard-only 100::/64 (RFC 6666)"
	case b[0] == 0x01 && b[1] == 0x00 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 &&
		b[6] == 0 && b[7] == 1:
		return "dummy prefix 100:0:0:1::/64 (RFC 9780)"

	// 2001::/23, IETF protocol assignments, with its best-known members named.
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0:
		return "Teredo 2001::/32 (RFC 4380)"
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0x02 && b[4] == 0 && b[5] == 0:
		return "benchmarking 2001:2::/48 (RFC 5180)"
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3]&0xf0 == 0x10:
		return "ORCHID 2001:10::/28 (RFC 4843)"
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3]&0xf0 == 0x20:
		return "ORCHIDv2 2001:20::/28 (RFC 7343)"
	case b[0] == 0x20 && b[1] == 0x01 && b[2]&0xfe == 0:
		return "IETF protocol assignments 2001::/23 (RFC 2928)"
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8:
		return "documentation 2001:db8::/32 (RFC 3849)"

	// 2002::/16, 6to4: judged by the IPv4 address in bits 16 to 47.
	case b[0] == 0x20 && b[1] == 0x02:
		if r := special4(v4(2)); r != "" {
			return "6to4 2002::/16 form of " + r
		}
		return ""
	case b[0] == 0x3f && b[1] == 0xff && b[2]&0xf0 == 0:
		return "documentation 3fff::/20 (RFC 9637)"
	case b[0] == 0x5f && b[1] == 0x00:
		return "SRv6 SIDs 5f00::/16 (RFC 9602)"
	case b[0]&0xfe == 0xfc:
		return "unique-local fc00::/7 (RFC 4193)"
	case b[0] == 0xfe && b[1]&0xc0 == 0x80:
		return "link-local fe80::/10 (RFC 4291)"
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0:
		return "site-local fec0::/10 (deprecated, RFC 3879)"
	case b[0] == 0xff:
		return "multicast ff00::/8 (RFC 4291)"
	case b[0]&0xe0 != 0x20:
		return "not global unicast (outside 2000::/3, RFC 4291 §2.4)"
	}
	return ""
}

// zeroTo4to12 reports whether bytes 4 to 11 of b are zero, as in 64:ff9b::/96.
func zeroTo4to12(b [16]byte) bool {
	for _, x := range b[4:12] {
		if x != 0 {
			return false
		}
	}
	return true
}
