// Package e2e holds black-box tests: the real server, assembled by package server exactly as
// "mcp-authz serve" assembles it, listening on loopback, driven by real OAuth clients
// (golang.org/x/oauth2) and by a cookie-keeping "browser" that reads the real HTML pages and
// submits their forms, CSRF tokens included. Nothing in the server knows it is being tested.
package e2e
