// Package server assembles mcp-authz from its configuration: storage, signing keys, the OAuth
// provider, the browser pages, and the background jobs (key reload, cleanup of expired records).
//
// It exists so that cmd/mcp-authz only parses flags and wires, and so that end-to-end tests run
// exactly the server an operator runs, in-process.
package server
