package enterprise

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
	"github.com/mcp-authz/mcp-authz/storage"
)

// Clock skew forgiven between our clock and an IdP's.
const (
	DefaultClockSkew = 30 * time.Second
	MaxClockSkew     = time.Minute
)

// Resource is one of our resources as the exchanger sees it.
type Resource struct {
	// URI is the canonical URI (the token's aud).
	URI string
	// Scopes are the scopes the resource offers.
	Scopes []string
}

// Options are what an [Exchanger] needs besides its IdPs.
type Options struct {
	// Issuer is our issuer identifier: the aud every ID-JAG must carry. Required.
	Issuer string
	// Resource finds one of our resources by a URI as a client or IdP wrote it (comparing the
	// way RFC 8707 resource parameters are compared); ok false if there is none. Required.
	Resource func(uri string) (r Resource, ok bool)
	// Users stores the local face of IdP users. Required.
	Users Users
	// Fetch fetches a jwks_uri; required only if an IdP has one. The server passes its
	// internal/safehttp client, so that an IdP's jwks_uri cannot reach internal addresses.
	Fetch jwtverify.Fetcher
	// ClockSkew is forgiven on exp, iat and nbf (default [DefaultClockSkew], at most
	// [MaxClockSkew]).
	ClockSkew time.Duration
	// Now is the clock (tests); time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
}

// Request is a jwt-bearer token request whose client is authenticated. It has the fields of
// oauth.AssertionRequest, in the same order, so that one converts to the other.
type Request struct {
	ClientID  string
	Assertion string
	// Resources are the request's resource parameters, as sent.
	Resources []string
	// Scope is the request's scope parameter, as sent.
	Scope string
}

// Grant is what an accepted assertion allows. It has the fields of oauth.AssertionGrant, in
// the same order.
type Grant struct {
	// Subject is the local subject ([Subject]).
	Subject string
	// Resource is the canonical URI of the resource the token is for.
	Resource string
	// Scopes are the scopes granted.
	Scopes []string
	// Changes must be applied in the same transaction as the token: the assertion's jti.
	Changes []storage.Change
}

