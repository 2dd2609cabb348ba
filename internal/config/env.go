package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvVar is one overridable key: its path in the file and its variable name.
type EnvVar struct {
	Key  string // dotted path, e.g. "ldap.bind_dn"
	Name string // e.g. "PASSKDC_LDAP_BIND_DN"
}

// EnvVars lists every key and the environment variable that overrides it, in
// file order (for documentation and `--help`).
func EnvVars() []EnvVar {
	var out []EnvVar
	walkKeys(reflect.ValueOf(&Config{}).Elem(), nil, func(path []string, _ reflect.Value) {
		out = append(out, EnvVar{Key: strings.Join(path, "."), Name: envName(path)})
	})
	return out
}

func envName(path []string) string {
	return EnvPrefix + strings.ToUpper(strings.Join(path, "_"))
}

// walkKeys calls fn for every leaf field (not a nested struct) with its key path.
func walkKeys(v reflect.Value, path []string, fn func([]string, reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		p := append(append([]string(nil), path...), tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Duration]() {
			walkKeys(f, p, fn)
			continue
		}
		fn(p, f)
	}
}

func applyEnv(c *Config, lookup func(string) (string, bool)) error {
	var errs []error
	walkKeys(reflect.ValueOf(c).Elem(), nil, func(path []string, f reflect.Value) {
		name := envName(path)
		s, ok := lookup(name)
		if !ok {
			return
		}
		if err := setFromString(f, s); err != nil {
			errs = append(errs, &FieldError{Key: strings.Join(path, "."), Msg: fmt.Sprintf("from %s: %v", name, err)})
		}
	})
	return joinFieldErrors(errs)
}

func setFromString(f reflect.Value, s string) error {
	switch {
	case f.Type() == reflect.TypeFor[time.Duration]():
		if s == "" {
			f.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.SetInt(int64(n))
	case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Int:
		// An optional number: empty unsets it (its default applies).
		if s == "" {
			f.SetZero()
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.Set(reflect.ValueOf(&n))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var items []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		f.Set(reflect.ValueOf(items))
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
		// A list of objects (profiles) is given as YAML or JSON.
		ptr := reflect.New(f.Type())
		if err := yaml.Unmarshal([]byte(s), ptr.Interface()); err != nil {
			return fmt.Errorf("not a YAML or JSON list: %v", err)
		}
		f.Set(ptr.Elem())
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}
