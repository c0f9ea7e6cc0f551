package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"simpleapi/store/jsonfile"
	"simpleapi/store/jsonfile/atomicfile"
)

// secretFile keeps the generated session secret when SESSION_SECRET is
// unset, so restarts keep sessions valid.
const secretFile = jsonfile.SecretFile

func loadOrCreateSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	if b, err := os.ReadFile(path); err == nil {
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(secret) < 32 {
			return nil, fmt.Errorf("%s is damaged: delete it to generate a new secret (every session ends)", path)
		}
		return secret, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	secret := make([]byte, 64)
	_, _ = rand.Read(secret)
	if err := atomicfile.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(secret)+"\n")); err != nil {
		return nil, fmt.Errorf("saving the generated session secret: %w", err)
	}
	return secret, nil
}
