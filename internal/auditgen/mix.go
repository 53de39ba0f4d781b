package auditgen

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// opFn fills e with one request.
type opFn func(g *Generator, e *ev)

// ops is the request mix: weight per 10,000 requests. A request logged at two
// stages gives two lines, so line fractions differ a little (see the package
// documentation for the measured mix).
var ops = []struct {
	w  int
	fn opFn
}{
	// Metadata level.
	{1450, opKubeletLease},
	{250, opKubeletGetNode},
	{260, opKubeletWatch},
	{260, opKubeletGetObj},
	{110, opKubeletToken},
	{480, opLeader},
	{1620, opController},
	{330, opScheduler},
	{1300, opOperator},
	{160, opAPIServerSelf},
	{380, opHumanRead},
	{190, opDiscovery},
	{300, opHealth},
	{25, op401},
	{40, op403},
	{80, opImpersonate},
	{60, opHumanDelete},
	{12, opExec},
	{170, opWriteMeta},
	{90, opTokenReview},
	{25, opDeprecated},
	// Request level (request bodies).
	{90, opNodeStatus},
	{350, opPodStatus},
	{130, opBinding},
	{340, opEventCreate},
	// RequestResponse level.
	{200, opSAR},
	{160, opEndpointSlice},
	{55, opCtrlUpdateRR},
	{50, opCreatePod},
	{100, opConfigMapRR},
	{12, opListPodsRR},
	{45, opApply},
	{2, opCRD},
	{15, opRestart},
}

// ---- helpers ----

func (g *Generator) n(k int) int            { return g.r.IntN(k) }
func (g *Generator) one(k int) bool         { return g.r.IntN(k) == 0 }
func (g *Generator) node() *node            { return g.p.nodes[g.r.IntN(len(g.p.nodes))] }
func (g *Generator) randPod() *pod          { return g.p.pods[g.r.IntN(len(g.p.pods))] }
func (g *Generator) nextRV() int64          { g.rv += 1 + int64(g.r.IntN(6)); return g.rv }
func pickS(g *Generator, s []string) string { return s[g.r.IntN(len(s))] }

// as makes a the requester of e.
func (g *Generator) as(e *ev, a *actor) {
	e.who = a
	e.ua = ""
	if len(a.uas) > 0 {
		e.ua = a.uas[0]
		if len(a.uas) > 1 && g.one(4) {
			e.ua = a.uas[g.n(len(a.uas))]
		}
	}
	e.ips = a.ips[g.n(len(a.ips))]
}

// drawSize returns a size in [lo, min(hi, MaxBodyBytes)], log-uniform skewed
// towards lo by alpha (alpha 1: log-uniform; larger: more small bodies).
func (g *Generator) drawSize(lo, hi int, alpha float64) int {
	hi = min(hi, g.maxBody)
	if lo >= hi {
		return hi
	}
	u := math.Pow(g.r.Float64(), alpha)
	return int(float64(lo) * math.Pow(float64(hi)/float64(lo), u))
}

// drawMix returns a body size: usually drawSize(lo, mid, alpha); with
// probability tail, a size between mid and MaxBodyBytes (nearly log-uniform),
// which gives the rare bodies of about MaxBodyBytes.
func (g *Generator) drawMix(lo, mid int, alpha, tail float64) int {
	if g.r.Float64() < tail {
		return g.drawSize(mid, g.maxBody, 1.3)
	}
	return g.drawSize(lo, mid, alpha)
}

func (e *ev) obj(group, version, resource, ns, sub string) {
	e.hasObj = true
	e.group, e.version, e.resource, e.ns, e.sub = group, version, resource, ns, sub
}

func (e *ev) setName(s ...string) {
	e.name = e.name[:0]
	for _, p := range s {
		e.name = append(e.name, p...)
	}
}

// objUID sets a uid derived from the object's namespace and name (stable
// across events).
func (e *ev) objUID() {
	h1, h2 := uint64(14695981039346656037), uint64(0x9e3779b97f4a7c15)
	for _, c := range []byte(e.ns) {
		h1 = (h1 ^ uint64(c)) * 1099511628211
	}
	for _, c := range e.name {
		h1 = (h1 ^ uint64(c)) * 1099511628211
		h2 = (h2 ^ uint64(c)) * 0x100000001b3
	}
	h2 ^= h1 >> 17
	e.uid = appendUUID(e.uid[:0], h1, h2*0xbf58476d1ce4e5b9)
}

// path writes the resource path of e's objectRef into its requestURI.
func (e *ev) path(named bool) {
	u := e.uri[:0]
	if e.group == "" {
		u = append(u, "/api/"...)
	} else {
		u = append(u, "/apis/"...)
		u = append(u, e.group...)
		u = append(u, '/')
	}
	u = append(u, e.version...)
	if e.ns != "" {
		u = append(u, "/namespaces/"...)
		u = append(u, e.ns...)
	}
	u = append(u, '/')
	u = append(u, e.resource...)
	if named {
		u = append(u, '/')
		if e.uriName != "" {
			u = append(u, e.uriName...)
		} else {
			u = append(u, e.name...)
		}
		if e.sub != "" {
			u = append(u, '/')
			u = append(u, e.sub...)
		}
	}
	e.uri = u
	e.hasQ = false
}

func (e *ev) setURI(s string) {
	e.uri = append(e.uri[:0], s...)
	e.hasQ = strings.IndexByte(s, '?') >= 0
}

// qs appends a query parameter (already encoded) to the requestURI.
func (e *ev) qs(k, v string) {
	if e.hasQ {
		e.uri = append(e.uri, amp...)
	} else {
		e.uri = append(e.uri, '?')
		e.hasQ = true
	}
	e.uri = append(e.uri, k...)
	e.uri = append(e.uri, '=')
	e.uri = append(e.uri, v...)
}

func (e *ev) qsInt(k string, v int64) {
	e.qs(k, "")
	e.uri = appendInt(e.uri, v)
}

// listQuery is the initial list of a client-go reflector.
func (e *ev) listQuery(label string) {
	if label != "" {
		e.qs("labelSelector", label)
	}
	e.qs("limit", "500")
	e.qs("resourceVersion", "0")
}

