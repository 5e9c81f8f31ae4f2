package elicitation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/tokenkey"
	"github.com/mcp-authz/mcp-authz/storage"
)

// The JSON API an MCP server calls. Every request authenticates the server as a confidential
// client of ours (HTTP Basic, or the client_* members of the JSON body as they would be form
// parameters at the token endpoint), and the client must be one of the resource's
// elicitation_clients.

const (
	// maxBody bounds a request body: a message, parameters, an access token, an assertion.
	maxBody = 64 << 10
	// maxWait bounds a long poll: it must end well within the HTTP server's write timeout (30s).
	maxWait = 25 * time.Second
	// maxTokenLength bounds an access token we hash and look up: ours are far shorter.
	maxTokenLength = 8 << 10
)

// apiAuth are the client authentication members a JSON body may carry (RFC 6749 §2.3.1,
// RFC 7523 §2.2), named as the form parameters of the token endpoint.
type apiAuth struct {
	ClientID            string  `json:"client_id,omitempty"`
	ClientSecret        *string `json:"client_secret,omitempty"`
	ClientAssertion     string  `json:"client_assertion,omitempty"`
	ClientAssertionType string  `json:"client_assertion_type,omitempty"`
}

func (a apiAuth) form() url.Values {
	f := url.Values{}
	set := func(k, v string) {
		if v != "" {
			f.Set(k, v)
		}
	}
	set("client_id", a.ClientID)
	set("client_assertion", a.ClientAssertion)
	set("client_assertion_type", a.ClientAssertionType)
	if a.ClientSecret != nil {
		f.Set("client_secret", *a.ClientSecret)
	}
	return f
}

// createRequest is the body of POST /elicitations.
type createRequest struct {
	apiAuth
	// AccessToken is the access token the MCP server received from the MCP client: the
	// elicitation is for its user (sub) and client (client_id).
	AccessToken string `json:"access_token"`
	// Resource names the resource when the token's audience has several this client serves.
	Resource  string          `json:"resource,omitempty"`
	Kind      string          `json:"kind"`
	Message   string          `json:"message"`
	Params    json.RawMessage `json:"params,omitempty"`
	ExpiresIn int64           `json:"expires_in,omitempty"`
}

// created answers POST /elicitations.
type created struct {
	ElicitationID string    `json:"elicitation_id"`
	URL           string    `json:"url"`
	Status        string    `json:"status"`
	ExpiresAt     time.Time `json:"expires_at"`
	ExpiresIn     int64     `json:"expires_in"`
}

// readRequest is the body of POST /elicitations/{id} (GET takes ?wait= and HTTP Basic).
type readRequest struct {
	apiAuth
	// Wait is how many seconds to wait for the elicitation to complete (long poll), at most 25.
	Wait float64 `json:"wait,omitempty"`
}

