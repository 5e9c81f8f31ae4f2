package consent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

// UpstreamProvider is an OpenID Provider people may sign in with, and the enterprise's policy
// for the people it signs in.
type UpstreamProvider struct {
	// ID names the provider in our URLs: /login/upstream/{ID} starts a sign-in, and
	// /login/upstream/{ID}/callback is the redirect URI registered at the provider.
	ID string
	// Name is shown on the login page ("Continue with Name").
	Name   string
	Issuer string
	// ClientID and ClientSecret are our client's at the provider; no secret is a public client.
	ClientID     string
	ClientSecret string
	// Scopes asked for; they include openid.
	Scopes []string
	Claims UpstreamClaims
	// AllowedEmailDomains, when not empty, admits only addresses in these (lowercase) domains.
	AllowedEmailDomains []string
	// Policy decides what the people signed in may consent to; no matching rule, no sign-in.
	Policy []PolicyRule
}

// Upstream configures sign-in through OpenID Providers.
type Upstream struct {
	// Providers in the order the login page offers them.
	Providers []UpstreamProvider
	// HTTPClient makes every request to the providers: discovery, their JWKS, and the token
	// endpoint. It must be the server's safe outbound client (internal/safehttp), so that a
	// provider's metadata cannot point these requests at internal addresses.
	HTTPClient *http.Client
	// Records keeps the links between upstream identities and local users.
	Records storage.Records
}

const (
	// flowLifetime is how long a started sign-in may take at the provider: long enough to type
	// a password and answer a second factor, short enough that a stolen state is soon worthless.
	flowLifetime = 10 * time.Minute
	// maxFlows bounds the sign-ins one browser has under way (several tabs); the oldest goes.
	maxFlows = 4
	// discoveryRetry is how long a failed discovery is remembered, so that a provider that is
	// down costs each sign-in attempt a clear page at once rather than another timeout.
	discoveryRetry = 15 * time.Second
	// maxIssuedAtSkew is how far in the future an ID token's iat may be (clock skew).
	maxIssuedAtSkew = 5 * time.Minute
)

// upstream is a configured provider and, once discovered, our relying party for it.
type upstream struct {
	UpstreamProvider
	redirectURL string
	client      *http.Client
	now         func() time.Time

	mu        sync.Mutex
	rp        *relyingParty // nil until discovery succeeds
	failedAt  time.Time
	discovery error
}

// relyingParty is what discovery gives: the endpoints and a verifier holding the provider's
// key set (fetched, and re-fetched for an unknown kid, through the safe client).
type relyingParty struct {
	config   oauth2.Config
	verifier *oidc.IDTokenVerifier
	// issParameter: the provider sends iss on its authorization responses (RFC 9207), so a
	// response without it is refused.
	issParameter bool
}

// discover reads the provider's metadata on first use (OpenID Connect Discovery 1.0 §4), not at
// start, so that a provider that is down never keeps the server from starting.
func (u *upstream) discover(ctx context.Context) (*relyingParty, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.rp != nil {
		return u.rp, nil
	}
	if u.discovery != nil && u.now().Sub(u.failedAt) < discoveryRetry {
		return nil, u.discovery
	}
	rp, err := u.newRelyingParty(ctx)
	if err != nil {
		u.discovery, u.failedAt = fmt.Errorf("discovery of %s: %w", u.Issuer, err), u.now()
		return nil, u.discovery
	}
	u.rp, u.discovery = rp, nil
	return rp, nil
}

func (u *upstream) newRelyingParty(ctx context.Context) (*relyingParty, error) {
	// go-oidc checks that the document names this issuer exactly (Discovery §4.3), and keeps
	// the client for the key set it fetches later.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, u.client), u.Issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		IssParameter bool `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, err
	}
	ep := p.Endpoint()
	for _, e := range []string{ep.AuthURL, ep.TokenURL} {
		if eu, err := url.Parse(e); err != nil || eu.Scheme != "https" || eu.Host == "" {
			return nil, fmt.Errorf("endpoint %q is not an https URL", e)
		}
	}
	return &relyingParty{
		config: oauth2.Config{
			ClientID: u.ClientID, ClientSecret: u.ClientSecret,
			Endpoint: ep, RedirectURL: u.redirectURL, Scopes: u.Scopes,
		},
		verifier:     p.Verifier(&oidc.Config{ClientID: u.ClientID, Now: u.now}),
		issParameter: meta.IssParameter,
	}, nil
}

