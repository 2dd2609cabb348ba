package ldapsync

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestLDAPErrorIs(t *testing.T) {
	tests := []struct {
		code uint16
		want error
	}{
		{ldap.LDAPResultNoSuchObject, ErrNotFound},
		{ldap.LDAPResultEntryAlreadyExists, ErrExists},
		{ldap.LDAPResultInvalidCredentials, ErrBadCredentials},
		{ldap.ErrorNetwork, ErrUnreachable},
	}
	for _, tc := range tests {
		err := wrapLDAP("add", "CN=x", ldap.NewError(tc.code, errors.New("boom")))
		if !errors.Is(err, tc.want) {
			t.Errorf("code %d: %v is not %v", tc.code, err, tc.want)
		}
		if errors.Is(err, ErrTLS) {
			t.Errorf("code %d matches ErrTLS", tc.code)
		}
		var le *LDAPError
		if !errors.As(err, &le) || le.Code != tc.code || !strings.Contains(err.Error(), `"CN=x"`) {
			t.Errorf("code %d: %v", tc.code, err)
		}
	}
	if wrapLDAP("add", "x", nil) != nil {
		t.Error("wrapLDAP(nil) != nil")
	}
}
