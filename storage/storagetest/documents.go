package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Limits of records and elicitations that every backend shares, so that a deployment can move
// from one backend to another: a record at a limit is stored, one byte over it is ErrInvalid.
const (
	maxRecordID         = 2 << 10
	maxRecordData       = 64 << 10
	maxElicitationReq   = 16 << 10
	maxElicitationRes   = 64 << 10
	elicitationRetained = 24 * time.Hour
)

// RunRecords runs only the conformance tests of [storage.Records], which [Run] runs among the
// rest. open is as for Run.
func RunRecords(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	runTests(t, recordTests(), open)
}

// record returns a record with every field set.
func record(kind, id string) storage.Record {
	t0 := fixedTime()
	return storage.Record{
		Kind:      kind,
		ID:        id,
		Data:      []byte(fmt.Sprintf(`{"kind":%q,"id":%q,"redirect_uris":["http://127.0.0.1/cb"]}`, kind, id)),
		CreatedAt: t0,
		UpdatedAt: t0.Add(time.Hour),
	}
}

func checkRecord(t *testing.T, want storage.Record, got *storage.Record) {
	t.Helper()
	if got == nil {
		t.Fatalf("record %s/%s: got nil", want.Kind, want.ID)
	}
	var d diff
	d.str("Kind", want.Kind, got.Kind)
	d.str("ID", want.ID, got.ID)
	d.bytes("Data", want.Data, got.Data)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.report(t, fmt.Sprintf("record %s/%s", want.Kind, want.ID))
}

func getRecord(t *testing.T, rs storage.Records, kind, id string) *storage.Record {
	t.Helper()
	r, err := rs.GetRecord(t.Context(), kind, id)
	if err != nil {
		t.Fatalf("GetRecord(%s, %s): %v", kind, id, err)
	}
	return r
}

func wantNoRecord(t *testing.T, rs storage.Records, kind, id string) {
	t.Helper()
	_, err := rs.GetRecord(t.Context(), kind, id)
	wantErr(t, fmt.Sprintf("GetRecord(%s, %s)", kind, id), err, storage.ErrNotFound)
}

func createRecord(t *testing.T, rs storage.Records, r storage.Record) {
	t.Helper()
	wantErr(t, fmt.Sprintf("CreateRecord(%s, %s)", r.Kind, r.ID), rs.CreateRecord(t.Context(), r), nil)
}

