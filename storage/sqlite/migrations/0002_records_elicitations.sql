-- 0002: records (JSON documents by kind and id) and URL-mode elicitations.

-- Clients, identity providers, upstream identities, connected accounts: documents whose schema
-- belongs to the package that owns their kind. They never expire.
CREATE TABLE records (
	kind       TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	data       BLOB,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) STRICT;

-- Elicitations move from pending to one of accepted, declined, cancelled once (a compare-and-set on
-- status), and their result is handed out once (a compare-and-set on result_taken, which also
-- erases the result).
CREATE TABLE elicitations (
	id           TEXT    NOT NULL PRIMARY KEY,
	resource     TEXT    NOT NULL,
	subject      TEXT    NOT NULL,
	client_id    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	request      BLOB,
	status       TEXT    NOT NULL,
	result       BLOB,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	completed_at INTEGER NOT NULL,
	result_taken INTEGER NOT NULL
) STRICT;

-- DeleteExpired.
CREATE INDEX elicitations_expires ON elicitations (expires_at);
