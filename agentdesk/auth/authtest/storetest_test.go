package authtest_test

import (
	"testing"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/agentdesk/auth/authtest"
)

func TestFileStore(t *testing.T) {
	authtest.TestStore(t, func(t *testing.T) auth.Store {
		s, err := auth.OpenFileStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
