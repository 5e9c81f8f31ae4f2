package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-authz/mcp-authz/resource/elicit"
)

// The tools that need something only the user can give, asked for through mcp-authz's URL-mode
// elicitation pages (MCP 2025-11-25 client/elicitation):
//
//   - weather needs the user's API key for a (pretend) weather service: a secret page, whose
//     value mcp-authz hands to this server once;
//   - linked_account needs the user's account at a third-party OAuth provider: a connect
//     page, after which mcp-authz keeps the provider's tokens and hands this server an access
//     token on request. The MCP client never sees either.
//
// Without what it needs, a tool answers the call with URLElicitationRequiredError (JSON-RPC
// error -32042) naming the page's URL and elicitationId; the client opens the URL, the user
// completes the page (signed in to mcp-authz as the same user), and this server, which waits
// for the outcome with the elicit client's long poll, sends notifications/elicitation/complete.
// The client then retries the call, which now succeeds.

// ElicitationConfig turns the elicitation tools on.
type ElicitationConfig struct {
	// ClientID and ClientSecret are this server as a confidential client of mcp-authz, listed
	// in its resource's elicitation_clients.
	ClientID     string
	ClientSecret string
	// Provider is the id of the third-party provider (mcp-authz's elicitation.providers) that
	// linked_account connects, and ProviderAPI a URL it GETs with the connected account's
	// access token (a JSON answer: a user-info endpoint, say). Empty: no linked_account tool.
	Provider    string
	ProviderAPI string
	// HTTPClient calls ProviderAPI (default: 10s timeout).
	HTTPClient *http.Client
	// ElicitHTTPClient calls mcp-authz (default: the elicit package's).
	ElicitHTTPClient *http.Client
}

// elicitTools holds the elicit client and what the users gave.
type elicitTools struct {
	ec       *elicit.Client
	cfg      ElicitationConfig
	log      *slog.Logger
	mu       sync.Mutex
	apiKeys  map[string]string    // sub → weather API key (a real server would keep it encrypted)
	declined map[string]time.Time // sub+tool → when the user last declined
}

// declineMemory is how long a decline is respected before the tool asks again, so that a
// client retrying on its own does not put the same page in front of the user at once.
const declineMemory = time.Minute

func newElicitTools(cfg ElicitationConfig, issuer, resourceURI string, log *slog.Logger) (*elicitTools, error) {
	ec, err := elicit.New(elicit.Config{
		Issuer: issuer, Resource: resourceURI, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		HTTPClient: cfg.ElicitHTTPClient,
	})
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &elicitTools{ec: ec, cfg: cfg, log: log, apiKeys: map[string]string{}, declined: map[string]time.Time{}}, nil
}

// register adds the tools to srv.
func (et *elicitTools) register(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "weather",
		Description: "A (pretend) forecast from a weather service that needs the user's own API key; asks the user for it once, out of band.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, et.weather)
	if et.cfg.Provider != "" && et.cfg.ProviderAPI != "" {
		mcp.AddTool(srv, &mcp.Tool{
			Name:        "linked_account",
			Description: "The user's profile at " + et.cfg.Provider + "; asks the user to connect the account once, out of band.",
			Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		}, et.linkedAccount)
	}
}

// WeatherInput is the weather tool's input.
type WeatherInput struct {
	City string `json:"city,omitempty" jsonschema:"the city to forecast (default Paris)"`
}

// Weather is what the weather tool returns.
type Weather struct {
	City     string `json:"city"`
	Forecast string `json:"forecast"`
	// KeyHint is the last four characters of the key used: proof it arrived, nothing more.
	KeyHint string `json:"key_hint"`
}

func (et *elicitTools) weather(ctx context.Context, req *mcp.CallToolRequest, in WeatherInput) (*mcp.CallToolResult, Weather, error) {
	tok, raw, err := tokenAndRaw(req)
	if err != nil {
		return nil, Weather{}, err
	}
	et.mu.Lock()
	key := et.apiKeys[tok.Subject]
	et.mu.Unlock()
	if key == "" {
		return nil, Weather{}, et.ask(ctx, req, tok.Subject, "weather", raw, elicit.Request{
			Kind:    elicit.KindSecret,
			Message: "The weather tool needs your API key for the weather service. It is sent to the MCP server only.",
			Secret:  &elicit.SecretParams{Label: "Weather service API key", Description: "Find it in your weather service account, under API keys."},
		})
	}
	city := in.City
	if city == "" {
		city = "Paris"
	}
	hint := key
	if len(hint) > 4 {
		hint = hint[len(hint)-4:]
	}
	return nil, Weather{City: city, Forecast: "sunny, 21 °C (example data)", KeyHint: "…" + hint}, nil
}

