-- 0003: the fingerprint of a client's metadata document when the consent was given, as in
-- storage/sqlite's 0003.
ALTER TABLE consents ADD COLUMN client_fingerprint text NOT NULL DEFAULT '';
