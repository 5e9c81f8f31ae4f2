// Package storagetest is the conformance suite every storage backend runs: one set of tests that
// pins down what storage.Store means, so that the server behaves the same on SQLite and
// PostgreSQL.
//
// A backend's test calls [Run] with a function that opens a fresh, empty store and closes it with
// t.Cleanup, and [RunBenchmarks] likewise. [RunRecords] and [RunElicitations] run the tests of
// storage.Records and storage.Elicitations alone (Run includes them). The package lives in
// non-test files so that any backend's tests can import it; it imports no backend.
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
//   - Record data and elicitation requests and results are kept byte for byte. ListRecords orders
//     ids byte by byte, as Go compares strings, whatever the database's collation.
//   - Limits every backend shares, so that data moves between them: a record ID up to 2 KiB and its
//     data up to 64 KiB, an elicitation request up to 16 KiB and its result up to 64 KiB. A byte
//     more, an empty kind or ID, an elicitation without an expiry or with a status that is not one
//     of the four, or completion to pending: ErrInvalid, and nothing written.
//   - An elicitation has expired at At when its ExpiresAt is not after At.
//   - TakeElicitationResult erases the stored result: afterwards GetElicitation shows ResultTaken
//     and no Result. A completed elicitation's result can be taken after its expiry.
//   - DeleteExpired removes an elicitation, completed or not, once its expiry is more than a day
//     before now, and never removes records.
//
// The concurrency tests start many goroutines on one store at once; a backend must give them
// separate connections (or serialize them correctly) for exactly one of them to win.
package storagetest