// watch turns e into a watch logged at ResponseStarted and ResponseComplete.
func (g *Generator) watch(e *ev, field, label string) {
	e.verb = "watch"
	e.qs("allowWatchBookmarks", "true")
	if field != "" {
		e.qs("fieldSelector", field)
	}
	if label != "" {
		e.qs("labelSelector", label)
	}
	e.qsInt("resourceVersion", g.rv-int64(g.n(50000)))
	ts := 300 + g.n(300)
	e.qs("timeout", "")
	e.uri = appendInt(e.uri, int64(ts/60))
	e.uri = append(e.uri, 'm')
	e.uri = appendInt(e.uri, int64(ts%60))
	e.uri = append(e.uri, 's')
	e.qsInt("timeoutSeconds", int64(ts))
	e.qs("watch", "true")
	e.stage1, e.stage2 = stStarted, stComplete
	e.delay = time.Duration(200+g.n(1500)) * time.Microsecond
}

func (e *ev) nameSelector() string { return "metadata.name%3D" + string(e.name) }

// ---- response statuses ----

func (e *ev) appendQualified(s []byte) []byte {
	s = append(s, e.resource...)
	if e.group != "" {
		s = append(s, '.')
		s = append(s, e.group...)
	}
	return s
}

func (e *ev) appendDetails(s []byte, kind string) []byte {
	s = append(s, `"details":{`...)
	if len(e.name) > 0 {
		s = append(s, `"name":"`...)
		s = append(s, e.name...)
		s = append(s, `",`...)
	}
	if e.group != "" {
		s = append(s, `"group":"`...)
		s = append(s, e.group...)
		s = append(s, `",`...)
	}
	s = append(s, `"kind":"`...)
	s = append(s, kind...)
	return append(s, `"}`...)
}

func (e *ev) fail(code int, reason string, msg func(s []byte) []byte, details func(s []byte) []byte) {
	s := append(e.status[:0], `{"metadata":{},"status":"Failure","message":"`...)
	s = msg(s)
	s = append(s, `","reason":"`...)
	s = append(s, reason...)
	s = append(s, `",`...)
	if details != nil {
		s = details(s)
		s = append(s, ',')
	}
	s = append(s, `"code":`...)
	s = appendInt(s, int64(code))
	e.status = append(s, '}')
	e.code = code
}

func (e *ev) notFound() {
	e.fail(404, "NotFound", func(s []byte) []byte {
		s = e.appendQualified(s)
		s = append(s, ` \"`...)
		s = append(s, e.name...)
		return append(s, `\" not found`...)
	}, func(s []byte) []byte { return e.appendDetails(s, e.resource) })
}

func (e *ev) conflict() {
	e.fail(409, "Conflict", func(s []byte) []byte {
		s = append(s, `Operation cannot be fulfilled on `...)
		s = e.appendQualified(s)
		s = append(s, ` \"`...)
		s = append(s, e.name...)
		return append(s, `\": the object has been modified; please apply your changes to the latest version and try again`...)
	}, func(s []byte) []byte { return e.appendDetails(s, e.resource) })
}

func (e *ev) alreadyExists() {
	e.fail(409, "AlreadyExists", func(s []byte) []byte {
		s = e.appendQualified(s)
		s = append(s, ` \"`...)
		s = append(s, e.name...)
		return append(s, `\" already exists`...)
	}, func(s []byte) []byte { return e.appendDetails(s, e.resource) })
}

// forbidden sets a 403 for username (escaped) and the forbid annotations;
// why is the authorizer's reason (escaped, may be empty).
func (e *ev) forbidden(username, why string) {
	e.fail(403, "Forbidden", func(s []byte) []byte {
		s = e.appendQualified(s)
		if len(e.name) > 0 {
			s = append(s, ` \"`...)
			s = append(s, e.name...)
			s = append(s, `\"`...)
		}
		s = append(s, ` is forbidden: User \"`...)
		s = append(s, username...)
		s = append(s, `\" cannot `...)
		s = append(s, e.verb...)
		s = append(s, ` resource \"`...)
		s = append(s, e.resource...)
		if e.sub != "" {
			s = append(s, '/')
			s = append(s, e.sub...)
		}
		s = append(s, `\" in API group \"`...)
		s = append(s, e.group...)
		if e.ns != "" {
			s = append(s, `\" in the namespace \"`...)
			s = append(s, e.ns...)
			s = append(s, `\"`...)
		} else {
			s = append(s, `\" at the cluster scope`...)
		}
		if why != "" {
			s = append(s, ": "...)
			s = append(s, why...)
		}
		return s
	}, func(s []byte) []byte { return e.appendDetails(s, e.resource) })
	e.addAnn("authorization.k8s.io/decision", "forbid")
	e.addAnn("authorization.k8s.io/reason", why)
}

const rfc1123Msg = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`

func (e *ev) invalidName(kind string) {
	e.fail(422, "Invalid", func(s []byte) []byte {
		s = append(s, kind...)
		s = append(s, ` \"`...)
		s = append(s, e.name...)
		s = append(s, `\" is invalid: metadata.name: Invalid value: \"`...)
		s = append(s, e.name...)
		s = append(s, `\": `...)
		return append(s, rfc1123Msg...)
	}, func(s []byte) []byte {
		s = append(s, `"details":{"name":"`...)
		s = append(s, e.name...)
		s = append(s, `","kind":"`...)
		s = append(s, kind...)
		s = append(s, `","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \"`...)
		s = append(s, e.name...)
		s = append(s, `\": `...)
		s = append(s, rfc1123Msg...)
		return append(s, `","field":"metadata.name"}]}`...)
	})
}

var webhookErrors = []string{
	esc(`failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s": context deadline exceeded`),
	esc(`failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/validate?timeout=30s": dial tcp 10.96.112.40:443: connect: connection refused`),
	esc(`rpc error: code = Unavailable desc = error reading from server: EOF`),
}

func (e *ev) internalError(msg string) {
	e.fail(500, "InternalError", func(s []byte) []byte {
		s = append(s, "Internal error occurred: "...)
		return append(s, msg...)
	}, func(s []byte) []byte {
		s = append(s, `"details":{"causes":[{"message":"`...)
		s = append(s, msg...)
		return append(s, `"}]}`...)
	})
}

// ---- long and unicode annotations ----

// validationFailures are ValidatingAdmissionPolicy audit annotations (a JSON
// list in a string), 2–4 KB each.
var validationFailures = func() []string {
	policies := []string{"require-owner-labels", "disallow-latest-tag", "require-resource-limits", "restrict-image-registries", "require-probes"}
	var out []string
	for v := 0; v < 6; v++ {
		var b strings.Builder
		b.WriteByte('[')
		for i, n := 0, 6+v; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			p := policies[(i+v)%len(policies)]
			fmt.Fprintf(&b, `{"message":"failed expression: object.spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && c.image.startsWith('123456789012.dkr.ecr.eu-west-3.amazonaws.com/')) — container #%d does not satisfy policy %s; see https://policies.example.com/%s#remediation","policy":"%s","binding":"%s-binding","expressionIndex":%d,"validationActions":["Audit","Warn"]}`,
				i, p, p, p, p, i%3)
		}
		b.WriteByte(']')
		out = append(out, esc(b.String()))
	}
	return out
}()

