package challenges

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
)

// The contract (storetest's Challenges, run on every store) covers put,
// take and expiry; these are the parts that are this package's own.

// TestCopies: the store keeps its own copy of the data, and nil data is
// kept as empty.
func TestCopies(t *testing.T) {
	s, now := New(), time.Now()
	data := []byte("state")
	require.NoError(t, s.Put("k1", data, time.Second, now))
	data[0] = 'X'
	got, err := s.Take("k1", now)
	require.NoError(t, err)
	assert.Equal(t, []byte("state"), got, "a copy was kept")

	require.NoError(t, s.Put("k2", nil, time.Second, now))
	got, err = s.Take("k2", now)
	require.NoError(t, err)
	assert.NotNil(t, got)
	assert.Empty(t, got)
}

// TestDeadlineToTheMillisecond: a challenge put part-way through a
// millisecond ends at the start of the millisecond its time to live ends
// in, and its key is free again from then on.
func TestDeadlineToTheMillisecond(t *testing.T) {
	s := New()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(700 * time.Microsecond)
	require.NoError(t, s.Put("k", []byte("one"), time.Second, start))
	end := start.Add(time.Second).Truncate(time.Millisecond)
	assert.Equal(t, store.ECONFLICT, store.ErrorCode(s.Put("k", []byte("two"), time.Second, end.Add(-time.Nanosecond))))
	require.NoError(t, s.Put("k", []byte("two"), time.Second, end), "expired: the key is free")
	got, err := s.Take("k", end)
	require.NoError(t, err)
	assert.Equal(t, []byte("two"), got)

	require.NoError(t, s.Put("k", []byte("three"), time.Second, start))
	_, err = s.Take("k", end)
	assert.Equal(t, store.ENOTFOUND, store.ErrorCode(err))
	assert.Zero(t, s.Len(), "an expired challenge is removed by Take too")
}

// TestDeleteExpired drops the expired challenges and keeps the live ones.
func TestDeleteExpired(t *testing.T) {
	s, now := New(), time.Now()
	require.NoError(t, s.Put("short", []byte("1"), time.Second, now))
	require.NoError(t, s.Put("long", []byte("2"), time.Minute, now))
	s.DeleteExpired(now.Add(time.Second))
	assert.Equal(t, 1, s.Len())
	got, err := s.Take("long", now.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, []byte("2"), got)
}
