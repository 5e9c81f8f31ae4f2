package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// expireChunk is how many rows one write request of DeleteExpired removes. Deleting a backlog of
// millions in one transaction would hold the single writer for seconds and stall every token
// request behind it; chunks let other writes in between.
const expireChunk = 1000

// elicitationRetention is how long DeleteExpired keeps an elicitation after its expiry: a
// completed elicitation stays a day for its MCP server to poll for the result, and a pending one
// as long, so that a late page load finds "expired" rather than "not found".
const elicitationRetention = 24 * time.Hour

// DeleteExpired removes tokens, used jtis and browser sessions whose expiry is before now, and
// elicitations whose expiry is more than elicitationRetention (a day) before now, and returns how
// many rows it removed. Records never expire. It is not one transaction: if ctx ends part way,
// what was removed stays removed and the count so far is returned with the error.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	// The table names are constants, never input.
	for _, table := range []struct {
		name   string
		cutoff time.Time
	}{
		{"tokens", now},
		{"jtis", now},
		{"sessions", now},
		{"elicitations", now.Add(-elicitationRetention)},
	} {
		q := fmt.Sprintf(`DELETE FROM %[1]s WHERE rowid IN
			(SELECT rowid FROM %[1]s WHERE expires_at < ? LIMIT %d)`, table.name, expireChunk)
		cutoff := encodeTime(table.cutoff)
		for {
			n, err := s.write(ctx, func(ctx context.Context, c *sql.Conn, _ time.Time) (int64, error) {
				res, err := c.ExecContext(ctx, q, cutoff)
				if err != nil {
					return 0, fmt.Errorf("sqlite: delete expired %s: %w", table.name, err)
				}
				return res.RowsAffected()
			})
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
