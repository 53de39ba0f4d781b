package process

import (
	"bytes"
	"strings"

	"github.com/audittail/audittail/internal/jsonbytes"
)

// redaction is what a redacted value was.
type redaction int

const (
	redactSecretData  redaction = iota // a value of a Secret's data or stringData
	redactLastApplied                  // kubectl.kubernetes.io/last-applied-configuration of a Secret
	redactToken                        // status.token of a TokenRequest, spec.token of a TokenReview
	numRedactions
)

// lastApplied is the annotation kubectl apply writes with the object as
// applied (k8s.io/kubectl pkg/util/apply.go, LastAppliedConfigAnnotation):
// on a Secret it holds the data.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// bodyCtx says what to do in one request or response object.
type bodyCtx struct {
	omitMF   bool // remove metadata.managedFields (of the object, of list items, of Table rows)
	redact   bool // redact secrets
	secrets  bool // the request is on core secrets: an object without kind (a patch) is a Secret
	tokenReq bool // serviceaccounts/token: an object without kind is a TokenRequest
	tokenRev bool // tokenreviews: an object without kind is a TokenReview
}

// candidate reports, cheaply, whether body may hold something to redact:
// a request on secrets, tokens or token reviews, or a body that names a
// Secret, SecretList, TokenRequest or TokenReview kind (a list of any
// kind may hold Secrets). Every other body is left alone without a walk.
func (c bodyCtx) candidate(body []byte) bool {
	return c.secrets || c.tokenReq || c.tokenRev ||
		bytes.Contains(body, []byte(`"Secret`)) || bytes.Contains(body, []byte(`"Token`))
}

// keyIs compares a key inside a body exactly: Kubernetes decodes objects
// with case-sensitive keys (sigs.k8s.io/json), unlike the audit event's
// own keys.
func (w *rewriter) keyIs(m jsonbytes.Member, name string) bool {
	return string(w.src[m.KeyStart:m.KeyEnd]) == name
}

// body adds the edits of the object (or JSON patch) at src[i].
func (w *rewriter) body(i int, c bodyCtx) {
	if isArray(w.src, i) {
		if c.redact && c.secrets {
			w.jsonPatch(i)
		}
		return
	}
	if !isObject(w.src, i) {
		return
	}
	// First the kind (the last "kind", as a decoder keeps the last of
	// duplicate keys), then every member: a duplicate key is handled in
	// each of its occurrences, so that none ships a secret.
	var kind []byte
	jsonbytes.Members(w.src, i, func(m jsonbytes.Member) bool {
		if w.keyIs(m, "kind") {
			kind, _ = jsonbytes.StringValue(w.src, m.ValueStart, m.ValueEnd)
		}
		return true
	})
	k := string(kind) // compared only, not kept
	isSecret := k == "Secret" || k == "" && c.secrets
	redactLA := c.redact && (isSecret || c.secrets)
	isTokenRequest := k == "TokenRequest" || k == "" && c.tokenReq
	isTokenReview := k == "TokenReview" || k == "" && c.tokenRev
	isList, isTable := strings.HasSuffix(k, "List"), k == "Table"

	jsonbytes.Members(w.src, i, func(m jsonbytes.Member) bool {
		switch {
		case w.keyIs(m, "metadata"):
			if (c.omitMF || redactLA) && isObject(w.src, m.ValueStart) {
				w.deleteMembers(m.ValueStart, func(x jsonbytes.Member) bool {
					return c.omitMF && w.keyIs(x, "managedFields")
				}, func(x jsonbytes.Member) {
					if redactLA && w.keyIs(x, "annotations") && isObject(w.src, x.ValueStart) {
						w.redactMember(x.ValueStart, lastApplied, redactLastApplied)
					}
				})
			}
		case w.keyIs(m, "data") || w.keyIs(m, "stringData"):
			if c.redact && isSecret && isObject(w.src, m.ValueStart) {
				jsonbytes.Members(w.src, m.ValueStart, func(v jsonbytes.Member) bool {
					w.redact(v.ValueStart, v.ValueEnd, redactSecretData)
					return true
				})
			}
		case w.keyIs(m, "status"):
			if c.redact && isTokenRequest && isObject(w.src, m.ValueStart) {
				w.redactMember(m.ValueStart, "token", redactToken)
			}
		case w.keyIs(m, "spec"):
			if c.redact && isTokenReview && isObject(w.src, m.ValueStart) {
				w.redactMember(m.ValueStart, "token", redactToken)
			}
		case w.keyIs(m, "items"):
			if isList && isArray(w.src, m.ValueStart) {
				ic := c
				ic.secrets = c.secrets || k == "SecretList"
				ic.tokenReq, ic.tokenRev = false, false
				jsonbytes.Elements(w.src, m.ValueStart, func(s, _ int) bool {
					w.body(s, ic)
					return true
				})
			}
		case w.keyIs(m, "rows"):
			// meta.k8s.io Table: each row's "object" is the object (or its
			// PartialObjectMetadata) the row shows.
			if isTable && isArray(w.src, m.ValueStart) {
				jsonbytes.Elements(w.src, m.ValueStart, func(s, _ int) bool {
					if isObject(w.src, s) {
						jsonbytes.Members(w.src, s, func(o jsonbytes.Member) bool {
							if w.keyIs(o, "object") {
								w.body(o.ValueStart, c)
							}
							return true
						})
					}
					return true
				})
			}
		}
		return true
	})
}