var (
	psaViolation = esc(`would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`)
	mutationAnn  = esc(`{"configuration":"kyverno-resource-mutating-webhook-cfg","webhook":"mutate.kyverno.svc-fail","mutated":true}`)
	ticketAnns   = []string{esc("CHG-48213 — Déploiement validé par l'équipe données ✅"), esc("リリース承認済み: 日本チーム 🚀 (CHG-50117)"), esc("Freigabe durch Jürgen Groß — Änderung Nr. 7731")}
	unicodeNames = []struct{ name, uri string }{
		{"café-config", pctEncode("café-config")}, {"設定-prod", pctEncode("設定-prod")},
		{"rocket-🚀", pctEncode("rocket-🚀")}, {"configuración", pctEncode("configuración")},
	}
	discoveryReason  = crbReason("system:discovery", "system:discovery", "Group", "system:authenticated")
	basicUserReason  = crbReason("system:basic-user", "system:basic-user", "Group", "system:authenticated")
	ciDeployerReason = crbReason("ci-deployer", "cluster-admin", "ServiceAccount", "gitlab-runner/ci")
	msAuthDelegator  = crbReason("metrics-server:system:auth-delegator", "system:auth-delegator", "ServiceAccount", "metrics-server/kube-system")
	ksmAuthDelegator = crbReason("kube-state-metrics:system:auth-delegator", "system:auth-delegator", "ServiceAccount", "kube-state-metrics/monitoring")
)

// longAnnotations sometimes adds audit annotations from admission: the
// ValidatingAdmissionPolicy failure list (2–4 KB), a mutating webhook's
// record, a change ticket with non-ASCII text.
func (g *Generator) longAnnotations(e *ev, pct int) {
	if g.n(100) >= pct {
		return
	}
	switch g.n(3) {
	case 0:
		e.addAnn("validation.policy.admission.k8s.io/validation_failure", validationFailures[g.n(len(validationFailures))])
	case 1:
		e.addAnn("mutation.webhook.admission.k8s.io/round_0_index_2", mutationAnn)
		e.addAnn("change-control.example.com/ticket", ticketAnns[g.n(len(ticketAnns))])
	default:
		e.addAnn("change-control.example.com/ticket", ticketAnns[g.n(len(ticketAnns))])
	}
}

// ---- kubelets ----

func opKubeletLease(g *Generator, e *ev) {
	n := g.node()
	g.as(e, n.kubelet)
	e.level = lvMetadata
	e.obj("coordination.k8s.io", "v1", "leases", "kube-node-lease", "")
	e.setName(n.name)
	e.path(true)
	e.qs("timeout", "10s")
	e.allow("")
	if g.one(40) {
		e.verb = "get"
		return
	}
	e.verb = "update"
	e.objUID()
	e.rv = g.nextRV()
	if g.one(200) {
		e.conflict()
	}
}

func opKubeletGetNode(g *Generator, e *ev) {
	n := g.node()
	g.as(e, n.kubelet)
	e.level, e.verb = lvMetadata, "get"
	e.obj("", "v1", "nodes", "", "")
	e.setName(n.name)
	e.path(true)
	if g.one(2) {
		e.qs("resourceVersion", "0")
	}
	e.qs("timeout", "10s")
	e.allow("")
}

func opKubeletWatch(g *Generator, e *ev) {
	pd := g.randPod()
	n := pd.node
	g.as(e, n.kubelet)
	e.level = lvMetadata
	e.allow("")
	switch x := g.n(20); {
	case x < 8:
		e.obj("", "v1", "configmaps", pd.ns, "")
		if g.one(2) {
			e.setName("kube-root-ca.crt")
		} else {
			e.setName(pd.app, "-config")
		}
		e.path(false)
		g.watch(e, e.nameSelector(), "")
	case x < 13:
		e.obj("", "v1", "secrets", pd.ns, "")
		e.setName(pd.app, "-tls")
		e.path(false)
		g.watch(e, e.nameSelector(), "")
	case x < 16:
		e.obj("", "v1", "pods", "", "")
		e.path(false)
		g.watch(e, "spec.nodeName%3D"+n.name, "")
	case x < 18:
		e.obj("", "v1", "nodes", "", "")
		e.setName(n.name)
		e.path(false)
		g.watch(e, e.nameSelector(), "")
	default:
		e.obj("", "v1", "services", "", "")
		e.path(false)
		g.watch(e, "", "%21service.kubernetes.io%2Fheadless%2C%21service.kubernetes.io%2Fservice-proxy-name")
	}
}

func opKubeletGetObj(g *Generator, e *ev) {
	pd := g.randPod()
	g.as(e, pd.node.kubelet)
	e.level, e.verb = lvMetadata, "get"
	if g.one(2) {
		e.obj("", "v1", "configmaps", pd.ns, "")
		e.setName(pd.app, "-config")
	} else {
		e.obj("", "v1", "secrets", pd.ns, "")
		if g.one(2) {
			e.setName(pd.app, "-tls")
		} else {
			e.setName(pd.app, "-db-credentials")
		}
	}
	e.path(true)
	switch x := g.n(100); {
	case x < 4:
		e.allow("")
		e.notFound()
	case x < 5:
		e.forbidden(pd.node.kubelet.username, "no relationship found between node '"+pd.node.name+"' and this object")
	default:
		e.allow("")
	}
}

func opKubeletToken(g *Generator, e *ev) {
	pd := g.randPod()
	g.as(e, pd.node.kubelet)
	e.level, e.verb, e.code = lvMetadata, "create", 201
	e.obj("", "v1", "serviceaccounts", pd.ns, "token")
	e.setName(pd.app)
	e.path(true)
	e.allow("")
	lo := len(e.annBuf)
	e.annBuf = append(e.annBuf, "JTI="...)
	e.annBuf = appendUUID(e.annBuf, g.r.Uint64(), g.r.Uint64())
	e.addAnnBuf("authentication.kubernetes.io/issued-credential-id", lo)
}

// ---- control plane and controllers ----

