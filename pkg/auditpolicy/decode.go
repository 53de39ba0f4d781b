package auditpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// policySpec is an audit.k8s.io/v1 Policy as decoded, before validation
// (k8s.io/apiserver pkg/apis/audit/v1/types.go).
type policySpec struct {
	apiVersion, kind  string
	rules             []ruleSpec
	omitStages        []string
	omitManagedFields bool
}

// ruleSpec is an audit.k8s.io/v1 PolicyRule.
type ruleSpec struct {
	level             string
	users             []string
	userGroups        []string
	verbs             []string
	resources         []groupResourcesSpec
	namespaces        []string
	nonResourceURLs   []string
	omitStages        []string
	omitManagedFields *bool
}

// groupResourcesSpec is an audit.k8s.io/v1 GroupResources.
type groupResourcesSpec struct {
	group         string
	resources     []string
	resourceNames []string
}

// Bounds on a document: deeper nesting, or more values (YAML aliases
// expanded), is an error.
const (
	maxDepth  = 100
	maxValues = 1_000_000
)

// kind of a decoded value, after JSON or YAML 1.1 typing.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kList
	kMap
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "a list", "a mapping"}[k]
}

// value is one node of a document, JSON or YAML, typed as kube-apiserver's
// decoder types it.
type value struct {
	kind    kind
	line    int    // 1-based line where it starts
	s       string // kString: the string; kNumber: its text
	b       bool   // kBool
	integer bool   // kNumber: decodes into an int64 (for metadata.generation)
	items   []*value
	members []member // kMap, in document order, duplicates kept
}

type member struct {
	key  string
	line int
	val  *value
}

// decode reads data as kube-apiserver's universal decoder does (JSON when it
// starts with "{" after white space, YAML otherwise) into a policySpec,
// strictly. It returns every decoding problem it finds.
func decode(data []byte) (*policySpec, []*FieldError) {
	var root *value
	var err *FieldError
	if bytes.HasPrefix(bytes.TrimLeftFunc(data, unicode.IsSpace), []byte("{")) {
		root, err = parseJSON(data)
	} else {
		root, err = parseYAML(data)
	}
	if err != nil {
		return nil, []*FieldError{err}
	}
	d := &decoder{}
	spec := d.policy(root)
	return spec, d.errs
}

// parseJSON parses data as one JSON object.
func parseJSON(data []byte) (*value, *FieldError) {
	p := &jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), line: 1}
	p.dec.UseNumber()
	v, err := p.value(0)
	if err == nil {
		if _, terr := p.dec.Token(); terr != io.EOF {
			err = p.fail("unexpected data after the JSON object")
		}
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

type jsonParser struct {
	data   []byte
	dec    *json.Decoder
	line   int // line of data[off]
	off    int
	values int
}

// lineAt returns the 1-based line of byte offset off, counting forward from
// the last offset asked (offsets only grow).
func (p *jsonParser) lineAt(off int) int {
	off = min(off, len(p.data))
	if off > p.off {
		p.line += bytes.Count(p.data[p.off:off], []byte("\n"))
		p.off = off
	}
	return p.line
}

func (p *jsonParser) fail(reason string) *FieldError {
	return &FieldError{Line: p.lineAt(int(p.dec.InputOffset())), Reason: reason}
}

func (p *jsonParser) token() (json.Token, int, *FieldError) {
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// Unmarshal's message says what it was looking for.
			var v any
			if uerr := json.Unmarshal(p.data, &v); errors.As(uerr, &se) {
				err = se
			}
			return nil, 0, &FieldError{Line: p.lineAt(int(se.Offset)), Reason: "invalid JSON: " + err.Error()}
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, p.fail("invalid JSON: unexpected end of the document")
		}
		return nil, 0, p.fail("invalid JSON: " + err.Error())
	}
	// InputOffset is just past the token: close enough for its line.
	return tok, p.lineAt(int(p.dec.InputOffset())), nil
}

func (p *jsonParser) value(depth int) (*value, *FieldError) {
	tok, line, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.valueOf(tok, line, depth)
}

