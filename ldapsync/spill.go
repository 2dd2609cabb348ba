package ldapsync

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/passkdc/passkdc/store"
)

// spillRecord is one user staged for the apply phase.
type spillRecord struct {
	Principal store.Principal
	Groups    []string // direct group anchors
}

// spill stages the users read during a pass in a private temporary file, so
// the directory is read completely (and every entry validated) before the
// store is touched, with memory independent of the number of users.
type spill struct {
	f   *os.File
	w   *bufio.Writer
	enc *gob.Encoder
	n   int
}

func newSpill(dir string) (*spill, error) {
	f, err := os.CreateTemp(dir, "passkdc-sync-*.spill") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("ldapsync: staging file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	return &spill{f: f, w: w, enc: gob.NewEncoder(w)}, nil
}

func (s *spill) add(r spillRecord) error {
	if err := s.enc.Encode(&r); err != nil {
		return fmt.Errorf("ldapsync: staging file: %w", err)
	}
	s.n++
	return nil
}

// each replays the staged records in order.
func (s *spill) each(fn func(spillRecord) error) error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("ldapsync: staging file: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("ldapsync: staging file: %w", err)
	}
	dec := gob.NewDecoder(bufio.NewReaderSize(s.f, 1<<16))
	for range s.n {
		var r spillRecord
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("ldapsync: staging file: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// remove closes and deletes the file.
func (s *spill) remove() error {
	return errors.Join(s.f.Close(), os.Remove(s.f.Name()))
}