// flow is a sign-in under way at a provider, kept in the browser session that started it: the
// state, nonce and PKCE verifier are bound to that browser, used once, and expire.
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r,omitempty"`
	Expires  int64  `json:"e"`
}

func sessionFlows(sess *sessions.Session) []flow {
	var fs []flow
	_ = json.Unmarshal([]byte(value(sess, keyFlows)), &fs)
	return fs
}

func setSessionFlows(sess *sessions.Session, fs []flow) {
	if len(fs) == 0 {
		delete(sess.Values, keyFlows)
		return
	}
	b, _ := json.Marshal(fs)
	sess.Values[keyFlows] = string(b)
}

// addFlow keeps f, dropping expired flows and, past maxFlows, the oldest.
func (s *Service) addFlow(sess *sessions.Session, f flow) {
	now := s.now().Unix()
	fs := slices.DeleteFunc(sessionFlows(sess), func(g flow) bool { return g.Expires <= now })
	fs = append(fs, f)
	if len(fs) > maxFlows {
		fs = fs[len(fs)-maxFlows:]
	}
	setSessionFlows(sess, fs)
}

// takeFlow removes and returns the flow a state names; the session must be saved after, before
// anything else happens, so that the state is spent even if the rest fails.
func takeFlow(sess *sessions.Session, state string) (flow, bool) {
	if state == "" {
		return flow{}, false
	}
	fs := sessionFlows(sess)
	for i, f := range fs {
		if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) == 1 {
			setSessionFlows(sess, slices.Delete(fs, i, i+1))
			return f, true
		}
	}
	return flow{}, false
}

// upstreamURL is where the login page's button for a provider points.
func (s *Service) upstreamURL(id, ret string) string {
	u := s.basePath + "/login/upstream/" + id
	if ret != "" {
		u += "?" + url.Values{"return": {ret}}.Encode()
	}
	return u
}

// signInFailed ends an upstream sign-in on a page, never a redirect, and logs why. With retry
// (the request the sign-in was for), the page links back to the login page for it.
func (s *Service) signInFailed(w http.ResponseWriter, r *http.Request, status int, up *upstream, retry, heading, message, detail string, reason error) {
	s.log.WarnContext(r.Context(), "upstream: sign-in failed", "provider", up.ID, "status", status, "reason", reason)
	var retryURL string
	if retry != "" {
		retryURL = s.loginURL(retry)
	}
	httpx.RenderPage(r.Context(), w, status, templates.SignInFailed(templates.SignInFailedView{
		Page: templates.Page{Title: heading}, Heading: heading, Message: message, Detail: detail, RetryURL: retryURL,
	}))
}

// handleUpstreamStart starts a sign-in at a provider: a fresh state, nonce and PKCE verifier
// (OpenID Connect Core 1.0 §3.1.2.1, RFC 7636), remembered in this browser's session, and a
// redirect to the provider's authorization endpoint. A GET suffices: whoever makes a browser
// start a sign-in can at most sign that browser's own user in, since the answer is only
// accepted by the session that started it.
func (s *Service) handleUpstreamStart(w http.ResponseWriter, r *http.Request) {
	up := s.upstreams[r.PathValue("id")]
	if up == nil {
		s.errorPage(w, r, http.StatusNotFound, "Unknown sign-in method", "This server has no such sign-in method.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	ret := s.safeReturn(r.Form.Get("return"))
	rp, err := up.discover(r.Context())
	if err != nil {
		s.signInFailed(w, r, http.StatusBadGateway, up, ret, "Can't reach "+up.Name,
			up.Name+" can't be reached right now, so you can't sign in with it. Try again in a minute.", "discovery failed", err)
		return
	}
	sess, err := s.session(r)
	if err != nil {
		s.serverError(w, r, "upstream: session", err)
		return
	}
	f := flow{
		Provider: up.ID, State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
		Return: ret, Expires: s.now().Add(flowLifetime).Unix(),
	}
	s.addFlow(sess, f)
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "upstream: save session", err)
		return
	}
	s.log.InfoContext(r.Context(), "upstream: sign-in started", "provider", up.ID)
	http.Redirect(w, r, rp.config.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusSeeOther)
}

