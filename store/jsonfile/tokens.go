package jsonfile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"simpleapi/store"
)

// tokensFile holds the personal access tokens. The old service had none,
// so the file is this service's own.
const tokensFile = ".db_AccessToken.json"

// tokenRecord is an access token on disk: only the hash of its secret, so
// a copy of the file cannot be used to call the API.
type tokenRecord struct {
	ID         string `json:"id"`
	UserID     string `json:"user_id"`
	Name       string `json:"name"`
	Scope      string `json:"scope"`
	Hash       string `json:"token_hash"`
	CreatedAt  string `json:"created_at"`
	ExpiresAt  string `json:"expires_at"`
	LastUsedAt string `json:"last_used_at,omitempty"`
	LastUsedIP string `json:"last_used_ip,omitempty"`
}

var tokenCodec = codec[store.AccessToken]{
	id: func(t *store.AccessToken) string { return t.ID },
	encode: func(t *store.AccessToken) ([]byte, error) {
		r := tokenRecord{
			ID:         t.ID,
			UserID:     t.UserID,
			Name:       t.Name,
			Scope:      t.Scope,
			Hash:       hex.EncodeToString(t.Hash[:]),
			CreatedAt:  t.CreatedAt.UTC().Format(time.RFC3339),
			ExpiresAt:  t.ExpiresAt.UTC().Format(time.RFC3339),
			LastUsedIP: t.LastUsedIP,
		}
		if !t.LastUsedAt.IsZero() {
			r.LastUsedAt = t.LastUsedAt.UTC().Format(time.RFC3339)
		}
		return json.Marshal(r)
	},
	decode: func(unmarshal func(any) error) (*store.AccessToken, error) {
		var r tokenRecord
		if err := unmarshal(&r); err != nil {
			return nil, err
		}
		t := &store.AccessToken{ID: r.ID, UserID: r.UserID, Name: r.Name, Scope: r.Scope, LastUsedIP: r.LastUsedIP}
		if err := decodeHash(&t.Hash, r.Hash); err != nil {
			return nil, err
		}
		var err error
		if t.CreatedAt, err = parseFileTime(r.CreatedAt); err != nil {
			return nil, err
		}
		if t.ExpiresAt, err = parseFileTime(r.ExpiresAt); err != nil {
			return nil, err
		}
		if t.LastUsedAt, err = parseFileTime(r.LastUsedAt); err != nil {
			return nil, err
		}
		n := t.Normalized()
		return &n, nil
	},
}

// tokenStore implements store.AccessTokenStore on a table of its own,
// beside the users. Every change that needs a user to exist (a creation)
// or removes one (DeleteUser) holds the users' lock, then this table's,
// always in that order: in memory a user and its tokens change in one
// step.
//
// On disk the two tables have a journal each, so a crash between the
// fsync of a user's removal and that of its tokens' could leave tokens
// whose user is gone. Such tokens authenticate nobody (a token's lookup
// returns its user, and there is none), and openTokens removes them, so
// the user's removal is what ends its tokens.
type tokenStore struct {
	users  *userStore
	t      *table[store.AccessToken]
	byHash map[store.TokenHash]string // hash → token id
	byUser map[string][]string        // user id → token ids, in creation order
}

