package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/mcp-authz/mcp-authz/server"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := cf.load(stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log.Level, cfg.Log.Format, stderr)

	// With migrate: manual, a schema behind this binary is refused ("run mcp-authz migrate");
	// a schema ahead of it is refused either way.
	store, err := server.OpenStore(ctx, cfg, cfg.Storage.Migrate == "manual")
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	fmt.Fprintf(stdout, "mcp-authz %s is listening on %s\n", version, ln.Addr())
	fmt.Fprintf(stdout, "  issuer:    %s\n", cfg.Issuer)
	fmt.Fprintf(stdout, "  metadata:  %s/.well-known/oauth-authorization-server\n", cfg.Issuer)
	fmt.Fprintf(stdout, "  database:  %s\n", describeStore(cfg.Storage.Driver, cfg.Storage.SQLitePath))
	for _, r := range cfg.Resources {
		fmt.Fprintf(stdout, "  resource:  %s (%s)\n", r.URI, r.Name)
	}
	if cfg.Development {
		pw, err := server.EnsureDemoUser(ctx, store, cfg.DataDir)
		if err != nil {
			return err
		}
		if pw != "" {
			fmt.Fprintf(stdout, "  demo user: %s / %s\n", server.DemoUsername, pw)
		}
		fmt.Fprintln(stdout, "Development configuration (no --config). Next: go run ./examples/mcp-server, or see README.md.")
	}

	bg, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(bg)

	hs := srv.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func describeStore(driver, path string) string {
	if driver == "sqlite" {
		return "sqlite " + path
	}
	return driver + " (several instances may share it)"
}
