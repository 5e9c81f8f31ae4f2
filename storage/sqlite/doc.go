// Package sqlite is the embedded storage backend: a [storage.Store] in one SQLite file, through
// github.com/mattn/go-sqlite3. It is the default for a single instance; several instances sharing
// one database use storage/postgres instead.
//
// # One writer, group commit
//
// SQLite allows one writer at a time, and a durable commit costs an fsync, which on ordinary disks
// takes a millisecond or more. One transaction per request would cap the server at a few hundred
// writes a second and make concurrent writers queue on SQLite's busy handler. So every write
// (Apply and every other method that changes something) is sent to a single goroutine that owns the
// only write connection. It takes every request waiting in its queue (up to [Options.MaxBatch]),
// yields the processor a few times so that handlers about to send a write can join (writer.go
// says why this pays), runs the batch in one BEGIN IMMEDIATE … COMMIT, and then answers all of
// them: the callers share one fsync. The batch is first applied without savepoints; if a request
// fails, the transaction is rolled back and the batch applied again with each request in its own
// SAVEPOINT, rolled back to it on failure, so a request's error never spoils the others in its
// batch and [storage.Tokens.Apply] stays all or nothing. Because the writer is the only writer, the
// checks inside a request (is this code still active?) and the writes that follow cannot
// interleave with another request's.
//
// A caller whose context ends while its request still waits in the queue gets ctx.Err() and the
// request is skipped; once the writer has taken the request the caller waits for its outcome, so
// that an error always means "not applied". The writer itself never runs SQL under a caller's
// context: an interrupted statement would abort the whole batch.
//
// Reads go through a pool of read-only connections and, in WAL mode, never wait for the writer.
// A third party, the checkpointer, copies the write-ahead log into the database file on a
// connection of its own, so that no commit has to (checkpoint.go says why).
//
// # Durability
//
// [SynchronousFull] (the default) fsyncs the write-ahead log on every commit: a write that returned
// survives a power loss. [SynchronousNormal] fsyncs only at checkpoints: a write survives a crash of
// the process but may be lost with the machine.
//
// # Schema
//
// Migrations are SQL files embedded from migrations/, numbered from 0001; the schema_version table
// records which were applied. [Open] applies the missing ones in one transaction unless
// [Options.NoMigrate] is set, and refuses a database migrated by a newer binary
// ([storage.ErrSchemaTooNew]).
//
// Times are stored as INTEGER microseconds since the Unix epoch and read back in UTC; the zero time
// is stored as 0 (so the instant 1970-01-01T00:00:00Z itself reads back as the zero time, which no
// record has reason to hold). Microseconds rather than nanoseconds because nanoseconds overflow
// int64 after 2262 and "never" is often written as the year 9999.
//
// Usernames are unique without regard to ASCII case ("alice" and "Alice" cannot both exist) but
// GetUserByUsername matches exactly; ListUsers orders case-insensitively.
//
// # Records and elicitations
//
// Records keep their data as the bytes given and never expire. An elicitation's two transitions,
// completing it and taking its result, are each a compare-and-set inside one write request, so of
// concurrent callers exactly one succeeds. Taking the result also erases it from the database: it
// is handed out once and may be a secret. [Store.DeleteExpired] removes an elicitation a day after
// its expiry, completed or not, so that its MCP server can still poll for a result completed just
// before the expiry.
//
// # Bad input
//
// Every field has a size limit checked before anything is written (see limits.go); a value over it,
// or a missing key, is an error wrapping [ErrInvalidInput] (and through it [storage.ErrInvalid])
// that names the field.
package sqlite
