package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
	"github.com/mcp-authz/mcp-authz/storage"
)

// RecordWriter is the part of storage dynamic registration writes to.
type RecordWriter interface {
	CreateRecord(ctx context.Context, r storage.Record) error
}

// Registration configures RFC 7591 dynamic client registration. MCP 2026-07-28 deprecates it in
// favour of Client ID Metadata Documents; it stays for older clients, off by default, and for
// public clients only: a registration is anonymous, so it must not mint credentials.
type Registration struct {
	Records RecordWriter
	// PerAddress is how many registrations one client address may make per hour.
	PerAddress int
	// MaxRedirectURIs bounds a registration.
	MaxRedirectURIs int
}

// maxRegistrationBytes bounds a registration request.
const maxRegistrationBytes = 16 << 10

// registrationRequest is the subset of RFC 7591 §2 client metadata we use; anything else sent is
// ignored (§3.2.1 lets a server ignore what it does not support).
type registrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	ClientName              string   `json:"client_name"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// registrationResponse is RFC 7591 §3.2.1.
type registrationResponse struct {
	ClientID                string   `json:"client_id"`
	ClientIDIssuedAt        int64    `json:"client_id_issued_at"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
}

// registrar serves the registration endpoint.
type registrar struct {
	cfg Registration
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func registrationError(w http.ResponseWriter, code, description string) {
	httpx.WriteJSON(w, http.StatusBadRequest, httpx.OAuthError{Code: code, Description: description})
}

// handleRegister is RFC 7591 §3.
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	reg := p.registrar
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpx.WriteOAuthError(w, r, http.StatusMethodNotAllowed, "invalid_request", "Registration takes POST requests.")
		return
	}
	if !reg.allow(r) {
		w.Header().Set("Retry-After", "3600")
		httpx.WriteOAuthError(w, r, http.StatusTooManyRequests, "invalid_request", "Too many registrations from this address; try again later.")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		registrationError(w, "invalid_client_metadata", "The registration is larger than 16 KiB.")
		return
	}
	var req registrationRequest
	if err := json.Unmarshal(body, &req); err != nil {
		registrationError(w, "invalid_client_metadata", "The registration is not a JSON object of client metadata.")
		return
	}
	if req.TokenEndpointAuthMethod == "" {
		req.TokenEndpointAuthMethod = "none"
	}
	if req.TokenEndpointAuthMethod != "none" {
		registrationError(w, "invalid_client_metadata", "Only public clients (token_endpoint_auth_method none) may register dynamically.")
		return
	}
	if len(req.GrantTypes) == 0 {
		req.GrantTypes = []string{"authorization_code", "refresh_token"}
	}
	for _, g := range req.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			registrationError(w, "invalid_client_metadata", "Only the authorization_code and refresh_token grants may be registered.")
			return
		}
	}
	if len(req.ResponseTypes) == 0 {
		req.ResponseTypes = []string{"code"}
	}
	if len(req.ResponseTypes) != 1 || req.ResponseTypes[0] != "code" {
		registrationError(w, "invalid_client_metadata", "Only response_type code is supported.")
		return
	}
	if len(req.RedirectURIs) == 0 || len(req.RedirectURIs) > reg.cfg.MaxRedirectURIs {
		registrationError(w, "invalid_redirect_uri", fmt.Sprintf("Register between 1 and %d redirect URIs.", reg.cfg.MaxRedirectURIs))
		return
	}
	for _, u := range req.RedirectURIs {
		if len(u) > 2048 {
			registrationError(w, "invalid_redirect_uri", "A redirect URI is longer than 2048 characters.")
			return
		}
		if err := redirecturi.Check(u); err != nil {
			registrationError(w, "invalid_redirect_uri", err.Error())
			return
		}
	}
	if len(req.ClientName) > 200 {
		req.ClientName = req.ClientName[:200]
	}
	if req.ClientName == "" {
		req.ClientName = "Unnamed client"
	}
	rec := ClientRecord{
		Name: req.ClientName, RedirectURIs: req.RedirectURIs, GrantTypes: req.GrantTypes,
		AuthMethod: "none", Dynamic: true,
	}
	if err := rec.Validate(p.resources); err != nil {
		registrationError(w, "invalid_client_metadata", err.Error())
		return
	}
	data, _ := json.Marshal(rec)
	now := reg.now().UTC()
	// Generated ids are never URLs: a URL client id means a metadata document.
	id := "dcr_" + randomClientID()
	if err := reg.cfg.Records.CreateRecord(r.Context(), storage.Record{Kind: storage.KindClient, ID: id, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		p.log.ErrorContext(r.Context(), "registration: store", "error", err)
		if errors.Is(err, storage.ErrInvalid) {
			registrationError(w, "invalid_client_metadata", "The registration is too large.")
			return
		}
		httpx.WriteOAuthError(w, r, http.StatusInternalServerError, "server_error", "The registration could not be stored.")
		return
	}
	p.log.InfoContext(r.Context(), "registration: client registered", "client_id", id, "client_name", rec.Name, "addr", remoteHost(r))
	httpx.WriteJSON(w, http.StatusCreated, registrationResponse{
		ClientID: id, ClientIDIssuedAt: now.Unix(), ClientName: rec.Name, RedirectURIs: rec.RedirectURIs,
		GrantTypes: rec.GrantTypes, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none",
	})
}

// allow applies the per-address limit: a token bucket per address, the map bounded.
func (reg *registrar) allow(r *http.Request) bool {
	addr := remoteHost(r)
	reg.mu.Lock()
	defer reg.mu.Unlock()
	b, ok := reg.buckets[addr]
	if !ok {
		if len(reg.buckets) >= 10_000 {
			clear(reg.buckets)
		}
		b = rate.NewLimiter(rate.Every(time.Hour/time.Duration(reg.cfg.PerAddress)), reg.cfg.PerAddress)
		reg.buckets[addr] = b
	}
	return b.AllowN(reg.now(), 1)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func randomClientID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
