// Package elicit is the MCP server's client for mcp-authz's URL-mode elicitation API: it asks
// the authorization server for a page its user must complete in a browser (confirm an action,
// enter a secret, connect a third-party account), learns the outcome by polling, long polling
// or a signed callback, and fetches the third-party access tokens of connected accounts.
//
// The MCP side stays the server's: it hands the page's URL to the MCP client, either as a
// URLElicitationRequiredError (JSON-RPC error -32042) answering a tool call, or in an
// elicitation/create request with mode "url", and sends notifications/elicitation/complete
// once [Client.Wait] (or a callback) says the page was completed (MCP 2025-11-25
// client/elicitation). The example server (examples/mcp-server/mcpserver) does all of it with
// the official Go SDK.
//
//	ec, err := elicit.New(elicit.Config{
//		Issuer:       "https://auth.example.com",
//		Resource:     "https://mcp.example.com/mcp",
//		ClientID:     "mcp-server",   // a confidential client of mcp-authz, listed in the
//		ClientSecret: secret,         // resource's elicitation_clients
//	})
//	// In a tool, with the access token the call came with:
//	e, err := ec.Create(ctx, accessToken, elicit.Request{
//		Kind:    elicit.KindSecret,
//		Message: "The weather tool needs your OpenWeather API key.",
//		Secret:  &elicit.SecretParams{Label: "OpenWeather API key"},
//	})
//	// Hand e.ID and e.URL to the client, then:
//	out, err := ec.Wait(ctx, e.ID) // out.Value is the key, handed out this once
//
// The elicitation is for the user and MCP client of accessToken, which must be an access
// token mcp-authz issued for this server's resource. The server never sees the user's
// third-party credentials pass through the MCP client; the URL carries nothing but an id that
// only that signed-in user can use.
//
// Like package resource, this package depends on the standard library and go-jose only.
package elicit
