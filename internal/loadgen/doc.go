// Package loadgen drives an HTTP/1.1 server the way wrk does: a fixed number of keep-alive
// connections, each with one request in flight, requests written from prepared bytes and
// responses read with the standard library's parser.
//
// It exists for the repository's throughput benchmarks. net/http's client costs the load
// generator about as much CPU per request as the token endpoint costs the server, and on a
// 2-core machine the two share the cores: a benchmark driven by it measures the client as much
// as the server. A load generator should be cheap next to what it measures; this one is, and
// it ships with the repository so that anyone can rerun the figures without installing wrk.
//
// There is no pipelining: a connection sends its next request only after the whole response to
// the last one has arrived, as an HTTP client does.
package loadgen
