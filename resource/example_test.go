package resource_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/mcp-authz/mcp-authz/resource"
)

func Example() {
	rs, err := resource.New(resource.Config{
		Resource:        "https://mcp.example.com/mcp",
		Issuer:          "https://auth.example.com",
		ScopesSupported: []string{"tools:read", "tools:write"},
		ResourceName:    "Example MCP server",
	})
	if err != nil {
		log.Fatal(err)
	}

	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := resource.TokenFrom(r.Context())
		fmt.Fprintf(w, "hello %s, using %s\n", tok.Subject, tok.ClientID)
	})

	mux := http.NewServeMux()
	for _, path := range rs.MetadataPaths() {
		mux.Handle(path, rs.MetadataHandler())
	}
	mux.Handle("/mcp", rs.Protect(mcp, "tools:read"))

	fmt.Println(rs.MetadataURL())
	// Output: https://mcp.example.com/.well-known/oauth-protected-resource/mcp
}

// A tool that needs more than the route does answers insufficient_scope for itself.
func ExampleVerifier_ChallengeFor() {
	rs, err := resource.New(resource.Config{
		Resource: "https://mcp.example.com/mcp",
		Issuer:   "https://auth.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	deleteFile := func(w http.ResponseWriter, r *http.Request) {
		tok, _ := resource.TokenFrom(r.Context())
		if err := tok.Require("files:delete"); err != nil {
			rs.ChallengeFor(err, "files:delete").ServeHTTP(w, r)
			return
		}
		// … delete the file
	}
	_ = rs.Protect(http.HandlerFunc(deleteFile), "files:read")

	tok := &resource.Token{Scopes: []string{"files:read"}}
	fmt.Println(rs.ChallengeFor(tok.Require("files:delete"), "files:delete").Header())
	// Output: Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="files:read files:delete"
}
