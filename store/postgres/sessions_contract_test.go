package postgres

import (
	"testing"
	"time"

	"simpleapi/auth/sessiontest"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		return openTest(t, Options{Now: now}).Sessions()
	})
}

// TestSessionManagerContract runs the session manager's rotation promises
// over this store.
func TestSessionManagerContract(t *testing.T) {
	sessiontest.Manager(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		return openTest(t, Options{Now: now}).Sessions()
	})
}
