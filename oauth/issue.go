package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/tokenkey"
	"github.com/mcp-authz/mcp-authz/storage"
)

// machineGrant is what a grant of our own (client credentials, ID-JAG) decided: who the token
// is for, its audience and scopes. Issuing it is shared, so that no grant can skip a step.
type machineGrant struct {
	client   *Client
	subject  string
	audience []*Resource
	scopes   []string
	// changes are applied in the same transaction as the token: the client assertion's jti,
	// the ID-JAG's jti. A replay then fails the whole issuance.
	changes []storage.Change
	// replay answers a conflict on one of the changes (a jti used before); nil: the client
	// assertion's replayError.
	replay error
}

// tokenResponse is RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// issue signs an RFC 9068 access token for the grant, stores its hash (one durable write,
// with the grant's changes), and answers. No refresh token: machine grants get a new access
// token the way they got this one.
func (p *Provider) issue(ctx context.Context, w http.ResponseWriter, r *http.Request, g machineGrant) {
	now := p.now().UTC()
	lifetime := p.accessLifetime
	aud := make([]string, len(g.audience))
	for i, res := range g.audience {
		aud[i] = res.URI
		if l := res.AccessTokenLifetime; l > 0 && l < lifetime {
			lifetime = l
		}
	}
	exp := now.Add(lifetime).Truncate(time.Second)
	claims := accessClaims{
		Issuer: p.issuer, Subject: g.subject, Audience: aud,
		Expiry: exp.Unix(), IssuedAt: now.Unix(), ID: tokenkey.NewID(),
		ClientID: g.client.ID, Scope: strings.Join(g.scopes, " "),
	}
	payload, err := json.Marshal(claims)
	if err == nil {
		var token string
		if token, err = p.signer.SignJWT(payload, "at+jwt"); err == nil {
			// No serialized session: everything a machine token's session holds is in the
			// record's own fields, and fositeStore.request rebuilds it from them. The row is
			// then half the size, and this is the hot path machines hammer.
			record := storage.CreateToken{Token: storage.Token{
				Kind: storage.AccessToken, Signature: tokenkey.For(claims.ID, token), Active: true, ExpiresAt: exp,
				Request: storage.Request{
					// Time-ordered, like the jti, so that the request index stays clustered.
					ID: tokenkey.NewID(), ClientID: g.client.ID, Subject: g.subject, RequestedAt: now,
					GrantedScopes: g.scopes, GrantedAudience: aud,
				},
			}}
			if err = p.tokens.Apply(ctx, append(g.changes, record)...); err == nil {
				httpx.WriteJSON(w, http.StatusOK, tokenResponse{
					AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now).Seconds()), Scope: claims.Scope,
				})
				return
			}
			if g.replay != nil && errors.Is(err, storage.ErrConflict) {
				err = g.replay
			} else {
				err = replayError(err)
			}
		}
	}
	p.tokenError(w, r, nil, err)
}

// machineScopes decides the scopes of a machine grant: those asked for, each one offered by a
// resource of the token and allowed (allowed nil: any); or, when none are asked for, the
// resources' defaults that are allowed. RFC 6749 §3.3 lets a server grant fewer than asked;
// we refuse instead, so that a machine never silently runs with less than it needs.
func machineScopes(requested string, audience []*Resource, allowed func(string) bool) ([]string, error) {
	var scopes []string
	offered := func(s string) bool {
		return slices.ContainsFunc(audience, func(r *Resource) bool { return r.HasScope(s) })
	}
	if want := strings.Fields(requested); len(want) > 0 {
		for _, s := range want {
			if !offered(s) {
				return nil, fosite.ErrInvalidScope.WithHintf("The scope %q is not offered by the requested resource.", s)
			}
			if !allowed(s) {
				return nil, fosite.ErrInvalidScope.WithHintf("The scope %q is not allowed for this client.", s)
			}
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
		return scopes, nil
	}
	for _, r := range audience {
		for _, s := range r.DefaultScopes {
			if allowed(s) && !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return scopes, nil
}

// machineAudience resolves the resource parameters of a machine grant; with none, a client
// allowed exactly one resource gets that one (RFC 8707 §2).
func (p *Provider) machineAudience(c *Client, raw []string) ([]*Resource, error) {
	res, err := p.requestedResources(c, raw)
	if err != nil {
		return nil, errInvalidTarget(err.Error())
	}
	return res, nil
}
