package oauth

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/cimd"
	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

// noState stands in for an absent state when fosite parses the request (fosite refuses an
// empty one). It never reaches the client: responses carry the state the client sent, or none.
const noState = "mcp-authz:no-state"

// codeChallengeFormat is RFC 7636 §4.2: 43 to 128 characters of the unreserved set.
var codeChallengeFormat = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// handleAuthorize is the authorization endpoint (OAuth 2.1 §4.1.1). A GET is an authorization
// request; a POST is our consent form coming back with the request it was about.
func (p *Provider) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.errorPage(w, r, http.StatusMethodNotAllowed, "invalid_request", "The authorization endpoint takes GET requests.")
		return
	}
	if err := httpx.ParseForm(w, r, "resource"); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	query := r.URL.Query()
	if r.Method == http.MethodPost {
		var err error
		if query, err = parseEchoedRequest(r.PostForm.Get("request")); err != nil {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
	}

	// OAuth 2.1 §4.1.2.1: until the client and its redirect URI are verified, an error is shown
	// to the user and never sent to the redirect URI.
	clientID := query.Get("client_id")
	if clientID == "" {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request has no client_id.")
		return
	}
	client, err := p.clients.Client(ctx, clientID)
	if err != nil {
		p.log.InfoContext(ctx, "authorize: client refused", "client_id", clientID, "rule", ruleOf(err), "reason", err)
		desc := "The client is not registered with this server."
		if !errors.Is(err, ErrUnknownClient) {
			desc = "The client could not be verified: " + err.Error()
		}
		p.errorPage(w, r, http.StatusBadRequest, "invalid_client", desc)
		return
	}
	if !client.GetGrantTypes().Has("authorization_code") {
		p.errorPage(w, r, http.StatusBadRequest, "unauthorized_client", "This client may not use the authorization code flow.")
		return
	}
	redirectURI, exact, ok := matchRedirectURI(client.RedirectURIs, query.Get("redirect_uri"))
	if !ok {
		p.log.InfoContext(ctx, "authorize: redirect_uri not registered", "client_id", clientID, "redirect_uri", query.Get("redirect_uri"))
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The redirect_uri is not registered for this client.")
		return
	}
	if !exact {
		ctx = withApprovedRedirect(ctx, client.ID, redirectURI)
	}

	// From here on, errors go back to the verified redirect URI, with iss (RFC 9207).
	a := &authorizeReply{p: p, w: w, r: r, redirectURI: redirectURI, state: query.Get("state")}
	if rm := query.Get("response_mode"); rm != "" && rm != "query" {
		a.fail("invalid_request", "Only response_mode=query is supported.")
		return
	}
	if rt := query.Get("response_type"); rt != "code" {
		a.fail("unsupported_response_type", "Only response_type=code is supported.")
		return
	}
	// PKCE (OAuth 2.1 §4.1.1, §7.5.2): checked before the user is asked anything, so that a
	// request that can never be redeemed does not cost them a login and a consent.
	switch challenge, method := query.Get("code_challenge"), query.Get("code_challenge_method"); {
	case challenge == "":
		a.fail("invalid_request", "code_challenge is required (PKCE with S256).")
		return
	case method != "S256":
		a.fail("invalid_request", "code_challenge_method must be S256; plain is not supported.")
		return
	case !codeChallengeFormat.MatchString(challenge):
		a.fail("invalid_request", "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~].")
		return
	}

	fq := cloneValues(query)
	if a.state == "" {
		fq.Set("state", noState)
	}
	ar, err := p.fosite.NewAuthorizeRequest(ctx, syntheticGet(r, fq))
	if err != nil {
		a.failWith(err)
		return
	}

	resources, err := p.requestedResources(client, query["resource"])
	if err != nil {
		a.fail("invalid_target", err.Error())
		return
	}
	creq := &ConsentRequest{
		Client:      client,
		RedirectURI: redirectURI,
		Resources:   resources,
		Scopes:      map[*Resource][]string{},
		Prompt:      strings.Fields(query.Get("prompt")),
		Query:       query.Encode(),
		Path:        p.Path("/authorize"),
	}
	if err := splitScopes(creq, ar.GetRequestedScopes()); err != nil {
		a.fail("invalid_scope", err.Error())
		return
	}

	d, ok := p.consent.Decide(w, r, creq)
	if !ok {
		return
	}
	switch {
	case d.Required != "":
		a.fail(d.Required, "The user must sign in or consent, and prompt=none was given.")
		return
	case d.Denied:
		a.fail("access_denied", "The user denied the request.")
		return
	}

	if d.Scopes != nil {
		if !narrowToPolicy(creq, d.Scopes) {
			a.fail("access_denied", "The user's organization does not allow this client the requested access.")
			return
		}
		resources = creq.Resources
	}
	granted := creq.AllScopes()
	sess := &Session{Subject: d.Subject, Username: d.Username, AuthTime: d.AuthTime.UTC()}
	for _, res := range resources {
		ar.GrantAudience(res.URI)
		sess.GrantResources = append(sess.GrantResources, res.URI)
	}
	ar.SetRequestedAudience(fosite.Arguments(sess.GrantResources))
	ar.SetRequestedScopes(fosite.Arguments(granted))
	for _, s := range granted {
		ar.GrantScope(s)
	}
	sess.GrantScopes = granted

	resp, err := p.fosite.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		a.failWith(err)
		return
	}
	p.log.InfoContext(ctx, "authorize: code issued", "client_id", client.ID, "sub", d.Subject, "resources", sess.GrantResources, "scope", strings.Join(granted, " "))
	a.send(resp.GetParameters())
}

