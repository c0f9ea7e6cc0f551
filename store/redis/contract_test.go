package redis

import (
	"testing"
	"time"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		c, prefix := testClient(t)
		return NewSessions(c, Options{Prefix: prefix, Now: now})
	})
}
