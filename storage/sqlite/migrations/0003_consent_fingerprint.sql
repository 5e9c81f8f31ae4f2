-- 0003: the fingerprint of a client's metadata document when the consent was given (Client ID
-- Metadata Document clients; '' for others), so that a consent stops counting once the document's
-- redirect URIs, keys or authentication method change, across restarts too.
ALTER TABLE consents ADD COLUMN client_fingerprint TEXT NOT NULL DEFAULT '';
