package containerlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// FirstLine returns the first complete stdout line of a container log
// read from r in format f, its fragments joined (at most max bytes of it),
// skipping stderr lines: what `audittail check` shows of a container log.
// It reads at most 64 physical lines; io.EOF when none of them completes
// a stdout line, an error naming the line that is not in the format.
func FirstLine(r io.Reader, f Format, max int) ([]byte, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []byte
	for n := 1; n <= 64; n++ {
		phys, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("physical line %d is longer than 64 KiB", n)
		}
		if err != nil {
			return nil, err
		}
		phys = phys[:len(phys)-1]
		var rec record
		var ok bool
		switch f {
		case CRI:
			rec, ok = parseCRI(phys)
		case DockerJSON:
			rec, ok = parseDocker(phys)
		default:
			return nil, fmt.Errorf("format %q: want %q or %q", f, CRI, DockerJSON)
		}
		if !ok {
			return nil, fmt.Errorf("physical line %d is not in the %s format: %.80q", n, f, phys)
		}
		if rec.stream != stdout {
			continue
		}
		room := max - len(out)
		if room > 0 {
			if f == DockerJSON {
				out, _, _ = appendUnescaped(out, rec.raw, room)
			} else {
				out = append(out, rec.text[:min(room, len(rec.text))]...)
			}
		}
		if !rec.partial {
			if f == DockerJSON && len(out) > 0 && out[len(out)-1] == '\n' {
				out = out[:len(out)-1]
			}
			return out, nil
		}
	}
	return nil, io.EOF
}
