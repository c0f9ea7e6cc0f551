package redis

import (
	"encoding/hex"
	"strconv"
	"time"

	"simpleapi/store"
)

// Fields of the session hash.
const (
	fID, fUser, fFamily, fHash, fPrevHash = "id", "user", "family", "hash", "prev"
	fCreated, fExpires, fIdle, fSeen      = "created", "expires", "idle", "seen"
	fIP, fUA, fRotated, fPrevValidUntil   = "ip", "ua", "rotated", "prev_until"
	fAAL, fAuthAt                         = "aal", "auth_at"
)

// Positions of the fields in a record.
const (
	iID = iota
	iUser
	iFamily
	iHash
	iPrevHash
	iCreated
	iExpires
	iIdle
	iSeen
	iIP
	iUA
	iRotated
	iPrevValidUntil
	iAAL
	iAuthAt
	numFields
)

// fields lists the session hash's fields in the order of a record's
// values: the scripts read them in this order.
var fields = [numFields]string{
	iID: fID, iUser: fUser, iFamily: fFamily, iHash: fHash, iPrevHash: fPrevHash,
	iCreated: fCreated, iExpires: fExpires, iIdle: fIdle, iSeen: fSeen,
	iIP: fIP, iUA: fUA, iRotated: fRotated, iPrevValidUntil: fPrevValidUntil,
	iAAL: fAAL, iAuthAt: fAuthAt,
}

// record is the values of a session hash, in the order of fields.
type record [numFields]string

// encode lays a session out as the field-value pairs of its hash, in the
// order of fields. Times are Unix milliseconds ("" for the zero time);
// token hashes are hex, so that the scripts can build index keys from
// them.
func encode(v store.Session) []any {
	r := record{
		iID:             v.ID,
		iUser:           v.UserID,
		iFamily:         hashText(v.Family),
		iHash:           hashText(v.TokenHash),
		iPrevHash:       hashText(v.PrevTokenHash),
		iCreated:        timeText(v.CreatedAt),
		iExpires:        timeText(v.ExpiresAt),
		iIdle:           timeText(v.IdleExpiresAt),
		iSeen:           timeText(v.LastSeenAt),
		iIP:             v.IP,
		iUA:             v.UserAgent,
		iRotated:        timeText(v.RotatedAt),
		iPrevValidUntil: timeText(v.PrevValidUntil),
		iAAL:            v.AAL,
		iAuthAt:         timeText(v.AuthAt),
	}
	pairs := make([]any, 0, 2*numFields)
	for i, f := range fields {
		pairs = append(pairs, f, r[i])
	}
	return pairs
}

// decode reads a session hash; ok is false when it is missing or damaged.
func decode(m map[string]string) (store.Session, bool) {
	var r record
	for i, f := range fields {
		r[i] = m[f]
	}
	return r.session()
}

// session reads a record; ok is false when it is damaged. A session
// stored before assurance levels has no aal and auth_at fields: it reads
// with AAL "" and a zero AuthAt. (Sessions stored before token families
// and millisecond times were under keys this layout does not read: see
// docs/session-store.md, "Upgrading".)
func (r *record) session() (v store.Session, ok bool) {
	if r[iID] == "" || r[iUser] == "" {
		return store.Session{}, false
	}
	v = store.Session{ID: r[iID], UserID: r[iUser], IP: r[iIP], UserAgent: r[iUA], AAL: r[iAAL]}
	ok = parseHash(r[iFamily], &v.Family) && parseHash(r[iHash], &v.TokenHash) &&
		parseHash(r[iPrevHash], &v.PrevTokenHash) &&
		parseTime(r[iCreated], &v.CreatedAt) && parseTime(r[iExpires], &v.ExpiresAt) &&
		parseTime(r[iIdle], &v.IdleExpiresAt) && parseTime(r[iSeen], &v.LastSeenAt) &&
		parseTime(r[iRotated], &v.RotatedAt) && parseTime(r[iPrevValidUntil], &v.PrevValidUntil) &&
		parseTime(r[iAuthAt], &v.AuthAt)
	return v, ok && v.Family != (store.TokenHash{})
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
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// parseTime reads a time field: Unix milliseconds, "" for the zero time.
func parseTime(s string, t *time.Time) bool {
	if s == "" {
		*t = time.Time{}
		return true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return false
	}
	*t = time.UnixMilli(n).UTC()
	return true
}
