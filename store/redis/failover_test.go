package redis

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/internal/testkit"
	"simpleapi/store"
)

// A Cluster loses a primary: the store's lookups (pipelines, which the
// client would keep sending to the lost node) answer EUNAVAILABLE, never
// a wrong answer, and find every session again once its replica has taken
// over, with no other command to tell the client. Sentinel alike.
func TestLookupsFollowAFailover(t *testing.T) {
	for _, top := range []struct {
		name string
		open func(t *testing.T) (c *Sessions, kill func())
	}{
		{"cluster", func(t *testing.T) (*Sessions, func()) {
			cl := testkit.StartCluster(t)
			c, prefix, err := Open(Config{ClusterAddrs: cl.Addrs()})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return NewSessions(c, Options{Prefix: prefix}), cl.Nodes[0].Kill
		}},
		{"sentinel", func(t *testing.T) (*Sessions, func()) {
			se := testkit.StartSentinel(t)
			c, prefix, err := Open(Config{SentinelAddrs: se.SentinelAddrs(), SentinelMaster: testkit.SentinelMaster})
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
			return NewSessions(c, Options{Prefix: prefix}), se.Primary.Kill
		}},
	} {
		t.Run(top.name, func(t *testing.T) {
			ss, kill := top.open(t)
			ctx := t.Context()
			var all []store.Session
			for i := range 30 { // over every primary's slots
				s := session(i, fmt.Sprint("user", i%3))
				s.CreatedAt, s.ExpiresAt = time.Now(), time.Now().Add(time.Hour)
				require.NoError(t, ss.CreateSession(ctx, s))
				all = append(all, s)
			}
			// Written long enough ago to have reached the replicas.
			require.NoError(t, ss.c.Do(ctx, "WAIT", 1, 1000).Err())
			killAt := time.Now()
			kill()
			for {
				found := 0
				for _, s := range all {
					got, err := ss.SessionByFamily(ctx, s.Family)
					switch store.ErrorCode(err) {
					case "":
						assert.Equal(t, s.ID, got.ID)
						found++
					case store.EUNAVAILABLE:
					default:
						t.Fatalf("%v", err)
					}
				}
				if found == len(all) {
					break
				}
				require.Less(t, time.Since(killAt), 30*time.Second, "lookups found %d of %d sessions", found, len(all))
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("every session found again %.1f s after the kill", time.Since(killAt).Seconds())
		})
	}
}