func recordTests() []test {
	return []test{
		{"CreateRecord and GetRecord round-trip every field", func(t *testing.T, s storage.Store) {
			want := record(storage.KindClient, "https://client.example/oauth/metadata.json")
			createRecord(t, s, want)
			checkRecord(t, want, getRecord(t, s, want.Kind, want.ID))
			// The same ID under another kind is another record.
			other := record(storage.KindIdP, want.ID)
			other.Data = []byte(`{"issuer":"https://idp.example"}`)
			createRecord(t, s, other)
			checkRecord(t, other, getRecord(t, s, other.Kind, other.ID))
			checkRecord(t, want, getRecord(t, s, want.Kind, want.ID))
			// Data is kept as given, byte for byte, whitespace and all.
			odd := record(storage.KindIdentity, "u1")
			odd.Data = []byte("{ \"name\" : \"Zoë\\u0000\",\n\t\"b\": [] }")
			createRecord(t, s, odd)
			checkRecord(t, odd, getRecord(t, s, odd.Kind, odd.ID))
		}},
		{"CreateRecord of an existing key is ErrConflict", func(t *testing.T, s storage.Store) {
			orig := record(storage.KindClient, "c1")
			createRecord(t, s, orig)
			again := record(storage.KindClient, "c1")
			again.Data, again.CreatedAt = []byte(`{}`), orig.CreatedAt.Add(time.Hour)
			wantErr(t, "CreateRecord again", s.CreateRecord(t.Context(), again), storage.ErrConflict)
			checkRecord(t, orig, getRecord(t, s, orig.Kind, orig.ID))
		}},
		{"PutRecord inserts, and replaces keeping CreatedAt", func(t *testing.T, s storage.Store) {
			first := record(storage.KindConnection, "u1:github")
			wantErr(t, "PutRecord", s.PutRecord(t.Context(), first), nil)
			checkRecord(t, first, getRecord(t, s, first.Kind, first.ID))

			second := first
			second.Data = []byte(`{"token":"rotated"}`)
			second.CreatedAt = first.CreatedAt.Add(48 * time.Hour) // ignored on replace
			second.UpdatedAt = first.UpdatedAt.Add(24 * time.Hour)
			wantErr(t, "PutRecord again", s.PutRecord(t.Context(), second), nil)
			want := second
			want.CreatedAt = first.CreatedAt
			checkRecord(t, want, getRecord(t, s, first.Kind, first.ID))

			// Over a record CreateRecord made, too.
			created := record(storage.KindClient, "c1")
			createRecord(t, s, created)
			put := created
			put.Data, put.CreatedAt, put.UpdatedAt = []byte(`{"v":2}`), time.Now(), time.Now()
			wantErr(t, "PutRecord over a created record", s.PutRecord(t.Context(), put), nil)
			want = put
			want.CreatedAt = created.CreatedAt
			checkRecord(t, want, getRecord(t, s, created.Kind, created.ID))
		}},
		{"GetRecord of none is ErrNotFound", func(t *testing.T, s storage.Store) {
			wantNoRecord(t, s, storage.KindClient, "nope")
			createRecord(t, s, record(storage.KindClient, "c1"))
			wantNoRecord(t, s, storage.KindIdP, "c1")
			wantNoRecord(t, s, storage.KindClient, "C1")
		}},
		{"ListRecords returns one kind, ordered by id byte by byte", func(t *testing.T, s storage.Store) {
			if l, err := s.ListRecords(t.Context(), storage.KindClient); err != nil || len(l) != 0 {
				t.Fatalf("ListRecords of none = %d records, %v", len(l), err)
			}
			// Orders that a database's locale-aware collation would get wrong.
			ids := []string{"b", "B", "a", "A-1", "a1", "a_2", "a 3", "é", "z", "https://x.example/c", "Zoë"}
			for i, id := range ids {
				r := record(storage.KindClient, id)
				r.CreatedAt = r.CreatedAt.Add(time.Duration(i) * time.Minute)
				createRecord(t, s, r)
			}
			createRecord(t, s, record(storage.KindIdP, "0-first"))
			createRecord(t, s, record(storage.KindIdentity, "a"))

			got, err := s.ListRecords(t.Context(), storage.KindClient)
			wantErr(t, "ListRecords", err, nil)
			sorted := slices.Sorted(slices.Values(ids))
			if len(got) != len(sorted) {
				t.Fatalf("ListRecords: %d records, want %d", len(got), len(sorted))
			}
			for i, id := range sorted {
				if got[i].ID != id {
					var gotIDs []string
					for _, r := range got {
						gotIDs = append(gotIDs, r.ID)
					}
					t.Fatalf("ListRecords order: %q, want %q", gotIDs, sorted)
				}
				want := record(storage.KindClient, id)
				want.CreatedAt = want.CreatedAt.Add(time.Duration(slices.Index(ids, id)) * time.Minute)
				checkRecord(t, want, &got[i])
			}
			if l, err := s.ListRecords(t.Context(), storage.KindIdP); err != nil || len(l) != 1 || l[0].ID != "0-first" {
				t.Fatalf("ListRecords(idp) = %v, %v; want the one idp", l, err)
			}
		}},
		{"DeleteRecord removes one record, and ErrNotFound if none", func(t *testing.T, s storage.Store) {
			createRecord(t, s, record(storage.KindClient, "c1"))
			createRecord(t, s, record(storage.KindClient, "c2"))
			createRecord(t, s, record(storage.KindIdP, "c1"))
			wantErr(t, "DeleteRecord", s.DeleteRecord(t.Context(), storage.KindClient, "c1"), nil)
			wantNoRecord(t, s, storage.KindClient, "c1")
			wantErr(t, "DeleteRecord again", s.DeleteRecord(t.Context(), storage.KindClient, "c1"), storage.ErrNotFound)
			wantErr(t, "DeleteRecord of none", s.DeleteRecord(t.Context(), storage.KindConnection, "x"), storage.ErrNotFound)
			getRecord(t, s, storage.KindClient, "c2")
			getRecord(t, s, storage.KindIdP, "c1")
			// The key is free again.
			createRecord(t, s, record(storage.KindClient, "c1"))
		}},
		{"records never expire", func(t *testing.T, s storage.Store) {
			old := record(storage.KindIdentity, "old")
			old.CreatedAt, old.UpdatedAt = time.Now().AddDate(-5, 0, 0), time.Now().AddDate(-5, 0, 0)
			createRecord(t, s, old)
			n, err := s.DeleteExpired(t.Context(), time.Now().AddDate(10, 0, 0))
			wantErr(t, "DeleteExpired", err, nil)
			if n != 0 {
				t.Errorf("DeleteExpired = %d, want 0", n)
			}
			checkRecord(t, old, getRecord(t, s, old.Kind, old.ID))
		}},
		{"records over the size limits are ErrInvalid and not written", func(t *testing.T, s storage.Store) {
			ok := record(storage.KindClient, strings.Repeat("i", maxRecordID))
			ok.Data = bytes.Repeat([]byte("d"), maxRecordData)
			createRecord(t, s, ok)
			checkRecord(t, ok, getRecord(t, s, ok.Kind, ok.ID))
			wantErr(t, "PutRecord at the limits", s.PutRecord(t.Context(), ok), nil)

			longID := record(storage.KindClient, strings.Repeat("i", maxRecordID+1))
			bigData := record(storage.KindClient, "big")
			bigData.Data = bytes.Repeat([]byte("d"), maxRecordData+1)
			noKind := record("", "x")
			noID := record(storage.KindClient, "")
			for name, r := range map[string]storage.Record{"long ID": longID, "big data": bigData, "no kind": noKind, "no ID": noID} {
				wantErr(t, "CreateRecord with "+name, s.CreateRecord(t.Context(), r), storage.ErrInvalid)
				wantErr(t, "PutRecord with "+name, s.PutRecord(t.Context(), r), storage.ErrInvalid)
			}
			wantNoRecord(t, s, bigData.Kind, bigData.ID)
			if l, err := s.ListRecords(t.Context(), storage.KindClient); err != nil || len(l) != 1 {
				t.Fatalf("ListRecords = %d records, %v; want 1", len(l), err)
			}
			// A lookup by a key that could never have been stored is not found.
			_, err := s.GetRecord(t.Context(), storage.KindClient, longID.ID)
			wantErr(t, "GetRecord by a long ID", err, storage.ErrNotFound)
		}},
		{"a cancelled context writes nothing", func(t *testing.T, s storage.Store) {
			ctx, cancel := contextCancelled(t)
			defer cancel()
			if err := s.CreateRecord(ctx, record(storage.KindClient, "c1")); err == nil {
				t.Fatal("CreateRecord with a cancelled context succeeded")
			}
			if err := s.PutRecord(ctx, record(storage.KindClient, "c2")); err == nil {
				t.Fatal("PutRecord with a cancelled context succeeded")
			}
			wantNoRecord(t, s, storage.KindClient, "c1")
			wantNoRecord(t, s, storage.KindClient, "c2")
		}},
		{"CreateRecord: exactly one of many wins", func(t *testing.T, s storage.Store) {
			errs := race(racers, func(i int) error {
				r := record(storage.KindClient, "c1")
				r.Data = []byte(fmt.Sprintf(`{"racer":%d}`, i))
				return s.CreateRecord(t.Context(), r)
			})
			w := wantOneWinner(t, errs, storage.ErrConflict)
			if got := getRecord(t, s, storage.KindClient, "c1"); string(got.Data) != fmt.Sprintf(`{"racer":%d}`, w) {
				t.Errorf("stored %s, but racer %d won", got.Data, w)
			}
		}},
	}
}
