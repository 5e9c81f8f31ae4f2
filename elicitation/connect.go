package elicitation

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
)

// The connect kind: we run the authorization code flow with PKCE (RFC 7636, S256) at a
// third-party provider as its OAuth client, with our own redirect URI
// (<issuer>/elicitation/callback), so that the provider's tokens come to us and never pass
// through the MCP client (requirements §8). They are stored encrypted, bound to (resource, user,
// provider), and handed only to that resource's server, refreshed when they have expired.

const (
	// flowLifetime bounds the time between "Continue" and the provider sending the browser back.
	flowLifetime = 10 * time.Minute
	// expirySkew refreshes a token this long before it expires, so that it still works when the
	// server uses it.
	expirySkew = 30 * time.Second
	// maxTokenResponse bounds a provider's token response.
	maxTokenResponse = 64 << 10
)

// connectFlow is the state of one authorization at a provider, kept in an encrypted cookie: the
// browser that started it must be the one that finishes it, and nothing of it is in a URL but
// the random state.
type connectFlow struct {
	ElicitationID string    `json:"eid"`
	Subject       string    `json:"sub"`
	State         string    `json:"state"`
	Verifier      string    `json:"cv"`
	Expires       time.Time `json:"exp"`
}

const flowContext = "elicitation connect flow"

// flowCookie is the cookie's name: with the __Host- prefix over https, so that no subdomain can
// set it (RFC 6265bis §4.1.3.2).
func (s *Service) flowCookie() string {
	if s.secure {
		return "__Host-mcp-authz-connect"
	}
	return "mcp-authz-connect"
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// redirectURI is the redirect URI registered with every provider.
func (s *Service) redirectURI() string { return s.issuer + callbackPath }

// startConnect sends the browser to the provider (after the page's CSRF and identity checks).
func (s *Service) startConnect(w http.ResponseWriter, r *http.Request, e *storage.Elicitation) {
	var req request
	if err := json.Unmarshal(e.Request, &req); err != nil || req.Connect == nil {
		s.pageError(w, r, "stored request", err)
		return
	}
	p := s.providers[req.Connect.Provider]
	if p == nil {
		s.pageError(w, r, "provider", errors.New("the elicitation's provider is no longer configured"))
		return
	}
	flow := connectFlow{
		ElicitationID: e.ID,
		Subject:       e.Subject,
		State:         randomString(),
		Verifier:      randomString(),
		Expires:       s.now().Add(flowLifetime),
	}
	plain, err := json.Marshal(flow)
	if err != nil {
		s.pageError(w, r, "flow", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.flowCookie(),
		Value:    base64.RawURLEncoding.EncodeToString(s.sealer.seal(plain, flowContext)),
		Path:     "/",
		MaxAge:   int(flowLifetime.Seconds()),
		HttpOnly: true,
		Secure:   s.secure,
		// Lax: the provider's redirect back is a top-level GET from another site, which Lax
		// lets the cookie ride along with; a cross-site POST or subrequest never carries it.
		SameSite: http.SameSiteLaxMode,
	})
	target, err := url.Parse(p.AuthorizationEndpoint)
	if err != nil {
		s.pageError(w, r, "provider", err)
		return
	}
	q := target.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.ClientID)
	q.Set("redirect_uri", s.redirectURI())
	q.Set("state", flow.State)
	q.Set("code_challenge", s256(flow.Verifier))
	q.Set("code_challenge_method", "S256")
	if len(p.Scopes) > 0 {
		q.Set("scope", strings.Join(p.Scopes, " "))
	}
	target.RawQuery = q.Encode()
	s.log.InfoContext(r.Context(), "elicitation: connecting", "ref", ref(e.ID), "provider", p.ID, "sub", e.Subject)
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// readFlow opens the flow cookie of a callback and checks its state against the query's.
func (s *Service) readFlow(r *http.Request) (*connectFlow, error) {
	c, err := r.Cookie(s.flowCookie())
	if err != nil {
		return nil, errors.New("no flow cookie")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, errors.New("malformed flow cookie")
	}
	plain, err := s.sealer.open(sealed, flowContext)
	if err != nil {
		return nil, err
	}
	var f connectFlow
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("flow cookie: %w", err)
	}
	if !s.now().Before(f.Expires) {
		return nil, errors.New("the flow has expired")
	}
	// RFC 6749 §10.12: the state binds the response to this browser's request.
	if st := r.URL.Query().Get("state"); st == "" || subtle.ConstantTimeCompare([]byte(st), []byte(f.State)) != 1 {
		return nil, errors.New("state does not match")
	}
	return &f, nil
}

