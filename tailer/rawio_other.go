//go:build !linux

package tailer

import "os"

// rawFile is os.File elsewhere: the raw calls are for Linux (see
// rawio_linux.go).
type rawFile struct{ f *os.File }

func newRawFile(f *os.File) rawFile { return rawFile{f: f} }

func (r rawFile) Read(p []byte) (int, error)              { return r.f.Read(p) }
func (r rawFile) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

func (r rawFile) Size() (int64, error) {
	fi, err := r.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
