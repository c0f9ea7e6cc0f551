package app

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"simpleapi/config"
)

func load(t *testing.T, dir string, kv ...string) config.Config {
	t.Helper()
	env := map[string]string{"DATA_DIR": dir, "ARGON2_MEMORY_KIB": "64", "ARGON2_ITERATIONS": "1"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	require.NoError(t, err)
	return cfg
}

func quiet() Options { return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))} }

func TestSessionStoreByMode(t *testing.T) {
	for mode, wantFile := range map[string]bool{"basic_auth": false, "session_auth": false, "session_db_auth": true} {
		dir := t.TempDir()
		a, err := New(t.Context(), load(t, dir, "AUTH_TYPE", mode), quiet())
		require.NoError(t, err, mode)
		assert.Equal(t, mode != "basic_auth", a.SessionStore() != nil, mode)
		require.NoError(t, a.Close())
		require.NoError(t, a.Close(), "a second Close is harmless")
		_, err = os.Stat(filepath.Join(dir, ".db_UserSession.json"))
		assert.Equal(t, wantFile, err == nil, "%s: sessions file", mode)
	}
}

func TestDamagedSecretRefused(t *testing.T) {
	dir := t.TempDir()
	a, err := New(t.Context(), load(t, dir, "AUTH_TYPE", "session_db_auth"), quiet())
	require.NoError(t, err)
	require.NoError(t, a.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, secretFile), []byte("c2hvcnQ=\n"), 0o600))
	_, err = New(t.Context(), load(t, dir, "AUTH_TYPE", "session_db_auth"), quiet())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is damaged")
	// The data directory was released: another start may open it.
	require.NoError(t, os.Remove(filepath.Join(dir, secretFile)))
	a, err = New(t.Context(), load(t, dir, "AUTH_TYPE", "session_db_auth"), quiet())
	require.NoError(t, err)
	require.NoError(t, a.Close())
}

func TestBadAdminIsAConfigErrorBeforeOpening(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	_, err := New(t.Context(), load(t, dir, "ADMIN_EMAIL", "not-an-email", "ADMIN_PASSWORD", "long-enough-1"), quiet())
	var cfgErr *config.Error
	require.True(t, errors.As(err, &cfgErr), "%v", err)
	assert.Equal(t, "ADMIN_EMAIL", cfgErr.Var)
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "nothing was created")
}