func opLeader(g *Generator, e *ev) {
	ls := g.p.leases[len(g.p.nodes):]
	l := ls[g.n(len(ls))]
	g.as(e, l.holder)
	e.level = lvMetadata
	e.obj("coordination.k8s.io", "v1", "leases", l.ns, "")
	e.setName(l.name)
	e.path(true)
	e.qs("timeout", "5s")
	e.allow(l.holder.reason)
	if g.n(5) < 2 {
		e.verb = "get"
		return
	}
	e.verb = "update"
	e.objUID()
	e.rv = g.nextRV()
	if g.one(100) {
		e.conflict()
	}
}

func (g *Generator) nameFor(e *ev, pool string) {
	switch pool {
	case "pods":
		pd := g.randPod()
		e.ns = pd.ns
		e.setName(pd.name)
	case "deploys":
		d := g.p.deploys[g.n(len(g.p.deploys))]
		e.ns = d.ns
		if e.resource == "replicasets" {
			e.setName(d.name, "-", g.p.pods[g.n(len(g.p.pods))].hash)
		} else {
			e.setName(d.name)
		}
	case "cms":
		c := g.p.cms[g.n(len(g.p.cms))]
		e.ns = c.ns
		e.setName(c.name)
	case "nodes":
		e.setName(g.node().name)
	default:
		pd := g.randPod()
		if e.ns != "" {
			e.ns = pd.ns
		}
		switch e.resource {
		case "endpointslices":
			e.setName(pd.app, "-", pd.hash[:5])
		case "jobs":
			e.setName(pd.app, "-nightly-", fmt.Sprint(29000000+g.n(1000000)))
		case "cronjobs":
			e.setName(pd.app, "-nightly")
		case "persistentvolumeclaims":
			e.setName("data-", pd.app, "-0")
		case "controllerrevisions":
			e.setName("cilium-", pd.hash)
		case "daemonsets":
			e.ns = "kube-system"
			e.setName(pickS(g, []string{"cilium", "fluent-bit", "node-exporter", "ebs-csi-node"}))
		case "volumeattachments":
			e.setName("csi-", g.p.hex64[g.n(40)])
		case "resourcequotas":
			e.setName("compute-quota")
		case "serviceaccounts":
			e.setName("default")
		default:
			e.setName(pd.app)
		}
	}
}

func opController(g *Generator, e *ev) {
	i := g.n(len(g.p.ctrls))
	a := g.p.ctrls[i]
	cops := g.p.ctrlRes[i]
	op := cops[g.n(len(cops))]
	g.as(e, a)
	e.level, e.verb = lvMetadata, op.verb
	ns := ""
	if op.namespaced {
		ns = g.p.appNS[g.n(len(g.p.appNS))]
	}
	e.obj(op.group, op.version, op.resource, ns, op.sub)
	e.allow(a.reason)
	if !op.named {
		e.path(false)
		switch {
		case op.verb == "list" && g.n(10) < 2:
			g.watch(e, "", "")
		case op.verb == "list" && op.resource == "pods" && ns != "":
			e.qs("labelSelector", "app.kubernetes.io%2Fname%3D"+g.randPod().app)
		case op.verb == "list":
			e.listQuery("")
		}
		return
	}
	g.nameFor(e, op.pool)
	e.path(true)
	switch op.verb {
	case "update":
		e.objUID()
		e.rv = g.nextRV()
		if g.one(50) {
			e.conflict()
		}
	case "create":
		e.code = 201
		e.objUID()
		e.rv = g.nextRV()
		e.path(false)
	case "get":
		if g.one(30) {
			e.notFound()
		}
	}
}

func opScheduler(g *Generator, e *ev) {
	g.as(e, g.p.sched)
	e.level, e.verb = lvMetadata, "list"
	e.allow(g.p.sched.reason)
	switch x := g.n(10); {
	case x < 3:
		e.obj("", "v1", "pods", "", "")
		e.path(false)
		g.watch(e, "status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed", "")
	case x < 5:
		pd := g.randPod()
		e.verb = "get"
		e.obj("", "v1", "pods", pd.ns, "")
		e.setName(pd.name)
		e.path(true)
	case x < 7:
		e.obj("", "v1", "nodes", "", "")
		e.path(false)
		if g.one(2) {
			g.watch(e, "", "")
		} else {
			e.listQuery("")
		}
	case x < 8:
		e.obj("storage.k8s.io", "v1", "csinodes", "", "")
		e.path(false)
		g.watch(e, "", "")
	default:
		e.obj("", "v1", "persistentvolumeclaims", "", "")
		e.path(false)
		e.listQuery("")
	}
}

func opOperator(g *Generator, e *ev) {
	p := g.p
	e.level, e.verb = lvMetadata, "list"
	switch x := g.n(20); {
	case x < 5: // CoreDNS
		a := p.coredns[g.n(len(p.coredns))]
		g.as(e, a)
		e.allow(a.reason)
		switch g.n(3) {
		case 0:
			e.obj("discovery.k8s.io", "v1", "endpointslices", "", "")
		case 1:
			e.obj("", "v1", "services", "", "")
		default:
			e.obj("", "v1", "namespaces", "", "")
		}
		e.path(false)
		if g.one(3) {
			g.watch(e, "", "")
		} else {
			e.listQuery("")
		}
	case x < 10: // Cilium agent on a node
		n := g.node()
		g.as(e, n.cilium)
		e.allow(n.cilium.reason)
		switch g.n(4) {
		case 0, 1:
			e.verb = "get"
			e.obj("cilium.io", "v2", "ciliumnodes", "", "")
			e.setName(n.name)
			e.path(true)
			if g.one(2) {
				e.verb = "update"
				e.objUID()
				e.rv = g.nextRV()
			}
		case 2:
			e.obj("cilium.io", "v2", "ciliumendpoints", "", "")
			e.path(false)
			g.watch(e, "", "")
		default:
			e.obj("cilium.io", "v2", "ciliumidentities", "", "")
			e.path(false)
			e.listQuery("")
		}
	case x < 12: // ingress-nginx
		g.as(e, p.ingress)
		e.allow(p.ingress.reason)
		if g.one(2) {
			e.verb = "get"
			e.obj("", "v1", "configmaps", "ingress-nginx", "")
			e.setName("ingress-nginx-controller")
			e.path(true)
		} else {
			e.obj("networking.k8s.io", "v1", "ingresses", "", "")
			e.path(false)
			g.watch(e, "", "")
		}
	case x < 14: // cert-manager
		g.as(e, p.certMgr)
		e.allow(p.certMgr.reason)
		switch g.n(3) {
		case 0:
			e.obj("cert-manager.io", "v1", "certificates", "", "")
		case 1:
			e.obj("acme.cert-manager.io", "v1", "orders", "", "")
		default:
			e.obj("cert-manager.io", "v1", "certificaterequests", "", "")
		}
		e.path(false)
		g.watch(e, "", "")
	case x < 17: // Argo CD
		g.as(e, p.argocd)
		e.allow(p.argocd.reason)
		if g.one(2) {
			e.obj("argoproj.io", "v1alpha1", "applications", "argocd", "")
			e.path(false)
			g.watch(e, "", "")
		} else {
			d := p.deploys[g.n(len(p.deploys))]
			e.verb = "get"
			e.obj("apps", "v1", "deployments", d.ns, "")
			e.setName(d.name)
			e.path(true)
			if g.one(40) {
				e.notFound()
			}
		}
	case x < 19: // Prometheus service discovery
		g.as(e, p.prom)
		e.allow(p.prom.reason)
		ns := p.appNS[g.n(len(p.appNS))]
		switch g.n(3) {
		case 0:
			e.obj("", "v1", "pods", ns, "")
		case 1:
			e.obj("", "v1", "services", ns, "")
		default:
			e.obj("discovery.k8s.io", "v1", "endpointslices", ns, "")
		}
		e.path(false)
		if g.one(3) {
			g.watch(e, "", "")
		} else {
			e.qs("limit", "500")
			e.qs("resourceVersion", "0")
		}
	default: // kube-state-metrics
		g.as(e, p.ksm)
		e.allow(p.ksm.reason)
		rs := [][3]string{{"", "v1", "pods"}, {"apps", "v1", "deployments"}, {"batch", "v1", "jobs"},
			{"", "v1", "persistentvolumeclaims"}, {"autoscaling", "v2", "horizontalpodautoscalers"}, {"policy", "v1", "poddisruptionbudgets"}}[g.n(6)]
		e.obj(rs[0], rs[1], rs[2], "", "")
		e.path(false)
		if g.one(3) {
			g.watch(e, "", "")
		} else {
			e.listQuery("")
		}
	}
}

