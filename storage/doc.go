// Package storage is the contract between mcp-authz and its databases: the records the server keeps,
// the interfaces a backend implements, and the errors it returns.
//
// Every backend (storage/sqlite, storage/postgres) implements [Store] and passes the conformance
// suite in storage/storagetest; nothing above this package knows which backend it talks to.
//
// Writes that must happen together are expressed as [Change] values and handed to
// [Tokens.Apply], which applies all of them in one transaction or none. This is how a code is
// redeemed exactly once (the [DeactivateToken] fails for every caller but the first) and how a
// refresh token rotates exactly once, whichever instance answers: the guarantee lives in the
// database, not in process memory.
//
// The package knows nothing of fosite; oauth adapts fosite's storage interfaces onto it.
package storage
