package elicit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Kinds of elicitation page.
const (
	KindConfirm = "confirm"
	KindSecret  = "secret"
	KindConnect = "connect"
)

// Statuses of an elicitation.
const (
	StatusPending   = "pending"
	StatusAccepted  = "accepted"
	StatusDeclined  = "declined"
	StatusCancelled = "cancelled"
	StatusExpired   = "expired"
)

// Config says where the authorization server is and who this server is.
type Config struct {
	// Issuer is the authorization server's issuer URL; the API is at Issuer + "/elicitations".
	Issuer string
	// Resource is this server's resource URI: the audience of the callbacks it accepts, and
	// the resource named in requests (needed only when one client serves several resources).
	Resource string
	// ClientID and ClientSecret authenticate this server (client_secret_basic).
	ClientID     string
	ClientSecret string
	// ClientAssertion, when set, is used instead of the secret: it returns a fresh
	// private_key_jwt assertion (RFC 7523 §2.2) for each request, aud the issuer.
	ClientAssertion func(ctx context.Context) (string, error)
	// HTTPClient defaults to one with a 40s timeout; a long poll takes up to 25s.
	HTTPClient *http.Client
	// JWKSURI is where the callbacks' signing keys are (default Issuer + "/jwks.json").
	JWKSURI string
}

// Client calls the elicitation API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
	http *http.Client

	keysMu    sync.Mutex
	keys      *keySet
	keysFetch time.Time
}

// New checks the configuration.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("elicit: Issuer must be an http(s) URL")
	}
	if cfg.ClientID == "" || (cfg.ClientSecret == "" && cfg.ClientAssertion == nil) {
		return nil, errors.New("elicit: ClientID and a ClientSecret or ClientAssertion are required")
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.JWKSURI == "" {
		cfg.JWKSURI = cfg.Issuer + "/jwks.json"
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 40 * time.Second}
	}
	return &Client{cfg: cfg, base: cfg.Issuer + "/elicitations", http: hc}, nil
}

// ConfirmParams describe the action a confirm page asks the user to approve.
type ConfirmParams struct {
	Action       string   `json:"action"`
	Details      []string `json:"details,omitempty"`
	ApproveLabel string   `json:"approve_label,omitempty"`
	DeclineLabel string   `json:"decline_label,omitempty"`
}

// SecretParams describe the value a secret page asks for.
type SecretParams struct {
	Label       string `json:"label"`
	Description string `json:"description,omitempty"`
	MaxLength   int    `json:"max_length,omitempty"`
}

// ConnectParams name the third-party provider (as configured in mcp-authz) to connect.
type ConnectParams struct {
	Provider string `json:"provider"`
}

// Request is an elicitation to create. Set the params of its Kind.
type Request struct {
	Kind    string
	Message string
	Confirm *ConfirmParams
	Secret  *SecretParams
	Connect *ConnectParams
	// ExpiresIn is how long the page may be completed (default: the server's, 10 minutes).
	ExpiresIn time.Duration
}

// Elicitation is a created elicitation: give ID and URL to the MCP client.
type Elicitation struct {
	ID        string    `json:"elicitation_id"`
	URL       string    `json:"url"`
	Status    string    `json:"status"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Outcome is the state of an elicitation.
type Outcome struct {
	ID          string
	Kind        string
	Status      string // StatusPending, StatusAccepted, …
	Subject     string // the user it is for
	ClientID    string // the MCP client the user was using
	ExpiresAt   time.Time
	CompletedAt time.Time
	// Value is a secret's value. The authorization server hands it out once: keep it from the
	// first Outcome that has it.
	Value string
	// ValueTaken says the value was handed out before.
	ValueTaken bool
	// Provider is the provider a connect elicitation connected.
	Provider string
}

// outcomeJSON is the API's answer.
type outcomeJSON struct {
	ID          string    `json:"elicitation_id"`
	Kind        string    `json:"kind"`
	Status      string    `json:"status"`
	Subject     string    `json:"sub"`
	ClientID    string    `json:"client_id"`
	ExpiresAt   time.Time `json:"expires_at"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	ResultTaken bool      `json:"result_taken"`
	Result      *struct {
		Value    string `json:"value"`
		Provider string `json:"provider"`
	} `json:"result"`
}

func (o *outcomeJSON) outcome() *Outcome {
	out := &Outcome{
		ID: o.ID, Kind: o.Kind, Status: o.Status, Subject: o.Subject, ClientID: o.ClientID,
		ExpiresAt: o.ExpiresAt, CompletedAt: o.CompletedAt, ValueTaken: o.ResultTaken,
	}
	if o.Result != nil {
		out.Value, out.Provider = o.Result.Value, o.Result.Provider
	}
	return out
}

