package logjson

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestSameBytesAsJSONFormatter: every entry comes out as
// logrus.JSONFormatter{} writes it, whether Format writes it itself or
// hands it over.
func TestSameBytesAsJSONFormatter(t *testing.T) {
	many := logrus.Fields{}
	for i := range maxFields + 1 {
		many[fmt.Sprintf("k%02d", i)] = i
	}
	at := time.Date(2026, 12, 4, 1, 2, 3, 456, time.FixedZone("x", 3600))
	tests := []struct {
		name   string
		fields logrus.Fields
		msg    string
		level  logrus.Level
	}{
		{"audit line", logrus.Fields{"audit": true, "event": "login", "result": "ok", "reason": "", "principal": "alice",
			"credential_id": "AbC-_9", "kvno": 2621440001, "remote": "127.0.0.1"}, "partial TGT issued", logrus.InfoLevel},
		{"no fields", nil, "started", logrus.WarnLevel},
		{"escaped strings", logrus.Fields{"a": `quote " back \ slash`, "b": "<html> & co", "c": "tab\tnew\nline",
			"d": "Zoë 🔑", "e": "bad \xff utf-8", "f": "sep \u2028 \u2029", "<key>": "v"}, "msg <with> \"quotes\"\n", logrus.ErrorLevel},
		{"other types", logrus.Fields{"err": errors.New("disk <full>"), "nil": nil, "f": 1.5, "i64": int64(-7),
			"u32": uint32(7), "u64": uint64(1 << 63), "i32": int32(-1), "list": []string{"x", "y"},
			"map": map[string]int{"b": 1, "a": 2}, "dur": time.Second, "t": at, "bytes": []byte{1, 2}}, "", logrus.DebugLevel},
		{"clashing keys", logrus.Fields{"time": "x", "msg": "y", "level": 3, "logrus_error": "z"}, "m", logrus.InfoLevel},
		{"func field", logrus.Fields{"fn": func() {}, "ok": 1}, "m", logrus.InfoLevel},
		{"more than maxFields", many, "m", logrus.InfoLevel},
		{"unencodable", logrus.Fields{"ch": make(chan int)}, "m", logrus.InfoLevel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := logrus.NewEntry(logrus.New()).WithFields(tc.fields).WithTime(at)
			e.Level, e.Message = tc.level, tc.msg
			want, wantErr := (&logrus.JSONFormatter{}).Format(e)
			e.Buffer = &bytes.Buffer{}
			e.Buffer.WriteString("stale") // a pooled buffer is reset by logrus; Format appends
			e.Buffer.Reset()
			got, err := New().Format(e)
			if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
				t.Errorf("got %q (%v)\nwant %q (%v)", got, err, want, wantErr)
			}
		})
	}
	t.Run("caller", func(t *testing.T) {
		e := logrus.NewEntry(logrus.New()).WithField("a", 1).WithTime(at)
		pc, _, _, _ := runtime.Caller(0)
		fr, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		e.Caller = &fr
		want, _ := (&logrus.JSONFormatter{}).Format(e)
		if got, _ := New().Format(e); !bytes.Equal(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestThroughALogger: lines written by a logger with the formatter, its
// buffers pooled, are those of JSONFormatter.
func TestThroughALogger(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var gotOut, wantOut bytes.Buffer
	for f, out := range map[logrus.Formatter]*bytes.Buffer{New(): &gotOut, &logrus.JSONFormatter{}: &wantOut} {
		l := logrus.New()
		l.SetOutput(out)
		l.SetFormatter(f)
		for i := range 3 {
			l.WithFields(logrus.Fields{"principal": "alice", "n": i}).WithTime(at).Info("signed in")
		}
	}
	if gotOut.String() != wantOut.String() {
		t.Errorf("got %q\nwant %q", gotOut.String(), wantOut.String())
	}
}

// TestAuditLineAllocations: the audit line of a sign-in costs no
// allocation once the logger's buffer has grown.
func TestAuditLineAllocations(t *testing.T) {
	e := logrus.NewEntry(logrus.New()).WithFields(logrus.Fields{"audit": true, "event": "login", "result": "ok",
		"principal": "alice", "kvno": 2621440001, "remote": "127.0.0.1"})
	e.Message, e.Buffer = "partial TGT issued", &bytes.Buffer{}
	f := New()
	n := testing.AllocsPerRun(100, func() {
		e.Buffer.Reset()
		if _, err := f.Format(e); err != nil {
			t.Fatal(err)
		}
	})
	if n > 1 {
		t.Errorf("audit line: %v allocations, want at most 1", n)
	}
}

// BenchmarkAuditLine formats a sign-in's audit line with this formatter and
// with logrus.JSONFormatter.
//
//	go test ./internal/logjson -run '^$' -bench AuditLine -benchmem
func BenchmarkAuditLine(b *testing.B) {
	for name, f := range map[string]logrus.Formatter{"logjson": New(), "logrus": &logrus.JSONFormatter{}} {
		b.Run(name, func(b *testing.B) {
			e := logrus.NewEntry(logrus.New()).WithFields(logrus.Fields{"audit": true, "event": "login", "result": "ok",
				"reason": "", "principal": "alice", "credential_id": "AbC-_9", "kvno": 2621440001, "remote": "127.0.0.1"})
			e.Message, e.Buffer, e.Time = "partial TGT issued", &bytes.Buffer{}, time.Now()
			for b.Loop() {
				e.Buffer.Reset()
				if _, err := f.Format(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
