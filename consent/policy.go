package consent

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/mcp-authz/mcp-authz/oauth"
)

// PolicyRule is one rule of an upstream provider's policy: the people it matches may consent to
// these resources and scopes. A rule with neither Groups nor Claim matches everyone the provider
// signs in; with both, a person must match both. What several matching rules allow adds up.
type PolicyRule struct {
	// Groups: the person is in one of these groups (the provider's groups claim).
	Groups []string
	// Claim and Values: the named claim (a string or an array of strings) holds one of Values.
	Claim  string
	Values []string
	// Resources are resource URIs as the server knows them (oauth.Resource.URI), or "*" for all.
	Resources []string
	// Scopes are scope names, or "*" for every scope of the rule's resources.
	Scopes []string
}

// UpstreamClaims name the ID token claims read. A name that is not a claim of the token and
// contains dots is followed as a path into nested objects ("realm_access.roles"), so that both
// Auth0's URL-named claims and Keycloak's nested roles work.
type UpstreamClaims struct {
	Subject, Email, Name, Groups string
}

// maxClaimValues bounds how many values of one claim are read (an IdP may list hundreds of
// groups; only those a rule names are ever kept).
const maxClaimValues = 1000

// claimValue looks a claim up by name, then as a dotted path.
func claimValue(claims map[string]any, name string) (any, bool) {
	if v, ok := claims[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// claimString returns a claim that is a string ("" otherwise).
func claimString(claims map[string]any, name string) string {
	v, _ := claimValue(claims, name)
	s, _ := v.(string)
	return s
}

// claimStrings returns a claim's strings: a string is one value, an array its string elements;
// anything else is none. Some IdPs send a single group as a string, or a space-separated list
// (never split here: a group name may contain spaces).
func claimStrings(claims map[string]any, name string) []string {
	v, _ := claimValue(claims, name)
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
				if len(out) == maxClaimValues {
					break
				}
			}
		}
		return out
	}
	return nil
}

// claimBool reads a boolean claim, tolerating "true"/"false" strings (some providers send
// email_verified as a string); nil when absent or neither.
func claimBool(claims map[string]any, name string) *bool {
	v, _ := claimValue(claims, name)
	var b bool
	switch v := v.(type) {
	case bool:
		b = v
	case string:
		switch v {
		case "true":
			b = true
		case "false":
		default:
			return nil
		}
	default:
		return nil
	}
	return &b
}

// policyClaims are the claim values the policy can ever look at: per claim a rule reads, the
// values some rule names. They are what the browser session keeps after sign-in, so that every
// later consent applies the current policy without the ID token, and the session stays small
// however many groups a person has.
func (p *UpstreamProvider) policyClaims(claims map[string]any) map[string][]string {
	out := map[string][]string{}
	keep := func(claim string, wanted []string) {
		for _, v := range claimStrings(claims, claim) {
			if slices.Contains(wanted, v) && !slices.Contains(out[claim], v) {
				out[claim] = append(out[claim], v)
			}
		}
	}
	for _, r := range p.Policy {
		if len(r.Groups) > 0 {
			keep(p.Claims.Groups, r.Groups)
		}
		if r.Claim != "" {
			keep(r.Claim, r.Values)
		}
	}
	return out
}

// encodePolicyClaims and decodePolicyClaims carry policy claims in a session value.
func encodePolicyClaims(c map[string][]string) string {
	b, _ := json.Marshal(c)
	return string(b)
}

func decodePolicyClaims(s string) map[string][]string {
	var c map[string][]string
	_ = json.Unmarshal([]byte(s), &c)
	return c
}

// matches reports whether the rule applies to a person with these policy claims.
func (r *PolicyRule) matches(claims map[string][]string, groupsClaim string) bool {
	if len(r.Groups) > 0 && !slices.ContainsFunc(claims[groupsClaim], func(g string) bool { return slices.Contains(r.Groups, g) }) {
		return false
	}
	if r.Claim != "" && !slices.ContainsFunc(claims[r.Claim], func(v string) bool { return slices.Contains(r.Values, v) }) {
		return false
	}
	return true
}

// matchesAny reports whether any rule applies: someone no rule matches may use nothing, and is
// refused at sign-in.
func (p *UpstreamProvider) matchesAny(claims map[string][]string) bool {
	return slices.ContainsFunc(p.Policy, func(r PolicyRule) bool { return r.matches(claims, p.Claims.Groups) })
}

// allowed is, for each resource, the scopes the matching rules allow (never nil, possibly
// empty): what oauth.Decision.Scopes carries to the authorize endpoint, which grants no more.
func (p *UpstreamProvider) allowed(claims map[string][]string, resources []*oauth.Resource) map[*oauth.Resource][]string {
	out := make(map[*oauth.Resource][]string, len(resources))
	for i := range p.Policy {
		r := &p.Policy[i]
		if !r.matches(claims, p.Claims.Groups) {
			continue
		}
		for _, res := range resources {
			if !slices.Contains(r.Resources, "*") && !slices.Contains(r.Resources, res.URI) {
				continue
			}
			for _, sc := range res.Scopes {
				if (slices.Contains(r.Scopes, "*") || slices.Contains(r.Scopes, sc.Name)) && !slices.Contains(out[res], sc.Name) {
					out[res] = append(out[res], sc.Name)
				}
			}
		}
	}
	return out
}

// narrowRequest is the request as the policy leaves it: per resource the requested scopes it
// allows, and only resources left with some. It mirrors what the authorize endpoint does with
// Decision.Scopes, so that the consent page offers, and remembers, exactly what can be granted.
func narrowRequest(req *oauth.ConsentRequest, allowed map[*oauth.Resource][]string) *oauth.ConsentRequest {
	n := *req
	n.Resources = nil
	n.Scopes = map[*oauth.Resource][]string{}
	for _, res := range req.Resources {
		var scopes []string
		for _, sc := range req.Scopes[res] {
			if slices.Contains(allowed[res], sc) {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) > 0 {
			n.Resources = append(n.Resources, res)
			n.Scopes[res] = scopes
		}
	}
	return &n
}
