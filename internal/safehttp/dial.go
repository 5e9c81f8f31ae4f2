package safehttp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// Resolver looks up the addresses of a host name. *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer opens connections. *net.Dialer implements it. safehttp only ever passes it an IP
// literal and port that have already passed the address check.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// maxDialAddrs bounds how many of a name's addresses are tried in turn. All of them are checked.
const maxDialAddrs = 4

// dial connects to addr ("host:port") the safe way: resolve, refuse if any address is
// special-use, then connect to a checked IP literal. Resolution and the check happen here, in
// the dial, and nowhere else; the address connected to is the address checked (CIMD-01 §6.5).
//
// Any special-use address in the answer refuses the whole name, even if a public address comes
// first: a name that mixes the two is either misconfigured or an attack on a resolver that
// rotates its answers.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	// The transport detaches dials from the request's cancellation so that a finished dial can
	// serve a later request. Bound the dial ourselves so a host that never answers cannot hold
	// a goroutine and a socket beyond the time limit.
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()

	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: bad address %q: %w", ErrBadURL, addr, err)
	}
	portNum, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: bad port in %q", ErrBadURL, addr)
	}
	exempt := c.isTestHost(host, port)

	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = c.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, c.dialError(ctx, fmt.Errorf("safehttp: resolving %s: %w", host, err))
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("safehttp: %s has no addresses", host)
		}
	}
	if !exempt {
		for _, ip := range addrs {
			if r, bad := SpecialUse(ip); bad {
				return nil, &AddrError{Host: host, Addr: ip, Range: r}
			}
		}
	}

	var errs []error
	for i, ip := range addrs {
		if i == maxDialAddrs {
			break
		}
		target := netip.AddrPortFrom(ip.Unmap(), uint16(portNum)).String()
		conn, err := c.dialer(exempt).DialContext(ctx, network, target)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, c.dialError(ctx, errors.Join(errs...))
}

// dialTLS dials like dial and then completes a TLS handshake, trusting the extra roots only for
// test hosts.
func (c *Client) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()

	host, port, _ := net.SplitHostPort(addr) // dial has parsed it already
	cfg := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// HTTP/1.1 only: the documents are small, and one protocol is less to reason about.
		NextProtos: []string{"http/1.1"},
	}
	if c.testRoots != nil && c.isTestHost(host, port) {
		cfg.RootCAs = c.testRoots
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, c.dialError(ctx, fmt.Errorf("safehttp: TLS handshake with %s: %w", addr, err))
	}
	return tc, nil
}

// dialError marks err as a timeout when the dial's own time limit ran out.
func (c *Client) dialError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// dialer returns the configured dialer, or the default one that checks the socket address once
// more in Control, just before connect(2). That second check cannot be fooled by DNS at all:
// it sees the numeric address the kernel is about to connect to.
func (c *Client) dialer(exempt bool) Dialer {
	if c.customDialer != nil {
		return c.customDialer
	}
	if exempt {
		return &net.Dialer{}
	}
	return &net.Dialer{Control: checkSocketAddr}
}

// checkSocketAddr is a net.Dialer Control function refusing special-use addresses.
func checkSocketAddr(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse socket address %q", ErrBlockedAddress, address)
	}
	if r, bad := SpecialUse(ap.Addr()); bad {
		return &AddrError{Addr: ap.Addr(), Range: r}
	}
	return nil
}

// hostPortKey normalises a host and port for the test-host set.
func hostPortKey(host, port string) string {
	return net.JoinHostPort(strings.ToLower(host), port)
}

func (c *Client) isTestHost(host, port string) bool {
	_, ok := c.testHosts[hostPortKey(host, port)]
	return ok
}