// redactMember redacts the value of every member named name (exactly) of
// the object at src[i].
func (w *rewriter) redactMember(i int, name string, kind redaction) {
	jsonbytes.Members(w.src, i, func(m jsonbytes.Member) bool {
		if w.keyIs(m, name) {
			w.redact(m.ValueStart, m.ValueEnd, kind)
		}
		return true
	})
}

// jsonPatch redacts, in a JSON patch (RFC 6902) on a Secret, the values
// of the operations on its data, stringData and last-applied annotation.
func (w *rewriter) jsonPatch(i int) {
	jsonbytes.Elements(w.src, i, func(s, _ int) bool {
		if !isObject(w.src, s) {
			return true
		}
		var path []byte
		jsonbytes.Members(w.src, s, func(m jsonbytes.Member) bool {
			if w.keyIs(m, "path") {
				path, _ = jsonbytes.StringValue(w.src, m.ValueStart, m.ValueEnd)
			}
			return true
		})
		p := string(path)
		jsonbytes.Members(w.src, s, func(m jsonbytes.Member) bool {
			if w.keyIs(m, "value") {
				w.patchValue(p, m.ValueStart, m.ValueEnd)
			}
			return true
		})
		return true
	})
}

// patchValue redacts the value src[vs:ve] of a JSON patch operation on
// path, if the path is secret.
func (w *rewriter) patchValue(p string, vs, ve int) {
	switch {
	case p == "/data" || p == "/stringData":
		if isObject(w.src, vs) {
			jsonbytes.Members(w.src, vs, func(v jsonbytes.Member) bool {
				w.redact(v.ValueStart, v.ValueEnd, redactSecretData)
				return true
			})
		} else {
			w.redact(vs, ve, redactSecretData)
		}
	case strings.HasPrefix(p, "/data/") || strings.HasPrefix(p, "/stringData/"):
		w.redact(vs, ve, redactSecretData)
	case p == "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration":
		w.redact(vs, ve, redactLastApplied)
	case p == "/metadata/annotations" && isObject(w.src, vs):
		w.redactMember(vs, lastApplied, redactLastApplied)
	case p == "/metadata" && isObject(w.src, vs):
		jsonbytes.Members(w.src, vs, func(a jsonbytes.Member) bool {
			if w.keyIs(a, "annotations") && isObject(w.src, a.ValueStart) {
				w.redactMember(a.ValueStart, lastApplied, redactLastApplied)
			}
			return true
		})
	case p == "" || p == "/":
		// The whole object replaced: the value is a Secret.
		w.body(vs, bodyCtx{redact: true, secrets: true})
	}
}