func (p *jsonParser) valueOf(tok json.Token, line, depth int) (*value, *FieldError) {
	if p.values++; p.values > maxValues {
		return nil, p.fail("too many values")
	}
	if depth > maxDepth {
		return nil, p.fail("nested too deeply")
	}
	v := &value{line: line}
	switch t := tok.(type) {
	case nil:
		v.kind = kNull
	case bool:
		v.kind, v.b = kBool, t
	case json.Number:
		v.kind, v.s = kNumber, string(t)
		_, err := strconv.ParseInt(v.s, 10, 64)
		v.integer = err == nil
	case string:
		v.kind, v.s = kString, t
	case json.Delim:
		switch t {
		case '[':
			v.kind = kList
			for p.dec.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.items = append(v.items, item)
			}
		case '{':
			v.kind = kMap
			for p.dec.More() {
				ktok, kline, err := p.token()
				if err != nil {
					return nil, err
				}
				key, _ := ktok.(string) // Token returns object keys as strings
				val, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.members = append(v.members, member{key: key, line: kline, val: val})
			}
		}
		if _, _, err := p.token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return v, nil
}

// parseYAML parses the first YAML document of data.
func parseYAML(data []byte) (*value, *FieldError) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FieldError{Reason: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
		return nil, &FieldError{Reason: "empty document"}
	}
	c := &yamlConverter{data: data}
	return c.convert(&doc, 0)
}

type yamlConverter struct {
	data   []byte
	lines  []int // offset of the start of each line, made on first use
	values int
	active map[*yaml.Node]bool // anchored nodes being converted
}

// nonSpecificTag reports whether the plain scalar n was written with the
// non-specific tag "!" (as in "! 123"), which makes it a string for
// go.yaml.in/yaml/v2 while go.yaml.in/yaml/v3 drops it: n's position is
// that of its tag.
func (c *yamlConverter) nonSpecificTag(n *yaml.Node) bool {
	if c.lines == nil {
		c.lines = append(c.lines, 0)
		for i, b := range c.data {
			if b == '\n' {
				c.lines = append(c.lines, i+1)
			}
		}
	}
	if n.Line < 1 || n.Line > len(c.lines) || n.Column < 1 {
		return false
	}
	rest := c.data[c.lines[n.Line-1]:]
	for range n.Column - 1 { // columns count characters
		_, size := utf8.DecodeRune(rest)
		if size == 0 {
			return false
		}
		rest = rest[size:]
	}
	return len(rest) > 0 && rest[0] == '!'
}

// Scalar styles that make a YAML scalar a string whatever its text.
const stringStyles = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

func (c *yamlConverter) convert(n *yaml.Node, depth int) (*value, *FieldError) {
	if c.values++; c.values > maxValues {
		return nil, &FieldError{Line: n.Line, Reason: "too many values (YAML aliases expanded)"}
	}
	if depth > maxDepth {
		return nil, &FieldError{Line: n.Line, Reason: "nested too deeply"}
	}
	if n.Anchor != "" {
		if c.active == nil {
			c.active = map[*yaml.Node]bool{}
		}
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &value{kind: kNull, line: n.Line}, nil
		}
		return c.convert(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, &FieldError{Line: n.Line, Reason: "unknown YAML alias"}
		}
		if c.active[n.Alias] {
			return nil, &FieldError{Line: n.Line, Reason: "YAML alias *" + n.Value + " is inside its own anchor"}
		}
		return c.convert(n.Alias, depth+1)
	case yaml.ScalarNode:
		v := &value{line: n.Line}
		switch {
		case n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str":
			return nil, &FieldError{Line: n.Line, Reason: "unsupported YAML tag " + strconv.Quote(n.Tag)}
		case n.Style&(stringStyles|yaml.TaggedStyle) != 0 || c.nonSpecificTag(n):
			v.kind, v.s = kString, n.Value
		default:
			v.kind, v.b, v.integer = resolvePlain(n.Value)
			v.s = n.Value
		}
		return v, nil
	case yaml.SequenceNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!seq" {
			return nil, &FieldError{Line: n.Line, Reason: "unsupported YAML tag " + strconv.Quote(n.Tag)}
		}
		v := &value{kind: kList, line: n.Line}
		for _, item := range n.Content {
			iv, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, iv)
		}
		return v, nil
	case yaml.MappingNode:
		if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!map" {
			return nil, &FieldError{Line: n.Line, Reason: "unsupported YAML tag " + strconv.Quote(n.Tag)}
		}
		v := &value{kind: kMap, line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			for kn.Kind == yaml.AliasNode && kn.Alias != nil {
				kn = kn.Alias
			}
			if kn.Kind != yaml.ScalarNode {
				return nil, &FieldError{Line: kn.Line, Reason: "a mapping key must be a scalar"}
			}
			if kn.Value == "<<" && kn.Style&(stringStyles|yaml.TaggedStyle) == 0 {
				return nil, &FieldError{Line: kn.Line, Reason: "YAML merge keys (<<) are not supported"}
			}
			val, err := c.convert(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			v.members = append(v.members, member{key: kn.Value, line: kn.Line, val: val})
		}
		return v, nil
	}
	return nil, &FieldError{Line: n.Line, Reason: "unexpected YAML node"}
}

