package mitkdc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrBadName is wrapped when a realm, user name or password contains
// characters this package does not pass to kadmin.local (whose command line
// parser treats spaces, quotes and '@' specially).
var ErrBadName = errors.New("mitkdc: unsupported character in name or password")

// MaxUsers bounds one AddUsers call.
const MaxUsers = 100_000

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	passwordRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	realmRE    = regexp.MustCompile(`^[A-Z0-9][A-Z0-9.-]{0,62}$`)
)

func validRealm(r string) bool { return realmRE.MatchString(r) }

// User is a principal to create: Name is the single-component name (without
// the realm), Password its password.
type User struct {
	Name     string
	Password string
}

// AddUsers creates the users as principals that require pre-authentication
// (+requires_preauth), with keys for aes256-cts-hmac-sha1-96 and
// aes128-cts-hmac-sha1-96 under the default salt, in one kadmin.local run
// fed on stdin. kadmin.local exits 0 even when a command fails, so its
// output is checked for every "created" line. It works before and after the
// KDC has started: krb5kdc reads the database on each request.
func (k *KDC) AddUsers(ctx context.Context, users []User) error {
	if len(users) > MaxUsers {
		return fmt.Errorf("mitkdc: %d users, at most %d per call", len(users), MaxUsers)
	}
	var script strings.Builder
	for _, u := range users {
		if !nameRE.MatchString(u.Name) || !passwordRE.MatchString(u.Password) {
			return fmt.Errorf("%w: user %q", ErrBadName, u.Name)
		}
		fmt.Fprintf(&script, "addprinc -pw %s +requires_preauth %s\n", u.Password, u.Name)
	}
	if len(users) == 0 {
		return nil
	}
	created := &createdScanner{names: make(map[string]bool, len(users))}
	out, err := k.runTo(ctx, []byte(script.String()), created, k.tools.kadminLocal, "-r", k.Realm)
	if err != nil {
		return fmt.Errorf("mitkdc: kadmin.local: %w: %s", err, redact(out))
	}
	for _, u := range users {
		if !created.names[u.Name+"@"+k.Realm] {
			return fmt.Errorf("mitkdc: kadmin.local did not create %s: %s", u.Name, redact(out))
		}
	}
	return nil
}

// createdRE matches kadmin's confirmation of a new principal.
var createdRE = regexp.MustCompile(`Principal "([^"]+)" created\.`)

// createdScanner collects the principals kadmin.local reports as created,
// line by line, however long its output.
type createdScanner struct {
	names   map[string]bool
	partial []byte
}

func (c *createdScanner) Write(p []byte) (int, error) {
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		if m := createdRE.FindSubmatch(c.partial[:i]); m != nil {
			c.names[string(m[1])] = true
		}
		c.partial = c.partial[i+1:]
	}
	if len(c.partial) > 4096 { // no line of kadmin's is this long
		c.partial = c.partial[:0]
	}
	return len(p), nil
}

// redact drops the lines of kadmin.local output that echo a command with a
// password, and keeps the tail.
func redact(out string) string {
	var keep []string
	for line := range strings.SplitSeq(out, "\n") {
		if !strings.Contains(line, "-pw ") {
			keep = append(keep, line)
		}
	}
	return tail(strings.Join(keep, "\n"))
}

// BenchUsers returns n users named user00001, user00002, … with random
// passwords (n is clamped to [0, MaxUsers]).
func BenchUsers(n int) ([]User, error) {
	n = min(max(n, 0), MaxUsers)
	users := make([]User, n)
	for i := range users {
		pw, err := randomPassword()
		if err != nil {
			return nil, err
		}
		users[i] = User{Name: fmt.Sprintf("user%05d", i+1), Password: pw}
	}
	return users, nil
}
