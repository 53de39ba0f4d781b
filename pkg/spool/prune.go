package spool

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/audittail/audittail/checkpoint"
)

// prune deletes every backup rotated before the file the checkpoint's
// durable position names: a restart resumes at that position or after it,
// so nothing in those backups is read again. It deletes nothing while the
// durable position is unknown (zero) or names no spool file, and never the
// live file. The file named must also match the position's fingerprint
// (hex SHA-256 of its first FingerprintLen bytes), so that an inode number
// reused by another file can never make older files look read. prune runs
// on one goroutine (Run's).
func (s *Spool) prune() error {
	d := s.pos.Durable()
	if d.IsZero() {
		return s.syncRemovals()
	}
	s.smu.Lock()
	i := s.index(fileKey{d.Dev, d.Inode})
	var named generation
	var victims []generation
	if i > 0 {
		named = s.gens[i]
		victims = append(victims, s.gens[:i]...)
	}
	s.smu.Unlock()
	if len(victims) == 0 {
		return s.syncRemovals()
	}
	if ok, err := s.sameFile(named, d); err != nil || !ok {
		return err
	}

	var firstErr error
	gone := make(map[uint64]bool, len(victims))
	var files, nbytes uint64
	for _, v := range victims {
		err := os.Remove(v.path)
		switch {
		case err == nil:
			files++
			nbytes += uint64(v.size)
		case errors.Is(err, fs.ErrNotExist):
			s.log.Warn().Str("file", v.path).Msg("a read spool file was already deleted by something other than the spool")
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("remove read spool file %s: %w", v.path, err)
			}
			continue
		}
		gone[v.seq] = true
		s.dirDirty = true
	}
	s.smu.Lock()
	kept := s.gens[:0]
	for _, g := range s.gens {
		if gone[g.seq] {
			s.total -= g.size
			continue
		}
		kept = append(kept, g)
	}
	clear(s.gens[len(kept):])
	s.gens = kept
	s.stats.RemovedFiles += files
	if files > 0 {
		s.stats.Full = false
	}
	s.stats.RemovedBytes += nbytes
	s.smu.Unlock()
	if files > 0 {
		s.log.Debug().Uint64("files", files).Uint64("bytes", nbytes).Msg("deleted read spool files")
	}
	if err := s.syncRemovals(); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// syncRemovals fsyncs the directory after removals, until that succeeds.
func (s *Spool) syncRemovals() error {
	if !s.dirDirty {
		return nil
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		return err
	}
	s.dirDirty = false
	return nil
}

// sameFile reports whether g is the file d names: the same inode (which the
// caller matched), and content that starts with the bytes d fingerprinted.
// A position without a fingerprint (offset 0 of an empty file) has only
// the inode. ok is false without an error when g was renamed meanwhile (a
// rotation): the next prune looks again.
func (s *Spool) sameFile(g generation, d checkpoint.Position) (ok bool, err error) {
	if d.Fingerprint == "" {
		return true, nil
	}
	v := &s.verified
	if v.key == g.key && v.fp == d.Fingerprint && v.n == d.FingerprintLen {
		return true, nil
	}
	f, err := os.Open(g.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check the spool file the checkpoint names, %s: %w", g.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("check the spool file the checkpoint names, %s: %w", g.path, err)
	}
	if keyOf(fi) != g.key {
		return false, nil
	}
	h := sha256.New()
	n, err := io.Copy(h, io.NewSectionReader(f, 0, int64(d.FingerprintLen)))
	if err != nil {
		return false, fmt.Errorf("check the spool file the checkpoint names, %s: %w", g.path, err)
	}
	if n != int64(d.FingerprintLen) || hex.EncodeToString(h.Sum(nil)) != d.Fingerprint {
		return false, fmt.Errorf("the checkpoint's durable position names spool file %s by inode, but not by content "+
			"(its first %d bytes do not match the fingerprint): deleting nothing", g.path, d.FingerprintLen)
	}
	v.key, v.fp, v.n = g.key, d.Fingerprint, d.FingerprintLen
	return true, nil
}
