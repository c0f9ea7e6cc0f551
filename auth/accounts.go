package auth

import (
	"context"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"simpleapi/store"
)

// Error messages of the users and login routes (handlers/openapi.yaml).
const (
	MsgEmailMissing     = "email missing"
	MsgPasswordMissing  = "password missing"
	MsgInvalidEmail     = "invalid email"
	MsgPasswordTooShort = "password too short"
	MsgPasswordTooLong  = "password too long"
	MsgInvalidRole      = "invalid role"
	MsgNoUserForEmail   = "no user found for this email"
	MsgWrongPassword    = "wrong password"
	MsgGenericLogin     = "wrong email or password"
	MsgFirstNameTooLong = "first_name too long"
	MsgFirstNameInvalid = "first_name invalid"
	MsgLastNameInvalid  = "last_name invalid"
	MsgLastNameTooLong  = "last_name too long"
)

// MaxPasswordLength is the longest password accepted, in characters.
const MaxPasswordLength = 128

// maxEmailBytes is the longest address accepted (RFC 5321 path limit).
const maxEmailBytes = 254

// SessionEnder ends every session of a user. The session manager
// implements it; in basic_auth mode there is none.
type SessionEnder interface {
	EndUserSessions(ctx context.Context, userID string) (int, error)
}

// Accounts is the account service: the rules for creating, changing,
// deleting and authenticating users, shared by the HTTP handlers and the
// command line.
type Accounts struct {
	Users             store.UserStore
	Hasher            *Hasher
	PasswordMinLength int
	Sessions          SessionEnder // nil when sessions are not kept
	// Tokens revokes a user's access tokens when an operator resets the
	// password (ResetPassword); nil revokes none.
	Tokens TokenRevoker
	Now    func() time.Time
	Log    *slog.Logger
}

// NewUser is the input of Create. A nil Role means "user".
type NewUser struct {
	Email     string
	Password  string
	FirstName *string
	LastName  *string
	Role      *string
}

