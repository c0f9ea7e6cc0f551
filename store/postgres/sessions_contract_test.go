package postgres

import (
	"testing"
	"time"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestSessionStoreContract(t *testing.T) {
	storetest.SessionStore(t, func(t *testing.T, now func() time.Time) store.SessionStore {
		return openTest(t, Options{Now: now}).Sessions()
	})
}
