package postgres

import (
	"testing"

	"simpleapi/store/postgres/pgtest"
)

// openTest opens a store on a fresh schema, closed when t ends.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(t.Context(), pgtest.Schema(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}
