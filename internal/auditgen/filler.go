package auditgen

import "sort"

// A filler is a long run of JSON array elements or object members (items),
// built once, from which bodies of any size are cut without allocation: a body
// is a head, a contiguous run of whole items (one memmove), one last item whose
// "hole" (the content of one string value) is padded so that the body has the
// exact size asked for, and a tail. Items differ from each other (names, uids,
// IPs, hashes...), so a body compresses like a real one, not like a repeated
// block.
type filler struct {
	data []byte  // item0 "," item1 "," ... itemN-1 ","
	off  []int32 // off[i] is where item i starts; off[N] = len(data)
	hs   []int32 // hole start of item i (absolute offset)
	he   []int32 // hole end of item i (absolute offset)

	minSkel, maxSkel int // smallest and largest item length without its hole
}

// add appends an item made of pre + hole + post; hole is the default content of
// the item's padded string value.
func (f *filler) add(pre, hole, post string) {
	if len(f.off) == 0 {
		f.off = append(f.off, 0)
	}
	f.data = append(f.data, pre...)
	f.hs = append(f.hs, int32(len(f.data)))
	f.data = append(f.data, hole...)
	f.he = append(f.he, int32(len(f.data)))
	f.data = append(f.data, post...)
	f.data = append(f.data, ',')
	f.off = append(f.off, int32(len(f.data)))
	skel := len(pre) + len(post)
	if len(f.hs) == 1 || skel < f.minSkel {
		f.minSkel = skel
	}
	if skel > f.maxSkel {
		f.maxSkel = skel
	}
}

func (f *filler) n() int    { return len(f.hs) }
func (f *filler) size() int { return len(f.data) }
func (f *filler) skel(i int) int {
	return int(f.hs[i]-f.off[i]) + int(f.off[i+1]-1-f.he[i])
}

// start picks the first item of a body of about budget bytes from u (uniform
// random): any item after which at least budget bytes of items remain, so that
// bodies smaller than the filler never wrap around (no duplicate map keys).
func (f *filler) start(budget int, u uint32) int {
	n := f.n()
	total := int32(len(f.data))
	// largest i with total-off[i] >= budget
	last := sort.Search(n, func(i int) bool { return int(total-f.off[i]) < budget }) - 1
	if last <= 0 {
		return 0
	}
	return int(uint64(u) * uint64(last+1) >> 32)
}

// appendFit appends items starting at item i (or the next item small enough),
// comma separated, totalling exactly budget bytes when budget >= f.minSkel (a
// little more otherwise). It wraps around to item 0 when the filler is shorter
// than budget.
func (f *filler) appendFit(dst []byte, budget, i int) []byte {
	n := f.n()
	if f.skel(i) > budget {
		// Start at an item small enough to be the last one, if there is any.
		for k := 1; k < n; k++ {
			if j := (i + k) % n; f.skel(j) <= budget {
				i = j
				break
			}
		}
	}
	for {
		base := f.off[i]
		lim := budget - f.minSkel
		// largest j in [i, n] with off[j]-base <= lim
		j := i + sort.Search(n-i+1, func(k int) bool { return int(f.off[i+k]-base) > lim }) - 1
		if j < i {
			j = i
		}
		if j == n {
			if int(f.off[n]-base) <= budget-f.maxSkel {
				dst = append(dst, f.data[base:]...)
				budget -= int(f.off[n] - base)
				i = 0
				continue
			}
			j = n - 1
		}
		for j > i && int(f.off[j]-base)+f.skel(j) > budget {
			j--
		}
		dst = append(dst, f.data[base:f.off[j]]...)
		budget -= int(f.off[j] - base)
		dst = append(dst, f.data[f.off[j]:f.hs[j]]...)
		dst = appendPad(dst, budget-f.skel(j))
		return append(dst, f.data[f.he[j]:f.off[j+1]-1]...)
	}
}

// padText is what holes are padded with: plain ASCII that needs no escaping,
// shaped like the flag lists, notes and descriptions it stands for.
var padText = func() []byte {
	words := []string{"feature", "gates", "enable", "true", "false", "canary", "rollout", "region",
		"eu-west-3", "zone", "a", "b", "c", "replicas", "max-surge", "25", "percent", "timeout", "30s",
		"log", "level", "info", "debug", "trace", "sampling", "0.1", "cache", "ttl", "5m", "owner", "team",
		"payments", "search", "platform", "see", "runbook", "for", "details", "the", "of", "and", "to"}
	seps := []string{" ", " ", " ", "-", "=", ",", ".", " ", "/", ":"}
	var b []byte
	x := uint64(0x9e3779b97f4a7c15)
	for len(b) < 1<<16 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b = append(b, words[x%uint64(len(words))]...)
		b = append(b, seps[(x>>32)%uint64(len(seps))]...)
	}
	return b
}()

// appendPad appends n bytes of padText (nothing if n <= 0).
func appendPad(dst []byte, n int) []byte {
	for n > 0 {
		k := min(n, len(padText))
		dst = append(dst, padText[:k]...)
		n -= k
	}
	return dst
}
