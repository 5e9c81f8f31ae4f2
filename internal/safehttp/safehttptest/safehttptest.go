// Package safehttptest provides what tests of code that fetches through internal/safehttp need
// to prove that nothing reached where it must not: a local TLS server that counts the
// connections it accepts, a resolver that makes any name "resolve" to any address, and a dialer
// that stands in for the network.
//
// A typical hostile-address test lets a public-looking name resolve to 10.0.0.1 with
// [Resolver], routes every dial to a [Target] with [RoutingDialer], fetches, and then asserts
// that the fetch was refused and Target.Accepted() is zero. Because every dial lands on a local
// listener, no test ever sends a packet to a real private or public address, even if the code
// under test were broken.
package safehttptest

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

// CountingListener counts the connections it accepts.
type CountingListener struct {
	net.Listener
	accepted atomic.Int64
}

// Accept accepts and counts.
func (l *CountingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// Accepted is the number of connections accepted so far.
func (l *CountingListener) Accepted() int64 { return l.accepted.Load() }

// Target is an httptest TLS server on 127.0.0.1 whose accepted connections are counted. Its
// certificate is valid for 127.0.0.1, ::1 and example.com.
type Target struct {
	*httptest.Server
	ln *CountingListener
}

// NewTarget starts a Target serving h (nil: a small JSON object) and closes it when t ends.
func NewTarget(t testing.TB, h http.Handler) *Target {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	ln := &CountingListener{Listener: srv.Listener}
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &Target{Server: srv, ln: ln}
}

// Accepted is the number of connections the server accepted.
func (tg *Target) Accepted() int64 { return tg.ln.Accepted() }

// Addr is "127.0.0.1:port", the form safehttp.Config.TestHosts takes.
func (tg *Target) Addr() string { return tg.Listener.Addr().String() }

// Roots is a pool trusting the server's certificate, for safehttp.Config.TestRootCAs.
func (tg *Target) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(tg.Certificate())
	return p
}

// Resolver lets a name "resolve" to any address; names it does not hold do not exist. It
// implements safehttp.Resolver.
type Resolver map[string][]netip.Addr

// LookupNetIP returns the addresses of host.
func (r Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// RoutingDialer stands in for the network and implements safehttp.Dialer. Whatever address it
// is asked to dial, it connects to a local listener: Routes maps an asked "ip:port" to a
// listener address, and any other address goes to Fallback. It records what it was asked.
type RoutingDialer struct {
	Routes   map[string]string
	Fallback string

	mu    sync.Mutex
	asked []string
}

// DialContext records address and connects to its route.
func (d *RoutingDialer) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	d.mu.Lock()
	d.asked = append(d.asked, address)
	d.mu.Unlock()
	to, ok := d.Routes[address]
	if !ok {
		to = d.Fallback
	}
	var nd net.Dialer
	return nd.DialContext(ctx, "tcp", to)
}

// Asked returns the addresses the dialer has been asked for.
func (d *RoutingDialer) Asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}
