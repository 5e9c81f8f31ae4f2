package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

// configFlags are the flags every command that touches the database shares.
type configFlags struct {
	path   string
	addr   string
	issuer string
}

func (c *configFlags) register(fs *flag.FlagSet, withServe bool) {
	fs.StringVar(&c.path, "config", "", "configuration file (default: the embedded development configuration)")
	if withServe {
		fs.StringVar(&c.addr, "addr", "", "address to listen on, HOST:PORT (overrides listen)")
		fs.StringVar(&c.issuer, "issuer", "", "issuer URL (overrides issuer)")
	}
}

// load reads the configuration, applies flag overrides, and in development provides the secret.
func (c *configFlags) load(stderr io.Writer) (*config.Config, error) {
	var cfg *config.Config
	var err error
	if c.path != "" {
		cfg, err = config.Load(c.path, os.Getenv)
	} else {
		cfg, err = config.Default(os.Getenv)
	}
	if err != nil {
		return nil, err
	}
	if c.addr != "" || c.issuer != "" {
		if c.addr != "" {
			cfg.Listen = c.addr
		}
		if c.issuer != "" {
			cfg.Issuer = c.issuer
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	if cfg.Development && cfg.Secrets.Key == nil {
		key, created, err := server.DevelopmentSecret(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("development secret: %w", err)
		}
		if created {
			fmt.Fprintf(stderr, "Generated a development secret in %s/secret. Production needs MCP_AUTHZ_SECRET or secrets.key_file.\n", cfg.DataDir)
		}
		cfg.Secrets.Key = key
	}
	return cfg, nil
}

// open loads the configuration and opens its database, for the commands that administer it.
// The caller closes the store.
func (c *configFlags) open(ctx context.Context, stderr io.Writer) (*config.Config, storage.Store, error) {
	cfg, err := c.load(stderr)
	if err != nil {
		return nil, nil, err
	}
	store, err := server.OpenStore(ctx, cfg, false)
	if err != nil {
		return nil, nil, err
	}
	return cfg, store, nil
}
