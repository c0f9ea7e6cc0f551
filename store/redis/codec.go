package redis

import (
	"encoding/hex"
	"strconv"
	"time"

	"simpleapi/store"
)

// encode lays a session out as the fields of its hash. Times are Unix
// nanoseconds ("" for the zero time); token hashes are hex, so that the
// scripts can build index keys from them.
func encode(v store.Session) map[string]any {
	return map[string]any{
		fID:             v.ID,
		fUser:           v.UserID,
		fHash:           hashText(v.TokenHash),
		fPrevHash:       hashText(v.PrevTokenHash),
		fCreated:        timeText(v.CreatedAt),
		fExpires:        timeText(v.ExpiresAt),
		fIdle:           timeText(v.IdleExpiresAt),
		fSeen:           timeText(v.LastSeenAt),
		fIP:             v.IP,
		fUA:             v.UserAgent,
		fRotated:        timeText(v.RotatedAt),
		fPrevValidUntil: timeText(v.PrevValidUntil),
	}
}

// decode reads a session hash; ok is false when it is missing or damaged.
func decode(m map[string]string) (v store.Session, ok bool) {
	if m[fID] == "" || m[fUser] == "" {
		return store.Session{}, false
	}
	v = store.Session{ID: m[fID], UserID: m[fUser], IP: m[fIP], UserAgent: m[fUA]}
	ok = parseHash(m[fHash], &v.TokenHash) && parseHash(m[fPrevHash], &v.PrevTokenHash) &&
		parseTime(m[fCreated], &v.CreatedAt) && parseTime(m[fExpires], &v.ExpiresAt) &&
		parseTime(m[fIdle], &v.IdleExpiresAt) && parseTime(m[fSeen], &v.LastSeenAt) &&
		parseTime(m[fRotated], &v.RotatedAt) && parseTime(m[fPrevValidUntil], &v.PrevValidUntil)
	return v, ok
}

// decodePairs is decode for the flat field/value list a script returns.
func decodePairs(kv []string) (store.Session, bool) {
	if len(kv) == 0 || len(kv)%2 != 0 {
		return store.Session{}, false
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return decode(m)
}

func hashText(h store.TokenHash) string {
	if h == (store.TokenHash{}) {
		return ""
	}
	return hex.EncodeToString(h[:])
}

func parseHash(s string, h *store.TokenHash) bool {
	if s == "" {
		*h = store.TokenHash{}
		return true
	}
	n, err := hex.Decode(h[:], []byte(s))
	return err == nil && n == len(h)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func parseTime(s string, t *time.Time) bool {
	if s == "" {
		*t = time.Time{}
		return true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	*t = time.Unix(0, n).UTC()
	return true
}
