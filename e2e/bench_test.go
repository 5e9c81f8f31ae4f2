package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/loadgen"
)

// Load runs over loopback HTTP against the real server with durable storage (SQLite,
// synchronous=FULL, fsync per commit group). The load generator shares the machine's cores.
//
//	go test ./e2e -run '^$' -bench HTTP -benchtime 40000x
//
// Each benchmark reports its throughput as ops/s; b.N is the number of token requests.

// benchClient is an HTTP client with enough idle connections for the parallel load.
func benchClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 512
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// mintCodes obtains n authorization codes through the real authorize endpoint, as a signed-in
// user whose consent is remembered (one GET and one 303 per code).
func mintCodes(b *testing.B, ts *testServer, n int) (codes, verifiers []string) {
	br := newBrowser(&testing.T{})
	out := br.authorize(ts, authRequest(ts, "", nil), "allow") // sign in and consent once
	if out.redirect == nil {
		b.Fatal("could not sign in")
	}
	codes, verifiers = make([]string, n), make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				verifier, challenge := pkce()
				u := ts.authURL(map[string]string{"response_type": "code", "client_id": publicClient, "redirect_uri": redirectURI,
					"code_challenge": challenge, "code_challenge_method": "S256", "resource": resourceURI})
				resp, err := br.client.Get(u)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				loc, err := resp.Location()
				if err != nil {
					b.Errorf("no code: %d", resp.StatusCode)
					return
				}
				codes[i], verifiers[i] = loc.Query().Get("code"), verifier
			}
		}()
	}
	wg.Wait()
	return codes, verifiers
}

func postToken(client *http.Client, issuer string, form url.Values) (map[string]any, error) {
	resp, err := client.Post(issuer+"/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return m, errStatus(resp.StatusCode)
	}
	return m, nil
}

type errStatus int

func (e errStatus) Error() string { return http.StatusText(int(e)) }

func BenchmarkCodeRedemptionHTTP(b *testing.B) {
	ts := startServer(b, options{dataDir: b.TempDir()})
	defer ts.stop()
	codes, verifiers := mintCodes(b, ts, b.N)
	client := benchClient()
	var next atomic.Int64
	b.SetParallelism(16) // 32 concurrent clients on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			_, err := postToken(client, ts.issuer, url.Values{"grant_type": {"authorization_code"}, "code": {codes[i]},
				"code_verifier": {verifiers[i]}, "client_id": {publicClient}, "redirect_uri": {redirectURI}})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "redemptions/s")
}

func BenchmarkRefreshHTTP(b *testing.B) { onBothBackends(b, benchRefresh) }

// onBothBackends runs a benchmark on SQLite and, when MCP_AUTHZ_TEST_POSTGRES_DSN is set, on
// PostgreSQL, so that the two are compared in one run (issue 6: PostgreSQL at least half of
// SQLite's throughput).
func onBothBackends(b *testing.B, bench func(*testing.B, options)) {
	b.Run("sqlite", func(b *testing.B) { bench(b, options{dataDir: b.TempDir()}) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv("MCP_AUTHZ_TEST_POSTGRES_DSN") == "" {
			b.Skip("MCP_AUTHZ_TEST_POSTGRES_DSN not set")
		}
		bench(b, options{dataDir: b.TempDir(), postgres: true})
	})
}

func benchRefresh(b *testing.B, o options) {
	ts := startServer(b, o)
	defer ts.stop()
	const chains = 64
	codes, verifiers := mintCodes(b, ts, chains)
	client := benchClient()
	refresh := make(chan string, chains)
	for i := range codes {
		m, err := postToken(client, ts.issuer, url.Values{"grant_type": {"authorization_code"}, "code": {codes[i]},
			"code_verifier": {verifiers[i]}, "client_id": {publicClient}, "redirect_uri": {redirectURI}})
		if err != nil {
			b.Fatal(err)
		}
		refresh <- m["refresh_token"].(string)
	}
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt := <-refresh
			m, err := postToken(client, ts.issuer, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}})
			if err != nil {
				b.Error(err, m)
				refresh <- rt
				return
			}
			refresh <- m["refresh_token"].(string)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "refreshes/s")
}

// The client credentials benchmarks are driven by internal/loadgen, which works like wrk: a
// fixed number of keep-alive connections, each with one request in flight, requests written from
// prepared bytes. net/http's client would cost the load generator about as much CPU per request
// as the server spends on a token, on the same two cores.
//
// Each reports, besides tokens/s:
//   - cpu-us/token: the process's CPU time (server and load generator) per token;
//   - es256-sign-us and es256-verify-us: one hedged ES256 signature (the standard library's
//     default) and one verification on one core, measured in the same run, so that a figure from
//     this machine can be set beside one from another (issue 4's development machine: about
//     30 µs and 71 µs).
//
// MCP_AUTHZ_BENCH_CONNS sets the number of connections (default 128: many machines at once).

func benchConns(b *testing.B) int {
	if v := os.Getenv("MCP_AUTHZ_BENCH_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("MCP_AUTHZ_BENCH_CONNS=%q: want a positive number", v)
		}
		return n
	}
	return 128
}