// Exchanger checks ID-JAGs against the trusted IdPs and their policy.
type Exchanger struct {
	issuer   string
	idps     map[string]*idp
	resource func(string) (Resource, bool)
	users    Users
	skew     time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// New checks the IdPs' configuration and returns an exchanger for them.
func New(idps []IdP, o Options) (*Exchanger, error) {
	if o.Issuer == "" || o.Resource == nil || o.Users == nil {
		return nil, errors.New("enterprise: Issuer, Resource and Users are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.ClockSkew == 0:
		o.ClockSkew = DefaultClockSkew
	case o.ClockSkew < 0 || o.ClockSkew > MaxClockSkew:
		return nil, fmt.Errorf("enterprise: clock skew must be between 0 and %v", MaxClockSkew)
	}
	e := &Exchanger{
		issuer: strings.TrimSuffix(o.Issuer, "/"), idps: map[string]*idp{}, resource: o.Resource,
		users: o.Users, skew: o.ClockSkew, now: o.Now, log: o.Logger,
	}
	for i, c := range idps {
		p, err := compile(c, o.Resource, o.Fetch, o.Now)
		if err != nil {
			return nil, fmt.Errorf("enterprise: identity provider %d (%s): %w", i, c.Issuer, err)
		}
		if _, dup := e.idps[p.issuer]; dup {
			return nil, fmt.Errorf("enterprise: identity provider %q is configured twice", p.issuer)
		}
		e.idps[p.issuer] = p
	}
	return e, nil
}

// Exchange checks an ID-JAG presented by an authenticated client and decides the grant. A
// refusal is an [*Error] (with ErrorCode and ErrorDescription); any other error is the
// server's (storage, or an IdP's keys that could not be fetched).
func (e *Exchanger) Exchange(ctx context.Context, req Request) (Grant, error) {
	g, c, err := e.check(ctx, req)
	var refusal *Error
	switch {
	case errors.As(err, &refusal):
		// Only what identifies the assertion, never the assertion: iss and jti as sent
		// (bounded; they may be an attacker's), the reason.
		e.log.InfoContext(ctx, "identity assertion refused", "client_id", req.ClientID,
			"iss", clip(c.Issuer), "jti", clip(c.ID), "error", refusal.Code, "reason", refusal.Description)
	case err != nil:
		e.log.ErrorContext(ctx, "identity assertion: server error", "client_id", req.ClientID, "iss", clip(c.Issuer), "error", err)
	default:
		e.log.InfoContext(ctx, "identity assertion accepted", "client_id", req.ClientID,
			"iss", c.Issuer, "jti", clip(c.ID), "sub", g.Subject, "resource", g.Resource, "scope", strings.Join(g.Scopes, " "))
	}
	return g, err
}

func (e *Exchanger) check(ctx context.Context, req Request) (Grant, *claims, error) {
	c := new(claims)
	tok, err := jwtverify.Parse(req.Assertion)
	if err != nil {
		return Grant{}, c, invalidGrant(ErrMalformed, "The assertion is not a well-formed JWT.")
	}
	// §4.4.1 and RFC 8725 §3.11: an ID token, an access token or any other JWT the IdP signed
	// must not pass for an ID-JAG.
	if !typeOK(tok.Header.Typ) {
		return Grant{}, c, invalidGrant(ErrType, "The assertion's typ header is not "+TypeIDJAG+".")
	}
	if err := json.Unmarshal(tok.Claims, c); err != nil {
		*c = claims{}
		return Grant{}, c, invalidGrant(ErrMalformed, "The assertion's claims are malformed.")
	}
	p, ok := e.idps[c.Issuer]
	if !ok {
		return Grant{}, c, invalidGrant(ErrUntrustedIssuer, "The assertion's issuer is not trusted.")
	}
	if err := tok.CheckAlgorithm(p.algorithms); err != nil {
		return Grant{}, c, invalidGrant(ErrAlgorithm, "The assertion's signature algorithm is not accepted.")
	}
	keys, err := p.keys.Keys(ctx, tok.Header.Kid)
	if err != nil {
		return Grant{}, c, fmt.Errorf("keys of identity provider %s: %w", p.issuer, err)
	}
	if err := tok.Verify(keys); err != nil {
		return Grant{}, c, invalidGrant(ErrSignature, "The assertion's signature does not verify with the issuer's keys.")
	}

	// From here on the claims are the IdP's.
	if !e.audienceOK(c.Audience) {
		return Grant{}, c, invalidGrant(ErrAudience, "The assertion's aud is not this authorization server's issuer.")
	}
	if err := e.checkTimes(p, c); err != nil {
		return Grant{}, c, err
	}
	for _, claim := range []struct{ name, value string }{{"jti", c.ID}, {"sub", c.Subject}, {"client_id", c.ClientID}} {
		if claim.value == "" {
			return Grant{}, c, invalidGrant(ErrMissingClaim, "The assertion has no "+claim.name+" claim.")
		}
	}
	if len(c.ID) > maxIDLength || len(c.Subject) > maxIDLength || len(c.Tenant) > maxIDLength {
		return Grant{}, c, invalidGrant(ErrMalformed, "The assertion's jti, sub or tenant is too long.")
	}
	// §4.4.1: the client the IdP granted is the client asking.
	if c.ClientID != req.ClientID {
		return Grant{}, c, invalidGrant(ErrClientMismatch, "The assertion was issued for another client.")
	}
	if !p.allowsClient(req.ClientID) {
		return Grant{}, c, refuse(CodeUnauthorizedClient, ErrClientNotAllowed, "The assertion's issuer may not grant access to this client.")
	}
	res, err := e.chooseResource(p, c, req.Resources)
	if err != nil {
		return Grant{}, c, err
	}
	scopes, err := grantScopes(p, res, c.Scope, req.Scope)
	if err != nil {
		return Grant{}, c, err
	}

	subject := Subject(c.Issuer, c.Tenant, c.Subject)
	if err := e.provision(ctx, subject, c); err != nil {
		return Grant{}, c, err
	}
	return Grant{
		Subject: subject, Resource: res.URI, Scopes: scopes,
		Changes: []storage.Change{storage.UseJTI{JTI: jtiKey(c.Issuer, c.ID), ExpiresAt: c.Expiry.Time().Add(e.skew)}},
	}, c, nil
}

// audienceOK applies §4.4.1: aud is our issuer, as a string or an array of exactly one.
func (e *Exchanger) audienceOK(aud stringOrList) bool {
	return len(aud) == 1 && strings.TrimSuffix(aud[0], "/") == e.issuer
}

// checkTimes applies exp and iat (both required by §3.1), nbf if present, and the lifetime bound.
func (e *Exchanger) checkTimes(p *idp, c *claims) error {
	if c.Expiry == nil {
		return invalidGrant(ErrMissingClaim, "The assertion has no exp claim.")
	}
	if c.IssuedAt == nil {
		return invalidGrant(ErrMissingClaim, "The assertion has no iat claim.")
	}
	now := e.now()
	if !now.Before(c.Expiry.Time().Add(e.skew)) {
		return invalidGrant(ErrExpired, "The assertion has expired.")
	}
	if c.IssuedAt.Time().After(now.Add(e.skew)) {
		return invalidGrant(ErrNotYetValid, "The assertion was issued in the future.")
	}
	if c.NotBefore != nil && c.NotBefore.Time().After(now.Add(e.skew)) {
		return invalidGrant(ErrNotYetValid, "The assertion is not valid yet.")
	}
	lifetime := float64(*c.Expiry) - float64(*c.IssuedAt)
	if lifetime > p.maxLifetime.Seconds() || lifetime < 0 || math.IsNaN(lifetime) {
		return invalidGrant(ErrLifetime, "The assertion's lifetime (exp minus iat) is longer than accepted.")
	}
	return nil
}

// chooseResource decides the one resource of the token (§4.4.1: the resource claim processed as
// RFC 8707 §2; requirements §7: required by default).
func (e *Exchanger) chooseResource(p *idp, c *claims, requested []string) (Resource, error) {
	if len(requested) > 1 {
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "Ask for one resource at a time with an identity assertion.")
	}
	var want string
	if len(requested) == 1 {
		want = requested[0]
	}
	var uri string
	switch {
	case len(c.Resource) > 0 && want != "":
		r, ok := e.resource(want)
		if !ok {
			return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The requested resource is not one this server issues tokens for.")
		}
		if !slices.ContainsFunc(c.Resource, func(s string) bool { got, ok := e.resource(s); return ok && got.URI == r.URI }) {
			return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The requested resource is not one the assertion grants.")
		}
		uri = r.URI
	case len(c.Resource) == 1:
		uri = c.Resource[0]
	case len(c.Resource) > 1:
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The assertion names several resources; choose one with the resource parameter.")
	case !p.optional:
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The assertion names no resource.")
	case want != "":
		uri = want
	case p.only != "":
		uri = p.only
	default:
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "Neither the assertion nor the request names a resource.")
	}
	r, ok := e.resource(uri)
	if !ok {
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The assertion's resource is not one this server issues tokens for.")
	}
	if !p.allowsResource(r.URI) {
		return Resource{}, refuse(CodeInvalidTarget, ErrResource, "The assertion's issuer may not grant access to this resource.")
	}
	return r, nil
}

