-- 0002: records (JSON documents by kind and id) and URL-mode elicitations, as in storage/sqlite's
-- 0002.

-- Clients, identity providers, upstream identities, connected accounts: documents whose schema
-- belongs to the package that owns their kind. They never expire. bytea, not jsonb: the data is
-- kept byte for byte as given, and storage does not parse it.
CREATE TABLE records (
	kind       text        NOT NULL,
	id         text        NOT NULL,
	data       bytea,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (kind, id)
);

-- Elicitations move from pending to one of accepted, declined, cancelled once (a compare-and-set on
-- status), and their result is handed out once (a compare-and-set on result_taken, which also
-- erases the result).
CREATE TABLE elicitations (
	id           text        NOT NULL PRIMARY KEY,
	resource     text        NOT NULL,
	subject      text        NOT NULL,
	client_id    text        NOT NULL,
	kind         text        NOT NULL,
	request      bytea,
	status       text        NOT NULL,
	result       bytea,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	completed_at timestamptz NOT NULL,
	result_taken boolean     NOT NULL
);

-- DeleteExpired.
CREATE INDEX elicitations_expires ON elicitations (expires_at);
