package safehttp

import (
	"context"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

// countingListener counts the connections it accepts. A test that must prove "no connection
// reached the target" asserts that the count stayed at zero.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// target is a loopback TLS server whose accepted connections are counted.
type target struct {
	*httptest.Server
	ln *countingListener
}

func (tg *target) Accepted() int64 { return tg.ln.accepted.Load() }

// Addr is the server's "127.0.0.1:port".
func (tg *target) Addr() string { return tg.Listener.Addr().String() }

// Roots is a pool trusting the server's certificate.
func (tg *target) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(tg.Certificate())
	return p
}

func newTarget(t testing.TB, h http.Handler) *target {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"ok":true}`))
		})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point here
	ln := &countingListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &target{Server: srv, ln: ln}
}

// fakeResolver lets a name "resolve" to any address. Names it does not know do not exist.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// routingDialer stands in for the network. Whatever address it is asked to dial, it connects
// to a loopback listener: routes maps an asked address to a listener, and every other address
// goes to fallback. So a test can let a name resolve to 10.0.0.1 and still be sure that, were
// the check to let it through, the connection would land on a counted local listener and never
// on a real private or public address.
type routingDialer struct {
	routes   map[string]string
	fallback string

	mu    sync.Mutex
	asked []string
}

func (d *routingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, address)
	d.mu.Unlock()
	to, ok := d.routes[address]
	if !ok {
		to = d.fallback
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", to)
}

func (d *routingDialer) Asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

func mustClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}
