package memory

import (
	"testing"
	"time"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestLoginLimiterContract(t *testing.T) {
	storetest.LoginLimiter(t, func(t *testing.T, limits store.LoginLimits, now func() time.Time) store.LoginLimiter {
		return NewLimiter(limits, now)
	})
}