// Done reports whether the elicitation is no longer pending.
func (o *Outcome) Done() bool { return o.Status != StatusPending }

// Accepted reports whether the user completed the page (approved, entered, connected).
func (o *Outcome) Accepted() bool { return o.Status == StatusAccepted }

// Error is an answer of the API other than success.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("elicit: %d %s: %s", e.Status, e.Code, e.Description)
}

// ErrNotConnected is what [Client.ConnectionToken] returns when the user has no connected
// account at the provider for this resource (or the connection ended): time for a connect
// elicitation.
var ErrNotConnected = errors.New("elicit: the user has not connected this provider")

// Is makes errors.Is(err, ErrNotConnected) true for the API's not_connected answer.
func (e *Error) Is(target error) bool { return target == ErrNotConnected && e.Code == "not_connected" }

// Create creates an elicitation for the user and MCP client of accessToken (the token the MCP
// request carried).
func (c *Client) Create(ctx context.Context, accessToken string, req Request) (*Elicitation, error) {
	body := map[string]any{"access_token": accessToken, "kind": req.Kind, "message": req.Message}
	if c.cfg.Resource != "" {
		body["resource"] = c.cfg.Resource
	}
	switch {
	case req.Confirm != nil:
		body["params"] = req.Confirm
	case req.Secret != nil:
		body["params"] = req.Secret
	case req.Connect != nil:
		body["params"] = req.Connect
	}
	if req.ExpiresIn > 0 {
		body["expires_in"] = int64(req.ExpiresIn.Seconds())
	}
	var e Elicitation
	if err := c.call(ctx, "", body, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Get returns the outcome now.
func (c *Client) Get(ctx context.Context, id string) (*Outcome, error) {
	return c.read(ctx, id, 0)
}

// maxWait is the longest the API waits in one request.
const maxWait = 25 * time.Second

// Wait long-polls until the elicitation is no longer pending (completed, declined, cancelled,
// expired) or ctx ends.
func (c *Client) Wait(ctx context.Context, id string) (*Outcome, error) {
	for {
		out, err := c.read(ctx, id, maxWait)
		if err != nil || out.Done() {
			return out, err
		}
	}
}

// Cancel tells the authorization server the answer is no longer needed.
func (c *Client) Cancel(ctx context.Context, id string) (*Outcome, error) {
	var out outcomeJSON
	if err := c.call(ctx, "/"+url.PathEscape(id)+"/cancel", map[string]any{}, &out); err != nil {
		return nil, err
	}
	return out.outcome(), nil
}

func (c *Client) read(ctx context.Context, id string, wait time.Duration) (*Outcome, error) {
	body := map[string]any{}
	if wait > 0 {
		body["wait"] = wait.Seconds()
	}
	var out outcomeJSON
	if err := c.call(ctx, "/"+url.PathEscape(id), body, &out); err != nil {
		return nil, err
	}
	return out.outcome(), nil
}

// ConnectionToken is a third-party access token of a connected account.
type ConnectionToken struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Scope       string    `json:"scope"`
	Provider    string    `json:"provider"`
}

// ConnectionToken returns the access token of the account the user of accessToken connected
// at provider for this resource, refreshed by the authorization server when it had expired.
// It returns an error matching [ErrNotConnected] when there is none.
func (c *Client) ConnectionToken(ctx context.Context, accessToken, provider string) (*ConnectionToken, error) {
	body := map[string]any{"access_token": accessToken, "provider": provider}
	if c.cfg.Resource != "" {
		body["resource"] = c.cfg.Resource
	}
	var t ConnectionToken
	if err := c.call(ctx, "/connections/token", body, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// maxResponse bounds an API answer.
const maxResponse = 1 << 20

// call POSTs body (with this client's authentication) to base+path and decodes the answer.
func (c *Client) call(ctx context.Context, path string, body map[string]any, into any) error {
	if c.cfg.ClientAssertion != nil {
		a, err := c.cfg.ClientAssertion(ctx)
		if err != nil {
			return fmt.Errorf("elicit: client assertion: %w", err)
		}
		body["client_id"] = c.cfg.ClientID
		body["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
		body["client_assertion"] = a
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("elicit: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("elicit: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.cfg.ClientAssertion == nil {
		// RFC 6749 §2.3.1: both form-urlencoded before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("elicit: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("elicit: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code = "http_error"
			e.Description = http.StatusText(resp.StatusCode)
		}
		return e
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("elicit: answer: %w", err)
	}
	return nil
}
