// Package templates renders the HTML pages of mcp-authz (sign-in, consent, error) as templ
// components. Handlers fill a view model (views.go) and render the matching component; the
// templates only display those values and make no decisions of their own.
//
// Every page shares one layout and the stylesheet /static/style.css. Pages are served with a strict
// Content-Security-Policy, so the templates use no inline styles, no scripts and no other origins.
// Client-supplied values (names, descriptions, URLs) are only ever rendered as escaped text, never
// as a link or an image.
//
// Edit the .templ files and regenerate the *_templ.go files with `go tool templ generate`.
package templates
