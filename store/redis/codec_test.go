package redis

import (
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

// A session stored before assurance levels, in the layout of families and
// ms times but without the aal and auth_at fields, loads with AAL "" and a
// zero AuthAt, everywhere, and takes SetSessionAuth.
func TestSessionStoredBeforeAssuranceLevels(t *testing.T) {
	ss, _ := newSessions(t)
	ctx := t.Context()
	c := ss.c.(*goredis.Client)
	want := session(1, "alice")
	want.AAL, want.AuthAt = store.AAL2, baseTime // dropped below
	require.NoError(t, ss.CreateSession(ctx, want))
	require.NoError(t, c.HDel(ctx, ss.sessionKey(hashText(want.Family)), "aal", "auth_at").Err())
	want.AAL, want.AuthAt = "", time.Time{}

	got, err := ss.SessionByFamily(ctx, want.Family)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	got, err = ss.SessionByID(ctx, want.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	list, err := ss.ListSessions(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []store.Session{want}, list)
	r := store.Rotation{Family: want.Family, TokenHash: storetest.NewTokenHash(), RotatedAt: baseTime.Add(time.Second)}
	got, err = ss.RotateToken(ctx, want.ID, want.TokenHash, r)
	require.NoError(t, err)
	want.TokenHash, want.RotatedAt = r.TokenHash, r.RotatedAt
	assert.Equal(t, want, got)

	got, err = ss.SetSessionAuth(ctx, want.ID, store.AALPending, baseTime.Add(time.Second))
	require.NoError(t, err)
	want.AAL, want.AuthAt = store.AALPending, baseTime.Add(time.Second)
	assert.Equal(t, want, got)
	got, err = ss.SessionByID(ctx, want.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// Times are written and read in Unix ms.
func TestTimeFormats(t *testing.T) {
	at := time.Date(2024, 5, 17, 12, 30, 45, 123456789, time.UTC)
	assert.Equal(t, "1715949045123", timeText(at))
	assert.Empty(t, timeText(time.Time{}))
	for _, c := range []struct {
		text string
		want time.Time
	}{
		{"1715949045123", at.Truncate(time.Millisecond)},
		{"", time.Time{}},
		{"-1000", time.UnixMilli(-1000).UTC()},
	} {
		var got time.Time
		require.True(t, parseTime(c.text, &got), c.text)
		assert.Equal(t, c.want, got, c.text)
	}
	var got time.Time
	assert.False(t, parseTime("12:30", &got))
}
