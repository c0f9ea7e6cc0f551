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

// fields lists the session hash's fields in the order of a record's
// values: the lookup script reads them in this order.
var fields = [...]string{fID, fUser, fHash, fPrevHash, fCreated, fExpires, fIdle, fSeen, fIP, fUA, fRotated, fPrevValidUntil}

// record is the values of a session hash, in the order of fields.
type record [len(fields)]string

// decode reads a session hash; ok is false when it is missing or damaged.
func decode(m map[string]string) (store.Session, bool) {
	var r record
	for i, f := range fields {
		r[i] = m[f]
	}
	return r.session()
}

// session reads a record; ok is false when it is damaged.
func (r *record) session() (v store.Session, ok bool) {
	if r[0] == "" || r[1] == "" {
		return store.Session{}, false
	}
	v = store.Session{ID: r[0], UserID: r[1], IP: r[8], UserAgent: r[9]}
	ok = parseHash(r[2], &v.TokenHash) && parseHash(r[3], &v.PrevTokenHash) &&
		parseTime(r[4], &v.CreatedAt) && parseTime(r[5], &v.ExpiresAt) &&
		parseTime(r[6], &v.IdleExpiresAt) && parseTime(r[7], &v.LastSeenAt) &&
		parseTime(r[10], &v.RotatedAt) && parseTime(r[11], &v.PrevValidUntil)
	return v, ok
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
