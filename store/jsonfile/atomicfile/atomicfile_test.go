package atomicfile

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, WriteFile(path, []byte("one")))
	require.NoError(t, WriteFile(path, []byte("two")))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(b))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.NoFileExists(t, path+".tmp")
}

// A failure at any step leaves the old file whole and no temporary file.
func TestWriteFailureKeepsOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	require.NoError(t, WriteFile(path, []byte("old")))

	fillErr := errors.New("fill failed")
	err := Write(path, func(w *bufio.Writer) error {
		w.Write([]byte("half"))
		return fillErr
	}, nil)
	require.ErrorIs(t, err, fillErr)

	err = Write(path, func(w *bufio.Writer) error {
		_, err := w.Write([]byte("new"))
		return err
	}, func(*os.File) error { return syscall.EIO })
	require.ErrorIs(t, err, syscall.EIO)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(b))
	assert.NoFileExists(t, path+".tmp")
}

func TestWriteMissingDirectory(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "gone", "f"), []byte("x"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
