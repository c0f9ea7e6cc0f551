package jsonfile

import (
	"testing"

	"simpleapi/store"
	"simpleapi/store/storetest"
)

func TestUserStoreContract(t *testing.T) {
	storetest.UserStore(t, func(t *testing.T) store.UserStore {
		opts, _ := testOptions()
		return openDB(t, t.TempDir(), opts).Users()
	})
}

func TestAccessTokenStoreContract(t *testing.T) {
	storetest.AccessTokenStore(t, func(t *testing.T) (store.UserStore, store.AccessTokenStore) {
		opts, _ := testOptions()
		db := openDB(t, t.TempDir(), opts)
		return db.Users(), db.AccessTokens()
	})
}
