// Package postgres is the storage backend for several mcp-authz instances sharing one database: a
// [storage.Store] in PostgreSQL, through github.com/jackc/pgx/v5 and its connection pool.
//
// It keeps the same records as storage/sqlite with the same meaning (including
// [storage.Records] and [storage.Elicitations]), and passes the same conformance suite
// (storage/storagetest). Everything that must hold across instances is decided
// by the database, never in process memory: that a code is redeemed once, that a refresh token
// rotates once, that a jti is accepted once, that a username is taken once, that an elicitation
// completes once and its result is handed out once.
//
// # Transactions
//
// An [Store.Apply] transaction is sent in one round trip: BEGIN, one statement per change and
// COMMIT, pipelined in a pgx.Batch. A conditional change that finds nothing to do (a token already
// used, a jti already seen) makes its statement fail on purpose, by inserting the reason into the
// change_refused table, whose CHECK constraints refuse every row. The server then skips the rest
// of the batch, COMMIT included; the transaction is rolled back and the constraint's name says
// which error to return. Statements are prepared once per connection and cached by pgx.
//
// Each conditional change is a single UPDATE or INSERT … ON CONFLICT. Under READ COMMITTED, a
// transaction that finds the row locked by another waits for it and then re-evaluates its WHERE
// clause against the row as the other left it, so of many instances redeeming one code at once,
// exactly one finds it active and the others get [storage.ErrInactive].
//
// Group commit: most of what a transaction costs the database (the round trip, BEGIN and COMMIT,
// the WAL flush) does not depend on how much it writes. So, as in storage/sqlite, Apply calls that
// arrive while others are being committed are committed together, several to a transaction, by a
// few writer goroutines; if any of them fails, the transaction is rolled back and each is applied
// again in a transaction of its own, so that every caller gets exactly the outcome it would have
// had alone. Likewise GetToken lookups that arrive together are sent together, in one round trip,
// each its own statement. Neither waits for company: under low load a request goes out at once.
//
// A transaction that loses a conflict with another is run again, a bounded number of times, after
// a short random pause: a deadlock (SQLSTATE 40P01), which PostgreSQL resolves by aborting one of
// the transactions, and a serialization failure (40001), which PostgreSQL-compatible distributed
// engines such as CockroachDB return for any contended write. Neither reaches the caller unless
// every attempt failed. Nothing else is retried.
//
// Once a write is under way (taken by a writer, or sent), cancelling the caller's context no longer
// interrupts it (it is still bounded by a timeout): the caller learns whether it committed. As with any networked
// database, a connection lost during COMMIT leaves that unknown: the error is returned, and the
// write may or may not have been applied.
//
// # Portable SQL
//
// The schema and the queries keep to what PostgreSQL-compatible engines share: no stored
// procedures, no extensions, no collations, no ctid, information_schema rather than pg_catalog. Two things are
// done in Go for that reason: the case-insensitive uniqueness of usernames is a unique index on a
// column that holds the username with A-Z folded to a-z (lower() would fold more, depending on the
// database's locale), and list orders are sorted in Go, so that they are byte orders as in
// storage/sqlite, whatever the database's collation. Migrations take pg_advisory_xact_lock,
// which an engine without advisory locks would have to do without.
//
// # Schema
//
// Migrations are SQL files embedded from migrations/, numbered from 0001; the schema_version table
// records which were applied. [Open] applies the missing ones in one transaction unless
// [Options.NoMigrate] is set, under an advisory lock so that instances starting at once migrate
// exactly once, and refuses a database migrated by a newer mcp-authz ([storage.ErrSchemaTooNew]).
// [Options.Schema] puts the tables in a schema of their own.
//
// Times are timestamptz, read back in UTC, to the microsecond. Every time column is NOT NULL; the
// zero time is stored as 0001-01-01 00:00:00 UTC (which is what it is), so that a zero expiry is
// long past and a zero rotation time means "never", as storage/sqlite's 0 does.
//
// # Bad input
//
// Every field has the same size limit as in storage/sqlite, checked before anything is written
// (see limits.go); a value over it, or a missing key, is an error wrapping [ErrInvalidInput] that
// names the field, and wraps [storage.ErrInvalid]. So is text PostgreSQL cannot hold: invalid UTF-8 and the NUL character. A
// lookup by such a key is [storage.ErrNotFound].
//
// # Running several instances
//
// Any number of mcp-authz instances, behind a load balancer, can share one PostgreSQL database.
//
// What they must share:
//   - The database (the same DSN and, if set, the same schema): codes, tokens, refresh token
//     rotation, used jtis, users, consents, browser sessions, signing keys, clients and identity
//     providers registered at run time, and elicitations live there, so any instance can answer
//     any request, including the next step of a flow another one started.
//   - The server secret (MCP_AUTHZ_SECRET or secrets.key_file): it encrypts the signing keys in
//     the database and keys session cookies and token HMACs, so an instance with another secret
//     can neither sign nor accept what the others issued.
//   - The configuration of issuer, clients and resources: an instance must not refuse what another
//     one issued.
//
// What is per instance, and may differ between them without harm:
//   - Caches (Client ID Metadata Documents, IdP JWKS): each instance fetches and caches on its
//     own; they converge within the cache lifetime.
//   - Login rate-limit counters: each instance counts the attempts it sees, so the effective limit
//     is the configured one times the number of instances an attacker can reach.
//   - The connection pool: [Options.MaxConns] connections per instance.
//
// Migrations: every instance migrates at start unless told not to, and the advisory lock makes
// that safe when they start together. For a rolling upgrade, migrate first with "mcp-authz
// migrate" (run once, from the new version), then roll out the new version with migration turned
// off ([Options.NoMigrate]). Old instances still running refuse to start again against the newer
// schema ([storage.ErrSchemaTooNew]) rather than write what they do not understand; a migration
// that old instances cannot run alongside says so in its release notes.
//
// Sizing connections: the database sees up to (instances × MaxConns) connections from
// mcp-authz. Keep that below the server's max_connections with headroom for administration,
// "mcp-authz migrate", monitoring and the overlap of old and new instances during a rollout: with
// max_connections = 100, three instances of 16 connections leave 52. Token requests hardly hold
// connections: their lookups and writes go out in batches, on a quarter of the pool each (at
// least one connection for lookups, two for writes), so the default (the number of CPUs, at least
// 4) suits most instances; more connections than the database has cores add contention, not
// throughput. Behind a pooler such as
// PgBouncer in transaction mode, add default_query_exec_mode=cache_describe to the DSN, since
// prepared statements cannot follow a client from one server connection to the next.
package postgres
