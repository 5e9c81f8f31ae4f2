package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what a run did.
type Result struct {
	// Requests is the number of responses received, and OK those with status 200.
	Requests, OK int64
	// Elapsed is the time from the first request sent to the last response read.
	Elapsed time.Duration
	// FirstFailure is the status line and body of the first response that was not 200, for the
	// benchmark's error message.
	FirstFailure string
}

// PerSecond is the throughput of successful requests.
func (r Result) PerSecond() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Run sends n requests to addr (host:port) over conns keep-alive connections and waits for
// every response. request(i) returns the bytes of the i-th request (0 ≤ i < n), a complete
// HTTP/1.1 request with Host and, for a body, Content-Length. It is called from the
// connections' goroutines and must be safe for concurrent use; the bytes must not change.
//
// A connection the server closes is opened again; an error opening one ends the run.
func Run(ctx context.Context, addr string, conns, n int, request func(i int) []byte) (Result, error) {
	if conns < 1 || n < 0 {
		return Result{}, fmt.Errorf("loadgen: %d connections, %d requests", conns, n)
	}
	var (
		next      atomic.Int64
		res       Result
		mu        sync.Mutex // guards res.FirstFailure and firstErr
		firstErr  error
		responses atomic.Int64
		ok        atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	// Connect first, so that the timed part does not include the handshakes.
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(ctx, addr)
		if err != nil {
			for _, c := range cs[:i] {
				c.close()
			}
			return Result{}, err
		}
		cs[i] = c
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { c.close() }()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				status, body, err := c.roundTrip(request(int(i)))
				if err != nil {
					fail(err)
					return
				}
				if c.closed {
					// The server said Connection: close; carry on over a new connection.
					if c, err = dial(ctx, addr); err != nil {
						fail(err)
						return
					}
				}
				responses.Add(1)
				if status == http.StatusOK {
					ok.Add(1)
					continue
				}
				mu.Lock()
				if res.FirstFailure == "" {
					res.FirstFailure = fmt.Sprintf("%d %s", status, body)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Requests, res.OK = responses.Load(), ok.Load()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

type conn struct {
	nc net.Conn
	br *bufio.Reader
	// closed: the last response said Connection: close.
	closed bool
}

func dial(ctx context.Context, addr string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}, nil
}

func (c *conn) close() {
	if c != nil && !c.closed {
		c.closed = true
		c.nc.Close()
	}
}

// maxFailureBody bounds how much of a failed response is kept for the report.
const maxFailureBody = 512

// roundTrip writes one request and reads its whole response.
func (c *conn) roundTrip(req []byte) (status int, failure string, err error) {
	if _, err := c.nc.Write(req); err != nil {
		return 0, "", fmt.Errorf("loadgen: write: %w", err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, "", fmt.Errorf("loadgen: read response: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxFailureBody))
		failure = string(b)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
		}
	}
	resp.Body.Close()
	if err != nil {
		return 0, "", fmt.Errorf("loadgen: read body: %w", err)
	}
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, failure, nil
}

// Post builds an HTTP/1.1 POST of a form body, with the given extra header lines (each
// "Name: value").
func Post(host, path, body string, headers ...string) []byte {
	b := make([]byte, 0, 256+len(body))
	b = fmt.Appendf(b, "POST %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	b = append(b, "Content-Type: application/x-www-form-urlencoded\r\n"...)
	for _, h := range headers {
		b = append(b, h...)
		b = append(b, "\r\n"...)
	}
	b = fmt.Appendf(b, "Content-Length: %d\r\n\r\n", len(body))
	return append(b, body...)
}
