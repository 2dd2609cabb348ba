package samba

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrMalformedSMBConf is wrapped by errors from editing smb.conf.
var ErrMalformedSMBConf = errors.New("samba: malformed smb.conf")

// setting is one "name = value" line of smb.conf's [global] section.
type setting struct{ name, value string }

// normName folds an smb.conf parameter name: case, spaces and underscores
// do not matter to Samba ("bind interfaces only" == "bindinterfacesonly").
func normName(s string) string {
	return strings.NewReplacer(" ", "", "\t", "", "_", "").Replace(strings.ToLower(s))
}

// setGlobals returns conf with each setting replacing the same parameter in
// the [global] section, or appended at the end of that section when absent.
// conf must contain a [global] section.
func setGlobals(conf string, settings []setting) (string, error) {
	for _, s := range settings {
		if strings.ContainsAny(s.name+s.value, "\n\r") || strings.Contains(s.name, "=") {
			return "", fmt.Errorf("%w: bad setting %q", ErrMalformedSMBConf, s.name)
		}
	}
	lines := strings.Split(conf, "\n")
	start, end := globalSection(lines)
	if start < 0 {
		return "", fmt.Errorf("%w: no [global] section", ErrMalformedSMBConf)
	}
	done := make(map[string]bool)
	for i := start + 1; i < end; i++ {
		name, _, ok := strings.Cut(lines[i], "=")
		if !ok || isComment(lines[i]) {
			continue
		}
		for _, s := range settings {
			if normName(name) == normName(s.name) {
				lines[i] = "\t" + s.name + " = " + s.value
				done[normName(s.name)] = true
			}
		}
	}
	var add []string
	for _, s := range settings {
		if !done[normName(s.name)] {
			add = append(add, "\t"+s.name+" = "+s.value)
			done[normName(s.name)] = true
		}
	}
	out := append(append(append([]string{}, lines[:end]...), add...), lines[end:]...)
	return strings.Join(out, "\n"), nil
}

// globalSection returns the index of the [global] header and of the line
// after the section's last non-blank line, or -1, -1.
func globalSection(lines []string) (start, end int) {
	start = -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "[") {
			continue
		}
		if start >= 0 {
			end = i
			for end > start+1 && strings.TrimSpace(lines[end-1]) == "" {
				end--
			}
			return start, end
		}
		if strings.EqualFold(t, "[global]") {
			start = i
		}
	}
	if start < 0 {
		return -1, -1
	}
	end = len(lines)
	for end > start+1 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	return start, end
}

func isComment(l string) bool {
	t := strings.TrimSpace(l)
	return strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";")
}

// editSMBConf rewrites the file at path: old is replaced by new everywhere
// (relocating a copied provision; skipped when old is empty), then settings
// are applied to [global].
func editSMBConf(path, old, new string, settings []setting) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("samba: read smb.conf: %w", err)
	}
	conf := string(data)
	if old != "" && old != new {
		conf = strings.ReplaceAll(conf, old, new)
	}
	conf, err = setGlobals(conf, settings)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(conf), 0o644)
}