// handleConnectCallback is where the provider sends the browser back.
func (s *Service) handleConnectCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if len(r.URL.RawQuery) > httpx.MaxQueryBytes {
		s.problem(w, r, pageProblem{http.StatusBadRequest, "Bad request", "The address is too long."})
		return
	}
	flow, err := s.readFlow(r)
	// The cookie is single-use whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: s.flowCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	if err != nil {
		s.log.InfoContext(ctx, "elicitation connect: callback refused", "reason", err)
		s.problem(w, r, pageProblem{http.StatusBadRequest, "This sign-in cannot continue",
			"The answer from the other site did not match a sign-in started in this browser, or it took too long. Open the link from the app again."})
		return
	}
	user, ok := s.signedIn(w, r)
	if !ok {
		return
	}
	if user.ID != flow.Subject {
		s.log.WarnContext(ctx, "elicitation connect: another user finished the flow", "ref", ref(flow.ElicitationID), "sub", user.ID)
		s.problem(w, r, pageOtherUser)
		return
	}
	e, ok := s.pageFor(w, r, flow.ElicitationID, user)
	if !ok {
		return
	}
	var req request
	if err := json.Unmarshal(e.Request, &req); err != nil || req.Connect == nil {
		s.pageError(w, r, "stored request", err)
		return
	}
	p := s.providers[req.Connect.Provider]
	if p == nil {
		s.pageError(w, r, "provider", errors.New("the elicitation's provider is no longer configured"))
		return
	}
	q := r.URL.Query()
	// RFC 9207 §2.4: the answer, error or code, must come from the provider this flow was sent
	// to. Every provider shares our one redirect URI, so without iss a provider could be made to
	// hand us an answer meant for another (mix-up, RFC 9700 §4.4). Its absence is refused too:
	// an attacker would simply leave it out.
	if iss := q.Get("iss"); p.Issuer != "" && iss != p.Issuer {
		if len(iss) > 200 {
			iss = iss[:200] // the query is bounded, but a log line need not carry all of it
		}
		s.log.WarnContext(ctx, "elicitation connect: the answer's iss is not the provider's issuer (RFC 9207)",
			"ref", ref(e.ID), "provider", p.ID, "iss", iss)
		s.problem(w, r, pageProblem{http.StatusBadRequest, "This sign-in cannot continue",
			"The answer did not come from the site this sign-in was sent to. Open the link from the app again."})
		return
	}
	if code := q.Get("error"); code != "" {
		// The user said no at the provider (access_denied), or the provider refused.
		s.log.InfoContext(ctx, "elicitation connect: provider answered with an error", "ref", ref(e.ID), "provider", p.ID, "error", code)
		s.finish(w, r, e, storage.ElicitationDeclined, nil)
		return
	}
	if q.Get("code") == "" {
		s.problem(w, r, pageProblem{http.StatusBadRequest, "This sign-in cannot continue", "The other site sent no answer."})
		return
	}
	tok, err := s.tokenRequest(ctx, p, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {s.redirectURI()},
		"code_verifier": {flow.Verifier},
	})
	if err != nil {
		s.log.WarnContext(ctx, "elicitation connect: code redemption failed", "ref", ref(e.ID), "provider", p.ID, "error", err)
		s.problem(w, r, pageProblem{http.StatusBadGateway, "The account could not be connected",
			"The other site did not accept the sign-in. Go back to the app and try again."})
		return
	}
	conn := &connection{Resource: e.Resource, Subject: e.Subject, Provider: p.ID}
	conn.setTokens(tok, nil, s.now())
	if err := s.saveConnection(ctx, conn); err != nil {
		s.pageError(w, r, "save connection", err)
		return
	}
	result, err := json.Marshal(map[string]string{"provider": p.ID})
	if err != nil {
		s.pageError(w, r, "result", err)
		return
	}
	s.finish(w, r, e, storage.ElicitationAccepted, result)
}

// tokenResponse is an RFC 6749 §5.1 response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// errRefused is a provider's refusal (an RFC 6749 §5.2 error), as opposed to a failure to reach it.
var errRefused = errors.New("refused by the provider")

