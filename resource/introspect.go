package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// introspector asks the authorization server about each token (RFC 7662).
type introspector struct {
	v   *Verifier
	cfg Introspection
}

// introspectionResponse is the RFC 7662 §2.2 answer. token_use is not in the RFC; some
// servers (fosite among them, in some versions) send it to tell access from refresh tokens.
type introspectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Sub       string   `json:"sub"`
	Aud       audience `json:"aud"`
	Iss       string   `json:"iss"`
	Exp       float64  `json:"exp"`
	Iat       float64  `json:"iat"`
	Nbf       float64  `json:"nbf"`
	Jti       string   `json:"jti"`
	TokenType string   `json:"token_type"`
	TokenUse  string   `json:"token_use"`
}

// verify introspects raw and returns the token and how long the answer may be reused.
func (in *introspector) verify(ctx context.Context, raw string, now time.Time) (*Token, time.Time, error) {
	endpoint, err := in.endpoint(ctx)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	body, err := in.post(ctx, endpoint, raw)
	if err != nil {
		in.v.log.Warn("resource: introspection failed", "endpoint", endpoint, "err", err)
		return nil, time.Time{}, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	var r introspectionResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}

	v := in.v
	switch {
	case !r.Active:
		return nil, time.Time{}, invalidToken("token is not active")
	case (r.TokenUse != "" && r.TokenUse != "access_token") || strings.EqualFold(r.TokenType, "refresh_token"):
		// A refresh token is active too, but it is the client's credential for the token
		// endpoint, never a bearer token for a resource.
		return nil, time.Time{}, invalidToken("not an access token")
	case r.Iss != "" && r.Iss != v.issuer:
		return nil, time.Time{}, invalidToken("wrong issuer")
	case !v.isAudience(r.Aud):
		// aud is optional in RFC 7662, but without it we cannot tell that the token was
		// issued for us (MCP authorization, "Token Audience Binding and Validation").
		return nil, time.Time{}, invalidToken("token is not meant for this resource")
	}
	tok := &Token{
		Issuer:   v.issuer,
		Subject:  r.Sub,
		ClientID: r.ClientID,
		Scopes:   strings.Fields(r.Scope),
		Audience: r.Aud,
		ID:       r.Jti,
		Claims:   body,
	}
	if tok.Expiry, tok.IssuedAt, err = v.checkTimes(r.Exp, r.Iat, r.Nbf, now); err != nil {
		return nil, time.Time{}, err
	}

	until := now.Add(in.cfg.CacheFor)
	if !tok.Expiry.IsZero() && tok.Expiry.Before(until) {
		until = tok.Expiry
	}
	return tok, until, nil
}

func (in *introspector) endpoint(ctx context.Context) (string, error) {
	if in.cfg.Endpoint != "" {
		return in.cfg.Endpoint, nil
	}
	md, err := in.v.discovery.metadata(ctx)
	if err != nil {
		return "", err
	}
	if md.IntrospectionEndpoint == "" {
		return "", fmt.Errorf("issuer %s publishes no introspection_endpoint", in.v.issuer)
	}
	if _, err := checkFetchURL("introspection_endpoint", md.IntrospectionEndpoint, in.v.allowHTTP); err != nil {
		return "", err
	}
	return md.IntrospectionEndpoint, nil
}

// post sends the RFC 7662 §2.1 request, authenticated with client_secret_basic: id and secret
// form-encoded before they are joined (RFC 6749 §2.3.1).
func (in *introspector) post(ctx context.Context, endpoint, raw string) (json.RawMessage, error) {
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.cfg.ClientID), url.QueryEscape(in.cfg.ClientSecret))
	resp, err := in.v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body json.RawMessage
	if err := decodeResponse(resp, &body); err != nil {
		return nil, err
	}
	return body, nil
}