// grantScopes decides the scopes: requested ∩ the ID-JAG's scope ∩ policy ∩ what the resource
// offers; with none requested, the ID-JAG's scope ∩ policy ∩ offered. §4.4.1 lets us grant a
// subset of the ID-JAG's scopes; the token response always names what was granted.
func grantScopes(p *idp, res Resource, assertion, requested string) ([]string, error) {
	jag := strings.Fields(assertion)
	want := strings.Fields(requested)
	if len(want) == 0 {
		want = jag
	}
	var granted []string
	for _, s := range want {
		if slices.Contains(jag, s) && p.allowsScope(s) && slices.Contains(res.Scopes, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		if len(jag) == 0 {
			return nil, refuse(CodeInvalidScope, ErrScope, "The assertion grants no scope.")
		}
		return nil, refuse(CodeInvalidScope, ErrScope, "None of the scopes asked for is granted by the assertion within this server's policy.")
	}
	return granted, nil
}

// jtiKey is the key a used jti is remembered by: per issuer, so that two IdPs' jtis never
// collide, and hashed, so that its length is fixed whatever the issuer and jti are.
func jtiKey(issuer, jti string) string {
	h := sha256.New()
	var n [4]byte
	for _, s := range []string{issuer, jti} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return "idjag:" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// clip bounds a value from an unverified token before it is logged.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}