// LinkedAccount is what linked_account returns.
type LinkedAccount struct {
	Provider string         `json:"provider"`
	Profile  map[string]any `json:"profile"`
}

func (et *elicitTools) linkedAccount(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, LinkedAccount, error) {
	tok, raw, err := tokenAndRaw(req)
	if err != nil {
		return nil, LinkedAccount{}, err
	}
	ct, err := et.ec.ConnectionToken(ctx, raw, et.cfg.Provider)
	if errors.Is(err, elicit.ErrNotConnected) {
		return nil, LinkedAccount{}, et.ask(ctx, req, tok.Subject, "linked_account", raw, elicit.Request{
			Kind:    elicit.KindConnect,
			Message: "linked_account needs your " + et.cfg.Provider + " account. Connect it to this MCP server.",
			Connect: &elicit.ConnectParams{Provider: et.cfg.Provider},
		})
	}
	if err != nil {
		et.log.ErrorContext(ctx, "linked_account: connection token", "error", err)
		return nil, LinkedAccount{}, errors.New("the connected account cannot be used right now")
	}
	profile, err := et.callProvider(ctx, ct.AccessToken)
	if err != nil {
		et.log.ErrorContext(ctx, "linked_account: provider API", "error", err)
		return nil, LinkedAccount{}, errors.New("the provider did not answer")
	}
	return nil, LinkedAccount{Provider: et.cfg.Provider, Profile: profile}, nil
}

func (et *elicitTools) callProvider(ctx context.Context, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, et.cfg.ProviderAPI, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := et.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var profile map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&profile); err != nil {
		return nil, err
	}
	return profile, nil
}

// ask creates the elicitation, starts waiting for its outcome, and returns the error that
// answers the tool call: URLElicitationRequiredError for a client that declared URL-mode
// elicitation, else a tool error that tells the user where to go.
func (et *elicitTools) ask(ctx context.Context, req *mcp.CallToolRequest, sub, tool, rawToken string, r elicit.Request) error {
	et.mu.Lock()
	at, declined := et.declined[sub+" "+tool]
	et.mu.Unlock()
	if declined && time.Since(at) < declineMemory {
		return errors.New("you declined; call the tool again in a minute to be asked again")
	}
	e, err := et.ec.Create(ctx, rawToken, r)
	if err != nil {
		et.log.ErrorContext(ctx, "elicitation: create", "tool", tool, "error", err)
		return errors.New("this tool needs your input, but the request for it could not be made")
	}
	go et.await(req.Session, sub, tool, e)
	if !supportsURLElicitation(req.Session) {
		return fmt.Errorf("%s Open %s in your browser, then call the tool again", r.Message, e.URL)
	}
	return mcp.URLElicitationRequiredError([]*mcp.ElicitParams{{
		Mode:          "url",
		Message:       r.Message,
		URL:           e.URL,
		ElicitationID: e.ID,
	}})
}

// await waits (long poll) for the outcome, keeps what the page produced, and tells the client
// the elicitation is complete (notifications/elicitation/complete).
func (et *elicitTools) await(ss *mcp.ServerSession, sub, tool string, e *elicit.Elicitation) {
	ctx, cancel := context.WithDeadline(context.Background(), e.ExpiresAt.Add(30*time.Second))
	defer cancel()
	out, err := et.ec.Wait(ctx, e.ID)
	if err != nil {
		et.log.Warn("elicitation: wait", "tool", tool, "error", err)
		return
	}
	et.mu.Lock()
	switch {
	case out.Accepted() && out.Kind == elicit.KindSecret && out.Subject == sub && out.Value != "":
		et.apiKeys[sub] = out.Value
	case out.Status == elicit.StatusDeclined:
		et.declined[sub+" "+tool] = time.Now()
	}
	et.mu.Unlock()
	if out.Status != elicit.StatusAccepted && out.Status != elicit.StatusDeclined {
		return // expired or cancelled: nothing happened the client could act on
	}
	if ss == nil {
		return
	}
	if err := ss.NotifyElicitationComplete(ctx, &mcp.ElicitationCompleteParams{ElicitationID: e.ID}); err != nil {
		// A client on the 2026-07-28 protocol keeps no stream open for it; it can retry.
		et.log.Info("elicitation: completion notification not sent", "tool", tool, "error", err)
	}
}

// supportsURLElicitation reports whether the client declared URL-mode elicitation
// (capabilities.elicitation.url), without which a server must not send it one.
func supportsURLElicitation(ss *mcp.ServerSession) bool {
	if ss == nil {
		return false
	}
	p := ss.InitializeParams()
	return p != nil && p.Capabilities != nil && p.Capabilities.Elicitation != nil && p.Capabilities.Elicitation.URL != nil
}