// Changes is the input of Update; nil fields are left as they are.
type Changes struct {
	FirstName *string
	LastName  *string
	Role      *string
	// StaleAuth: the caller's last authentication is older than
	// REAUTH_MAX_AGE, so a role change is refused (the route cannot carry
	// this rule: only role changes need it). The command line leaves it
	// false: whoever runs it holds the data directory.
	StaleAuth bool
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

func (a *Accounts) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// ValidateEmail checks that email is a plausible address: one "@",
// non-empty parts, at most 254 bytes, and none of: white space, control
// or invisible formatting characters (such as a right-to-left override,
// which can disguise an address), or ":" (which Basic authentication
// could not carry).
func ValidateEmail(email string) error {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
		len(email) > maxEmailBytes || !utf8.ValidString(email) ||
		strings.IndexFunc(email, forbiddenInEmail) >= 0 {
		return store.Errorf(store.EINVALID, MsgInvalidEmail)
	}
	return nil
}

func forbiddenInEmail(r rune) bool {
	return r == ':' || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// MaxNameLength is the longest first or last name accepted, in characters.
const MaxNameLength = 255

// ValidateNames checks first and last names (nil: not given): at most
// MaxNameLength characters, valid UTF-8 and no control characters (C0
// including NUL, DEL, C1), which would corrupt logs, terminals and the
// CSV or text other tools make of them.
func ValidateNames(first, last *string) error {
	if first != nil && utf8.RuneCountInString(*first) > MaxNameLength {
		return store.Errorf(store.EINVALID, MsgFirstNameTooLong)
	}
	if first != nil && !cleanName(*first) {
		return store.Errorf(store.EINVALID, MsgFirstNameInvalid)
	}
	if last != nil && utf8.RuneCountInString(*last) > MaxNameLength {
		return store.Errorf(store.EINVALID, MsgLastNameTooLong)
	}
	if last != nil && !cleanName(*last) {
		return store.Errorf(store.EINVALID, MsgLastNameInvalid)
	}
	return nil
}

// cleanName reports whether s is valid UTF-8 without control characters
// (unicode.IsControl is exactly C0, DEL and C1).
func cleanName(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// ValidatePassword checks a new password's length in characters. Any
// Unicode is allowed and nothing is truncated.
func (a *Accounts) ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < a.PasswordMinLength:
		return store.Errorf(store.EINVALID, MsgPasswordTooShort)
	case n > MaxPasswordLength:
		return store.Errorf(store.EINVALID, MsgPasswordTooLong)
	}
	return nil
}

// Create validates and stores a new user, in the documented order from
// "invalid email" on (missing and mistyped fields are the caller's to
// check, since they depend on the wire format).
func (a *Accounts) Create(ctx context.Context, in NewUser) (store.User, error) {
	if err := ValidateEmail(in.Email); err != nil {
		return store.User{}, err
	}
	if err := a.ValidatePassword(in.Password); err != nil {
		return store.User{}, err
	}
	if err := ValidateNames(in.FirstName, in.LastName); err != nil {
		return store.User{}, err
	}
	// Checked before hashing so a duplicate costs no hash work; the store
	// checks again atomically when it inserts.
	if _, err := a.Users.UserByEmail(ctx, in.Email); err == nil {
		return store.User{}, store.Errorf(store.ECONFLICT, store.MsgEmailTaken)
	} else if store.ErrorCode(err) != store.ENOTFOUND {
		return store.User{}, err
	}
	role := store.RoleUser
	if in.Role != nil {
		role = store.Role(*in.Role)
		if !role.Valid() {
			return store.User{}, store.Errorf(store.EINVALID, MsgInvalidRole)
		}
	}
	hash, err := a.Hasher.Hash(in.Password)
	if err != nil {
		return store.User{}, err
	}
	now := a.now()
	u := store.User{
		ID:           uuid.NewString(),
		Email:        in.Email,
		PasswordHash: hash,
		FirstName:    in.FirstName,
		LastName:     in.LastName,
		Role:         role,
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	if err := a.Users.CreateUser(ctx, u); err != nil {
		return store.User{}, err
	}
	Audit(ctx, a.log(), slog.LevelInfo, EventUserCreated, slog.String("user_id", u.ID), slog.String("role", string(u.Role)))
	return u, nil
}

// Update applies changes to the user id on behalf of caller. Only admins
// may change a role; a role change ends the user's sessions.
func (a *Accounts) Update(ctx context.Context, caller store.User, id string, ch Changes) (store.User, error) {
	if err := ValidateNames(ch.FirstName, ch.LastName); err != nil {
		return store.User{}, err
	}
	var newRole store.Role
	if ch.Role != nil {
		if caller.Role != store.RoleAdmin {
			return store.User{}, store.Errorf(store.EFORBIDDEN, "Forbidden")
		}
		newRole = store.Role(*ch.Role)
		if !newRole.Valid() {
			return store.User{}, store.Errorf(store.EINVALID, MsgInvalidRole)
		}
		if ch.StaleAuth {
			return store.User{}, store.Errorf(store.EFORBIDDEN, MsgReauthRequired)
		}
	}
	var oldRole store.Role
	u, err := a.Users.UpdateUser(ctx, id, func(u *store.User) error {
		oldRole = u.Role
		if ch.FirstName != nil {
			u.FirstName = ch.FirstName
		}
		if ch.LastName != nil {
			u.LastName = ch.LastName
		}
		if newRole != "" {
			u.Role = newRole
		}
		u.UpdatedAt = a.now()
		return nil
	})
	if err != nil {
		return store.User{}, err
	}
	if u.Role != oldRole {
		Audit(ctx, a.log(), slog.LevelInfo, EventUserRoleChanged, slog.String("user_id", u.ID),
			slog.String("old_role", string(oldRole)), slog.String("new_role", string(u.Role)))
		if err := a.endSessions(ctx, u.ID); err != nil {
			return store.User{}, err
		}
	}
	return u, nil
}

// Delete removes a user and ends their sessions.
func (a *Accounts) Delete(ctx context.Context, id string) error {
	if err := a.Users.DeleteUser(ctx, id); err != nil {
		return err
	}
	Audit(ctx, a.log(), slog.LevelInfo, EventUserDeleted, slog.String("user_id", id))
	return a.endSessions(ctx, id)
}

func (a *Accounts) endSessions(ctx context.Context, userID string) error {
	if a.Sessions == nil {
		return nil
	}
	_, err := a.Sessions.EndUserSessions(ctx, userID)
	return err
}

// rehash upgrades a user's stored hash after a successful login and
// returns the hash now stored, which the password matches: the upgraded
// one, or the old one if the upgrade failed or a concurrent password
// change won. A failure is logged, not returned: the login itself was
// valid.
func (a *Accounts) rehash(ctx context.Context, u store.User, password string) string {
	old := u.PasswordHash
	hash, err := a.Hasher.Hash(password)
	if err != nil {
		a.log().ErrorContext(ctx, "password rehash failed", "user_id", u.ID, "err", err.Error())
		return old
	}
	upgraded := false
	_, err = a.Users.UpdateUser(ctx, u.ID, func(cur *store.User) error {
		// A concurrent password change wins over this upgrade.
		upgraded = cur.PasswordHash == old
		if upgraded {
			cur.PasswordHash = hash
		}
		return nil
	})
	if err != nil {
		a.log().ErrorContext(ctx, "password rehash failed", "user_id", u.ID, "err", err.Error())
		return old
	}
	if !upgraded {
		return old
	}
	a.log().InfoContext(ctx, "password hash upgraded", "user_id", u.ID)
	return hash
}

// SetPassword validates and stores a new password for the user id.
func (a *Accounts) SetPassword(ctx context.Context, id, password string) error {
	if err := a.ValidatePassword(password); err != nil {
		return err
	}
	hash, err := a.Hasher.Hash(password)
	if err != nil {
		return err
	}
	_, err = a.Users.UpdateUser(ctx, id, func(u *store.User) error {
		u.PasswordHash = hash
		u.UpdatedAt = a.now()
		return nil
	})
	return err
}

// ResetPassword is an operator's reset of the password of the user id
// (`simpleapi user passwd`): the new password, and every session and
// access token of the user ended, since whoever knew the old password may
// have opened or created them.
func (a *Accounts) ResetPassword(ctx context.Context, id, password string) error {
	if err := a.SetPassword(ctx, id, password); err != nil {
		return err
	}
	if err := a.endSessions(ctx, id); err != nil {
		return err
	}
	if a.Tokens != nil {
		if _, err := a.Tokens.RevokeUserTokens(ctx, id, "password_reset"); err != nil {
			return err
		}
	}
	return nil
}

// EnsureAdmin makes sure an admin with this email exists: it creates one
// with the password, or makes the existing user with that email an admin
// (leaving their password as it is, with a warning saying so).
func (a *Accounts) EnsureAdmin(ctx context.Context, email, password string) error {
	u, err := a.Users.UserByEmail(ctx, email)
	if err == nil {
		// Said out loud: an operator who set ADMIN_PASSWORD may expect it
		// to work, and silently keeping the old one would look like a bug.
		a.log().Warn("ADMIN_PASSWORD ignored: the user ADMIN_EMAIL names already exists and keeps its password; "+
			"change it with `simpleapi user passwd --email` or PUT /api/v1/users/me/password",
			"user_id", u.ID, "role", string(u.Role))
	}
	switch {
	case err == nil && u.Role == store.RoleAdmin:
		return nil
	case err == nil:
		_, err = a.Users.UpdateUser(ctx, u.ID, func(u *store.User) error {
			u.Role = store.RoleAdmin
			u.UpdatedAt = a.now()
			return nil
		})
		if err == nil {
			Audit(ctx, a.log(), slog.LevelInfo, EventUserRoleChanged, slog.String("user_id", u.ID),
				slog.String("old_role", string(u.Role)), slog.String("new_role", "admin"), slog.String("by", "ADMIN_EMAIL"))
		}
		return err
	case store.ErrorCode(err) == store.ENOTFOUND:
		admin := string(store.RoleAdmin)
		_, err = a.Create(ctx, NewUser{Email: email, Password: password, Role: &admin})
		return err
	default:
		return err
	}
}

// HasAdmin reports whether any user is an admin; without one nobody can
// manage users through the API.
func (a *Accounts) HasAdmin(ctx context.Context) (bool, error) {
	users, err := a.Users.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	for _, u := range users {
		if u.Role == store.RoleAdmin {
			return true, nil
		}
	}
	return false, nil
}
