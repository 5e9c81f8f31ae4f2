// Command mcp-authz is the OAuth 2.1 authorization server for MCP servers.
//
//	mcp-authz serve [--config FILE] [--addr HOST:PORT] [--issuer URL]
//	mcp-authz migrate [--config FILE]
//	mcp-authz keys rotate|list [--config FILE]
//	mcp-authz users add|list|passwd [--config FILE] ...
//	mcp-authz clients new-secret
//	mcp-authz version
//
// This package only parses flags and wires packages together; the server is assembled by
// package server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `mcp-authz: an OAuth 2.1 authorization server for MCP servers.

Usage:
  mcp-authz serve [--config FILE] [--addr HOST:PORT] [--issuer URL]
                          start the server (no --config: the development defaults)
  mcp-authz migrate [--config FILE]
                          apply database migrations and exit
  mcp-authz keys rotate [--config FILE]
                          add a new signing key; the old one stays published until its tokens expire
  mcp-authz keys list [--config FILE]
  mcp-authz users add NAME [--email E] [--name N] [--password-stdin] [--config FILE]
  mcp-authz users passwd NAME [--password-stdin] [--config FILE]
  mcp-authz users list [--config FILE]
  mcp-authz users show NAME [--config FILE]
                          a user and the upstream identities linked to it
  mcp-authz clients add|list|show|remove|rotate-secret ...
                          clients registered in the database (run "mcp-authz clients" for flags)
  mcp-authz clients new-secret
                          print a new client secret and the secret_hash to put in the config
  mcp-authz idps add|list|remove ...
                          identity providers trusted for ID-JAGs (run "mcp-authz idps" for flags)
  mcp-authz version

Environment: MCP_AUTHZ_SECRET, MCP_AUTHZ_ISSUER, MCP_AUTHZ_LISTEN, MCP_AUTHZ_DATA_DIR,
MCP_AUTHZ_LOG_LEVEL, MCP_AUTHZ_LOG_FORMAT (see README.md).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mcp-authz:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, stdout, stderr)
	case "keys":
		return keysCommand(ctx, rest, stdout, stderr)
	case "users":
		return usersCommand(ctx, rest, stdin, stdout, stderr)
	case "idps":
		return idpsCommand(ctx, rest, stdout, stderr)
	case "clients":
		return clientsCommand(ctx, rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mcp-authz", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(level, format string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