// tokenRequest posts to a provider's token endpoint through the safe outbound client,
// authenticating as the provider's client.
func (s *Service) tokenRequest(ctx context.Context, p *Provider, form url.Values) (*tokenResponse, error) {
	resp, err := s.providerPost(ctx, p, p.TokenEndpoint, form)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	if len(body) > maxTokenResponse {
		return nil, errors.New("token endpoint: response too large")
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("%w: %d %q", errRefused, resp.StatusCode, e.Error)
		}
		return nil, fmt.Errorf("token endpoint: status %d", resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return nil, fmt.Errorf("token endpoint: content type %q", mt)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	if tr.AccessToken == "" || (tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer")) {
		return nil, fmt.Errorf("token endpoint: no bearer access token (token_type %q)", tr.TokenType)
	}
	return &tr, nil
}

// providerPost posts form to one of a provider's endpoints (token, revocation) through the safe
// outbound client, authenticated as the provider's client (RFC 6749 §2.3.1).
func (s *Service) providerPost(ctx context.Context, p *Provider, endpoint string, form url.Values) (*http.Response, error) {
	form = cloneValues(form)
	switch p.AuthMethod {
	case "client_secret_post":
		form.Set("client_id", p.ClientID)
		form.Set("client_secret", p.ClientSecret)
	case "client_secret_basic":
	default:
		form.Set("client_id", p.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if p.AuthMethod == "client_secret_basic" {
		// RFC 6749 §2.3.1: both form-urlencoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(p.ClientID), url.QueryEscape(p.ClientSecret))
	}
	return s.http.Do(req)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// connection is a connected account: a storage record of kind connection. Who it belongs to is
// in the clear (it is also the record's key); the tokens are sealed.
type connection struct {
	Resource string `json:"resource"`
	Subject  string `json:"sub"`
	Provider string `json:"provider"`
	Sealed   []byte `json:"tokens"`

	tokens connectionTokens
}

// connectionTokens are what is sealed.
type connectionTokens struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scope        string    `json:"scope,omitempty"`
}

// connectionID is the record id of (resource, user, provider): a hash, so that it has a bounded
// length, of the three length-prefixed, so that no two triples run together the same way.
func connectionID(resource, subject, provider string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d:%s%d:%s%d:%s", len(resource), resource, len(subject), subject, len(provider), provider))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c *connection) id() string { return connectionID(c.Resource, c.Subject, c.Provider) }

// setTokens takes a token response; a refresh that returns no new refresh token keeps the old
// one (RFC 6749 §6).
func (c *connection) setTokens(tr *tokenResponse, old *connectionTokens, now time.Time) {
	c.tokens = connectionTokens{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scope: tr.Scope}
	if tr.ExpiresIn > 0 {
		c.tokens.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second).UTC()
	}
	if old != nil {
		if c.tokens.RefreshToken == "" {
			c.tokens.RefreshToken = old.RefreshToken
		}
		if c.tokens.Scope == "" {
			c.tokens.Scope = old.Scope
		}
	}
}

func (s *Service) saveConnection(ctx context.Context, c *connection) error {
	plain, err := json.Marshal(c.tokens)
	if err != nil {
		return err
	}
	id := c.id()
	// The record id is the additional data: sealed tokens copied to another user's record
	// do not open.
	c.Sealed = s.sealer.seal(plain, "connection "+id)
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if err := s.store.PutRecord(ctx, storage.Record{Kind: storage.KindConnection, ID: id, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		return fmt.Errorf("elicitation: save connection: %w", err)
	}
	return nil
}

// errNotConnected: no connection, or one that cannot be refreshed any more.
var errNotConnected = errors.New("not connected")

func (s *Service) loadConnection(ctx context.Context, resource, subject, provider string) (*connection, error) {
	id := connectionID(resource, subject, provider)
	rec, err := s.store.GetRecord(ctx, storage.KindConnection, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotConnected
	}
	if err != nil {
		return nil, fmt.Errorf("elicitation: load connection: %w", err)
	}
	var c connection
	if err := json.Unmarshal(rec.Data, &c); err != nil {
		return nil, fmt.Errorf("elicitation: connection record: %w", err)
	}
	if c.Resource != resource || c.Subject != subject || c.Provider != provider {
		return nil, errors.New("elicitation: connection record does not match its key")
	}
	plain, err := s.sealer.open(c.Sealed, "connection "+id)
	if err != nil {
		return nil, fmt.Errorf("elicitation: connection tokens: %w", err)
	}
	if err := json.Unmarshal(plain, &c.tokens); err != nil {
		return nil, fmt.Errorf("elicitation: connection tokens: %w", err)
	}
	return &c, nil
}

func (c *connection) fresh(now time.Time) bool {
	return c.tokens.Expiry.IsZero() || now.Add(expirySkew).Before(c.tokens.Expiry)
}

// connectionToken returns a usable access token of a connection, refreshing it first when it
// has expired. A refresh the provider refuses (the user revoked us there) ends the connection.
func (s *Service) connectionToken(ctx context.Context, resource, subject, provider string) (*connection, error) {
	c, err := s.loadConnection(ctx, resource, subject, provider)
	if err != nil || c.fresh(s.now()) {
		return c, err
	}
	p := s.providers[provider]
	if p == nil || c.tokens.RefreshToken == "" {
		return nil, errNotConnected
	}
	// One refresh at a time per connection on this instance: providers that rotate refresh
	// tokens would take a second, concurrent refresh for a replay. Re-read under the lock, in
	// case the refresh happened while this request waited.
	unlock := s.refresh.lock(c.id())
	defer unlock()
	if c, err = s.loadConnection(ctx, resource, subject, provider); err != nil || c.fresh(s.now()) {
		return c, err
	}
	tr, err := s.tokenRequest(ctx, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.tokens.RefreshToken}})
	if errors.Is(err, errRefused) {
		s.log.InfoContext(ctx, "elicitation connect: refresh refused; connection removed", "provider", provider, "sub", subject, "resource", resource, "error", err)
		if err := s.store.DeleteRecord(ctx, storage.KindConnection, c.id()); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("elicitation: remove connection: %w", err)
		}
		return nil, errNotConnected
	}
	if err != nil {
		return nil, fmt.Errorf("elicitation: refresh: %w", err)
	}
	old := c.tokens
	c.setTokens(tr, &old, s.now())
	if err := s.saveConnection(ctx, c); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "elicitation connect: tokens refreshed", "provider", provider, "sub", subject, "resource", resource)
	return c, nil
}

