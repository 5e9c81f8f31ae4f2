package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

func TestUsersShowIdentities(t *testing.T) {
	cfgPath := writeConfig(t)
	if out, err := runCLI(t, "", "users", "add", "bob", "--email", "bob@example.com", "--config", cfgPath); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := server.OpenStore(ctx, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := store.CreateUser(ctx, storage.User{ID: "e_ada", Username: "e_ada", Email: "ada@corp.example", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(consent.Identity{Issuer: "https://idp.corp.example", Subject: "00u-ada", UserID: "e_ada", Email: "ada@corp.example", Provider: "corp", CreatedAt: now, LastSignIn: now})
	if err := store.CreateRecord(ctx, storage.Record{Kind: storage.KindIdentity, ID: consent.IdentityID("https://idp.corp.example", "00u-ada"), Data: data, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	out, err := runCLI(t, "", "users", "show", "e_ada", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "Upstream identities:") || !strings.Contains(out, "https://idp.corp.example") ||
		!strings.Contains(out, "00u-ada") || !strings.Contains(out, "corp") || !strings.Contains(out, "password:  false") {
		t.Errorf("show e_ada: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "users", "show", "bob", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "No upstream identities.") || !strings.Contains(out, "bob@example.com") {
		t.Errorf("show bob: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "", "users", "show", "nobody", "--config", cfgPath); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Errorf("show nobody: %v", err)
	}
}
