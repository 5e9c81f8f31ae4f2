// Package config is mcp-authz's typed configuration: a YAML file, MCP_AUTHZ_* environment variables
// over it, defaults, and validation. With no file, [Default] is the embedded development setup:
// loopback issuer, SQLite under ./mcp-authz-data, one demo resource, one demo client.
//
// Every key is documented in mcp-authz.example.yaml at the repository root; a test keeps that file
// loadable, so the documentation cannot drift from the code unnoticed.
package config
