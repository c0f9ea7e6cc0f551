package jsonfile

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"simpleapi/store"
)

// usersFile is the old service's users file name, kept so that its data
// directory can be used as is.
const usersFile = ".db_User.json"

// timeLayout is the old service's timestamp format: UTC, no zone, no
// fraction.
const timeLayout = "2006-01-02T15:04:05"

// userRecord is a user in the old service's file shape. Email and password
// are null rather than "" when unset, as the old service wrote them.
//
// second_factors holds the user's second factors (store.Factors, whose
// JSON tags are its format). It is written only when the user has any, so
// the record of an account without one keeps exactly the old service's
// shape, key for key: the users file is shared with that service.
type userRecord struct {
	ID            string         `json:"id"`
	CreatedAt     string         `json:"created_at"`
	UpdatedAt     string         `json:"updated_at"`
	Email         *string        `json:"email"`
	Password      *string        `json:"_password"`
	FirstName     *string        `json:"first_name"`
	LastName      *string        `json:"last_name"`
	Role          string         `json:"role"`
	SecondFactors *store.Factors `json:"second_factors,omitempty"`
}

var userCodec = codec[store.User]{
	id:     func(u *store.User) string { return u.ID },
	encode: encodeUser,
	decode: decodeUser,
}

func encodeUser(u *store.User) ([]byte, error) {
	r := userRecord{
		ID:        u.ID,
		CreatedAt: formatTime(u.CreatedAt),
		UpdatedAt: formatTime(u.UpdatedAt),
		Email:     nullIfEmpty(u.Email),
		Password:  nullIfEmpty(u.PasswordHash),
		FirstName: u.FirstName,
		LastName:  u.LastName,
		Role:      string(u.Role),
	}
	if !u.Factors.IsZero() {
		r.SecondFactors = &u.Factors
	}
	return json.Marshal(r)
}

func decodeUser(unmarshal func(any) error) (*store.User, error) {
	var r userRecord
	if err := unmarshal(&r); err != nil {
		return nil, err
	}
	created, err := parseTime(r.CreatedAt)
	if err != nil {
		return nil, err
	}
	updated, err := parseTime(r.UpdatedAt)
	if err != nil {
		return nil, err
	}
	role := store.Role(r.Role)
	if role == "" {
		role = store.RoleUser // the old service had no roles
	}
	if !role.Valid() {
		return nil, fmt.Errorf("unknown role %q", r.Role)
	}
	u := &store.User{
		ID:           r.ID,
		Email:        deref(r.Email),
		PasswordHash: deref(r.Password),
		FirstName:    r.FirstName,
		LastName:     r.LastName,
		Role:         role,
		CreatedAt:    created,
		UpdatedAt:    updated,
	}
	if r.SecondFactors != nil && !r.SecondFactors.IsZero() {
		u.Factors = *r.SecondFactors
	}
	return u, nil
}

// userStore implements store.UserStore on a table. t.mu guards the indexes
// as well as the table, so that a uniqueness or last-admin check and the
// write it allows are atomic.
type userStore struct {
	t       *table[store.User]
	byEmail map[string]string // emailKey(email) → id
	// dups counts legacy users (the old service allowed duplicate emails)
	// whose email an earlier user already has; they are not in byEmail,
	// so UserByEmail finds the earliest.
	dups   int
	admins int
	// tokens are the users' access tokens; DeleteUser removes a user's
	// with it. Nil only in tests that open the users table alone.
	tokens *tokenStore
}

func openUsers(path string, opts Options) (*userStore, error) {
	t, err := openTable(path, userCodec, opts)
	if err != nil {
		return nil, err
	}
	s := &userStore{t: t, byEmail: make(map[string]string, t.len())}
	t.all(func(u *store.User) bool {
		s.indexEmail(u)
		if u.Role == store.RoleAdmin {
			s.admins++
		}
		return true
	})
	if s.dups > 0 {
		opts.Logger.Warn("users file has users sharing an email with an earlier user; logins by email find the earliest",
			"file", path, "users", s.dups)
	}
	return s, nil
}

