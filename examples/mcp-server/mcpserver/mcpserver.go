// Package mcpserver is the example MCP server of mcp-authz, as an http.Handler: two tools on
// the official Go SDK (github.com/modelcontextprotocol/go-sdk), served over streamable HTTP and
// protected by package resource. Command examples/mcp-server runs it; the e2e tests start it
// in-process.
//
// Every request to the MCP endpoint needs an access token with [ScopeTools]. The tool
// admin_stats needs [ScopeAdmin] too: calling it with a token that lacks it is answered with
// HTTP 403 and an insufficient_scope challenge, which makes an MCP client re-authorize for the
// wider scope (the "Step-Up Authorization Flow" of the MCP authorization specification). See
// stepup.go for how.
//
// With [Config.Elicitation], two more tools need what only the user can give, asked for out of
// band through mcp-authz's URL-mode elicitation pages: weather (an API key, a secret page) and
// linked_account (a third-party account, a connect page). See elicitation.go.
package mcpserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-authz/mcp-authz/resource"
)

// The scopes this server understands; they must match the resource's scopes in the
// authorization server's configuration (mcp-authz's development default has both).
const (
	ScopeTools = "mcp:tools" // every request
	ScopeAdmin = "mcp:admin" // admin_stats, on top of ScopeTools
)

// Config says where the server is and whom it trusts.
type Config struct {
	// Resource is the URL clients use for the MCP endpoint, e.g. http://localhost:9090/mcp:
	// the audience tokens must carry. Its path is where the endpoint is served.
	Resource string
	// Issuer is the authorization server, e.g. http://localhost:8080.
	Issuer string
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Elicitation, when set, adds the tools that need the user's input out of band through
	// mcp-authz's URL-mode elicitation pages (weather, linked_account; see elicitation.go).
	Elicitation *ElicitationConfig
}

// New returns the server's HTTP handler: the Protected Resource Metadata at the paths
// package resource names, and the MCP endpoint at the resource's path.
func New(cfg Config) (http.Handler, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rs, err := resource.New(resource.Config{
		Resource:        cfg.Resource,
		Issuer:          cfg.Issuer,
		ScopesSupported: []string{ScopeTools, ScopeAdmin},
		ResourceName:    "mcp-authz example MCP server",
		Logger:          log,
	})
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Resource) // resource.New has checked it
	if err != nil {
		return nil, err
	}
	endpoint := u.Path
	if endpoint == "" || endpoint == "/" {
		endpoint = "/{$}" // the root only, not every path
	}

	// The tools that need more than ScopeTools, and what. The step-up middleware reads this to
	// answer with a challenge before the SDK sees the call; the tools check again themselves.
	toolScopes := map[string][]string{"admin_stats": {ScopeAdmin}}

	t := &tools{started: time.Now(), log: log}
	srv := mcp.NewServer(&mcp.Implementation{Name: "mcp-authz-example", Version: "0.1.0"}, &mcp.ServerOptions{
		Instructions: "whoami tells who the access token speaks for; admin_stats needs the mcp:admin scope.",
		Logger:       log,
	})
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "whoami",
		Description: "The user, client and scopes of the access token this request carries.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, t.whoami)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "admin_stats",
		Description: "Server statistics. Needs the mcp:admin scope.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, t.adminStats(toolScopes["admin_stats"]))
	if cfg.Elicitation != nil {
		et, err := newElicitTools(*cfg.Elicitation, cfg.Issuer, cfg.Resource, log)
		if err != nil {
			return nil, err
		}
		et.register(srv)
	}

	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Logger: log})

	mux := http.NewServeMux()
	for _, path := range rs.MetadataPaths() {
		mux.Handle(path, rs.MetadataHandler())
	}
	// Outermost first: Protect refuses requests without a valid token carrying ScopeTools
	// (401, or 403 insufficient_scope); stepUp refuses calls of tools that need more;
	// withTokenInfo hands the token on to the SDK, which gives it to the tools.
	mux.Handle(endpoint, rs.Protect(stepUp(rs, toolScopes, withTokenInfo(mcpHandler)), ScopeTools))
	return mux, nil
}

// tokenInfoKey is the key of the *resource.Token in auth.TokenInfo.Extra, rawTokenKey that of
// the token itself (the elicitation tools present it to mcp-authz, which finds its user by it).
const (
	tokenInfoKey = "mcp-authz/token"
	rawTokenKey  = "mcp-authz/raw-token"
)

