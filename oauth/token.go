package oauth

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
)

// handleToken is the token endpoint (OAuth 2.1 §3.2). fosite authenticates the client and runs
// the grant; between its two halves we choose what this access token carries (bindAccessToken).
func (p *Provider) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpx.WriteOAuthError(w, r, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint takes POST requests.")
		return
	}
	if err := httpx.ParseForm(w, r, "resource"); err != nil {
		httpx.WriteOAuthError(w, r, 0, "invalid_request", err.Error())
		return
	}
	// fosite answers a grant it has no handler for with invalid_request; RFC 6749 §5.2 says
	// unsupported_grant_type.
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
		httpx.WriteOAuthError(w, r, 0, "invalid_request", "The grant_type parameter is missing.")
		return
	case "authorization_code", "refresh_token":
	case "client_credentials":
		p.clientCredentials(w, r)
		return
	case GrantTypeJWTBearer:
		p.jwtBearer(w, r)
		return
	default:
		httpx.WriteOAuthError(w, r, 0, "unsupported_grant_type", "The grant type "+strconvQuote(gt)+" is not supported by this server.")
		return
	}
	ar, err := p.fosite.NewAccessRequest(ctx, r, new(Session))
	if err != nil {
		p.tokenError(w, r, ar, err)
		return
	}
	if err := p.bindAccessToken(ar); err != nil {
		p.tokenError(w, r, ar, err)
		return
	}
	resp, err := p.fosite.NewAccessResponse(ctx, ar)
	if err != nil {
		if errors.Is(err, storage.ErrInactive) && ar.GetGrantTypes().ExactOne("authorization_code") {
			// Two redemptions of one code raced and this one lost in the database. Treat it as
			// the reuse it is (OAuth 2.1 §4.1.3): refuse, and revoke what the winner got.
			p.revokeGrant(r, ar.GetID())
			err = fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
		} else if errors.Is(err, storage.ErrInactive) {
			err = fosite.ErrInvalidGrant.WithHint("The refresh token was already used.")
		}
		p.tokenError(w, r, ar, err)
		return
	}
	sess := ar.GetSession().(*Session)
	// RFC 6749 §5.1 makes scope optional when it equals the request; we always send it, so a
	// client never has to guess what defaults or narrowing gave it.
	resp.SetScopes(fosite.Arguments(sess.TokenScopes))
	p.log.InfoContext(ctx, "token issued", "grant_type", strings.Join(ar.GetGrantTypes(), " "), "client_id", ar.GetClient().GetID(), "sub", sess.Subject, "aud", sess.TokenAudience)
	p.fosite.WriteAccessResponse(ctx, w, ar, resp)
}

// bindAccessToken chooses the audience, scopes and lifetime of the access token being issued,
// within the grant in the session (requirements §3). A "resource" on the token request narrows
// the audience (RFC 8707 §2.2); it can never name a resource outside the grant. A "scope" on a
// refresh request narrows the scopes (RFC 6749 §6); it can never add one.
func (p *Provider) bindAccessToken(ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*Session)
	if !ok {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	form := ar.GetRequestForm()
	audience := sess.GrantResources
	if want := form["resource"]; len(want) > 0 {
		audience = nil
		for _, raw := range want {
			res, err := p.resources.Lookup(raw)
			if err != nil {
				return errInvalidTarget(err.Error())
			}
			if !slices.Contains(sess.GrantResources, res.URI) {
				return errInvalidTarget("The resource " + res.URI + " was not part of the authorization grant.")
			}
			if !slices.Contains(audience, res.URI) {
				audience = append(audience, res.URI)
			}
		}
	}
	if len(audience) == 0 {
		return errInvalidTarget("The grant names no resource.")
	}

	scopes := sess.GrantScopes
	if ar.GetGrantTypes().ExactOne("refresh_token") && form.Get("scope") != "" {
		scopes = strings.Fields(form.Get("scope"))
		for _, s := range scopes {
			if !slices.Contains(sess.GrantScopes, s) {
				return fosite.ErrInvalidScope.WithHintf("The scope %q was not part of the authorization grant.", s)
			}
		}
	}

	lifetime := time.Duration(0)
	var tokenScopes []string
	for _, uri := range audience {
		res, err := p.resources.Lookup(uri)
		if err != nil {
			return errInvalidTarget(err.Error())
		}
		if l := res.AccessTokenLifetime; l > 0 && (lifetime == 0 || l < lifetime) {
			lifetime = l
		}
		for _, s := range scopes {
			if res.HasScope(s) && !slices.Contains(tokenScopes, s) {
				tokenScopes = append(tokenScopes, s)
			}
		}
	}
	if slices.Contains(scopes, OfflineAccess) {
		tokenScopes = append(tokenScopes, OfflineAccess)
	}
	sess.TokenAudience = audience
	sess.TokenScopes = tokenScopes
	if lifetime > 0 {
		sess.SetExpiresAt(fosite.AccessToken, p.now().UTC().Add(lifetime).Round(time.Second))
	}
	return nil
}

func strconvQuote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// errInvalidTarget is RFC 8707 §2's error; fosite does not know it.
func errInvalidTarget(description string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{
		ErrorField:       "invalid_target",
		DescriptionField: "The requested resource is invalid, unknown, or not allowed.",
		HintField:        description,
		CodeField:        http.StatusBadRequest,
	}
}

func (p *Provider) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if ar == nil {
		ar = fosite.NewAccessRequest(nil)
	}
	if rfc.CodeField >= 500 {
		p.log.ErrorContext(r.Context(), "token: server error", "error", err, "debug", rfc.Debug())
	} else {
		p.log.InfoContext(r.Context(), "token: refused", "error", rfc.ErrorField, "description", rfc.GetDescription(), "debug", rfc.Debug())
	}
	p.fosite.WriteAccessError(r.Context(), w, ar, err)
}

// revokeGrant revokes every token of a grant.
func (p *Provider) revokeGrant(r *http.Request, requestID string) {
	if requestID == "" {
		return
	}
	err := p.tokens.Apply(background(r.Context()),
		storage.RevokeRequest{Kind: storage.AccessToken, RequestID: requestID},
		storage.RevokeRequest{Kind: storage.RefreshToken, RequestID: requestID})
	if err != nil {
		p.log.ErrorContext(r.Context(), "revoking a grant failed", "request_id", requestID, "error", err)
	}
}