// yamlStyleFloat is go.yaml.in/yaml/v2 resolve.go's float syntax.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// resolvePlain types an untagged plain YAML scalar as go.yaml.in/yaml/v2
// (resolve.go, YAML 1.1) does when decoding into interface{}, which
// sigs.k8s.io/yaml's YAMLToJSON does before kube-apiserver decodes the
// JSON: null, a boolean b (y, yes, on, true, n, no, off, false in three
// cases), a number, or else a string (a timestamp stays a string). integer
// tells a number that decodes into an int64 once written as JSON (an int,
// or a float with an integral value written without exponent).
func resolvePlain(s string) (k kind, b, integer bool) {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return kNull, false, false
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return kBool, true, false
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return kBool, false, false
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return kNumber, false, false
	}
	switch c := s[0]; {
	case c == '.':
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return kNumber, false, integral(f)
		}
	case c == '+' || c == '-' || '0' <= c && c <= '9':
		plain := strings.ReplaceAll(s, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return kNumber, false, true
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return kNumber, false, false
		}
		if yamlStyleFloat.MatchString(plain) {
			if f, err := strconv.ParseFloat(plain, 64); err == nil {
				return kNumber, false, integral(f)
			}
		}
		if rest, ok := strings.CutPrefix(plain, "0b"); ok {
			if _, err := strconv.ParseInt(rest, 2, 64); err == nil {
				return kNumber, false, true
			}
			if _, err := strconv.ParseUint(rest, 2, 64); err == nil {
				return kNumber, false, false
			}
		} else if rest, ok := strings.CutPrefix(plain, "-0b"); ok {
			if _, err := strconv.ParseInt("-"+rest, 2, 64); err == nil {
				return kNumber, false, true
			}
		}
	}
	return kString, false, false
}

// integral reports whether encoding/json writes f as an integer literal
// that fits an int64.
func integral(f float64) bool {
	return f == math.Trunc(f) && math.Abs(f) < 1e21 && f >= math.MinInt64 && f < math.MaxInt64
}

// decoder decodes a value tree into a policySpec, collecting every problem.
type decoder struct {
	errs []*FieldError
}

func (d *decoder) fail(line int, field, reason string) {
	d.errs = append(d.errs, &FieldError{Field: field, Line: line, Reason: reason})
}

func (d *decoder) wrongType(v *value, field, want string) {
	d.fail(v.line, field, "expected "+want+", got "+v.kind.String())
}

// fields calls set for each member of the mapping v, failing on a duplicate
// key and on a key set does not know (set returns false).
func (d *decoder) fields(v *value, field string, set func(key, field string, v *value) bool) {
	switch v.kind {
	case kNull:
		return
	case kMap:
	default:
		d.wrongType(v, field, "a mapping")
		return
	}
	for i, m := range v.members {
		sub := child(field, m.key)
		dup := false
		for _, prev := range v.members[:i] {
			if prev.key == m.key {
				dup = true
				break
			}
		}
		if dup {
			d.fail(m.line, sub, "duplicate field")
			continue
		}
		if !set(m.key, sub, m.val) {
			d.fail(m.line, sub, "unknown field")
		}
	}
}

// child returns the path of key under field: field.key, or field["key"]
// for a key that is not a plain identifier.
func child(field, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c == '-' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return field + "[" + strconv.Quote(key) + "]"
	case field == "":
		return key
	}
	return field + "." + key
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// str decodes a string field: null is "".
func (d *decoder) str(v *value, field string) string {
	switch v.kind {
	case kString:
		return v.s
	case kNull:
		return ""
	}
	d.wrongType(v, field, "a string")
	return ""
}

// strs decodes a list of strings: null is an empty list, a null item "".
func (d *decoder) strs(v *value, field string) []string {
	switch v.kind {
	case kNull:
		return nil
	case kList:
	default:
		d.wrongType(v, field, "a list of strings")
		return nil
	}
	out := make([]string, len(v.items))
	for i, item := range v.items {
		out[i] = d.str(item, index(field, i))
	}
	return out
}

