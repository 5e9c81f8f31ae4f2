// Package web holds what the browser sees of mcp-authz besides the HTML itself: the static
// files (the stylesheet) embedded into the binary. The pages are templ components in
// [github.com/mcp-authz/mcp-authz/web/templates].
//
// Pages are served with a strict Content-Security-Policy (default-src 'none'; style-src 'self';
// img-src 'self'; form-action 'self'; frame-ancestors 'none'), so nothing here may rely on inline
// styles, inline scripts or other origins.
package web
