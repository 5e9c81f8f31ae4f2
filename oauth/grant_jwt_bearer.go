package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/storage"
)

// GrantTypeJWTBearer is RFC 7523 §2.1's grant type; with an ID-JAG as the assertion it is the
// MCP enterprise-managed authorization extension's token request.
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// IDJAGProfile is the grant profile advertised in metadata (draft-ietf-oauth-identity-assertion-authz-grant).
const IDJAGProfile = "urn:ietf:params:oauth:grant-profile:id-jag"

// AssertionRequest is a jwt-bearer token request, its client already authenticated.
type AssertionRequest struct {
	ClientID  string
	Assertion string
	// Resources are the request's resource parameters, as sent.
	Resources []string
	// Scope is the request's scope parameter, as sent.
	Scope string
}

// AssertionGrant is what an identity assertion allows.
type AssertionGrant struct {
	// Subject is the local subject the token is issued for.
	Subject string
	// Resource is the resource the token is for (a configured resource's URI).
	Resource string
	// Scopes are the scopes granted.
	Scopes []string
	// Changes are applied with the token (the assertion's jti, so that a replay fails).
	Changes []storage.Change
}

// AssertionExchanger checks an identity assertion and decides the grant. The enterprise package
// provides it (cmd wires it). An error it returns that has ErrorCode and ErrorDescription methods
// is answered with that OAuth error code (invalid_grant, invalid_scope, invalid_target,
// unauthorized_client); any other error is a server error.
type AssertionExchanger func(ctx context.Context, req AssertionRequest) (AssertionGrant, error)

// oauthCoder is an error that names its OAuth error code.
type oauthCoder interface {
	ErrorCode() string
	ErrorDescription() string
}

// acceptsAssertions reports whether the jwt-bearer grant is served (and advertised) now.
func (p *Provider) acceptsAssertions() bool {
	return p.exchanger != nil && (p.trustsIdPs == nil || p.trustsIdPs())
}

// jwtBearer is the identity assertion grant (RFC 7523 §2.1 with an ID-JAG): a confidential
// client presents an assertion its user's enterprise IdP issued for it; we issue an access token
// for that user, audience-bound to the resource, within the enterprise's policy. No refresh
// token: the client asks the IdP for a new assertion.
func (p *Provider) jwtBearer(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.acceptsAssertions() {
		p.tokenError(w, r, nil, fosite.ErrUnsupportedGrantType.WithHint("No identity provider is trusted for identity assertions."))
		return
	}
	client, jti, err := p.authenticateClient(ctx, r, r.PostForm)
	if err != nil {
		p.tokenError(w, r, nil, err)
		return
	}
	if client.IsPublic() {
		p.tokenError(w, r, nil, fosite.ErrUnauthorizedClient.WithHint("Identity assertions are accepted from confidential clients only."))
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		p.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The assertion parameter is missing."))
		return
	}
	grant, err := p.exchanger(ctx, AssertionRequest{
		ClientID: client.ID, Assertion: assertion, Resources: r.PostForm["resource"], Scope: r.PostForm.Get("scope"),
	})
	if err != nil {
		var coded oauthCoder
		if errors.As(err, &coded) {
			p.tokenError(w, r, nil, &fosite.RFC6749Error{
				ErrorField: coded.ErrorCode(), DescriptionField: coded.ErrorDescription(), CodeField: statusFor(coded.ErrorCode()),
			})
			return
		}
		p.tokenError(w, r, nil, fosite.ErrServerError.WithWrap(err))
		return
	}
	// Whatever the enterprise's policy says, the token stays within what this server offers
	// and this client may have.
	res, err := p.resources.Lookup(grant.Resource)
	if err != nil {
		p.tokenError(w, r, nil, errInvalidTarget(err.Error()))
		return
	}
	if !client.MayUse(res) {
		p.tokenError(w, r, nil, errInvalidTarget("This client may not ask for the resource "+res.URI+"."))
		return
	}
	for _, s := range grant.Scopes {
		if !res.HasScope(s) {
			p.tokenError(w, r, nil, fosite.ErrInvalidScope.WithHintf("The scope %q is not offered by %s.", s, res.URI))
			return
		}
	}
	g := machineGrant{client: client, subject: grant.Subject, audience: []*Resource{res}, scopes: slices.Clone(grant.Scopes), changes: grant.Changes,
		// The jti seen before is the ID-JAG's or, with private_key_jwt, the client assertion's;
		// storage does not say which, and both are single-use (draft §4.4.1, RFC 7523 §3).
		replay: fosite.ErrInvalidGrant.WithHint("The assertion, or the client assertion, was used before: each is accepted once.")}
	if jti != nil {
		g.changes = append(g.changes, *jti)
	}
	p.issue(ctx, w, r, g)
}

func statusFor(code string) int {
	if code == "invalid_client" {
		return http.StatusUnauthorized
	}
	return http.StatusBadRequest
}
