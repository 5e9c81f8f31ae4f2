// Command mcp-client is a small MCP client on the official Go SDK that signs in through
// mcp-authz: it connects to an MCP server, lists its tools and calls some of them, running the
// OAuth authorization code flow (PKCE, resource indicator) whenever the server asks for a token
// or for more scopes. It is the other half of examples/mcp-server:
//
//	go run ./cmd/mcp-authz serve     # authorization server, http://localhost:8080
//	go run ./examples/mcp-server     # MCP server, http://localhost:9090/mcp
//	go run ./examples/mcp-client     # this client
//
// It prints an authorization URL and tries to open it in a browser; sign in, allow, and the
// browser comes back to a redirect listener on a random loopback port. By default it calls
// whoami, then admin_stats, which needs mcp:admin: the server refuses with insufficient_scope
// and the client authorizes again, the consent page asking only for mcp:admin.
//
// Flags: -server (http://localhost:9090/mcp), -client-id (demo-client, the public client of
// the development configuration), -call (whoami,admin_stats).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/cli/browser"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("mcp-client", "err", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("mcp-client", flag.ContinueOnError)
	server := fs.String("server", "http://localhost:9090/mcp", "MCP server URL")
	clientID := fs.String("client-id", "demo-client", "pre-registered public OAuth client")
	calls := fs.String("call", "whoami,admin_stats", "tools to call, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}

	// The redirect comes back to a listener on a random loopback port: mcp-authz accepts any
	// port for a loopback redirect URI (RFC 8252 §7.3), so nothing needs to be free in advance.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cb := newCallback()
	go http.Serve(ln, cb)
	defer ln.Close()

	oauth, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		PreregisteredClient:      &oauthex.ClientCredentials{ClientID: *clientID}, // public: no secret
		RedirectURL:              "http://" + ln.Addr().String() + "/callback",
		AuthorizationCodeFetcher: cb.fetch,
	})
	if err != nil {
		return err
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-authz-example-client", Version: "0.1.0"}, nil)
	session, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: *server, OAuthHandler: oauth}, nil)
	if err != nil {
		return err
	}
	defer session.Close()

	tools, err := session.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	for _, t := range tools.Tools {
		fmt.Printf("tool %s: %s\n", t.Name, t.Description)
	}
	for name := range strings.SplitSeq(*calls, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: name})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out, _ := json.MarshalIndent(res.StructuredContent, "", "  ")
		if res.IsError {
			out = []byte(textOf(res))
		}
		fmt.Printf("%s → %s\n", name, out)
	}
	return nil
}

func textOf(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}

// callback receives the authorization response at the redirect URI and hands it to the
// authorization the SDK is running.
type callback struct {
	results chan url.Values
}

func newCallback() *callback { return &callback{results: make(chan url.Values)} }

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/callback" {
		http.NotFound(w, r)
		return
	}
	select {
	case c.results <- r.URL.Query():
		fmt.Fprintln(w, "Authorization received; you can close this tab.")
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
		http.Error(w, "no authorization is waiting for this response", http.StatusConflict)
	}
}

// fetch is the SDK's AuthorizationCodeFetcher: send the user to args.URL, wait for the redirect.
func (c *callback) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	fmt.Printf("\nOpen this URL to authorize:\n\n  %s\n\n", args.URL)
	// The printed URL is the fallback, so a machine without a browser is no error, and what
	// xdg-open says about it is noise.
	browser.Stdout, browser.Stderr = io.Discard, io.Discard
	_ = browser.OpenURL(args.URL)
	select {
	case q := <-c.results:
		if e := q.Get("error"); e != "" {
			return nil, fmt.Errorf("authorization refused: %s %s", e, q.Get("error_description"))
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
