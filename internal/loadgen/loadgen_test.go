package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func host(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestRunSendsEveryRequestOnce: each request index is sent exactly once, with its own bytes,
// over at most conns connections, and every response is counted.
func TestRunSendsEveryRequestOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen[string(body)]++
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if r.Header.Get("X-Test") != "yes" || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "headers lost", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"ok":%q}`, body)
	}))
	defer srv.Close()
	const n = 500
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = Post(host(t, srv), "/token", fmt.Sprintf("i=%d", i), "X-Test: yes")
	}
	res, err := Run(context.Background(), host(t, srv), 8, n, func(i int) []byte { return reqs[i] })
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != n || res.OK != n || res.FirstFailure != "" {
		t.Fatalf("result %+v, want %d OK", res, n)
	}
	if len(seen) != n {
		t.Fatalf("server saw %d distinct requests, want %d", len(seen), n)
	}
	for body, count := range seen {
		if count != 1 {
			t.Errorf("%s sent %d times", body, count)
		}
	}
	if len(conns) > 8 {
		t.Errorf("%d connections, want at most 8 (keep-alive)", len(conns))
	}
	if res.PerSecond() <= 0 {
		t.Errorf("PerSecond = %v", res.PerSecond())
	}
}

// TestRunReportsFailures: a non-200 answer is counted, not retried, and the first one is kept
// for the report.
func TestRunReportsFailures(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 0 {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	req := Post(host(t, srv), "/token", "grant_type=client_credentials")
	res, err := Run(context.Background(), host(t, srv), 1, 10, func(int) []byte { return req })
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.OK != 5 || calls.Load() != 10 {
		t.Fatalf("result %+v after %d calls, want 10 requests, 5 OK", res, calls.Load())
	}
	if !strings.HasPrefix(res.FirstFailure, "401 ") || !strings.Contains(res.FirstFailure, "invalid_client") {
		t.Fatalf("FirstFailure = %q", res.FirstFailure)
	}
}

// TestRunReconnects: a server that closes the connection after a response (Connection: close)
// gets the next request on a new connection, and no request is lost or sent twice.
func TestRunReconnects(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%3 == 0 {
			w.Header().Set("Connection", "close")
		}
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	req := Post(host(t, srv), "/", "")
	res, err := Run(context.Background(), host(t, srv), 2, 30, func(int) []byte { return req })
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 30 || calls.Load() != 30 {
		t.Fatalf("result %+v after %d calls, want 30", res, calls.Load())
	}
}

func TestRunRefusesNonsense(t *testing.T) {
	if _, err := Run(context.Background(), "127.0.0.1:1", 0, 1, nil); err == nil {
		t.Error("0 connections accepted")
	}
	if _, err := Run(context.Background(), "127.0.0.1:1", 1, 1, func(int) []byte { return nil }); err == nil {
		t.Error("no error for a refused connection")
	}
}

func TestPost(t *testing.T) {
	got := string(Post("as.example:8080", "/token", "a=b", "Authorization: Basic eDp5"))
	want := "POST /token HTTP/1.1\r\nHost: as.example:8080\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"Authorization: Basic eDp5\r\nContent-Length: 3\r\n\r\na=b"
	if got != want {
		t.Fatalf("Post =\n%q\nwant\n%q", got, want)
	}
}