// outcome answers GET or POST /elicitations/{id}.
type outcome struct {
	ElicitationID string     `json:"elicitation_id"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"` // pending, accepted, declined, cancelled, expired
	Subject       string     `json:"sub"`
	ClientID      string     `json:"client_id"`
	ExpiresAt     time.Time  `json:"expires_at"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
	// Result is the kind's result once accepted: {"value": …} for a secret (handed out once),
	// {"provider": …} for a connect.
	Result json.RawMessage `json:"result,omitempty"`
	// ResultTaken says a secret's value was handed out before and is gone.
	ResultTaken bool `json:"result_taken,omitempty"`
}

func apiError(w http.ResponseWriter, status int, code, description string) {
	httpx.WriteJSON(w, status, httpx.OAuthError{Code: code, Description: description})
}

// decodeBody reads a JSON body (none for GET) into v, refusing unknown members and trailing data.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Method == http.MethodGet {
		return nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return fmt.Errorf("the body could not be read (at most %d bytes): %w", maxBody, err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil // credentials in the Authorization header, nothing else to say
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errors.New("the body must be application/json")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("the body is not valid: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("the body has data after the JSON object")
	}
	return nil
}

// authenticate authenticates the calling server; on failure it has answered.
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request, a apiAuth) (string, bool) {
	id, err := s.authn(r.Context(), r, a.form())
	if err != nil {
		s.log.InfoContext(r.Context(), "elicitation api: client authentication failed", "error", err)
		w.Header().Set("WWW-Authenticate", `Basic realm="mcp-authz"`)
		apiError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return "", false
	}
	return id, true
}

// errInvalidToken is what any problem with the user's access token comes down to: the server
// learns that it cannot use it, not why (as introspection answers active:false).
var errInvalidToken = errors.New("the access token is not active, or was not issued by this server for a user")

// userToken finds the record of an access token we issued, active and unexpired, that speaks
// for a user of ours. Access tokens are stored under a key that includes the SHA-256 of the whole
// JWT (tokenkey), so finding the record proves we issued exactly this token.
func (s *Service) userToken(ctx context.Context, raw string) (*storage.Token, error) {
	if raw == "" || len(raw) > maxTokenLength || strings.Count(raw, ".") != 2 {
		return nil, errInvalidToken
	}
	t, err := s.store.GetToken(ctx, storage.AccessToken, tokenkey.Of(raw))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("elicitation: look up access token: %w", err)
	}
	if !t.Active || !s.now().Before(t.ExpiresAt) {
		return nil, errInvalidToken
	}
	// A client_credentials token speaks for the client itself: there is nobody to ask.
	u, err := s.store.GetUser(ctx, t.Request.Subject)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("elicitation: look up user: %w", err)
	}
	if u.Disabled {
		return nil, errInvalidToken
	}
	return t, nil
}

// tokenAndResource checks the user's access token and that the calling client is the server of
// the resource it was issued for; on failure it has answered.
func (s *Service) tokenAndResource(w http.ResponseWriter, r *http.Request, clientID, raw, want string) (*storage.Token, *Resource, bool) {
	t, err := s.userToken(r.Context(), raw)
	if errors.Is(err, errInvalidToken) {
		apiError(w, http.StatusBadRequest, "invalid_token", errInvalidToken.Error()+".")
		return nil, nil, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return nil, nil, false
	}
	// The token must have been issued FOR this server's resource: a server holding a token
	// for another resource (one sent to it by mistake, or stolen) cannot act for its user.
	res := s.resourceFor(clientID, t.Request.GrantedAudience, want)
	if res == nil {
		s.log.WarnContext(r.Context(), "elicitation api: token for another resource", "client_id", clientID, "aud", t.Request.GrantedAudience)
		apiError(w, http.StatusForbidden, "unauthorized_client", "The access token was not issued for a resource whose server this client is.")
		return nil, nil, false
	}
	return t, res, true
}

func (s *Service) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "elicitation api", "error", err)
	apiError(w, http.StatusInternalServerError, "server_error", "The request could not be completed.")
}

// handleCreate is POST /elicitations: an elicitation for the user and client of an access token.
func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req createRequest
	if err := decodeBody(w, r, &req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	clientID, ok := s.authenticate(w, r, req.apiAuth)
	if !ok {
		return
	}
	if !s.creates.allow(clientID) {
		w.Header().Set("Retry-After", "1")
		apiError(w, http.StatusTooManyRequests, "slow_down", "Too many elicitations; try again shortly.")
		return
	}
	tok, res, ok := s.tokenAndResource(w, r, clientID, req.AccessToken, req.Resource)
	if !ok {
		return
	}
	parsed, err := s.parseRequest(req.Kind, req.Message, req.Params)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	lifetime := s.defaultLifetime
	if req.ExpiresIn != 0 {
		lifetime = time.Duration(req.ExpiresIn) * time.Second
		if req.ExpiresIn < 60 || lifetime > s.maxLifetime {
			apiError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("expires_in must be between 60 and %d seconds.", int64(s.maxLifetime.Seconds())))
			return
		}
	}
	body, err := json.Marshal(parsed)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	now := s.now().UTC()
	e := storage.Elicitation{
		ID:        newID(),
		Resource:  res.URI,
		Subject:   tok.Request.Subject,
		ClientID:  tok.Request.ClientID,
		Kind:      req.Kind,
		Request:   body,
		Status:    storage.ElicitationPending,
		CreatedAt: now,
		ExpiresAt: now.Add(lifetime),
	}
	if err := s.store.CreateElicitation(ctx, e); err != nil {
		s.serverError(w, r, fmt.Errorf("create: %w", err))
		return
	}
	s.log.InfoContext(ctx, "elicitation: created", "ref", ref(e.ID), "kind", e.Kind, "sub", e.Subject,
		"client_id", e.ClientID, "resource", e.Resource, "server", clientID)
	httpx.WriteJSON(w, http.StatusCreated, created{
		ElicitationID: e.ID,
		URL:           s.pageURL(e.ID),
		Status:        storage.ElicitationPending,
		ExpiresAt:     e.ExpiresAt,
		ExpiresIn:     int64(lifetime.Seconds()),
	})
}

// lookup finds an elicitation of the calling server's resource; on failure it has answered.
// An elicitation of another resource is "not found": a server learns nothing of others'.
func (s *Service) lookup(w http.ResponseWriter, r *http.Request, clientID string) (*storage.Elicitation, bool) {
	id := r.PathValue("id")
	var e *storage.Elicitation
	var err error
	if validID(id) {
		e, err = s.store.GetElicitation(r.Context(), id)
	} else {
		err = storage.ErrNotFound
	}
	if err == nil && !s.serves(clientID, e) {
		err = storage.ErrNotFound
	}
	if errors.Is(err, storage.ErrNotFound) {
		apiError(w, http.StatusNotFound, "not_found", "There is no such elicitation.")
		return nil, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return nil, false
	}
	return e, true
}

// handleRead is GET or POST /elicitations/{id}: the outcome, waiting for it when asked to.
func (s *Service) handleRead(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req readRequest
	if err := decodeBody(w, r, &req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if r.Method == http.MethodGet {
		if v := r.URL.Query().Get("wait"); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				apiError(w, http.StatusBadRequest, "invalid_request", "wait must be a number of seconds.")
				return
			}
			req.Wait = f
		}
	}
	if req.Wait < 0 || req.Wait > maxWait.Seconds() {
		apiError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("wait must be between 0 and %d seconds.", int(maxWait.Seconds())))
		return
	}
	clientID, ok := s.authenticate(w, r, req.apiAuth)
	if !ok {
		return
	}
	e, ok := s.lookup(w, r, clientID)
	if !ok {
		return
	}
	if req.Wait > 0 && s.status(e) == storage.ElicitationPending {
		var err error
		if e, err = s.waitFor(ctx, e, time.Duration(req.Wait*float64(time.Second))); err != nil {
			if ctx.Err() != nil {
				return // the server gave up waiting
			}
			s.serverError(w, r, err)
			return
		}
	}
	out, err := s.outcomeOf(ctx, e)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// waitFor waits up to d for a pending elicitation to complete or expire and returns it as it
// then is. Completions on this instance wake it at once; others are seen by re-reading the
// database every second.
func (s *Service) waitFor(ctx context.Context, e *storage.Elicitation, d time.Duration) (*storage.Elicitation, error) {
	deadline := time.Now().Add(d)
	for {
		done, release := s.waiters.wait(e.ID)
		// Read after registering, so a completion between the read and the wait is not missed.
		cur, err := s.store.GetElicitation(ctx, e.ID)
		if err != nil {
			release()
			return nil, err
		}
		left := time.Until(deadline)
		if s.status(cur) != storage.ElicitationPending || left <= 0 {
			release()
			return cur, nil
		}
		step := min(time.Second, left, max(time.Until(cur.ExpiresAt), 10*time.Millisecond))
		t := time.NewTimer(step)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, ctx.Err()
		}
		t.Stop()
		release()
	}
}

// outcomeOf reports an elicitation to its server. A secret is handed out once: the first read
// after it was entered takes it from the database.
func (s *Service) outcomeOf(ctx context.Context, e *storage.Elicitation) (*outcome, error) {
	out := &outcome{
		ElicitationID: e.ID,
		Kind:          e.Kind,
		Status:        s.status(e),
		Subject:       e.Subject,
		ClientID:      e.ClientID,
		ExpiresAt:     e.ExpiresAt,
	}
	if !e.CompletedAt.IsZero() {
		at := e.CompletedAt
		out.CompletedAt = &at
	}
	if e.Status != storage.ElicitationAccepted {
		return out, nil
	}
	sealed := e.Result
	if e.Kind == KindSecret {
		taken, err := s.store.TakeElicitationResult(ctx, e.ID)
		if errors.Is(err, storage.ErrInactive) {
			out.ResultTaken = true
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("take result: %w", err)
		}
		sealed = taken.Result
		s.log.InfoContext(ctx, "elicitation: secret handed to the server", "ref", ref(e.ID), "resource", e.Resource)
	}
	if len(sealed) == 0 {
		return out, nil
	}
	plain, err := s.sealer.open(sealed, resultContext(e.ID))
	if err != nil {
		return nil, fmt.Errorf("result of %s: %w", ref(e.ID), err)
	}
	out.Result = json.RawMessage(bytes.Clone(plain))
	return out, nil
}

// handleCancel is POST /elicitations/{id}/cancel: the server no longer needs the answer.
func (s *Service) handleCancel(w http.ResponseWriter, r *http.Request) {
	var req apiAuth
	if err := decodeBody(w, r, &req); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	clientID, ok := s.authenticate(w, r, req)
	if !ok {
		return
	}
	e, ok := s.lookup(w, r, clientID)
	if !ok {
		return
	}
	if err := s.complete(r.Context(), e, storage.ElicitationCancelled, nil); err != nil {
		if errors.Is(err, storage.ErrInactive) {
			apiError(w, http.StatusConflict, "not_pending", "The elicitation is no longer pending.")
			return
		}
		s.serverError(w, r, err)
		return
	}
	e.Status, e.CompletedAt = storage.ElicitationCancelled, s.now()
	out, err := s.outcomeOf(r.Context(), e)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