// boolean decodes a boolean field; set is false for null.
func (d *decoder) boolean(v *value, field string) (b, set bool) {
	switch v.kind {
	case kBool:
		return v.b, true
	case kNull:
		return false, false
	}
	d.wrongType(v, field, "true or false")
	return false, false
}

func (d *decoder) policy(root *value) *policySpec {
	spec := &policySpec{}
	if root.kind != kMap {
		d.wrongType(root, "", "a mapping (a Policy object)")
		return spec
	}
	d.fields(root, "", func(key, field string, v *value) bool {
		switch key {
		case "apiVersion":
			spec.apiVersion = d.str(v, field)
		case "kind":
			spec.kind = d.str(v, field)
		case "metadata":
			d.metadata(v, field)
		case "rules":
			spec.rules = d.rules(v, field)
		case "omitStages":
			spec.omitStages = d.strs(v, field)
		case "omitManagedFields":
			spec.omitManagedFields, _ = d.boolean(v, field)
		default:
			return false
		}
		return true
	})
	return spec
}

// metadata decodes the policy's metadata, a k8s.io/apimachinery meta/v1
// ObjectMeta that nothing uses, checking its keys and the types of its
// fields as kube-apiserver's decoding does, except inside the items of
// ownerReferences and managedFields.
func (d *decoder) metadata(v *value, field string) {
	d.fields(v, field, func(key, field string, v *value) bool {
		switch key {
		case "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion":
			d.str(v, field)
		case "generation", "deletionGracePeriodSeconds":
			if v.kind != kNull && !(v.kind == kNumber && v.integer) {
				d.wrongType(v, field, "an integer")
			}
		case "creationTimestamp", "deletionTimestamp":
			// meta/v1 Time: null, or an RFC 3339 time.
			if s := d.str(v, field); v.kind == kString {
				if _, err := time.Parse(time.RFC3339, s); err != nil {
					d.fail(v.line, field, strconv.Quote(s)+": not an RFC 3339 time")
				}
			}
		case "labels", "annotations":
			d.fields(v, field, func(_, field string, v *value) bool {
				d.str(v, field)
				return true
			})
		case "finalizers":
			d.strs(v, field)
		case "ownerReferences", "managedFields":
			if v.kind != kNull && v.kind != kList {
				d.wrongType(v, field, "a list")
				break
			}
			for i, item := range v.items {
				if item.kind != kNull && item.kind != kMap {
					d.wrongType(item, index(field, i), "a mapping")
				}
			}
		default:
			return false
		}
		return true
	})
}

func (d *decoder) rules(v *value, field string) []ruleSpec {
	switch v.kind {
	case kNull:
		return nil
	case kList:
	default:
		d.wrongType(v, field, "a list of rules")
		return nil
	}
	rules := make([]ruleSpec, len(v.items))
	for i, item := range v.items {
		r := &rules[i]
		d.fields(item, index(field, i), func(key, field string, v *value) bool {
			switch key {
			case "level":
				r.level = d.str(v, field)
			case "users":
				r.users = d.strs(v, field)
			case "userGroups":
				r.userGroups = d.strs(v, field)
			case "verbs":
				r.verbs = d.strs(v, field)
			case "resources":
				r.resources = d.groupResources(v, field)
			case "namespaces":
				r.namespaces = d.strs(v, field)
			case "nonResourceURLs":
				r.nonResourceURLs = d.strs(v, field)
			case "omitStages":
				r.omitStages = d.strs(v, field)
			case "omitManagedFields":
				if b, set := d.boolean(v, field); set {
					r.omitManagedFields = &b
				}
			default:
				return false
			}
			return true
		})
	}
	return rules
}

func (d *decoder) groupResources(v *value, field string) []groupResourcesSpec {
	switch v.kind {
	case kNull:
		return nil
	case kList:
	default:
		d.wrongType(v, field, "a list of group resources")
		return nil
	}
	out := make([]groupResourcesSpec, len(v.items))
	for i, item := range v.items {
		gr := &out[i]
		d.fields(item, index(field, i), func(key, field string, v *value) bool {
			switch key {
			case "group":
				gr.group = d.str(v, field)
			case "resources":
				gr.resources = d.strs(v, field)
			case "resourceNames":
				gr.resourceNames = d.strs(v, field)
			default:
				return false
			}
			return true
		})
	}
	return out
}
