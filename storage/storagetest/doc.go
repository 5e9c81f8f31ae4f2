// Package storagetest is the conformance suite every storage backend runs: one set of tests that
// pins down what storage.Store means, so that the server behaves the same on SQLite and
// PostgreSQL.
//
// A backend's test calls [Run] with a function that opens a fresh, empty store and closes it with
// t.Cleanup, and [RunBenchmarks] likewise. The package lives in non-test files so that any
// backend's tests can import it; it imports no backend.
//
// Besides what storage.go states, the suite pins down a few things the contract leaves implicit,
// because callers depend on them:
//
//   - Times round-trip to within a millisecond; the zero time reads back as the zero time.
//     Nil and empty slices are the same.
//   - A refresh token whose grant was revoked (RevokeRequest) gets no grace window, even if it
//     was rotated a moment before: revocation is final.
//   - RotateRefreshToken with Grace 0 never succeeds twice.
//   - Usernames are unique without regard to ASCII case, and GetUserByUsername matches exactly.
//   - UpdateUser leaves the username and creation time alone.
//   - An expired UseJTI record may be used again.
//   - Apply with a context already cancelled fails and applies nothing.
//
// The concurrency tests start many goroutines on one store at once; a backend must give them
// separate connections (or serialize them correctly) for exactly one of them to win.
package storagetest
