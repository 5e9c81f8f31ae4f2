package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

const idpsUsage = `usage:
  mcp-authz idps add ISSUER (--jwks-file FILE | --jwks-uri URL) --client ID... --resource URI... --scope S...
                     [--resource-optional] [--max-assertion-lifetime 5m] [--config FILE]
  mcp-authz idps list [--config FILE]
  mcp-authz idps remove ISSUER [--config FILE]
("*" as a --client, --resource or --scope means any)`

func idpsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(idpsUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("idps "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	jwksFile := fs.String("jwks-file", "", "file with the IdP's JWK Set")
	jwksURI := fs.String("jwks-uri", "", "https URL of the IdP's JWK Set")
	optional := fs.Bool("resource-optional", false, "accept ID-JAGs without a resource claim")
	lifetime := fs.Duration("max-assertion-lifetime", 0, "longest ID-JAG lifetime accepted (default 5m)")
	var clients, resources, scopes listFlag
	fs.Var(&clients, "client", "client_id the IdP may grant (repeatable; * for any)")
	fs.Var(&resources, "resource", "resource URI it may grant (repeatable; * for any)")
	fs.Var(&scopes, "scope", "scope it may grant (repeatable; * for any)")
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	cfg, store, err := cf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	records, ok := store.(storage.Records)
	if !ok {
		return errors.New("this storage backend does not keep identity providers")
	}
	issuer := ""
	if len(positional) > 0 {
		issuer = positional[0]
	}
	if sub != "list" && issuer == "" {
		return errors.New(idpsUsage)
	}

	switch sub {
	case "add":
		for _, p := range cfg.IdentityProviders {
			if p.Issuer == issuer {
				return fmt.Errorf("identity provider %s is in the configuration file; change it there", issuer)
			}
		}
		idp := enterprise.IdP{Issuer: issuer, JWKSURI: *jwksURI, Clients: clients, Resources: resources,
			Scopes: scopes, ResourceOptional: *optional, MaxAssertionLifetime: *lifetime}
		if *jwksFile != "" {
			data, err := os.ReadFile(*jwksFile)
			if err != nil {
				return err
			}
			idp.JWKS = json.RawMessage(data)
		}
		// The checks the server makes at start, made now: a bad entry is refused here, not
		// found later in a server's log.
		reg, err := oauth.NewResources(server.Resources(cfg))
		if err != nil {
			return err
		}
		if _, err := enterprise.New([]enterprise.IdP{idp}, server.EnterpriseOptions(cfg, reg, store, nil, slog.New(slog.DiscardHandler))); err != nil {
			return err
		}
		data, _ := json.Marshal(idp)
		now := time.Now().UTC()
		if err := records.CreateRecord(ctx, storage.Record{Kind: storage.KindIdP, ID: issuer, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("identity provider %s is trusted already (remove it first to change it)", issuer)
			}
			return err
		}
		fmt.Fprintf(stdout, "Identity provider %s is trusted. Running servers pick it up within %v", issuer, cfg.SigningKeys.ReloadInterval.D())
		fmt.Fprintln(stdout, " (a server that trusted no IdP at start must be restarted to advertise the jwt-bearer grant).")
		return nil
	case "list":
		list, err := records.ListRecords(ctx, storage.KindIdP)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ISSUER\tCLIENTS\tRESOURCES\tSCOPES\tSOURCE")
		for _, p := range cfg.IdentityProviders {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tconfiguration\n", p.Issuer, strings.Join(p.Clients, ","), strings.Join(p.Resources, ","), strings.Join(p.Scopes, ","))
		}
		for _, r := range list {
			var p enterprise.IdP
			_ = json.Unmarshal(r.Data, &p)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tdatabase\n", p.Issuer, strings.Join(p.Clients, ","), strings.Join(p.Resources, ","), strings.Join(p.Scopes, ","))
		}
		return tw.Flush()
	case "remove":
		if err := records.DeleteRecord(ctx, storage.KindIdP, issuer); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no identity provider %s in the database", issuer)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Identity provider %s removed. Running servers stop trusting it within %v.\n", issuer, cfg.SigningKeys.ReloadInterval.D())
		return nil
	default:
		return errors.New(idpsUsage)
	}
}
