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
//	-client-id        MCP_SERVER_CLIENT_ID         this server as a confidential client of mcp-authz:
//	                                               turns on the elicitation tools (weather,
//	                                               linked_account); the secret is read from
//	                                               MCP_SERVER_CLIENT_SECRET only
//	-connect-provider MCP_SERVER_CONNECT_PROVIDER  mcp-authz provider id for linked_account
//	-connect-api      MCP_SERVER_CONNECT_API       URL linked_account GETs with the account's token
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
	clientID := fs.String("client-id", env("MCP_SERVER_CLIENT_ID", ""), "this server's client_id at mcp-authz, for elicitation (MCP_SERVER_CLIENT_ID; secret in MCP_SERVER_CLIENT_SECRET)")
	provider := fs.String("connect-provider", env("MCP_SERVER_CONNECT_PROVIDER", ""), "mcp-authz provider id the linked_account tool connects (MCP_SERVER_CONNECT_PROVIDER)")
	providerAPI := fs.String("connect-api", env("MCP_SERVER_CONNECT_API", ""), "URL linked_account calls with the connected account's token (MCP_SERVER_CONNECT_API)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cfg := mcpserver.Config{Resource: *res, Issuer: *issuer, Logger: log}
	if *clientID != "" {
		// A secret in a flag would show in the process list; it comes from the environment.
		secret := getenv("MCP_SERVER_CLIENT_SECRET")
		if secret == "" {
			return errors.New("-client-id needs MCP_SERVER_CLIENT_SECRET")
		}
		cfg.Elicitation = &mcpserver.ElicitationConfig{ClientID: *clientID, ClientSecret: secret, Provider: *provider, ProviderAPI: *providerAPI}
	}
	h, err := mcpserver.New(cfg)
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