// withTokenInfo passes the token that Protect validated to the SDK as an auth.TokenInfo. The SDK
// hands it to each tool call as req.Extra.TokenInfo, taken from the HTTP request that carried
// the call. A tool cannot use resource.TokenFrom(ctx) instead: the SDK runs tools in the
// session's context, whose values come from the request that opened the session, so after a
// refresh or a step-up it would see a stale token. With UserID set, the SDK also refuses a
// session ID presented with another user's token.
func withTokenInfo(next http.Handler) http.Handler {
	verify := func(_ context.Context, raw string, r *http.Request) (*auth.TokenInfo, error) {
		tok, ok := resource.TokenFrom(r.Context())
		if !ok {
			return nil, auth.ErrInvalidToken // not behind Protect: a wiring mistake
		}
		return &auth.TokenInfo{
			Scopes:     tok.Scopes,
			Expiration: tok.Expiry,
			UserID:     tok.Subject,
			Extra:      map[string]any{tokenInfoKey: tok, rawTokenKey: raw},
		}, nil
	}
	// Protect has checked exp, allowing resource.DefaultLeeway of clock skew; the SDK checks
	// it again, and without the same allowance it would refuse (with a bare 401) a token
	// Protect accepted.
	return auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{ClockSkew: resource.DefaultLeeway})(next)
}

// tokenOf returns the validated token a tool call arrived with.
func tokenOf(req *mcp.CallToolRequest) (*resource.Token, error) {
	if req.Extra != nil && req.Extra.TokenInfo != nil {
		if tok, ok := req.Extra.TokenInfo.Extra[tokenInfoKey].(*resource.Token); ok {
			return tok, nil
		}
	}
	return nil, errors.New("no access token")
}

// tokenAndRaw returns the validated token a tool call arrived with, and the token itself.
func tokenAndRaw(req *mcp.CallToolRequest) (*resource.Token, string, error) {
	tok, err := tokenOf(req)
	if err != nil {
		return nil, "", err
	}
	raw, _ := req.Extra.TokenInfo.Extra[rawTokenKey].(string)
	if raw == "" {
		return nil, "", errors.New("no access token")
	}
	return tok, raw, nil
}

// tools holds the tool handlers and what admin_stats reports.
type tools struct {
	started time.Time
	calls   atomic.Int64
	log     *slog.Logger
}

// Identity is what whoami returns.
type Identity struct {
	Subject   string    `json:"subject" jsonschema:"the user the token speaks for"`
	ClientID  string    `json:"client_id" jsonschema:"the OAuth client holding the token"`
	Scopes    []string  `json:"scopes" jsonschema:"the scopes the token grants"`
	ExpiresAt time.Time `json:"expires_at" jsonschema:"when the token expires"`
}

func (t *tools) whoami(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Identity, error) {
	t.calls.Add(1)
	tok, err := tokenOf(req)
	if err != nil {
		return nil, Identity{}, err
	}
	return nil, Identity{Subject: tok.Subject, ClientID: tok.ClientID, Scopes: tok.Scopes, ExpiresAt: tok.Expiry}, nil
}

// Stats is what admin_stats returns.
type Stats struct {
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	ToolCalls     int64     `json:"tool_calls" jsonschema:"tool calls served since start, this one included"`
}

// adminStats returns the admin_stats handler, which needs scopes on top of ScopeTools.
func (t *tools) adminStats(scopes []string) mcp.ToolHandlerFor[struct{}, Stats] {
	return func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Stats, error) {
		calls := t.calls.Add(1)
		// stepUp has already refused such a call with a challenge; this check is what holds
		// if its reading of the request and the SDK's ever differ.
		tok, err := tokenOf(req)
		if err == nil {
			err = tok.Require(scopes...)
		}
		if err != nil {
			return nil, Stats{}, errors.New("admin_stats needs the scope " + strings.Join(scopes, " "))
		}
		t.log.Info("admin_stats", "sub", tok.Subject, "client_id", tok.ClientID)
		return nil, Stats{Started: t.started, UptimeSeconds: int64(time.Since(t.started).Seconds()), ToolCalls: calls}, nil
	}
}