func opAPIServerSelf(g *Generator, e *ev) {
	g.as(e, g.p.apiserver)
	e.level, e.verb = lvMetadata, "get"
	e.allow("")
	switch x := g.n(10); {
	case x < 4:
		e.obj("", "v1", "endpoints", "default", "")
		e.setName("kubernetes")
		e.path(true)
	case x < 7:
		e.obj("discovery.k8s.io", "v1", "endpointslices", "default", "")
		e.setName("kubernetes")
		e.path(true)
	case x < 8:
		e.obj("", "v1", "namespaces", "", "")
		e.ns = "kube-system"
		e.setName("kube-system")
		e.setURI("/api/v1/namespaces/kube-system")
	default:
		e.verb = "list"
		e.obj("apiregistration.k8s.io", "v1", "apiservices", "", "")
		e.path(false)
		g.watch(e, "", "")
	}
}

// ---- people, CI, anonymous ----

func (g *Generator) human() *actor {
	h := g.p.humans
	switch x := g.n(20); {
	case x < 7:
		return h[0]
	case x < 10:
		return h[1]
	case x < 13:
		return h[2]
	case x < 17:
		return h[3]
	default:
		return h[4]
	}
}

func opHumanRead(g *Generator, e *ev) {
	h := g.human()
	g.as(e, h)
	ns := h.ns[g.n(len(h.ns))]
	e.level, e.verb = lvMetadata, "get"
	e.allow(h.reasonIn(ns))
	pd := g.randPod()
	switch x := g.n(20); {
	case x < 6:
		e.verb = "list"
		e.obj("", "v1", "pods", ns, "")
		e.path(false)
		if g.one(2) {
			e.qs("labelSelector", "app.kubernetes.io%2Fname%3D"+pd.app)
		}
		e.qs("limit", "500")
	case x < 8:
		e.obj("", "v1", "pods", pd.ns, "")
		e.ns = pd.ns
		e.setName(pd.name)
		e.path(true)
	case x < 9:
		e.verb = "list"
		e.obj("", "v1", "events", pd.ns, "")
		e.path(false)
		e.qs("fieldSelector", "involvedObject.name%3D"+pd.name+"%2CinvolvedObject.namespace%3D"+pd.ns+"%2CinvolvedObject.uid%3D"+pd.uid)
		e.qs("limit", "500")
	case x < 11: // kubectl logs -f: long-running, two stages
		e.obj("", "v1", "pods", pd.ns, "log")
		e.setName(pd.name)
		e.path(true)
		e.qs("container", "app")
		e.qs("follow", "true")
		e.qs("tailLines", "100")
		e.stage1, e.stage2 = stStarted, stComplete
	case x < 14:
		e.verb = "list"
		e.obj("apps", "v1", "deployments", ns, "")
		e.path(false)
		e.qs("labelSelector", "app.kubernetes.io%2Fpart-of%3D"+ns)
		e.qs("limit", "500")
	case x < 18:
		if g.one(2) {
			e.obj("", "v1", "configmaps", ns, "")
		} else {
			e.obj("", "v1", "secrets", ns, "")
		}
		if g.n(4) == 0 { // a mistyped, non-ASCII name
			u := unicodeNames[g.n(len(unicodeNames))]
			e.setName(u.name)
			e.uriName = u.uri
			e.path(true)
			e.notFound()
		} else {
			e.setName(pd.app, "-config")
			e.path(true)
		}
	default:
		e.verb = "list"
		e.obj("", "v1", "pods", "", "")
		e.path(false)
		e.qs("limit", "500")
	}
}

func opDiscovery(g *Generator, e *ev) {
	var a *actor
	switch g.n(3) {
	case 0:
		a = g.human()
	case 1:
		a = g.p.ciOps[g.n(len(g.p.ciOps))]
	default:
		a = g.p.argocd
	}
	g.as(e, a)
	e.level, e.verb = lvMetadata, "get"
	e.setURI(pickS(g, []string{"/api?timeout=32s", "/apis?timeout=32s", "/openapi/v3?timeout=32s", "/version?timeout=32s",
		"/openapi/v3/apis/apps/v1?hash=F2A6B8C1D7E04A3B9C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0C1D2E3F4A5B6C7D8E9F0A1B2C3D4E5F6A7B8C9D0E1F2" + amp + "timeout=32s"}))
	e.allow(discoveryReason)
	if g.one(3) {
		e.ann = e.ann[:0]
		e.allow(basicUserReason)
		e.setURI("/apis/authorization.k8s.io/v1?timeout=32s")
	}
}

