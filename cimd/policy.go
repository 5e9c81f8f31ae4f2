package cimd

import (
	"fmt"
	"net/netip"
	"strings"
)

// hostPattern is one entry of an allow- or deny-list: an exact host, or "*.example.com", which
// matches every name below example.com (a.example.com, a.b.example.com) but not example.com
// itself, so that listing a whole organisation's subdomains never silently includes its apex.
type hostPattern struct {
	host     string // lower case; for a wildcard, the suffix without "*."
	wildcard bool
}

func (p hostPattern) match(host string) bool {
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

func parseHostPatterns(list []string) ([]hostPattern, error) {
	ps := make([]hostPattern, 0, len(list))
	for _, s := range list {
		h := strings.ToLower(strings.TrimSpace(s))
		p := hostPattern{host: h}
		if rest, ok := strings.CutPrefix(h, "*."); ok {
			p = hostPattern{host: rest, wildcard: true}
		}
		if _, err := netip.ParseAddr(strings.Trim(p.host, "[]")); err == nil && !p.wildcard {
			p.host = normalizeHost(p.host)
		} else if !validDNSName(p.host) {
			return nil, fmt.Errorf("cimd: host pattern %q is neither a host nor *.domain", s)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// policy is the operator's trust policy for client_id hosts (MCP authorization: servers MAY
// allow-list or deny-list domains). Deny wins; an empty allow-list admits any host that the
// fetch rules admit.
type policy struct {
	allow, deny []hostPattern
}

// check returns the rule a host breaks, or "".
func (p *policy) check(host string) Rule {
	for _, d := range p.deny {
		if d.match(host) {
			return RuleHostDenied
		}
	}
	if len(p.allow) == 0 {
		return ""
	}
	for _, a := range p.allow {
		if a.match(host) {
			return ""
		}
	}
	return RuleHostNotAllowed
}

// allowListed reports whether host is explicitly on the allow-list (and not denied). With an
// empty allow-list nothing is: "any public host" is not an endorsement worth a badge.
func (p *policy) allowListed(host string) bool {
	return len(p.allow) > 0 && p.check(host) == ""
}

// normalizeHost lower-cases a host name and writes an IP literal in its canonical form, without
// brackets, as parseClientURL does.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.String()
	}
	return h
}
