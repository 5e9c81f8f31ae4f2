package postgres

import (
	"context"
	"time"
)

// expireChunk is how many rows one transaction of DeleteExpired removes. Deleting a backlog of
// millions in one transaction would hold their row locks and a long transaction open (and a
// distributed engine limits a transaction's size); chunks keep each short.
const expireChunk = 1000

// elicitationRetention is how long DeleteExpired keeps an elicitation after its expiry: a
// completed elicitation stays a day for its MCP server to poll for the result, and a pending one
// as long, so that a late page load finds "expired" rather than "not found". (As storage/sqlite.)
const elicitationRetention = 24 * time.Hour

// DeleteExpired removes tokens, used jtis and browser sessions whose expiry is before now, and
// elicitations whose expiry is more than elicitationRetention (a day) before now, and returns how
// many rows it removed. Records never expire. It is not one transaction: if ctx ends part way, what was
// removed stays removed and the count so far is returned with the error.
//
// Several instances may run it at once. They then compete for the same chunk, and one that finds
// its chunk gone stops early: the other finishes the work.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	// One chunk per statement. Rows are picked by primary key, not by ctid, which only PostgreSQL
	// has.
	chunks := []struct {
		what, sql string
		cutoff    time.Time
	}{
		{"delete expired tokens", `DELETE FROM tokens WHERE (kind, signature) IN
			(SELECT kind, signature FROM tokens WHERE expires_at < $1 LIMIT $2)`, now},
		{"delete expired jtis", `DELETE FROM jtis WHERE jti IN
			(SELECT jti FROM jtis WHERE expires_at < $1 LIMIT $2)`, now},
		{"delete expired sessions", `DELETE FROM sessions WHERE id IN
			(SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)`, now},
		{"delete expired elicitations", `DELETE FROM elicitations WHERE id IN
			(SELECT id FROM elicitations WHERE expires_at < $1 LIMIT $2)`, now.Add(-elicitationRetention)},
	}
	var total int64
	for _, q := range chunks {
		for {
			n, err := s.exec(ctx, q.what, q.sql, q.cutoff, expireChunk)
			total += n
			if err != nil {
				return total, err
			}
			if n < expireChunk {
				break
			}
		}
	}
	return total, nil
}