func opHealth(g *Generator, e *ev) {
	g.as(e, g.p.anon)
	e.level, e.verb = lvMetadata, "get"
	e.setURI(pickS(g, []string{"/readyz", "/livez", "/healthz", "/readyz?verbose", "/livez?exclude=etcd", "/version"}))
	e.allow(g.p.anon.reason)
}

// op401: failed authentication (a bad or expired token): the apiserver writes
// a single ResponseStarted event with an empty user and no authorization
// annotations (k8s.io/apiserver pkg/endpoints/filters/authn_audit.go). Only non-resource paths here, so no
// objectRef.
func op401(g *Generator, e *ev) {
	e.who = g.p.unauth
	e.ua = pickS(g, g.p.scanUAs)
	e.ips = pickS(g, g.p.scanIPs)
	e.level, e.verb = lvMetadata, "get"
	if g.one(5) {
		e.verb = "post"
	}
	e.setURI(pickS(g, []string{"/", "/api", "/version", "/.env", "/metrics", "/apis/", "/openapi/v2", "/login"}))
	e.stage1 = stStarted
	e.code = 401
	e.status = append(e.status[:0], `{"metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`...)
}

func op403(g *Generator, e *ev) {
	p := g.p
	e.level, e.verb = lvMetadata, "list"
	switch x := g.n(20); {
	case x < 8: // anonymous probing
		e.who = p.anon
		e.ua = pickS(g, p.scanUAs)
		e.ips = pickS(g, p.scanIPs)
		if g.one(3) {
			e.verb = "get"
			e.setURI(pickS(g, []string{"/metrics", "/debug/pprof/", "/logs"}))
			u := string(e.uri)
			e.fail(403, "Forbidden", func(s []byte) []byte {
				s = append(s, `forbidden: User \"system:anonymous\" cannot get path \"`...)
				s = append(s, u...)
				return append(s, `\"`...)
			}, func(s []byte) []byte { return append(s, `"details":{}`...) })
			e.addAnn("authorization.k8s.io/decision", "forbid")
			e.addAnn("authorization.k8s.io/reason", "")
			return
		}
		e.obj("", "v1", pickS(g, []string{"secrets", "pods", "configmaps"}), "kube-system", "")
		e.path(false)
		e.forbidden("system:anonymous", "")
	case x < 13: // the Node authorizer refuses a kubelet
		pd := g.randPod()
		n := g.node()
		g.as(e, n.kubelet)
		e.verb = "get"
		e.obj("", "v1", "secrets", pd.ns, "")
		e.setName(pd.app, "-db-credentials")
		e.path(true)
		e.forbidden(n.kubelet.username, "no relationship found between node '"+n.name+"' and this object")
	case x < 17: // a binding whose role is missing
		g.as(e, p.ksm)
		e.obj("autoscaling.k8s.io", "v1", "verticalpodautoscalers", "", "")
		e.path(false)
		e.listQuery("")
		e.forbidden(p.ksm.username, esc(`RBAC: clusterrole.rbac.authorization.k8s.io "kube-state-metrics-vpa" not found`))
	default: // a developer outside their namespaces
		h := p.humans[3]
		g.as(e, h)
		e.obj("", "v1", "secrets", "kube-system", "")
		e.path(false)
		e.qs("limit", "500")
		e.forbidden(h.username, "")
	}
}

func opImpersonate(g *Generator, e *ev) {
	p := g.p
	e.level = lvMetadata
	im := &p.imps[g.n(len(p.imps))]
	if g.one(3) {
		g.as(e, p.admin)
	} else {
		g.as(e, p.humans[0])
	}
	e.imp = im
	pd := g.randPod()
	if g.one(2) {
		e.verb = "list"
		e.obj("", "v1", "pods", pd.ns, "")
		e.path(false)
		e.qs("limit", "500")
	} else {
		e.verb = "get"
		e.obj("apps", "v1", "deployments", pd.ns, "")
		e.setName(pd.app)
		e.path(true)
	}
	if g.one(6) {
		e.forbidden(im.username, "")
		return
	}
	e.allow(im.reason)
}

// opHumanDelete: a delete logged at RequestReceived and ResponseComplete (a
// policy that keeps RequestReceived for deletes), like the audit2rbac sample.
func opHumanDelete(g *Generator, e *ev) {
	var a *actor
	if g.one(3) {
		a = g.p.ciOps[g.n(len(g.p.ciOps))]
	} else {
		a = g.human()
	}
	g.as(e, a)
	pd := g.randPod()
	e.level, e.verb = lvMetadata, "delete"
	switch g.n(3) {
	case 0:
		e.obj("", "v1", "pods", pd.ns, "")
		e.setName(pd.name)
	case 1:
		e.obj("batch", "v1", "jobs", pd.ns, "")
		e.setName(pd.app, "-migrate-", fmt.Sprint(g.n(100)))
	default:
		e.obj("", "v1", "configmaps", pd.ns, "")
		e.setName(pd.app, "-config-", pd.hash[:5])
	}
	e.path(true)
	e.allow(a.reasonIn(pd.ns))
	e.stage1, e.stage2 = stReceived, stComplete
	if g.one(10) {
		e.notFound()
	}
}

func opExec(g *Generator, e *ev) {
	h := g.human()
	g.as(e, h)
	pd := g.randPod()
	e.level, e.verb = lvRequest, "create"
	if g.one(2) {
		e.verb = "get" // kubectl 1.30+ execs over WebSocket (GET)
	}
	e.obj("", "v1", "pods", pd.ns, "exec")
	e.setName(pd.name)
	e.path(true)
	cmd := pickS(g, []string{"command=%2Fbin%2Fsh" + amp + "command=-c" + amp + "command=cat%20%2Fetc%2Fresolv.conf",
		"command=bash", "command=env", "command=curl" + amp + "command=-s" + amp + "command=http%3A%2F%2Flocalhost%3A9090%2Fmetrics"})
	e.uri = append(e.uri, '?')
	e.uri = append(e.uri, cmd...)
	e.hasQ = true
	e.qs("container", "app")
	e.qs("stderr", "true")
	e.qs("stdin", "true")
	e.qs("stdout", "true")
	e.qs("tty", "true")
	e.code = 101
	e.allow(h.reasonIn(pd.ns))
	e.stage1, e.stage2 = stStarted, stComplete
}