// handleUpstreamCallback is the redirect URI: the provider's answer comes back here.
func (s *Service) handleUpstreamCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	up := s.upstreams[r.PathValue("id")]
	if up == nil {
		s.errorPage(w, r, http.StatusNotFound, "Unknown sign-in method", "This server has no such sign-in method.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.signInFailed(w, r, http.StatusBadRequest, up, "", "This sign-in can't continue", "The answer from "+up.Name+" was malformed.", "", err)
		return
	}
	sess, err := s.session(r)
	if err != nil {
		s.serverError(w, r, "upstream: session", err)
		return
	}
	q := r.Form
	// The state must name a sign-in this browser started (CSRF and replay: OpenID Connect Core
	// 1.0 §3.1.2.7, RFC 9700 §4.7.1). It is spent now, whatever follows.
	f, ok := takeFlow(sess, q.Get("state"))
	if !ok {
		s.signInFailed(w, r, http.StatusBadRequest, up, "", "This sign-in can't continue",
			"The answer from "+up.Name+" was already used, has expired, or belongs to a sign-in started in another browser. Start again from the app.",
			"unknown or used state", errors.New("the state names no sign-in of this browser"))
		return
	}
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "upstream: save session", err)
		return
	}
	switch {
	case f.Provider != up.ID:
		// Answered at another provider's redirect URI: a mix-up (RFC 9700 §4.4).
		s.signInFailed(w, r, http.StatusBadRequest, up, f.Return, "This sign-in can't continue",
			"The answer came back from a different sign-in provider than the one you chose.", "provider mismatch",
			fmt.Errorf("the flow was started for %q", f.Provider))
		return
	case s.now().Unix() >= f.Expires:
		s.signInFailed(w, r, http.StatusBadRequest, up, f.Return, "This sign-in took too long",
			"Signing in at "+up.Name+" took longer than "+flowLifetime.String()+". Please sign in again.", "flow expired",
			errors.New("the sign-in flow expired"))
		return
	}
	rp, err := up.discover(ctx)
	if err != nil {
		s.signInFailed(w, r, http.StatusBadGateway, up, f.Return, "Can't reach "+up.Name,
			up.Name+" can't be reached right now. Try again in a minute.", "discovery failed", err)
		return
	}
	// RFC 9207 §2.4: when the provider sends iss, it must be the provider's.
	if iss := q.Get("iss"); (iss == "" && rp.issParameter) || (iss != "" && iss != up.Issuer) {
		s.signInFailed(w, r, http.StatusBadRequest, up, f.Return, "This sign-in can't continue",
			"The answer did not come from "+up.Name+".", "iss mismatch", fmt.Errorf("iss %q", iss))
		return
	}
	if code := q.Get("error"); code != "" {
		// RFC 6749 §4.1.2.1: the provider refused, or the user did.
		heading, message := "Sign-in didn't complete", up.Name+" could not sign you in."
		if code == "access_denied" {
			heading, message = "Sign-in was cancelled", "Signing in at "+up.Name+" was cancelled or refused."
		}
		s.signInFailed(w, r, http.StatusForbidden, up, f.Return, heading, message, excerpt(code, 64),
			fmt.Errorf("provider answered %s: %s", excerpt(code, 64), excerpt(q.Get("error_description"), 200)))
		return
	}
	code := q.Get("code")
	if code == "" {
		s.signInFailed(w, r, http.StatusBadRequest, up, f.Return, "This sign-in can't continue",
			"The answer from "+up.Name+" had no authorization code.", "no code", errors.New("no code"))
		return
	}

	tok, err := rp.config.Exchange(context.WithValue(ctx, oauth2.HTTPClient, up.client), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			s.signInFailed(w, r, http.StatusBadGateway, up, f.Return, "Sign-in didn't complete",
				up.Name+" refused to complete the sign-in.", excerpt(re.ErrorCode, 64), fmt.Errorf("token endpoint: %w", err))
			return
		}
		s.signInFailed(w, r, http.StatusBadGateway, up, f.Return, "Can't reach "+up.Name,
			up.Name+" can't be reached right now. Try again in a minute.", "token request failed", err)
		return
	}
	who, claims, err := s.verifyIDToken(ctx, up, rp, tok, f.Nonce)
	if err != nil {
		s.signInFailed(w, r, http.StatusBadGateway, up, f.Return, "Sign-in didn't complete",
			"The answer from "+up.Name+" could not be verified.", "ID token refused", err)
		return
	}
	if err := up.emailAllowed(who); err != nil {
		s.signInFailed(w, r, http.StatusForbidden, up, "", "You can't sign in here",
			"Your "+up.Name+" account is not one this server accepts.", "email domain", err)
		return
	}
	policy := up.policyClaims(claims)
	if !up.matchesAny(policy) {
		s.signInFailed(w, r, http.StatusForbidden, up, "", "Your organization hasn't given you access",
			"You signed in at "+up.Name+", but no rule of your organization's policy lets your account use this server. Ask your administrator for access.",
			"no policy rule matches", fmt.Errorf("no policy rule matches the upstream subject %q", who.subject))
		return
	}
	user, err := s.linkUser(ctx, up, who)
	if errors.Is(err, errUserDisabled) {
		s.signInFailed(w, r, http.StatusForbidden, up, "", "Your account is disabled",
			"Your account on this server is disabled. Ask your administrator.", "account disabled", err)
		return
	}
	if err != nil {
		s.serverError(w, r, "upstream: link identity", err)
		return
	}

	if err := s.sessions.renew(r, sess); err != nil {
		s.serverError(w, r, "upstream: renew session", err)
		return
	}
	sess.Values = map[any]any{
		keyUserID:         user.ID,
		keyAuthTime:       strconv.FormatInt(s.now().Unix(), 10),
		keyCSRF:           randomToken(),
		keyUpstream:       up.ID,
		keyUpstreamClaims: encodePolicyClaims(policy),
	}
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "upstream: save session", err)
		return
	}
	s.log.InfoContext(ctx, "login: signed in upstream", "sub", user.ID, "provider", up.ID)
	if f.Return == "" {
		s.errorPage(w, r, http.StatusOK, "You're signed in", "You can close this page and return to the app.")
		return
	}
	http.Redirect(w, r, f.Return, http.StatusSeeOther)
}

