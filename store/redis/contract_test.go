package redis

import (
	"testing"
	"time"

	"simpleapi/auth/sessiontest"
	"simpleapi/store"
	"simpleapi/store/storetest"
)

// The session store and session manager contracts, on one server, a
// Cluster and a Sentinel's primary.
func TestSessionStoreContract(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore {
				c, prefix := top.open(t)
				return NewSessions(c, Options{Prefix: prefix, Now: now})
			})
		})
	}
}

// TestSessionManagerContract runs the session manager's rotation promises
// over this store.
func TestSessionManagerContract(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			sessiontest.Manager(t, func(t *testing.T, now func() time.Time) store.SessionStore {
				c, prefix := top.open(t)
				return NewSessions(c, Options{Prefix: prefix, Now: now})
			})
		})
	}
}