func (s *userStore) CreateUser(ctx context.Context, u store.User) error {
	u, err := u.Prepared()
	if err != nil {
		return err
	}
	v, err := normalizeUser(u)
	if err != nil {
		return err
	}

	s.t.mu.Lock()
	seq, err := s.create(v)
	s.t.mu.Unlock()
	if err != nil {
		return err
	}
	return s.t.commit(seq)
}

func (s *userStore) create(v *store.User) (uint64, error) {
	if s.t.get(v.ID) != nil {
		return 0, store.Errorf(store.ECONFLICT, "user already exists")
	}
	if key := emailKey(v.Email); key != "" {
		if _, taken := s.byEmail[key]; taken {
			return 0, store.Errorf(store.ECONFLICT, store.MsgEmailTaken)
		}
	}
	seq, err := s.t.put(v)
	if err != nil {
		return 0, err
	}
	s.indexEmail(v)
	if v.Role == store.RoleAdmin {
		s.admins++
	}
	return seq, nil
}

func (s *userStore) UserByID(ctx context.Context, id string) (store.User, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if u := s.t.get(id); u != nil {
		return copyUser(u), nil
	}
	return store.User{}, notFound()
}

func (s *userStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	key := emailKey(email)
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	if id, ok := s.byEmail[key]; ok && key != "" {
		return copyUser(s.t.get(id)), nil
	}
	return store.User{}, notFound()
}

func (s *userStore) ListUsers(ctx context.Context) ([]store.User, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	users := make([]store.User, 0, s.t.len())
	s.t.all(func(u *store.User) bool {
		users = append(users, copyUser(u))
		return true
	})
	return users, nil
}

func (s *userStore) CountUsers(ctx context.Context) (int, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	return s.t.len(), nil
}

// UpdateUser runs fn under the store's write lock: fn must be quick and
// must not call the store.
func (s *userStore) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (store.User, error) {
	s.t.mu.Lock()
	u, seq, err := s.update(id, fn)
	s.t.mu.Unlock()
	if err != nil {
		return store.User{}, err
	}
	if err := s.t.commit(seq); err != nil {
		return store.User{}, err
	}
	return u, nil
}

func (s *userStore) update(id string, fn func(*store.User) error) (store.User, uint64, error) {
	cur := s.t.get(id)
	if cur == nil {
		return store.User{}, 0, notFound()
	}
	c := copyUser(cur)
	if err := fn(&c); err != nil {
		return store.User{}, 0, err
	}
	c.ID, c.CreatedAt = cur.ID, cur.CreatedAt // not changeable
	if !c.Role.Valid() {
		return store.User{}, 0, store.Errorf(store.EINVALID, "invalid role")
	}
	next, err := normalizeUser(c)
	if err != nil {
		return store.User{}, 0, err
	}

	oldKey, newKey := emailKey(cur.Email), emailKey(next.Email)
	if newKey != oldKey && newKey != "" {
		if _, taken := s.byEmail[newKey]; taken {
			return store.User{}, 0, store.Errorf(store.ECONFLICT, store.MsgEmailTaken)
		}
	}
	demoted := cur.Role == store.RoleAdmin && next.Role != store.RoleAdmin
	promoted := cur.Role != store.RoleAdmin && next.Role == store.RoleAdmin
	if demoted && s.admins <= 1 {
		return store.User{}, 0, store.Errorf(store.ECONFLICT, store.MsgLastAdmin)
	}

	seq, err := s.t.put(next)
	if err != nil {
		return store.User{}, 0, err
	}
	if newKey != oldKey {
		s.unindexEmail(cur)
		s.indexEmail(next)
	}
	switch {
	case demoted:
		s.admins--
	case promoted:
		s.admins++
	}
	return copyUser(next), seq, nil
}

