-- 0001: the first schema. The same records as storage/sqlite's 0001, in PostgreSQL's types.
--
-- Times are timestamptz (microseconds). Every time column is NOT NULL; the zero time.Time is
-- stored as 0001-01-01 00:00:00+00, earlier than any time a record can hold, so that "no expiry"
-- compares as long expired and "never rotated" needs no NULL case. Lists are text[]; an empty
-- list is '{}'. Only portable SQL: no functions, no extensions, no collations, so that the schema
-- also runs on PostgreSQL-compatible distributed engines.

-- Codes, access tokens, refresh tokens and PKCE challenges, keyed by kind and signature (a hash of
-- the credential; the credential itself is never stored).
CREATE TABLE tokens (
	kind               text        NOT NULL,
	signature          text        NOT NULL,
	request_id         text        NOT NULL,
	client_id          text        NOT NULL,
	subject            text        NOT NULL,
	requested_at       timestamptz NOT NULL,
	requested_scopes   text[]      NOT NULL,
	granted_scopes     text[]      NOT NULL,
	requested_audience text[]      NOT NULL,
	granted_audience   text[]      NOT NULL,
	form               text        NOT NULL,
	session            bytea,
	expires_at         timestamptz NOT NULL,
	active             boolean     NOT NULL,
	-- when a refresh token was first rotated; the zero time if never, and reset to it when its
	-- grant is revoked so that a revoked token gets no grace.
	rotated_at         timestamptz NOT NULL,
	PRIMARY KEY (kind, signature)
);

-- RevokeRequest finds every token of a grant.
CREATE INDEX tokens_request ON tokens (request_id, kind);
-- DeleteExpired.
CREATE INDEX tokens_expires ON tokens (expires_at);

-- JWT IDs seen in client assertions and ID-JAGs, kept until they expire to refuse replays.
CREATE TABLE jtis (
	jti        text        NOT NULL PRIMARY KEY,
	expires_at timestamptz NOT NULL
);

CREATE INDEX jtis_expires ON jtis (expires_at);

-- Usernames compare exactly (a login must spell the name as registered) but are unique without
-- regard to ASCII case, so that "alice" and "Alice" cannot be two accounts. username_key is the
-- username with A-Z folded to a-z, computed by mcp-authz: lower() would fold more than ASCII
-- (depending on the database's locale) and an expression index is less portable than a column.
CREATE TABLE users (
	id            text        NOT NULL PRIMARY KEY,
	username      text        NOT NULL,
	username_key  text        NOT NULL,
	password_hash text        NOT NULL,
	email         text        NOT NULL,
	name          text        NOT NULL,
	created_at    timestamptz NOT NULL,
	disabled      boolean     NOT NULL
);

CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE consents (
	subject    text        NOT NULL,
	client_id  text        NOT NULL,
	resource   text        NOT NULL,
	scopes     text[]      NOT NULL,
	granted_at timestamptz NOT NULL,
	PRIMARY KEY (subject, client_id, resource)
);

-- DeleteClientConsents.
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE sessions (
	id         text        NOT NULL PRIMARY KEY,
	data       bytea,
	expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE signing_keys (
	id                    text        NOT NULL PRIMARY KEY,
	algorithm             text        NOT NULL,
	encrypted_private_key bytea       NOT NULL,
	created_at            timestamptz NOT NULL
);

-- Always empty. A conditional change inside Apply (deactivate a token, rotate a refresh token, use
-- a jti) that finds nothing to do inserts the reason here instead; every reason breaks one of these
-- constraints, and the error aborts the transaction in the database itself. This is what lets
-- Apply send all its statements and the COMMIT in one round trip: nothing after a refused change
-- runs, the COMMIT included, and the constraint's name says why.
CREATE TABLE change_refused (
	reason text NOT NULL,
	CONSTRAINT token_not_found CHECK (reason <> 'not_found'),
	CONSTRAINT token_inactive CHECK (reason <> 'inactive'),
	CONSTRAINT jti_in_use CHECK (reason <> 'jti_in_use'),
	-- and a reason this list does not know breaks this one, so that no row ever stays
	CONSTRAINT change_refused_reason CHECK (reason IN ('not_found', 'inactive', 'jti_in_use'))
);
