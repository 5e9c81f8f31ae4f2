package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcp-authz/mcp-authz/config"
)

// The official Go SDK client identifying itself with a Client ID Metadata Document: no
// registration anywhere, the document served by a local TLS host the server is told to trust.
func TestMCPGoSDKWithClientIDMetadataDocument(t *testing.T) {
	host := newDocHost(t)
	doc := clientDoc("http://127.0.0.1/callback")
	doc["client_name"] = "Go SDK e2e client"
	clientID := host.put("/go-sdk-client.json", doc)
	trust := host.trust(t)
	p := startMCPPair(t, func(c *config.Config) {
		trust(c)
		// Short-lived access tokens, so that the SDK has to refresh within the test.
		c.Tokens.AccessTokenLifetime = config.Duration(2 * time.Second)
		for i := range c.Resources {
			c.Resources[i].AccessTokenLifetime = 0
		}
	})
	c := connectMCPWith(t, p, func(cfg *auth.AuthorizationCodeHandlerConfig) {
		cfg.PreregisteredClient = nil
		cfg.ClientIDMetadataDocumentConfig = &auth.ClientIDMetadataDocumentConfig{URL: clientID}
		cfg.RequestRefreshToken = true
	})
	id := c.whoami()
	if id.ClientID != clientID || id.Subject != "u_alice" {
		t.Fatalf("whoami: %+v, want client %s", id, clientID)
	}
	auths, _, _ := c.record()
	if len(auths) != 1 || !auths[0].consentShown {
		t.Fatalf("want one authorization with consent, got %d", len(auths))
	}
	if page := auths[0].consentHTML; !contains(page, host.target.Addr()) || !contains(page, "Go SDK e2e client") {
		t.Errorf("consent page does not show the document's host and name")
	}
	time.Sleep(2500 * time.Millisecond)
	c.whoami()
	_, grants, _ := c.record()
	if !slices.Contains(grants, "refresh_token") {
		t.Errorf("no refresh after the access token expired; grants %v", grants)
	}
}

// The official Go SDK's client-credentials handler (ext-auth SEP-1046) against the example
// MCP server: discovery from the 401, a token for the MCP server, a tool call.
func TestMCPGoSDKClientCredentials(t *testing.T) {
	const machine, secret = "mcp-machine", "machine-secret-0123456789abcdefghijklmnop"
	var mcpURL string
	p := startMCPPair(t, func(c *config.Config) {
		mcpURL = c.Resources[len(c.Resources)-1].URI
		c.Clients = append(c.Clients, config.Client{
			ID: machine, Name: "Machine", SecretHash: hashSecret(secret),
			GrantTypes: []string{"client_credentials"}, Resources: []string{mcpURL},
		})
	})
	h, err := extauth.NewClientCredentialsHandler(&extauth.ClientCredentialsHandlerConfig{
		Credentials: &oauthex.ClientCredentials{ClientID: machine, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: secret}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &mcpClient{t: t}
	c.connect(p, &mcp.StreamableClientTransport{Endpoint: p.url, OAuthHandler: h, HTTPClient: &http.Client{Transport: roundTripFunc(c.recordChallenge)}})
	id := c.whoami()
	if id.Subject != machine || id.ClientID != machine {
		t.Errorf("whoami: %+v", id)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
