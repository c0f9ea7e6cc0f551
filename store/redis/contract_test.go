package redis

import (
	"testing"
	"time"

	"simpleapi/auth/sessiontest"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

func openSessions(t *testing.T, now func() time.Time) store.SessionStore {
	c, prefix := testClient(t)
	return NewSessions(c, Options{Prefix: prefix, Now: now})
}

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, openSessions)
}

// TestSessionManagerContract runs the session manager's rotation promises
// over this store.
func TestSessionManagerContract(t *testing.T) {
	sessiontest.Manager(t, openSessions)
}
