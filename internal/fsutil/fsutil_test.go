package fsutil

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, WriteFile(p, []byte("one"), 0o600, true))
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o600), st.Mode().Perm())

	err = WriteFile(p, []byte("two"), 0o600, true)
	require.ErrorIs(t, err, fs.ErrExist)
	b, _ := os.ReadFile(p)
	require.Equal(t, "one", string(b), "exclusive write replaced the file")

	require.NoError(t, WriteFile(p, []byte("three"), 0o640, false))
	b, _ = os.ReadFile(p)
	require.Equal(t, "three", string(b))
	st, _ = os.Stat(p)
	require.Equal(t, fs.FileMode(0o640), st.Mode().Perm())

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "temporary files left behind")

	require.Error(t, WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600, false))
}