// runLoad sends b.N token requests (request(i) is the i-th) and reports the figures above.
func runLoad(b *testing.B, ts *testServer, request func(i int) []byte) {
	b.Helper()
	signUS, verifyUS := es256Speed(b)
	addr := strings.TrimPrefix(ts.issuer, "http://")
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	res, err := loadgen.Run(b.Context(), addr, benchConns(b), b.N, request)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	if err != nil {
		b.Fatal(err)
	}
	if res.OK != int64(b.N) {
		b.Fatalf("%d of %d requests failed; the first: %s", int64(b.N)-res.OK, b.N, res.FirstFailure)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(res.PerSecond(), "tokens/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/token")
	b.ReportMetric(signUS, "es256-sign-us")
	b.ReportMetric(verifyUS, "es256-verify-us")
}

// es256Speed times one hedged ES256 signature and one verification, each the median of several
// rounds, on one goroutine.
func es256Speed(b *testing.B) (signUS, verifyUS float64) {
	b.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("calibration"))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	median := func(op func()) float64 {
		const rounds, per = 7, 200
		times := make([]float64, rounds)
		for i := range times {
			start := time.Now()
			for range per {
				op()
			}
			times[i] = float64(time.Since(start).Microseconds()) / per
		}
		slices.Sort(times)
		return times[rounds/2]
	}
	signUS = median(func() { _, _ = ecdsa.SignASN1(rand.Reader, priv, digest[:]) })
	verifyUS = median(func() {
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig) {
			b.Fatal("calibration signature does not verify")
		}
	})
	return signUS, verifyUS
}

// BenchmarkClientCredentialsSecretHTTP: client_secret_basic, the machine grant at its cheapest.
func BenchmarkClientCredentialsSecretHTTP(b *testing.B) {
	onBothBackends(b, benchClientCredentialsSecret)
}

func benchClientCredentialsSecret(b *testing.B, o options) {
	ts := startServer(b, o)
	defer ts.stop()
	basic := base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(confClient) + ":" + url.QueryEscape(confSecret)))
	req := loadgen.Post(strings.TrimPrefix(ts.issuer, "http://"), "/token", "grant_type=client_credentials", "Authorization: Basic "+basic)
	runLoad(b, ts, func(int) []byte { return req })
}

// BenchmarkClientCredentialsPrivateKeyJWTHTTP: private_key_jwt. Assertions are signed before the
// timer starts (each has its own jti), so the figure is the server's, not the load generator's
// ES256 signing.
func BenchmarkClientCredentialsPrivateKeyJWTHTTP(b *testing.B) {
	key := newMachineKey(b)
	ts := startServer(b, options{dataDir: b.TempDir(), mutate: withJWTClient(key, b)})
	defer ts.stop()
	host := strings.TrimPrefix(ts.issuer, "http://")
	reqs := make([][]byte, b.N)
	for i := range reqs {
		reqs[i] = loadgen.Post(host, "/token", url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {key.assertion(b, assertionClaims(ts.issuer, jwtClient))}}.Encode())
	}
	runLoad(b, ts, func(i int) []byte { return reqs[i] })
}

func doToken(client *http.Client, req *http.Request) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errStatus(resp.StatusCode)
	}
	return nil
}

// In-process benchmarks: the server's handler called directly, without sockets or a load
// generator, so that the figure is the server's own cost per request.

func inProcess(b *testing.B, h http.Handler, newReq func(i int) *http.Request) {
	var next atomic.Int64
	b.ReportAllocs()
	// Many requests in flight, as under real load: durable writes are committed in groups, so
	// with only GOMAXPROCS callers the figure would be the disk's fsync latency.
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, newReq(int(next.Add(1)-1)))
			if rec.Code != 200 {
				b.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

func BenchmarkTokenEndpointInProcess(b *testing.B) {
	key := newMachineKey(b)
	ts := startServer(b, options{dataDir: b.TempDir(), mutate: withJWTClient(key, b)})
	defer ts.stop()
	b.Run("client_secret", func(b *testing.B) {
		inProcess(b, ts.srv.Handler(), func(int) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader("grant_type=client_credentials"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(confClient, confSecret)
			return r
		})
	})
	b.Run("private_key_jwt", func(b *testing.B) {
		bodies := make([]string, b.N)
		for i := range bodies {
			bodies[i] = url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion": {key.assertion(b, assertionClaims(ts.issuer, jwtClient))}}.Encode()
		}
		b.ResetTimer()
		inProcess(b, ts.srv.Handler(), func(i int) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(bodies[i]))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		})
	})
}

func BenchmarkIntrospectionInProcess(b *testing.B) {
	ts := startServer(b, options{dataDir: b.TempDir()})
	defer ts.stop()
	st, body, _ := ts.tokenRequest(&testing.T{}, url.Values{"grant_type": {"client_credentials"}, "client_id": {confClient}, "client_secret": {confSecret}})
	if st != 200 {
		b.Fatal(body)
	}
	form := url.Values{"token": {body["access_token"].(string)}}.Encode()
	inProcess(b, ts.srv.Handler(), func(int) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/introspect", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(confClient, confSecret)
		return r
	})
}