// DeleteUser removes the user and its access tokens under both tables'
// locks (see tokenStore), then waits for both to be durable.
func (s *userStore) DeleteUser(ctx context.Context, id string) error {
	s.t.mu.Lock()
	seq, err := s.delete(id)
	var tokenSeq uint64
	if err == nil && s.tokens != nil {
		s.tokens.t.mu.Lock()
		_, tokenSeq, err = s.tokens.deleteUser(id)
		s.tokens.t.mu.Unlock()
	}
	s.t.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.t.commit(seq); err != nil || s.tokens == nil {
		return err
	}
	return s.tokens.t.commit(tokenSeq)
}

func (s *userStore) delete(id string) (uint64, error) {
	cur := s.t.get(id)
	if cur == nil {
		return 0, notFound()
	}
	if cur.Role == store.RoleAdmin && s.admins <= 1 {
		return 0, store.Errorf(store.ECONFLICT, store.MsgLastAdmin)
	}
	seq, err := s.t.remove(id)
	if err != nil {
		return 0, err
	}
	s.unindexEmail(cur)
	if cur.Role == store.RoleAdmin {
		s.admins--
	}
	return seq, nil
}

// Ping fails when either the users or their access tokens cannot be
// written.
func (s *userStore) Ping(ctx context.Context) error {
	if err := s.t.ping(); err != nil || s.tokens == nil {
		return err
	}
	return s.tokens.ping()
}

// Close closes the users table only; DB.Close also releases the data
// directory.
func (s *userStore) Close() error { return s.t.close() }

// indexEmail adds u to the email index, or counts it as a legacy
// duplicate. The caller holds t.mu for writing.
func (s *userStore) indexEmail(u *store.User) {
	key := emailKey(u.Email)
	if key == "" {
		return
	}
	if _, taken := s.byEmail[key]; taken {
		s.dups++
		return
	}
	s.byEmail[key] = u.ID
}

// unindexEmail removes u (whose email is no longer its own or who is
// gone) from the email index. When u held the index entry for an email
// that legacy duplicates share, the earliest of them takes it over: a scan,
// but only in data that still has duplicates. The caller holds t.mu for
// writing.
func (s *userStore) unindexEmail(u *store.User) {
	key := emailKey(u.Email)
	if key == "" {
		return
	}
	if s.byEmail[key] != u.ID {
		s.dups--
		return
	}
	delete(s.byEmail, key)
	if s.dups == 0 {
		return
	}
	s.t.all(func(o *store.User) bool {
		if o.ID != u.ID && emailKey(o.Email) == key {
			s.byEmail[key] = o.ID
			s.dups--
			return false
		}
		return true
	})
}

// emailKey is the one normal form of an email (store.EmailKey).
var emailKey = store.EmailKey

// normalizeUser returns a private copy of u with times as the file keeps
// them (UTC, whole seconds) and factors as they read back from it, so a
// value reads the same before and after a restart. EINVALID when the
// factors cannot be written.
func normalizeUser(u store.User) (*store.User, error) {
	u.CreatedAt = normalizeTime(u.CreatedAt)
	u.UpdatedAt = normalizeTime(u.UpdatedAt)
	f, err := u.Factors.Normalized()
	if err != nil {
		return nil, err
	}
	u = u.Clone()
	u.Factors = f
	return &u, nil
}

// copyUser returns a copy of a stored user that shares nothing mutable
// with it.
func copyUser(u *store.User) store.User { return u.Clone() }

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func normalizeTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a users file timestamp, to whole seconds (see
// parseFileTime).
func parseTime(s string) (time.Time, error) {
	t, err := parseFileTime(s)
	if err != nil {
		return time.Time{}, err
	}
	return normalizeTime(t), nil
}

// parseFileTime reads a file timestamp as written, fraction included. ""
// (or null) is the zero time. Besides the service's own layout (which,
// when parsing, also accepts a fraction) it takes RFC 3339, which the
// sessions file uses and a file edited by hand may hold.
func parseFileTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		var err2 error
		if t, err2 = time.Parse(time.RFC3339Nano, s); err2 != nil {
			return time.Time{}, err
		}
	}
	return t, nil
}

func notFound() error { return store.Errorf(store.ENOTFOUND, store.MsgNotFound) }
