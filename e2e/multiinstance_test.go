package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"
)

// postgresDSN returns the test database, or skips (fails in CI, where it must run).
func postgresDSN(t testing.TB) string {
	dsn := os.Getenv("MCP_AUTHZ_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("MCP_AUTHZ_TEST_POSTGRES_DSN is not set in CI: the PostgreSQL tests must run there")
		}
		t.Skip("MCP_AUTHZ_TEST_POSTGRES_DSN not set: PostgreSQL end-to-end tests not run")
	}
	return dsn
}

// freshSchema creates a schema of its own for one test and drops it after.
func freshSchema(t testing.TB, dsn string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "e2e_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
			c.Close(context.Background())
		}
	})
	return name
}

// buildBinary builds mcp-authz once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcp-authz")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/mcp-authz")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// balancer forwards to one of the instances, whichever the test says.
type balancer struct {
	backends map[string]*httputil.ReverseProxy
	route    atomic.Value // string
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.backends[lb.route.Load().(string)].ServeHTTP(w, r)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestTwoInstancesOnOnePostgreSQLDatabase(t *testing.T) {
	dsn := postgresDSN(t)
	schema := freshSchema(t, dsn)
	bin := buildBinary(t)

	lbLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + lbLn.Addr().String()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "mcp-authz.yaml")
	cfg := fmt.Sprintf(`issuer: %s
storage: {driver: postgres, postgres_dsn: %q, postgres_schema: %s}
signing_keys: {reload_interval: 1s}
resources:
  - uri: %s
    scopes: [{name: "mcp:tools"}]
    default_scopes: ["mcp:tools"]
clients:
  - {id: %s, redirect_uris: ["%s"]}
  - {id: %s, secret_hash: %q, grant_types: [client_credentials]}
log: {level: warn}
`, issuer, dsn, schema, resourceURI, publicClient, redirectURI, confClient, hashSecret(confSecret))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "MCP_AUTHZ_SECRET="+strings.Repeat("m", 40))
	run := func(args ...string) string {
		cmd := exec.Command(bin, append(args, "--config", cfgPath)...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(alicePass + "\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("migrate")
	run("users", "add", alice, "--password-stdin")

	lb := &balancer{backends: map[string]*httputil.ReverseProxy{}}
	for _, name := range []string{"a", "b"} {
		addr := freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfgPath, "--addr", addr)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); _ = cmd.Wait() })
		u, _ := url.Parse("http://" + addr)
		lb.backends[name] = httputil.NewSingleHostReverseProxy(u)
		waitHealthy(t, "http://"+addr+"/healthz")
	}
	lb.route.Store("a")
	hs := &http.Server{Handler: lb}
	go func() { _ = hs.Serve(lbLn) }()
	t.Cleanup(func() { _ = hs.Close() })
	ts := &testServer{t: t, issuer: issuer}

	// Authorize on a (login, consent), redeem on b.
	b := newBrowser(t)
	conf := ts.oauthConfig(redirectURI)
	verifier, _ := pkce()
	out := b.authorize(ts, conf.AuthCodeURL("state-multi", oauth2.S256ChallengeOption(verifier)), "allow")
	if out.redirect == nil {
		t.Fatalf("authorize on a: %d %.300s", out.last.status, out.last.body)
	}
	lb.route.Store("b")
	tok, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("redeem on b: %v", err)
	}
	// The code is spent everywhere: a second redemption on a fails.
	lb.route.Store("a")
	if _, err := conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier)); err == nil {
		t.Error("a code redeemed on b was redeemed again on a")
	}
	// That reuse revoked the grant; start a new one for the rest. The browser session made on
	// a is valid on b (shared secret and database): no login, consent remembered.
	lb.route.Store("b")
	verifier, _ = pkce()
	out = b.authorize(ts, conf.AuthCodeURL("state-multi", oauth2.S256ChallengeOption(verifier)), "allow")
	if out.redirect == nil || out.consentShown {
		t.Fatalf("authorize on b with a's session: consent shown %v, last %d", out.consentShown, out.last.status)
	}
	for _, p := range b.pages[len(b.pages)-2:] {
		if strings.Contains(p.body, `name="password"`) {
			t.Error("b asked to sign in again")
		}
	}
	lb.route.Store("a")
	if tok, err = conf.Exchange(context.Background(), out.redirect.Query().Get("code"), oauth2.VerifierOption(verifier)); err != nil {
		t.Fatal(err)
	}

	// Refresh on alternating instances.
	rt := tok.RefreshToken
	for i, inst := range []string{"b", "a", "b", "a"} {
		lb.route.Store(inst)
		st, body, _ := ts.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}})
		if st != 200 {
			t.Fatalf("refresh %d on %s: %d %v", i, inst, st, body)
		}
		rt = body["refresh_token"].(string)
		tok.AccessToken = body["access_token"].(string)
	}

	// Revoke on a, inactive on b.
	lb.route.Store("a")
	if resp, err := http.PostForm(issuer+"/revoke", url.Values{"token": {tok.AccessToken}, "client_id": {publicClient}}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("revoke on a: %v", err)
	}
	lb.route.Store("b")
	if in := ts.introspect(t, tok.AccessToken); in["active"] != false {
		t.Errorf("revoked on a, still active on b: %v", in)
	}

	// Rotate the keys (the CLI, on the shared database): b publishes the new key within its
	// reload interval (1s here).
	jwksKids := func() []string {
		resp, err := http.Get(issuer + "/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid string } }
		_ = json.NewDecoder(resp.Body).Decode(&set)
		var kids []string
		for _, k := range set.Keys {
			kids = append(kids, k.Kid)
		}
		return kids
	}
	before := len(jwksKids())
	start := time.Now()
	run("keys", "rotate")
	for len(jwksKids()) <= before {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("b did not publish the rotated key within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("rotated key published by b after %v", time.Since(start).Round(10*time.Millisecond))
}

func waitHealthy(t *testing.T, u string) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", u)
}
