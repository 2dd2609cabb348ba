package mitkdc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/passkdc/passkdc/integration/loadgen"
	"github.com/passkdc/passkdc/internal/testenv"
)

// startKDC starts a KDC in a test directory, or skips (fails under CI=true)
// when the MIT server tools are missing.
func startKDC(t *testing.T, opts Options) *KDC {
	t.Helper()
	if err := ToolsInstalled(); err != nil {
		testenv.Missing(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k, err := Start(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.Stop(); err != nil {
			t.Error(err)
		}
	})
	return k
}

func TestKDCPasswordLogins(t *testing.T) {
	k := startKDC(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	users, err := BenchUsers(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.AddUsers(ctx, users); err != nil {
		t.Fatal(err)
	}
	principals, err := Principals(k.Realm, users)
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := NewPrincipal(k.Realm, users[0].Name, "not-"+users[0].Password)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := NewPrincipal(k.Realm, "nobody", "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []Transport{UDP, TCP} {
		t.Run(string(tr), func(t *testing.T) {
			c, err := NewClient(k.Addr, tr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, p := range principals {
				rep, err := c.Login(ctx, p)
				if err != nil {
					t.Fatalf("%s: %v", p.Name.PrincipalNameString(), err)
				}
				if rep.Transport != tr || rep.Rep.Ticket.SName.PrincipalNameString() != "krbtgt/"+k.Realm ||
					rep.Rep.DecryptedEncPart.Key.KeyType != 18 {
					t.Errorf("%s: unexpected reply %+v", p.Name.PrincipalNameString(), rep.Rep.Ticket.SName)
				}
			}
			for _, tc := range []struct {
				name string
				p    Principal
				code int32
			}{
				{"wrong key", wrong, errorcode.KDC_ERR_PREAUTH_FAILED},
				{"unknown user", unknown, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN},
			} {
				_, err := c.Login(ctx, tc.p)
				if code, ok := ErrorCode(err); !ok || code != tc.code {
					t.Errorf("%s: err = %v (code %d), want KDC error %d", tc.name, err, code, tc.code)
				}
			}
		})
	}
	t.Run("preauth required", func(t *testing.T) {
		// Without PA-ENC-TIMESTAMP the KDC must refuse: the principals were
		// created with +requires_preauth.
		c, err := NewClient(k.Addr, TCP)
		if err != nil {
			t.Fatal(err)
		}
		req, _, err := c.BuildASReq(principals[0])
		if err != nil {
			t.Fatal(err)
		}
		req.PAData = nil
		raw, err := req.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.exchangeTCP(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyReply(resp, req, principals[0])
		if code, ok := ErrorCode(err); !ok || code != errorcode.KDC_ERR_PREAUTH_REQUIRED {
			t.Errorf("err = %v, want KDC_ERR_PREAUTH_REQUIRED", err)
		}
	})
	t.Run("MIT kinit", func(t *testing.T) {
		kinit := testenv.RequireTool(t, "kinit")
		cmd := exec.CommandContext(ctx, kinit, users[3].Name)
		cmd.Env = append(os.Environ(), k.Env()...)
		cmd.Stdin = strings.NewReader(users[3].Password + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kinit: %v: %s", err, out)
		}
	})
	if log := k.Log(); !strings.Contains(log, "PREAUTH_FAILED: "+users[0].Name+"@"+k.Realm) {
		t.Errorf("KDC log does not record the failed pre-authentication:\n%s", tail(log))
	}
}

func TestKDCWorkersAndStop(t *testing.T) {
	k := startKDC(t, Options{Workers: 2, NoDBWrites: true, Realm: "W2.BENCH.TEST"})
	kids := waitForWorkers(t, k, 2)
	if cpu, err := k.CPU(); err != nil || cpu < 0 {
		t.Errorf("CPU = %v, %v", cpu, err)
	}
	if rss, err := k.PeakRSS(); err != nil || rss <= 0 {
		t.Errorf("PeakRSS = %d, %v", rss, err)
	}
	conf, err := os.ReadFile(k.KDCConfPath())
	if err != nil || !strings.Contains(string(conf), "disable_last_success = true") {
		t.Errorf("kdc.conf lacks disable_last_success: %v", err)
	}
	if fi, err := os.Stat(k.KDCConfPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kdc.conf mode: %v %v", fi.Mode(), err)
	}
	if err := k.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := k.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	for _, pid := range append(kids, k.PID()) {
		if _, err := os.Stat("/proc/" + itoa(pid) + "/stat"); err == nil {
			if data, _ := os.ReadFile("/proc/" + itoa(pid) + "/stat"); !strings.Contains(string(data), ") Z") {
				t.Errorf("process %d still alive after Stop", pid)
			}
		}
	}
	c, err := NewClient(k.Addr, TCP)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = time.Second
	if _, err := c.Login(context.Background(), k.ready); err == nil {
		t.Error("login succeeded after Stop")
	}
}

func TestStartRejectsBadRealm(t *testing.T) {
	if err := ToolsInstalled(); err != nil {
		testenv.Missing(t, err.Error())
	}
	_, err := Start(context.Background(), t.TempDir(), Options{Realm: "bad realm"})
	if !errors.Is(err, ErrBadName) {
		t.Fatalf("err = %v, want ErrBadName", err)
	}
}

func TestAddUsersRejectsUnsafeInput(t *testing.T) {
	k := &KDC{Realm: DefaultRealm}
	for _, u := range []User{
		{Name: "a b", Password: "x"},
		{Name: "a@EVIL", Password: "x"},
		{Name: "ok", Password: "has space"},
		{Name: "ok", Password: `q"uote`},
		{Name: "", Password: "x"},
		{Name: "ok", Password: ""},
	} {
		if err := k.AddUsers(context.Background(), []User{u}); !errors.Is(err, ErrBadName) {
			t.Errorf("AddUsers(%q) = %v, want ErrBadName", u.Name, err)
		}
	}
}

func descendantsOf(k *KDC) ([]int, error) { return loadgen.Descendants(k.PID()) }
