// Command mcp-server is an example MCP server protected by mcp-authz: the official Go SDK over
// streamable HTTP, its tokens checked by package resource. It has two tools: whoami, which any
// token with mcp:tools may call, and admin_stats, which needs mcp:admin and so makes a client
// step up. The server is package mcpserver; this file only wires it to flags and a listener.
//
// With the authorization server on its development defaults, the two work as a pair:
//
//	go run ./cmd/mcp-authz serve     # authorization server, http://localhost:8080
//	go run ./examples/mcp-server     # this server, http://localhost:9090/mcp
//
// Flags, each with an environment variable that sets its default:
//
//	-listen    MCP_SERVER_LISTEN    address to listen on (127.0.0.1:9090)
//	-resource  MCP_SERVER_RESOURCE  URL clients use, the tokens' audience (http://localhost:9090/mcp)
//	-issuer    MCP_SERVER_ISSUER    authorization server (http://localhost:8080)
//
// The resource URL must be one the authorization server is configured to protect, character for
// character. See README.md for connecting a client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcp-authz/mcp-authz/examples/mcp-server/mcpserver"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, log); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			log.Error("mcp-server", "err", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger) error {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("mcp-server", flag.ContinueOnError)
	listen := fs.String("listen", env("MCP_SERVER_LISTEN", "127.0.0.1:9090"), "address to listen on (MCP_SERVER_LISTEN)")
	res := fs.String("resource", env("MCP_SERVER_RESOURCE", "http://localhost:9090/mcp"), "URL clients use for the MCP endpoint (MCP_SERVER_RESOURCE)")
	issuer := fs.String("issuer", env("MCP_SERVER_ISSUER", "http://localhost:8080"), "authorization server issuer (MCP_SERVER_ISSUER)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	h, err := mcpserver.New(mcpserver.Config{Resource: *res, Issuer: *issuer, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Info("MCP server listening", "addr", ln.Addr().String(), "resource", *res, "issuer", *issuer)

	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Clients keep an SSE stream open per session, which Shutdown would wait on for ever:
	// give requests in flight a moment, then close what is left.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	log.Info("MCP server stopped")
	return nil
}
