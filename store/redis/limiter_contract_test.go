package redis

import (
	"testing"
	"time"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestLoginLimiterContract(t *testing.T) {
	for _, top := range topologies {
		t.Run(top.name, func(t *testing.T) {
			storetest.LoginLimiter(t, func(t *testing.T, limits store.LoginLimits, now func() time.Time) store.LoginLimiter {
				c, prefix := top.open(t)
				return NewLimiter(c, limits, Options{Prefix: prefix, Now: now})
			})
		})
	}
}
