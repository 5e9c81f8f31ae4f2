// Package httpx holds the few HTTP helpers every handler of mcp-authz shares: reading a form with
// a size limit and duplicate-parameter check, writing JSON that must not be cached, and sending
// a page with the security headers pages need. Keeping them in one place means no handler can
// forget a limit or a header.
package httpx
