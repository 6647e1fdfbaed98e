package bolt_test

import (
	"testing"

	"wiresk/internal/bolt"
	"wiresk/internal/storetest"
)

func TestStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		db, err := bolt.Open(t.TempDir(), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := bolt.NewStore(db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
