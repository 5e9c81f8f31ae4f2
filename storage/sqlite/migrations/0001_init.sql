-- 0001: the first schema.
--
-- Times are INTEGER microseconds since the Unix epoch, UTC; 0 stands for the zero time.
-- (Nanoseconds would overflow int64 for dates past 2262, and "never expires" is often written
-- as year 9999.) Lists are JSON arrays of strings. Tables are STRICT so that a value of the wrong
-- type is an error, not a silent conversion.

-- Codes, access tokens, refresh tokens and PKCE challenges, keyed by kind and signature (a hash of
-- the credential; the credential itself is never stored).
CREATE TABLE tokens (
	kind               TEXT    NOT NULL,
	signature          TEXT    NOT NULL,
	request_id         TEXT    NOT NULL,
	client_id          TEXT    NOT NULL,
	subject            TEXT    NOT NULL,
	requested_at       INTEGER NOT NULL,
	requested_scopes   TEXT    NOT NULL,
	granted_scopes     TEXT    NOT NULL,
	requested_audience TEXT    NOT NULL,
	granted_audience   TEXT    NOT NULL,
	form               TEXT    NOT NULL,
	session            BLOB,
	expires_at         INTEGER NOT NULL,
	active             INTEGER NOT NULL,
	-- when a refresh token was first rotated; 0 if never, and reset to 0 when its grant is revoked
	-- so that a revoked token gets no grace.
	rotated_at         INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (kind, signature)
) STRICT;

-- RevokeRequest finds every token of a grant.
CREATE INDEX tokens_request ON tokens (request_id, kind);
-- DeleteExpired.
CREATE INDEX tokens_expires ON tokens (expires_at);

-- JWT IDs seen in client assertions and ID-JAGs, kept until they expire to refuse replays.
CREATE TABLE jtis (
	jti        TEXT    NOT NULL PRIMARY KEY,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX jtis_expires ON jtis (expires_at);

-- Usernames compare exactly (a login must spell the name as registered) but are unique without
-- regard to ASCII case, so that "alice" and "Alice" cannot be two accounts.
CREATE TABLE users (
	id            TEXT    NOT NULL PRIMARY KEY,
	username      TEXT    NOT NULL,
	password_hash TEXT    NOT NULL,
	email         TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	created_at    INTEGER NOT NULL,
	disabled      INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_username ON users (username COLLATE NOCASE);

CREATE TABLE consents (
	subject    TEXT    NOT NULL,
	client_id  TEXT    NOT NULL,
	resource   TEXT    NOT NULL,
	scopes     TEXT    NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (subject, client_id, resource)
) STRICT;

-- DeleteClientConsents.
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE sessions (
	id         TEXT    NOT NULL PRIMARY KEY,
	data       BLOB,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE signing_keys (
	id                    TEXT    NOT NULL PRIMARY KEY,
	algorithm             TEXT    NOT NULL,
	encrypted_private_key BLOB    NOT NULL,
	created_at            INTEGER NOT NULL
) STRICT;
