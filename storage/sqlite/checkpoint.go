package sqlite

import (
	"context"
	"time"
)

// Checkpointing copies committed pages from the write-ahead log into the database file, so that the
// log can start over. SQLite does it by default inside the COMMIT that pushes the log past 1000
// pages: that commit then writes megabytes and fsyncs the database file, and every request waiting
// for the single writer waits with it. Measured here, that halved the writer's throughput and made
// some commits take over a second on a slow disk. So a goroutine of its own runs PASSIVE checkpoints
// on a second connection, beside the writer: a PASSIVE checkpoint takes no lock the writer needs,
// and stops short of pages a reader still uses (the next one finishes them).
const (
	// checkpointEvery is how many committed write requests make the writer ask for a
	// checkpoint: a code redemption adds about 3 pages to the log, so a few thousand pages.
	checkpointEvery = 1000
	// checkpointInterval is the longest a committed page waits for a checkpoint when writes are
	// few.
	checkpointInterval = time.Second
	// walSafetyPages is the log size (in pages) at which the writer checkpoints by itself, should
	// the checkpointer fall behind: SQLite's default behaviour, at 10× the distance.
	walSafetyPages = 10000
	// walSizeLimit is the size (bytes) the log file is trimmed to when it restarts.
	walSizeLimit = 64 << 20
)

func (s *Store) runCheckpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-s.kick:
		case <-t.C:
			if !s.dirty.Load() {
				continue
			}
		}
		s.dirty.Store(false)
		// An error (SQLITE_BUSY while another process checkpoints, an I/O error) is left for the
		// next round; an I/O error also reaches the writer, which reports it to its callers.
		var busy, log, done int
		_ = s.cconn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	}
}