func openTokens(path string, users *userStore, opts Options) (*tokenStore, error) {
	t, err := openTable(path, tokenCodec, opts)
	if err != nil {
		return nil, err
	}
	s := &tokenStore{users: users, t: t, byHash: map[store.TokenHash]string{}, byUser: map[string][]string{}}
	var orphans []string
	t.all(func(v *store.AccessToken) bool {
		if users.t.get(v.UserID) == nil {
			orphans = append(orphans, v.ID)
			return true
		}
		s.index(v)
		return true
	})
	if len(orphans) > 0 {
		opts.Logger.Warn("removing access tokens of deleted users", "file", path, "tokens", len(orphans))
		var seq uint64
		for _, id := range orphans {
			if seq, err = t.remove(id); err != nil {
				t.close()
				return nil, err
			}
		}
		if err := t.commit(seq); err != nil {
			t.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *tokenStore) CreateAccessToken(ctx context.Context, v store.AccessToken, max int, now time.Time) error {
	if err := v.Validate(); err != nil {
		return err
	}
	n := v.Normalized()
	s.users.t.mu.RLock()
	s.t.mu.Lock()
	seq, err := s.create(&n, max, now)
	s.t.mu.Unlock()
	s.users.t.mu.RUnlock()
	// A refusal may still have removed expired tokens: their records are
	// committed either way.
	if cerr := s.t.commit(seq); err == nil {
		err = cerr
	}
	return err
}

func (s *tokenStore) create(v *store.AccessToken, max int, now time.Time) (uint64, error) {
	if s.users.t.get(v.UserID) == nil {
		return 0, notFound()
	}
	if s.t.get(v.ID) != nil {
		return 0, store.Errorf(store.ECONFLICT, "access token already exists")
	}
	if _, taken := s.byHash[v.Hash]; taken {
		return 0, store.Errorf(store.ECONFLICT, "access token already exists")
	}
	var seq uint64
	live := 0
	for _, id := range slices.Clone(s.byUser[v.UserID]) {
		cur := s.t.get(id)
		if cur.Live(now) {
			live++
			continue
		}
		var err error
		if seq, err = s.remove(cur); err != nil {
			return 0, err
		}
	}
	if live >= max {
		return seq, store.Errorf(store.ECONFLICT, store.MsgTooManyTokens)
	}
	seq, err := s.t.put(v)
	if err != nil {
		return 0, err
	}
	s.index(v)
	return seq, nil
}

func (s *tokenStore) AccessTokenByHash(ctx context.Context, h store.TokenHash) (store.AccessToken, store.User, error) {
	s.users.t.mu.RLock()
	defer s.users.t.mu.RUnlock()
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	id, ok := s.byHash[h]
	if !ok {
		return store.AccessToken{}, store.User{}, notFound()
	}
	v := s.t.get(id)
	u := s.users.t.get(v.UserID)
	if u == nil {
		return store.AccessToken{}, store.User{}, notFound()
	}
	return *v, copyUser(u), nil
}

func (s *tokenStore) ListAccessTokens(ctx context.Context, userID string) ([]store.AccessToken, error) {
	s.t.mu.RLock()
	defer s.t.mu.RUnlock()
	ids := s.byUser[userID]
	out := make([]store.AccessToken, 0, len(ids))
	for _, id := range ids {
		out = append(out, *s.t.get(id))
	}
	return out, nil
}

func (s *tokenStore) DeleteAccessToken(ctx context.Context, userID, id string) error {
	s.t.mu.Lock()
	seq, err := func() (uint64, error) {
		v := s.t.get(id)
		if v == nil || v.UserID != userID {
			return 0, notFound()
		}
		return s.remove(v)
	}()
	s.t.mu.Unlock()
	if err != nil {
		return err
	}
	return s.t.commit(seq)
}

func (s *tokenStore) DeleteUserAccessTokens(ctx context.Context, userID string) (int, error) {
	s.t.mu.Lock()
	n, seq, err := s.deleteUser(userID)
	s.t.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return n, s.t.commit(seq)
}

// deleteUser removes every token of userID. The caller holds t.mu for
// writing and commits seq.
func (s *tokenStore) deleteUser(userID string) (n int, seq uint64, err error) {
	for _, id := range slices.Clone(s.byUser[userID]) {
		if seq, err = s.remove(s.t.get(id)); err != nil {
			return n, seq, err
		}
		n++
	}
	return n, seq, nil
}

func (s *tokenStore) TouchAccessToken(ctx context.Context, id string, prev, at time.Time, ip string) (bool, error) {
	s.t.mu.Lock()
	seq, wrote, err := func() (uint64, bool, error) {
		cur := s.t.get(id)
		if cur == nil {
			return 0, false, notFound()
		}
		if !cur.LastUsedAt.Equal(prev.UTC().Truncate(time.Second)) {
			return 0, false, nil
		}
		next := *cur
		next.LastUsedAt, next.LastUsedIP = at, ip
		next = next.Normalized()
		seq, err := s.t.put(&next)
		return seq, err == nil, err
	}()
	s.t.mu.Unlock()
	if err != nil {
		return false, err
	}
	return wrote, s.t.commit(seq)
}

// remove deletes v and unindexes it; the caller holds t.mu for writing.
func (s *tokenStore) remove(v *store.AccessToken) (uint64, error) {
	seq, err := s.t.remove(v.ID)
	if err != nil {
		return 0, err
	}
	delete(s.byHash, v.Hash)
	ids := slices.DeleteFunc(s.byUser[v.UserID], func(id string) bool { return id == v.ID })
	if len(ids) == 0 {
		delete(s.byUser, v.UserID)
	} else {
		s.byUser[v.UserID] = ids
	}
	return seq, nil
}

func (s *tokenStore) index(v *store.AccessToken) {
	s.byHash[v.Hash] = v.ID
	s.byUser[v.UserID] = append(s.byUser[v.UserID], v.ID)
}

func (s *tokenStore) ping() error { return s.t.ping() }

func (s *tokenStore) close() error { return s.t.close() }
