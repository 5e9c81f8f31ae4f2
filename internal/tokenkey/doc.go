// Package tokenkey names the storage records of access tokens, and makes the time-ordered IDs
// that keep those names, and the request IDs of machine grants, clustered in the database.
//
// An access token is stored under "<jti>.<SHA-256 of the whole JWT>": finding the record still
// needs the exact token it was issued as (a token whose payload was altered around a genuine
// signature hashes differently), and the credential itself is never stored. The jti in front is
// there for the database: jtis made by [NewID] begin with the time, so records written together
// sit together in the primary-key index. Keyed by the hash alone, every new token landed on a
// random page of that index, and each commit wrote one index page per token to the
// write-ahead log; clustered, a batch of tokens shares a page or two. Request IDs of machine
// grants are made by NewID too, for the request index. On the development machine the SQLite
// store wrote 18,000 machine tokens a second with random keys and 24,000 with these, in one run
// of BenchmarkStore/MachineToken; the gap grows with the table, once random pages no longer fit
// in memory.
package tokenkey