// verifyIDToken validates the ID token of a token response (OpenID Connect Core 1.0 §3.1.3.7):
// go-oidc checks the signature against the provider's keys with the algorithms it advertises,
// iss, aud containing our client_id, and exp; the nonce, azp and iat are checked here.
func (s *Service) verifyIDToken(ctx context.Context, up *upstream, rp *relyingParty, tok *oauth2.Token, nonce string) (person, map[string]any, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return person{}, nil, errors.New("the token response has no id_token")
	}
	idt, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return person{}, nil, err
	}
	// §3.1.3.7 step 11: the nonce is the one this browser's sign-in sent.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return person{}, nil, errors.New("nonce mismatch")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return person{}, nil, err
	}
	// Steps 4 and 5: with several audiences an azp is expected, and an azp must be us.
	azp, hasAzp := claims["azp"].(string)
	if (hasAzp && azp != up.ClientID) || (!hasAzp && len(idt.Audience) > 1) {
		return person{}, nil, fmt.Errorf("issued to another party (aud %v, azp %q)", idt.Audience, azp)
	}
	// §2: iat is required; one from the future is a clock gone wrong or a forgery.
	if idt.IssuedAt.IsZero() || idt.IssuedAt.After(s.now().Add(maxIssuedAtSkew)) {
		return person{}, nil, fmt.Errorf("iat %v is missing or in the future", idt.IssuedAt)
	}
	who := person{
		subject:       claimString(claims, up.Claims.Subject),
		email:         claimString(claims, up.Claims.Email),
		name:          claimString(claims, up.Claims.Name),
		emailVerified: claimBool(claims, "email_verified"),
	}
	if who.subject == "" || len(who.subject) > maxSubjectLength {
		return person{}, nil, fmt.Errorf("the subject claim %q is missing, not a string, or longer than %d", up.Claims.Subject, maxSubjectLength)
	}
	return who, claims, nil
}

// excerpt bounds a provider-supplied string before it is logged or shown.
func excerpt(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
