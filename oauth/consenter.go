package oauth

import (
	"net/http"
	"time"
)

// Consenter runs the browser's part of an authorization request: who the user is, and what they
// allow. The consent package implements it.
type Consenter interface {
	// Decide is called for every authorization request that passed the protocol checks. It
	// either returns a decision (ok true), or writes the response itself (a login redirect, the
	// consent page, an error page) and returns ok false, and the authorize endpoint stops.
	//
	// A POST to the authorize endpoint is the consent form coming back: r is that POST (with
	// its csrf_token and decision fields) and req is rebuilt from its "request" field.
	Decide(w http.ResponseWriter, r *http.Request, req *ConsentRequest) (d Decision, ok bool)
}

// ConsentRequest is an authorization request awaiting the user.
type ConsentRequest struct {
	Client      *Client
	RedirectURI string
	// Resources the client asks for, and per resource the scopes it asks for (defaults when
	// it asked for none).
	Resources []*Resource
	Scopes    map[*Resource][]string
	// OfflineAccess is set when the client asked for offline_access.
	OfflineAccess bool
	// Prompt holds the OpenID Connect prompt values sent (MCP Inspector sends "consent").
	Prompt []string
	// Query is the authorization request as a query string: the consent form sends it back,
	// and the login page returns to it.
	Query string
	// Path is the authorize endpoint's path.
	Path string
}

// AllScopes returns every scope asked for, resource scopes first, then offline_access.
func (r *ConsentRequest) AllScopes() []string {
	var all []string
	seen := map[string]bool{}
	for _, res := range r.Resources {
		for _, s := range r.Scopes[res] {
			if !seen[s] {
				seen[s] = true
				all = append(all, s)
			}
		}
	}
	if r.OfflineAccess {
		all = append(all, OfflineAccess)
	}
	return all
}

// HasPrompt reports whether the prompt parameter holds v.
func (r *ConsentRequest) HasPrompt(v string) bool {
	for _, p := range r.Prompt {
		if p == v {
			return true
		}
	}
	return false
}

// Decision is the user's answer.
type Decision struct {
	Subject  string
	Username string
	AuthTime time.Time
	// Denied: the user refused; the client gets access_denied.
	Denied bool
	// Required is an OpenID Connect error for prompt=none ("login_required",
	// "consent_required"): the user would have had to act.
	Required string
	// Scopes, when not nil, is what may be granted per resource: a policy (an enterprise IdP's
	// group rules) allowing less than was asked. The authorize endpoint grants the intersection
	// with the request, never more; a resource left without scopes is not granted at all.
	Scopes map[*Resource][]string
}
