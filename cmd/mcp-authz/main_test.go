package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/server"
)

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp-authz.yaml")
	os.WriteFile(filepath.Join(dir, "secret"), []byte(strings.Repeat("q", 48)), 0o600)
	cfg := "issuer: http://127.0.0.1:1\ndata_dir: data\nsecrets: {key_file: secret}\nresources: [{uri: 'http://localhost:9090/mcp', scopes: [{name: a}]}]\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestUsersAddListPasswd(t *testing.T) {
	cfgPath := writeConfig(t)
	out, err := runCLI(t, "", "users", "add", "bob", "--email", "bob@example.com", "--config", cfgPath)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if pw == nil {
		t.Fatalf("no generated password printed: %s", out)
	}
	if _, err := runCLI(t, "", "users", "add", "bob", "--config", cfgPath); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("duplicate user: %v", err)
	}
	if out, err := runCLI(t, "new password 123\n", "users", "passwd", "bob", "--password-stdin", "--config", cfgPath); err != nil {
		t.Fatalf("passwd: %v %s", err, out)
	}
	if _, err := runCLI(t, "short\n", "users", "passwd", "bob", "--password-stdin", "--config", cfgPath); err == nil {
		t.Error("a 5-character password was accepted")
	}
	out, err = runCLI(t, "", "users", "list", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "bob") || !strings.Contains(out, "bob@example.com") {
		t.Fatalf("list: %v %s", err, out)
	}

	// The stored hash is the new password's.
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	store, err := server.OpenStore(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.GetUserByUsername(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := consent.VerifyPassword(u.PasswordHash, "new password 123"); !ok {
		t.Error("passwd did not store the new password")
	}
}

func TestKeysRotateAndList(t *testing.T) {
	cfgPath := writeConfig(t)
	out, err := runCLI(t, "", "keys", "list", "--config", cfgPath)
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("list after first key: %v\n%s", err, out)
	}
	out, err = runCLI(t, "", "keys", "rotate", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "New signing key") {
		t.Fatalf("rotate: %v %s", err, out)
	}
	out, _ = runCLI(t, "", "keys", "list", "--config", cfgPath)
	// The new key signs; the old one stays published until its tokens have expired.
	if strings.Count(out, "\n") != 3 || strings.Count(out, " true ") != 1 || !regexp.MustCompile(`false +\d{4}-`).MatchString(out) {
		t.Errorf("after rotation, want the new key signing and the old one published until a date:\n%s", out)
	}
}

func TestClientsNewSecret(t *testing.T) {
	out, err := runCLI(t, "", "clients", "new-secret")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`stored\): (\S+)\n.*: +(sha256:\S+)`).FindStringSubmatch(out)
	if m == nil || oauth.HashSecret(m[1]) != m[2] {
		t.Errorf("secret and hash do not match: %s", out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"keys"}, {"users", "add"}, {"serve", "--config", "/does/not/exist"}} {
		if _, err := runCLI(t, "", args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if out, err := runCLI(t, "", "version"); err != nil || !strings.HasPrefix(out, "mcp-authz ") {
		t.Errorf("version: %v %q", err, out)
	}
}

func TestClientsAddRotateRemove(t *testing.T) {
	cfgPath := writeConfig(t)
	out, err := runCLI(t, "", "clients", "add", "ci-bot", "--name", "CI bot", "--scope", "a", "--config", cfgPath)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := regexp.MustCompile(`client secret \(shown once[^:]*: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret printed: %s", out)
	}
	first := m[1]
	if _, err := runCLI(t, "", "clients", "add", "ci-bot", "--name", "again", "--config", cfgPath); err == nil {
		t.Error("duplicate client accepted")
	}
	if _, err := runCLI(t, "", "clients", "add", "bad", "--name", "x", "--scope", "nope", "--config", cfgPath); err == nil {
		t.Error("a scope no resource offers was accepted")
	}
	out, err = runCLI(t, "", "clients", "list", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "ci-bot") || !strings.Contains(out, "database") {
		t.Fatalf("list: %v %s", err, out)
	}
	out, err = runCLI(t, "", "clients", "show", "ci-bot", "--config", cfgPath)
	if err != nil || !strings.Contains(out, `"secret_hash": "(set)"`) || strings.Contains(out, "sha256:") {
		t.Fatalf("show must not print the hash: %v %s", err, out)
	}

	tokenWith := func(secret string) int {
		cfg, err := config.Load(cfgPath, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		store, err := server.OpenStore(context.Background(), cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		srv, err := server.New(context.Background(), cfg, store, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("ci-bot", secret)
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	if code := tokenWith(first); code != 200 {
		t.Fatalf("token with the registered secret: %d", code)
	}
	out, err = runCLI(t, "", "clients", "rotate-secret", "ci-bot", "--config", cfgPath)
	m = regexp.MustCompile(`New client secret \(shown once\): (\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("rotate: %v %s", err, out)
	}
	if code := tokenWith(first); code != 401 {
		t.Errorf("old secret after rotation: %d", code)
	}
	if code := tokenWith(m[1]); code != 200 {
		t.Errorf("new secret: %d", code)
	}
	if _, err := runCLI(t, "", "clients", "remove", "ci-bot", "--config", cfgPath); err != nil {
		t.Fatal(err)
	}
	if code := tokenWith(m[1]); code != 401 {
		t.Errorf("removed client: %d", code)
	}
	if _, err := runCLI(t, "", "clients", "remove", "ci-bot", "--config", cfgPath); err == nil {
		t.Error("removing a missing client succeeded")
	}
}

func TestIdPsAddListRemove(t *testing.T) {
	cfgPath := writeConfig(t)
	jwks := filepath.Join(filepath.Dir(cfgPath), "idp-jwks.json")
	os.WriteFile(jwks, []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k"}]}`), 0o600)
	add := func(args ...string) (string, error) {
		return runCLI(t, "", append([]string{"idps", "add"}, append(args, "--config", cfgPath)...)...)
	}
	if out, err := add("https://idp.example.com", "--jwks-file", jwks, "--client", "*", "--resource", "http://localhost:9090/mcp", "--scope", "a"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := add("https://idp.example.com", "--jwks-file", jwks, "--client", "*", "--resource", "*", "--scope", "*"); err == nil {
		t.Error("the same issuer added twice")
	}
	if _, err := add("https://bad.example.com", "--client", "*", "--resource", "*", "--scope", "*"); err == nil {
		t.Error("an IdP without keys was accepted")
	}
	if _, err := add("https://bad.example.com", "--jwks-file", jwks, "--client", "*", "--resource", "https://unknown.example/mcp", "--scope", "*"); err == nil {
		t.Error("an IdP for an unknown resource was accepted")
	}
	out, err := runCLI(t, "", "idps", "list", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "https://idp.example.com") || strings.Contains(out, "bad.example.com") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	// The server trusts it: the jwt-bearer grant is advertised.
	cfg, _ := config.Load(cfgPath, func(string) string { return "" })
	store, err := server.OpenStore(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil))
	store.Close()
	if !strings.Contains(rec.Body.String(), "urn:ietf:params:oauth:grant-type:jwt-bearer") {
		t.Errorf("a database IdP does not enable the jwt-bearer grant: %s", rec.Body.String())
	}
	if _, err := runCLI(t, "", "idps", "remove", "https://idp.example.com", "--config", cfgPath); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "", "idps", "remove", "https://idp.example.com", "--config", cfgPath); err == nil {
		t.Error("removing a missing IdP succeeded")
	}
}