func opWriteMeta(g *Generator, e *ev) {
	var a *actor
	if g.one(2) {
		a = g.p.ciOps[g.n(len(g.p.ciOps))]
	} else {
		a = g.human()
	}
	g.as(e, a)
	ns := g.p.appNS[g.n(len(g.p.appNS))]
	pd := g.randPod()
	e.level = lvMetadata
	if g.one(2) {
		e.obj("", "v1", "secrets", ns, "")
		e.setName(pd.app, "-db-credentials")
	} else {
		e.obj("", "v1", "configmaps", ns, "")
		e.setName(pd.app, "-config")
	}
	reason := a.reasonIn(ns)
	if reason == "" {
		reason = ciDeployerReason
	}
	e.allow(reason)
	switch g.n(3) {
	case 0:
		e.verb, e.code = "create", 201
		e.path(false)
		e.qs("fieldManager", "kubectl-create")
		e.qs("fieldValidation", "Strict")
		switch x := g.n(100); {
		case x < 6:
			e.alreadyExists()
		case x < 16:
			u := unicodeNames[g.n(len(unicodeNames))]
			e.setName(u.name)
			kind := "ConfigMap"
			if e.resource == "secrets" {
				kind = "Secret"
			}
			e.invalidName(kind)
		case x < 18:
			e.internalError(webhookErrors[g.n(len(webhookErrors))])
		default:
			e.objUID()
			e.rv = g.nextRV()
		}
	case 1:
		e.verb = "update"
		e.path(true)
		e.qs("fieldManager", "helm")
		e.objUID()
		e.rv = g.nextRV()
		if g.one(30) {
			e.conflict()
		}
	default:
		e.verb = "patch"
		e.path(true)
		e.qs("fieldManager", "kubectl-client-side-apply")
		e.qs("fieldValidation", "Strict")
		e.objUID()
		e.rv = g.nextRV()
	}
	g.longAnnotations(e, 35)
}

func opTokenReview(g *Generator, e *ev) {
	a, reason := g.p.metrics, msAuthDelegator
	if g.one(2) {
		a, reason = g.p.ksm, ksmAuthDelegator
	}
	g.as(e, a)
	e.level, e.verb, e.code = lvMetadata, "create", 201
	e.obj("authentication.k8s.io", "v1", "tokenreviews", "", "")
	e.path(false)
	e.qs("timeout", "10s")
	e.allow(reason)
}

func opDeprecated(g *Generator, e *ev) {
	g.as(e, g.p.argocd)
	e.level, e.verb = lvMetadata, "list"
	e.obj("flowcontrol.apiserver.k8s.io", "v1beta3", pickS(g, []string{"flowschemas", "prioritylevelconfigurations"}), "", "")
	e.path(false)
	e.listQuery("")
	e.allow(g.p.argocd.reason)
	e.addAnn("k8s.io/deprecated", "true")
	e.addAnn("k8s.io/removed-release", "1.32")
}

// ---- Request level ----

func opNodeStatus(g *Generator, e *ev) {
	n := g.node()
	g.as(e, n.kubelet)
	e.level, e.verb = lvRequest, "patch"
	e.obj("", "v1", "nodes", "", "status")
	e.setName(n.name)
	e.path(true)
	e.qs("timeout", "10s")
	e.objUID()
	e.rv = g.nextRV()
	e.allow("")
	e.req = body{kind: bNodeStatus}
	if g.one(8) {
		e.req.size = g.drawSize(4<<10, 64<<10, 1.5) // image list changed
	}
}

func opPodStatus(g *Generator, e *ev) {
	pd := g.randPod()
	g.as(e, pd.node.kubelet)
	e.level, e.verb = lvRequest, "patch"
	e.obj("", "v1", "pods", pd.ns, "status")
	e.setName(pd.name)
	e.path(true)
	e.uid = append(e.uid[:0], pd.uid...)
	e.rv = g.nextRV()
	e.pod = pd
	e.allow("")
	e.req = body{kind: bPodStatus}
}

func opBinding(g *Generator, e *ev) {
	pd := g.randPod()
	g.as(e, g.p.sched)
	e.level, e.verb, e.code = lvRequest, "create", 201
	e.obj("", "v1", "pods", pd.ns, "binding")
	e.setName(pd.name)
	e.path(true)
	e.uid = append(e.uid[:0], pd.uid...)
	e.pod = pd
	e.allow(g.p.sched.reason)
	e.req = body{kind: bBinding}
}

func opEventCreate(g *Generator, e *ev) {
	pd := g.randPod()
	g.as(e, pd.node.kubelet)
	e.level, e.verb, e.code = lvRequest, "create", 201
	e.obj("", "v1", "events", pd.ns, "")
	e.path(false)
	e.name = append(e.name[:0], pd.name...)
	e.name = append(e.name, '.')
	e.name = appendHex(e.name, g.r.Uint64(), 16)
	e.pod = pd
	e.allow("")
	e.req = body{kind: bEvent}
}

// ---- RequestResponse level ----

func opSAR(g *Generator, e *ev) {
	g.as(e, g.p.metrics)
	e.level, e.verb, e.code = lvRequestResponse, "create", 201
	e.obj("authorization.k8s.io", "v1", "subjectaccessreviews", "", "")
	e.path(false)
	e.qs("timeout", "10s")
	e.pod = g.randPod()
	e.allow(e.who.reason)
	e.req = body{kind: bSARReq}
	e.resp = body{kind: bSARResp}
}

func opEndpointSlice(g *Generator, e *ev) {
	a := g.p.ctrls[0] // endpointslice-controller
	g.as(e, a)
	pd := g.randPod()
	e.level, e.verb = lvRequestResponse, "update"
	e.obj("discovery.k8s.io", "v1", "endpointslices", pd.ns, "")
	e.setName(pd.app, "-", pd.hash[:5])
	e.path(true)
	e.objUID()
	e.rv = g.nextRV()
	e.allow(a.reason)
	size := g.drawSize(600, 12<<10, 3.5)
	e.req = body{kind: bEndpointSlice, server: true, size: size}
	e.resp = body{kind: bEndpointSlice, server: true, size: size + 30}
	if g.one(60) {
		e.conflict()
		e.resp = body{kind: bStatus}
	}
}

func opCtrlUpdateRR(g *Generator, e *ev) {
	pd := g.randPod()
	kind := bDeployment
	a := g.p.ctrls[2] // deployment-controller
	e.obj("apps", "v1", "deployments", pd.ns, "status")
	e.setName(pd.app)
	if g.one(2) {
		kind = bReplicaSet
		a = g.p.ctrls[1]
		e.obj("apps", "v1", "replicasets", pd.ns, "status")
		e.setName(pd.rs)
	}
	g.as(e, a)
	e.level, e.verb = lvRequestResponse, "update"
	e.path(true)
	e.objUID()
	e.rv = g.nextRV()
	e.allow(a.reason)
	size := g.drawSize(1800, 12<<10, 3)
	e.req = body{kind: kind, server: true, size: size}
	e.resp = body{kind: kind, server: true, size: size + 40}
}

