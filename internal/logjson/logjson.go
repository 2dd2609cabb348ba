// Package logjson is passkdc's JSON log formatter: the lines of
// logrus.JSONFormatter with its default options, byte for byte, written
// straight into logrus's buffer instead of copying the fields into a map and
// encoding it by reflection (which cost some thirty allocations for the
// audit line of every sign-in). Entries it does not write the same way
// itself (a field named like a key it adds, a reported caller, a value whose
// JSON it cannot tell, too many fields) go to logrus.JSONFormatter.
package logjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// maxFields bounds the fields of an entry written without logrus (their
// keys are sorted in a buffer on the stack).
const maxFields = 16

// Formatter formats entries as logrus.JSONFormatter{} does.
type Formatter struct {
	fallback logrus.JSONFormatter
	// errField is the index of logrus.Entry's unexported err (the note
	// JSONFormatter prints as logrus_error); -1: this logrus has none that
	// can be read, every entry goes to the fallback.
	errField int
}

// New returns the formatter.
func New() *Formatter {
	f := &Formatter{errField: -1}
	if sf, ok := reflect.TypeFor[logrus.Entry]().FieldByName("err"); ok && sf.Type.Kind() == reflect.String && len(sf.Index) == 1 {
		f.errField = sf.Index[0]
	}
	return f
}

// Format writes e as one JSON object and a newline.
func (f *Formatter) Format(e *logrus.Entry) ([]byte, error) {
	if !f.own(e) {
		return f.fallback.Format(e)
	}
	var keyBuf [maxFields + 3]string
	keys := append(keyBuf[:0], "level", "msg", "time")
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := e.Buffer
	if b == nil {
		b = new(bytes.Buffer)
	}
	start := b.Len()
	out := b.AvailableBuffer()
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, k)
		out = append(out, ':')
		var ok bool
		switch k {
		case "level":
			out, ok = appendString(out, e.Level.String()), true
		case "msg":
			out, ok = appendString(out, e.Message), true
		case "time": // RFC 3339 needs no escaping
			out, ok = append(e.Time.AppendFormat(append(out, '"'), time.RFC3339), '"'), true
		default:
			out, ok = appendValue(out, e.Data[k])
		}
		if !ok {
			b.Truncate(start)
			return f.fallback.Format(e)
		}
	}
	out = append(out, '}', '\n')
	b.Write(out)
	return b.Bytes(), nil
}

// own reports whether Format writes e itself: no caller, no logrus_error
// note, a bounded number of fields, none of them renamed by JSONFormatter
// (fields.time and the like).
func (f *Formatter) own(e *logrus.Entry) bool {
	if f.errField < 0 || e.Caller != nil || len(e.Data) > maxFields {
		return false
	}
	if reflect.ValueOf(e).Elem().Field(f.errField).String() != "" {
		return false
	}
	for _, k := range [...]string{logrus.FieldKeyTime, logrus.FieldKeyMsg, logrus.FieldKeyLevel, logrus.FieldKeyLogrusError} {
		if _, clash := e.Data[k]; clash {
			return false
		}
	}
	return true
}

// appendValue appends v as encoding/json encodes it inside a map (an error
// as its message, as JSONFormatter turns it); false when it cannot be
// encoded (JSONFormatter then reports the error).
func appendValue(out []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(out, "null"...), true
	case string:
		return appendString(out, v), true
	case bool:
		return strconv.AppendBool(out, v), true
	case int:
		return strconv.AppendInt(out, int64(v), 10), true
	case int64:
		return strconv.AppendInt(out, v, 10), true
	case int32:
		return strconv.AppendInt(out, int64(v), 10), true
	case uint32:
		return strconv.AppendUint(out, uint64(v), 10), true
	case uint64:
		return strconv.AppendUint(out, v, 10), true
	case error:
		return appendString(out, v.Error()), true
	}
	j, err := json.Marshal(v)
	if err != nil {
		return out, false
	}
	return append(out, j...), true
}

// appendString appends s as a JSON string the way encoding/json writes it
// (HTML characters escaped): plain printable ASCII directly, anything else
// through encoding/json.
func appendString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always encodes
			return append(out, j...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
}
