package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

const clientsUsage = `usage:
  mcp-authz clients add ID --name NAME [--grant client_credentials] [--auth client_secret_basic|client_secret_post|private_key_jwt|none]
                          [--jwks-file FILE | --jwks-uri URL] [--resource URI]... [--scope S]... [--redirect-uri URI]... [--config FILE]
  mcp-authz clients list [--config FILE]
  mcp-authz clients show ID [--config FILE]
  mcp-authz clients remove ID [--config FILE]
  mcp-authz clients rotate-secret ID [--config FILE]
  mcp-authz clients new-secret`

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func clientsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(clientsUsage)
	}
	sub := args[0]
	if sub == "new-secret" {
		secret, hash := oauth.NewClientSecret()
		fmt.Fprintf(stdout, "client secret (give it to the client; it is not stored): %s\n", secret)
		fmt.Fprintf(stdout, "secret_hash (put it in the client's configuration):      %s\n", hash)
		return nil
	}
	fs := flag.NewFlagSet("clients "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	name := fs.String("name", "", "display name")
	auth := fs.String("auth", "", "token endpoint auth method (default: client_secret_basic, or private_key_jwt with keys)")
	jwksFile := fs.String("jwks-file", "", "file with the client's public JWK Set (private_key_jwt)")
	jwksURI := fs.String("jwks-uri", "", "https URL of the client's JWK Set (private_key_jwt)")
	var grants, resources, scopes, redirects listFlag
	fs.Var(&grants, "grant", "grant type (repeatable; default client_credentials)")
	fs.Var(&resources, "resource", "resource URI the client may use (repeatable; default all)")
	fs.Var(&scopes, "scope", "scope the client may ask for (repeatable; default all of its resources')")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable; for authorization_code)")
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
		return errors.New("this storage backend does not keep registered clients")
	}
	id := ""
	if len(positional) > 0 {
		id = positional[0]
	}
	if sub != "list" && id == "" {
		return errors.New(clientsUsage)
	}
	for _, c := range cfg.Clients {
		if c.ID == id && sub != "list" && sub != "show" {
			return fmt.Errorf("client %q is defined in the configuration file; change it there", id)
		}
	}

	switch sub {
	case "add":
		if strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://") {
			return errors.New("a URL client id names a metadata document; it is not registered")
		}
		rec := oauth.ClientRecord{Name: *name, GrantTypes: grants, Resources: resources, Scopes: scopes, RedirectURIs: redirects, AuthMethod: *auth, JWKSURI: *jwksURI}
		if len(rec.GrantTypes) == 0 {
			rec.GrantTypes = []string{"client_credentials"}
		}
		if *jwksFile != "" {
			data, err := os.ReadFile(*jwksFile)
			if err != nil {
				return err
			}
			rec.JWKS = json.RawMessage(data)
		}
		if rec.AuthMethod == "" {
			rec.AuthMethod = "client_secret_basic"
			if len(rec.JWKS) > 0 || rec.JWKSURI != "" {
				rec.AuthMethod = "private_key_jwt"
			}
		}
		var secret string
		if rec.AuthMethod == "client_secret_basic" || rec.AuthMethod == "client_secret_post" {
			secret, rec.SecretHash = oauth.NewClientSecret()
		}
		resourcesReg, err := oauth.NewResources(server.Resources(cfg))
		if err != nil {
			return err
		}
		if err := rec.Validate(resourcesReg); err != nil {
			return fmt.Errorf("client %s: %w", id, err)
		}
		data, _ := json.Marshal(rec)
		now := time.Now().UTC()
		if err := records.CreateRecord(ctx, storage.Record{Kind: storage.KindClient, ID: id, Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("a client %q exists already", id)
			}
			return err
		}
		fmt.Fprintf(stdout, "Client %s registered (%s).\n", id, rec.AuthMethod)
		if secret != "" {
			fmt.Fprintf(stdout, "client secret (shown once, only its hash is stored): %s\n", secret)
		}
		return nil
	case "list":
		list, err := records.ListRecords(ctx, storage.KindClient)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CLIENT ID\tNAME\tAUTH\tGRANTS\tSOURCE")
		for _, c := range cfg.Clients {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\tconfiguration\n", c.ID, c.Name, c.TokenEndpointAuthMethod, strings.Join(c.GrantTypes, ","))
		}
		for _, r := range list {
			var rec oauth.ClientRecord
			_ = json.Unmarshal(r.Data, &rec)
			source := "database"
			if rec.Dynamic {
				source = "dynamic registration"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, rec.Name, rec.AuthMethod, strings.Join(rec.GrantTypes, ","), source)
		}
		return tw.Flush()
	case "show":
		r, err := records.GetRecord(ctx, storage.KindClient, id)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q in the database", id)
		} else if err != nil {
			return err
		}
		var rec oauth.ClientRecord
		_ = json.Unmarshal(r.Data, &rec)
		if rec.SecretHash != "" {
			rec.SecretHash = "(set)"
		}
		out, _ := json.MarshalIndent(struct {
			ID string `json:"client_id"`
			oauth.ClientRecord
			Created time.Time `json:"created"`
			Updated time.Time `json:"updated"`
		}{id, rec, r.CreatedAt, r.UpdatedAt}, "", "  ")
		fmt.Fprintln(stdout, string(out))
		return nil
	case "remove":
		if err := records.DeleteRecord(ctx, storage.KindClient, id); errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q in the database", id)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Client %s removed. Running servers stop accepting it within %v.\n", id, oauth.DBClientCacheTime)
		return nil
	case "rotate-secret":
		r, err := records.GetRecord(ctx, storage.KindClient, id)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no client %q in the database", id)
		} else if err != nil {
			return err
		}
		var rec oauth.ClientRecord
		if err := json.Unmarshal(r.Data, &rec); err != nil {
			return err
		}
		if rec.SecretHash == "" {
			return fmt.Errorf("client %s does not authenticate with a secret", id)
		}
		var secret string
		secret, rec.SecretHash = oauth.NewClientSecret()
		r.Data, _ = json.Marshal(rec)
		r.UpdatedAt = time.Now().UTC()
		if err := records.PutRecord(ctx, *r); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New client secret (shown once): %s\nThe old secret stops working within %v.\n", secret, oauth.DBClientCacheTime)
		return nil
	default:
		return errors.New(clientsUsage)
	}
}

// parseInterleaved parses flags that may come before or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