// connectionTokenRequest is the body of POST /elicitations/connections/token.
type connectionTokenRequest struct {
	apiAuth
	// AccessToken is the user's access token for the calling server's resource: the
	// connection handed out is that user's.
	AccessToken string `json:"access_token"`
	Resource    string `json:"resource,omitempty"`
	Provider    string `json:"provider"`
}

// connectionTokenResponse hands a third-party access token to the resource's server.
type connectionTokenResponse struct {
	AccessToken string     `json:"access_token"`
	TokenType   string     `json:"token_type"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Scope       string     `json:"scope,omitempty"`
	Provider    string     `json:"provider"`
}

// handleConnectionToken is POST /elicitations/connections/token: the third-party access token
// of the user of an access token, for the calling server's resource. The refresh token never
// leaves this server.
func (s *Service) handleConnectionToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req connectionTokenRequest
	if err := decodeBody(w, r, &req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	clientID, ok := s.authenticate(w, r, req.apiAuth)
	if !ok {
		return
	}
	if _, ok := s.providers[req.Provider]; !ok {
		apiError(w, http.StatusBadRequest, "invalid_request", "provider is not a configured provider.")
		return
	}
	tok, res, ok := s.tokenAndResource(w, r, clientID, req.AccessToken, req.Resource)
	if !ok {
		return
	}
	c, err := s.connectionToken(ctx, res.URI, tok.Request.Subject, req.Provider)
	if errors.Is(err, errNotConnected) {
		apiError(w, http.StatusNotFound, "not_connected", "The user has not connected this provider for this resource (or the connection ended). Ask with a connect elicitation.")
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "elicitation api: connection token", "error", err)
		apiError(w, http.StatusBadGateway, "temporarily_unavailable", "The connection's token could not be obtained now.")
		return
	}
	s.log.InfoContext(ctx, "elicitation: connection token handed to the server", "provider", req.Provider, "sub", tok.Request.Subject, "resource", res.URI, "server", clientID)
	out := connectionTokenResponse{AccessToken: c.tokens.AccessToken, TokenType: "Bearer", Scope: c.tokens.Scope, Provider: req.Provider}
	if !c.tokens.Expiry.IsZero() {
		exp := c.tokens.Expiry
		out.ExpiresAt = &exp
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