func opCreatePod(g *Generator, e *ev) {
	a := g.p.ctrls[1] // replicaset-controller
	g.as(e, a)
	pd := g.randPod()
	e.level, e.verb, e.code = lvRequestResponse, "create", 201
	e.obj("", "v1", "pods", pd.ns, "")
	e.path(false)
	e.setName(pd.rs, "-", string(appendHex(nil, uint64(g.r.Uint32()), 5)))
	e.objUID()
	e.rv = g.nextRV()
	e.pod = pd
	e.allow(a.reason)
	e.addAnn("pod-security.kubernetes.io/enforce-policy", "baseline:latest")
	if g.one(4) {
		e.addAnn("pod-security.kubernetes.io/audit-violations", psaViolation)
	}
	size := g.drawSize(1500, 24<<10, 3)
	e.req = body{kind: bPod, size: size}
	e.resp = body{kind: bPod, server: true, size: size + 300}
}

func opConfigMapRR(g *Generator, e *ev) {
	var a *actor
	switch g.n(4) {
	case 0:
		a = g.human()
	case 1:
		a = g.p.argocd
	case 2:
		a = g.p.ciOps[g.n(len(g.p.ciOps))]
	default:
		a = g.p.ingress
	}
	g.as(e, a)
	c := g.p.cms[g.n(len(g.p.cms))]
	e.level = lvRequestResponse
	e.obj("", "v1", "configmaps", c.ns, "")
	e.setName(c.name)
	e.objUID()
	r := a.reasonIn(c.ns)
	if r == "" {
		r = ciDeployerReason
	}
	e.allow(r)
	size := g.drawMix(250, 24<<10, 3, 0.012)
	switch x := g.n(10); {
	case x < 4:
		e.verb = "get"
		e.path(true)
		e.rv = g.nextRV() - int64(g.n(100000))
		e.resp = body{kind: bConfigMap, server: true, size: size}
	case x < 7:
		e.verb = "update"
		e.path(true)
		e.qs("fieldManager", "helm")
		e.rv = g.nextRV()
		e.req = body{kind: bConfigMap, server: true, size: size}
		e.resp = body{kind: bConfigMap, server: true, size: size}
	default:
		e.verb, e.code = "create", 201
		e.path(false)
		e.qs("fieldManager", "argocd-controller")
		e.rv = g.nextRV()
		e.req = body{kind: bConfigMap, size: max(size-120, 250)}
		e.resp = body{kind: bConfigMap, server: true, size: size}
		if g.one(15) {
			e.alreadyExists()
			e.resp = body{kind: bStatus}
		}
	}
	g.longAnnotations(e, 10)
}

func opListPodsRR(g *Generator, e *ev) {
	a := g.p.prom
	if g.one(2) {
		a = g.human()
	}
	g.as(e, a)
	e.level, e.verb = lvRequestResponse, "list"
	e.rv = g.nextRV()
	e.allow(a.reason)
	if g.one(3) {
		e.obj("", "v1", "pods", "", "")
		e.path(false)
		e.qs("limit", "500")
	} else {
		ns := g.p.appNS[g.n(len(g.p.appNS))]
		e.obj("", "v1", "pods", ns, "")
		e.path(false)
		e.qs("labelSelector", "app.kubernetes.io%2Fpart-of%3D"+ns)
	}
	e.resp = body{kind: bPodList, size: g.drawMix(3<<10, 64<<10, 2, 0.10)}
}

func opApply(g *Generator, e *ev) {
	var a *actor
	if g.one(2) {
		a = g.human()
	} else {
		a = g.p.ciOps[g.n(len(g.p.ciOps))]
	}
	g.as(e, a)
	d := g.p.deploys[g.n(len(g.p.deploys))]
	e.level, e.verb = lvRequestResponse, "patch"
	e.obj("apps", "v1", "deployments", d.ns, "")
	e.setName(d.name)
	e.path(true)
	e.qs("fieldManager", "kubectl-client-side-apply")
	e.qs("fieldValidation", "Strict")
	e.objUID()
	e.rv = g.nextRV()
	r := a.reasonIn(d.ns)
	if r == "" {
		r = ciDeployerReason
	}
	e.allow(r)
	size := g.drawSize(1500, 16<<10, 3)
	e.req = body{kind: bDeployment, size: size}
	e.resp = body{kind: bDeployment, server: true, size: size + 700}
	if g.one(25) {
		e.internalError(webhookErrors[g.n(2)])
		e.resp = body{kind: bStatus}
	}
	g.longAnnotations(e, 25)
}

func opCRD(g *Generator, e *ev) {
	a := g.p.argocd
	if g.one(2) {
		a = g.p.ciOps[0]
	}
	g.as(e, a)
	e.level, e.verb = lvRequestResponse, "update"
	c := crdNames[e.tag%uint32(len(crdNames))]
	e.obj("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", "")
	e.setName(c.name)
	e.path(true)
	e.qs("fieldManager", "argocd-controller")
	e.objUID()
	e.rv = g.nextRV()
	e.allow(a.reason)
	size := g.drawSize(16<<10, g.maxBody, 3)
	e.req = body{kind: bCRD, server: true, size: size}
	e.resp = body{kind: bCRD, server: true, size: size}
}

func opRestart(g *Generator, e *ev) {
	h := g.human()
	g.as(e, h)
	d := g.p.deploys[g.n(len(g.p.deploys))]
	e.level, e.verb = lvRequestResponse, "patch"
	e.obj("apps", "v1", "deployments", d.ns, "")
	e.setName(d.name)
	e.path(true)
	e.qs("fieldManager", "kubectl-rollout")
	e.objUID()
	e.rv = g.nextRV()
	e.allow(h.reasonIn(d.ns))
	e.req = body{kind: bRestartPatch}
	e.resp = body{kind: bDeployment, server: true, size: g.drawSize(3000, 16<<10, 2)}
}

// opHugeList is a list of every pod in the cluster, without paging, by a
// monitoring agent: the line is Config.HugeLineBytes long.
func opHugeList(g *Generator, e *ev) {
	g.as(e, g.p.ksm)
	e.level, e.verb = lvRequestResponse, "list"
	e.rv = g.nextRV()
	e.allow(g.p.ksm.reason)
	e.obj("", "v1", "pods", "", "")
	e.path(false)
	e.resp = body{kind: bPodList, exact: g.cfg.HugeLineBytes}
}