// ruleOf names the CIMD rule a client resolution failed on, for the log.
func ruleOf(err error) string {
	var ce *cimd.Error
	if errors.As(err, &ce) {
		return string(ce.Rule)
	}
	if errors.Is(err, ErrUnknownClient) {
		return "unknown_client"
	}
	return ""
}

// narrowToPolicy keeps, per resource, the requested scopes the policy allows, and drops
// resources left with none. It reports whether anything is left to grant.
func narrowToPolicy(creq *ConsentRequest, allowed map[*Resource][]string) bool {
	var kept []*Resource
	for _, res := range creq.Resources {
		var scopes []string
		for _, s := range creq.Scopes[res] {
			if slices.Contains(allowed[res], s) {
				scopes = append(scopes, s)
			}
		}
		if len(scopes) == 0 {
			delete(creq.Scopes, res)
			continue
		}
		creq.Scopes[res] = scopes
		kept = append(kept, res)
	}
	creq.Resources = kept
	return len(kept) > 0
}

// requestedResources resolves the resource parameters (RFC 8707 §2). Without one, a client that
// may use exactly one resource is bound to it.
func (p *Provider) requestedResources(client *Client, raw []string) ([]*Resource, error) {
	if len(raw) == 0 {
		if len(client.Resources) == 1 {
			return client.Resources, nil
		}
		return nil, errors.New("the resource parameter is required: this server protects several resources")
	}
	var out []*Resource
	for _, v := range raw {
		res, err := p.resources.Lookup(v)
		if err != nil {
			return nil, err
		}
		if !client.MayUse(res) {
			return nil, errors.New("this client may not ask for the resource " + res.URI)
		}
		if !slices.Contains(out, res) {
			out = append(out, res)
		}
	}
	return out, nil
}

// splitScopes assigns requested scopes to the requested resources. No scope at all means each
// resource's default scopes (requirements §3: there is no scopes_default metadata; clients
// that send no scope get what the operator configured).
func splitScopes(creq *ConsentRequest, requested fosite.Arguments) error {
	var resourceScopes []string
	for _, s := range requested {
		if s == OfflineAccess {
			creq.OfflineAccess = true
			continue
		}
		resourceScopes = append(resourceScopes, s)
	}
	if len(resourceScopes) == 0 {
		for _, res := range creq.Resources {
			creq.Scopes[res] = slices.Clone(res.DefaultScopes)
		}
		return nil
	}
	for _, s := range resourceScopes {
		owned := false
		for _, res := range creq.Resources {
			if res.HasScope(s) {
				owned = true
				if !slices.Contains(creq.Scopes[res], s) {
					creq.Scopes[res] = append(creq.Scopes[res], s)
				}
			}
		}
		if !owned {
			return errors.New("the scope " + s + " is not offered by the requested resource")
		}
	}
	return nil
}

