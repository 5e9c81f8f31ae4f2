package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-authz/mcp-authz/resource"
)

// stepUp refuses, with HTTP 403 and the insufficient_scope challenge of package resource, a
// request that calls a tool needing scopes its token lacks:
//
//	WWW-Authenticate: Bearer error="insufficient_scope", error_description="…",
//	    resource_metadata="http://localhost:9090/.well-known/oauth-protected-resource/mcp",
//	    scope="mcp:tools mcp:admin"
//
// That answer is what the MCP authorization specification's step-up flow needs: an MCP client
// seeing it authorizes again for the scopes named, then retries the call. A tool itself cannot
// give it: by the time the SDK runs the tool the HTTP status is out of its hands, and all it can
// return is a JSON-RPC result, which a client does not take as a reason to re-authorize.
//
// So this middleware reads the JSON-RPC message before the SDK does, within the SDK's own body
// limit, and puts the body back for the SDK. Only POST carries calls; a batch (allowed by
// protocol versions before 2025-06-18) needs the scopes of all its calls. A body it cannot
// parse goes through unchanged, for the SDK to reject; the tools check their scopes again
// anyway.
func stepUp(rs *resource.Verifier, toolScopes map[string][]string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, mcp.DefaultMaxRequestBodyBytes))
		if err != nil {
			if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			} else {
				http.Error(w, "cannot read the request body", http.StatusBadRequest)
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		if scopes := scopesNeeded(body, toolScopes); len(scopes) > 0 {
			tok, _ := resource.TokenFrom(r.Context())
			if err := tok.Require(scopes...); err != nil {
				// The challenge's scope is the token's scopes plus these, so that the
				// client does not give up what it has for what it needs.
				rs.ChallengeFor(err, scopes...).ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// scopesNeeded returns the scopes the tools called in a JSON-RPC message or batch need, beyond
// the route's. Members are looked up by their exact names, through maps: the SDK's decoder
// matches names case-sensitively, and encoding/json decoding into a struct would not, so
// {"name":"admin_stats","Name":"whoami"} would read as whoami here and run admin_stats there.
func scopesNeeded(body []byte, toolScopes map[string][]string) []string {
	var msgs []json.RawMessage
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		if json.Unmarshal(b, &msgs) != nil {
			return nil
		}
	} else {
		msgs = []json.RawMessage{body}
	}
	var scopes []string
	for _, raw := range msgs {
		var msg, params map[string]json.RawMessage
		var method, name string
		if json.Unmarshal(raw, &msg) != nil ||
			json.Unmarshal(msg["method"], &method) != nil || method != "tools/call" ||
			json.Unmarshal(msg["params"], &params) != nil ||
			json.Unmarshal(params["name"], &name) != nil {
			continue
		}
		for _, s := range toolScopes[name] {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return scopes
}