// matchRedirectURI finds the redirect URI to use: exact matching (OAuth 2.1 §2.3.1) with the
// loopback port exception (RFC 8252 §7.3), as internal/redirecturi implements it for every kind of
// client. exact is false when only the loopback rule matched. Without a redirect_uri, a client
// with exactly one registered gets that one.
func matchRedirectURI(registered []string, requested string) (uri string, exact, ok bool) {
	if requested == "" {
		if len(registered) == 1 {
			return registered[0], true, true
		}
		return "", false, false
	}
	if !redirecturi.Match(registered, requested) {
		return "", false, false
	}
	return requested, slices.Contains(registered, requested), true
}

// parseEchoedRequest reads the authorization request our consent form sent back.
func parseEchoedRequest(raw string) (url.Values, error) {
	if raw == "" {
		return nil, errors.New("the form did not carry the authorization request")
	}
	if len(raw) > httpx.MaxQueryBytes {
		return nil, errors.New("the authorization request is too long")
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("the authorization request in the form is malformed")
	}
	for name, v := range q {
		if len(v) > 1 && name != "resource" {
			return nil, errors.New("the parameter " + name + " is included more than once")
		}
	}
	return q, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// syntheticGet is the request fosite parses: always a GET carrying the authorization request,
// whether it came as a GET or echoed by our consent form.
func syntheticGet(r *http.Request, q url.Values) *http.Request {
	u := *r.URL
	u.RawQuery = q.Encode()
	fr := r.Clone(r.Context())
	fr.Method = http.MethodGet
	fr.URL = &u
	fr.Body = http.NoBody
	fr.ContentLength = 0
	fr.Header.Del("Content-Type")
	fr.Form = q
	fr.PostForm = url.Values{}
	return fr
}

// authorizeReply sends the authorization response to a verified redirect URI.
type authorizeReply struct {
	p           *Provider
	w           http.ResponseWriter
	r           *http.Request
	redirectURI string
	state       string
}

func (a *authorizeReply) failWith(err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	a.p.log.InfoContext(a.r.Context(), "authorize: refused", "error", rfc.ErrorField, "description", rfc.GetDescription(), "debug", rfc.Debug())
	a.fail(rfc.ErrorField, rfc.GetDescription())
}

// fail sends an error response (RFC 6749 §4.1.2.1) with state and iss (RFC 9207 §2).
func (a *authorizeReply) fail(code, description string) {
	if code == "server_error" {
		a.p.log.ErrorContext(a.r.Context(), "authorize: server error", "description", description)
	}
	v := url.Values{}
	v.Set("error", code)
	if description != "" {
		v.Set("error_description", description)
	}
	a.send(v)
}

// send redirects to the client with params, the client's own state and our iss.
func (a *authorizeReply) send(params url.Values) {
	params.Del("state")
	if a.state != "" {
		params.Set("state", a.state)
	}
	params.Set("iss", a.p.issuer)
	u, err := url.Parse(a.redirectURI)
	if err != nil {
		a.p.errorPage(a.w, a.r, http.StatusInternalServerError, "server_error", "The redirect URI cannot be used.")
		return
	}
	// Keep the redirect URI's own query (RFC 6749 §3.1.2) and add ours.
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	h := a.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	http.Redirect(a.w, a.r, u.String(), http.StatusSeeOther)
}

// errorPage shows an error to the user without redirecting anywhere.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	httpx.RenderPage(r.Context(), w, status, templates.Error(templates.ErrorView{
		Page:    templates.Page{Title: "Sign-in error"},
		Heading: "This sign-in request can't continue",
		Message: "The app that sent you here made a request this server can't accept. You can close this page and try again from the app.",
		Detail:  code + ": " + description,
	}))
}
