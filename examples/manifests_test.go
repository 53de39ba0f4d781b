// Tests of the Kubernetes manifests in kubernetes/. Each file is decoded
// strictly, as the API server's strict field validation would (an unknown or
// misspelt field, or a duplicate key, is an error), then the audittail
// container is checked against the deployment rules of the README: the audit
// log directory mounted read-only where --path points, the checkpoint on a
// read-write hostPath, the token never written in the manifest, a locked-down
// securityContext, resources, probes on the metrics port, and for each kind of
// deployment what it needs (control-plane scheduling for the DaemonSet; an
// untouched kubeadm kube-apiserver beside the sidecar for the static pod).
//
// TestRulesCatchMistakes breaks the manifests one way at a time and expects
// each mistake to be reported, so that no rule can pass without looking.
//
// This module is separate from the agent's so that the agent's go.mod does not
// carry the Kubernetes libraries.
package examples

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

const (
	staticPodFile = "kubernetes/static-pod-sidecar.yaml"
	daemonSetFile = "kubernetes/daemonset.yaml"

	agentContainer = "audittail"
	// The agent's defaults for --path and --checkpoint (tailer.DefaultPath,
	// checkpoint.DefaultPath), used when a manifest leaves a flag out. This
	// module does not import the agent's.
	defaultLogPath    = "/var/log/kubernetes/audit/audit.log"
	defaultCheckpoint = "/var/lib/audittail/checkpoint.json"
	// The agent exits within 10 s of SIGTERM (README "Exit codes and signals").
	minGracePeriod = 10
	// Kubernetes' default terminationGracePeriodSeconds.
	defaultGracePeriod = 30

	controlPlaneLabel = "node-role.kubernetes.io/control-plane"
)

// strictDecoder decodes the kinds the manifests may hold, the way the API
// server does with strict field validation: unknown fields (also ones that
// differ only in case) and duplicate keys are errors.
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(appsv1.AddToScheme(scheme))
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// decodeManifest decodes every document of a multi-document YAML file.
// Documents holding only comments are skipped.
func decodeManifest(data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for n := 1; ; n++ {
		doc, err := r.Read()
		if err == io.EOF {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		var fields map[string]any
		if err := yaml.Unmarshal(doc, &fields); err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		if len(fields) == 0 {
			continue
		}
		obj, _, err := strictDecoder.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", n, err)
		}
		objs = append(objs, obj)
	}
}

func readManifest(t *testing.T, file string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifest(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(objs) == 0 {
		t.Fatalf("%s: no object", file)
	}
	return objs
}

// findings collects the rules a manifest breaks.
type findings []string

func (f *findings) add(format string, args ...any) { *f = append(*f, fmt.Sprintf(format, args...)) }

func TestStaticPodSidecar(t *testing.T) {
	for _, p := range checkStaticPod(readManifest(t, staticPodFile)) {
		t.Errorf("%s: %s", staticPodFile, p)
	}
}

func TestDaemonSet(t *testing.T) {
	for _, p := range checkDaemonSetFile(readManifest(t, daemonSetFile)) {
		t.Errorf("%s: %s", daemonSetFile, p)
	}
}

// agentRules are what differs between the ways the agent is deployed.
type agentRules struct {
	// tokenFromHost allows the token file on a hostPath volume: static
	// pods cannot use Secrets.
	tokenFromHost bool
	// readinessRequired: the DaemonSet reports "stuck" as NotReady; in the
	// kube-apiserver pod that would mark the API server not Ready.
	readinessRequired bool
}

// checkAgent checks the audittail container c of a pod spec.
// imageRepository is the repository make image names the image in
// (build/cmd/dist, -repository).
const imageRepository = "ghcr.io/audittail/audittail"

var releaseImage = regexp.MustCompile(`^` + regexp.QuoteMeta(imageRepository) + `:v\d+\.\d+\.\d+$`)

func checkAgent(spec *corev1.PodSpec, c *corev1.Container, rules agentRules, secrets []*corev1.Secret) findings {
	var f findings
	args := parseFlags(commandLine(c))
	checkEnvReferences(&f, c)
	// The image make image builds, named with a release version (the
	// release archives rewrite it to theirs): never a moving tag.
	if !releaseImage.MatchString(c.Image) {
		f.add("image %q: want %s:v<major>.<minor>.<patch>, the image make image builds", c.Image, imageRepository)
	}

	// The audit log: its directory, read-only, at the place --path names.
	logPath := flagOr(args, "path", defaultLogPath)
	logVol := checkHostDirMount(&f, spec, c, "audit log", path.Dir(logPath), true)
	if logVol != nil && logVol.HostPath.Type != nil && *logVol.HostPath.Type != corev1.HostPathDirectory && *logVol.HostPath.Type != corev1.HostPathDirectoryOrCreate {
		f.add("audit log volume %q: hostPath type %q, want Directory or DirectoryOrCreate (the directory, never the file: rotation renames it)", logVol.Name, *logVol.HostPath.Type)
	}

	// The checkpoint: in a read-write hostPath directory, created if missing
	// (the directory itself, or one the agent creates in it).
	ckpt := flagOr(args, "checkpoint", defaultCheckpoint)
	var ckptVol *corev1.Volume
	if m := mountHolding(c, path.Dir(ckpt)); m != nil {
		ckptVol = checkHostDirMount(&f, spec, c, "checkpoint", path.Clean(m.MountPath), false)
	} else {
		f.add("checkpoint directory %s (from the flags) is not in a mounted volume; mounts: %v", path.Dir(ckpt), mountPaths(c))
	}
	if ckptVol != nil && (ckptVol.HostPath.Type == nil || *ckptVol.HostPath.Type != corev1.HostPathDirectoryOrCreate) {
		f.add("checkpoint volume %q: hostPath type must be DirectoryOrCreate", ckptVol.Name)
	}
	if logVol != nil && ckptVol != nil && logVol.Name == ckptVol.Name {
		f.add("the checkpoint must not share the audit log's volume %q", logVol.Name)
	}

	checkToken(&f, spec, c, args, rules, secrets)
	checkSecurityContext(&f, spec, c)
	checkResources(&f, c)
	checkProbes(&f, c, args, rules)

	if grace := gracePeriod(spec); grace < minGracePeriod {
		f.add("terminationGracePeriodSeconds %d: want at least %d (the agent needs up to 10 s to flush and write its checkpoint)", grace, minGracePeriod)
	}
	if spec.HostPID || spec.HostIPC {
		f.add("hostPID/hostIPC: the agent needs neither")
	}
	return f
}

// checkHostDirMount checks that c mounts a hostPath volume exactly at dir,
// read-only or read-write as asked, and that the host path is dir too (the
// same path inside and outside, as the README documents). It returns the
// volume, or nil.
func checkHostDirMount(f *findings, spec *corev1.PodSpec, c *corev1.Container, what, dir string, readOnly bool) *corev1.Volume {
	m := mountAt(c, dir)
	if m == nil {
		f.add("%s directory %s (from the flags) is not mounted; mounts: %v", what, dir, mountPaths(c))
		return nil
	}
	if m.ReadOnly != readOnly {
		if readOnly {
			f.add("%s mount %s must be read-only", what, dir)
		} else {
			f.add("%s mount %s must be read-write", what, dir)
		}
	}
	if m.SubPath != "" || m.SubPathExpr != "" {
		f.add("%s mount %s uses a subPath: mount the directory itself", what, dir)
	}
	v := volume(spec, m.Name)
	if v == nil || v.HostPath == nil {
		f.add("%s mount %s: volume %q is not a hostPath volume", what, dir, m.Name)
		return nil
	}
	if path.Clean(v.HostPath.Path) != dir {
		f.add("%s volume %q: host path %s, want %s (the same path as in the container)", what, v.Name, v.HostPath.Path, dir)
	}
	return v
}

// tokenShape matches an LDP write token (a UUID).
var tokenShape = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// checkToken: the stream token comes from a Secret (a mounted file named by
// --stream-file, or AUDITTAIL_STREAM from a secretKeyRef), or in a static pod
// from a read-only host file, and is never written in the manifest.
func checkToken(f *findings, spec *corev1.PodSpec, c *corev1.Container, args map[string]string, rules agentRules, secrets []*corev1.Secret) {
	if _, ok := args["stream"]; ok {
		f.add("the token is passed literally with --stream: use --stream-file or AUDITTAIL_STREAM from a Secret")
	}
	fromEnv := false
	for _, e := range c.Env {
		if e.Name != "AUDITTAIL_STREAM" {
			continue
		}
		switch {
		case e.Value != "":
			f.add("AUDITTAIL_STREAM holds a literal token: take it from a Secret (valueFrom.secretKeyRef)")
		case e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil:
			f.add("AUDITTAIL_STREAM must come from a Secret (valueFrom.secretKeyRef)")
		default:
			fromEnv = true
		}
	}
	file, fromFile := args["stream-file"]
	if !fromEnv && !fromFile {
		f.add("no stream token: want --stream-file on a mounted Secret or AUDITTAIL_STREAM from a secretKeyRef")
	}
	if fromFile {
		checkTokenFile(f, spec, c, file, rules)
	}
	checkNoLiteralSecret(f, spec, secrets)
}

// checkNoLiteralSecret: nothing in the pod spec looks like a token, and no
// value of the Secrets given appears in it.
func checkNoLiteralSecret(f *findings, spec *corev1.PodSpec, secrets []*corev1.Secret) {
	text, err := json.Marshal(spec)
	if err != nil {
		f.add("marshal pod spec: %v", err)
		return
	}
	if tok := tokenShape.Find(text); tok != nil {
		f.add("the pod spec contains a token-like value %q: a token belongs in a Secret", tok)
	}
	for _, s := range secrets {
		for k, v := range s.StringData {
			if v != "" && bytes.Contains(text, []byte(v)) {
				f.add("the value of Secret %s key %s appears literally in the pod spec", s.Name, k)
			}
		}
		for k, v := range s.Data {
			if len(v) > 0 && bytes.Contains(text, v) {
				f.add("the value of Secret %s key %s appears literally in the pod spec", s.Name, k)
			}
		}
	}
}

func checkTokenFile(f *findings, spec *corev1.PodSpec, c *corev1.Container, file string, rules agentRules) {
	m := mountHolding(c, file)
	if m == nil {
		f.add("--stream-file %s is on no volume mount", file)
		return
	}
	if !m.ReadOnly {
		f.add("the token mount %s must be read-only", m.MountPath)
	}
	v := volume(spec, m.Name)
	switch {
	case v == nil:
		f.add("the token mount %s names no volume", m.MountPath)
	case v.Secret != nil:
		rel := strings.TrimPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if len(v.Secret.Items) > 0 && !slices.ContainsFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
			f.add("--stream-file %s: the Secret volume %q has no item with path %s", file, v.Name, rel)
		}
		if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode&0o077 != 0 {
			f.add("Secret volume %q: set defaultMode to 0400 (the default, 0644, lets every user of the container read the token)", v.Name)
		}
	case v.HostPath != nil && rules.tokenFromHost:
	case v.HostPath != nil:
		f.add("--stream-file %s is a host file: in a DaemonSet the token comes from a Secret", file)
	default:
		f.add("--stream-file %s: volume %q is neither a Secret nor (static pod only) a hostPath", file, v.Name)
	}
}

// checkSecurityContext: read-only root, no privilege escalation, every
// capability dropped (a non-root agent may keep DAC_READ_SEARCH), an explicit
// user, and the runtime's default seccomp profile.
func checkSecurityContext(f *findings, spec *corev1.PodSpec, c *corev1.Container) {
	sc := c.SecurityContext
	if sc == nil {
		f.add("no securityContext on the audittail container")
		return
	}
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		f.add("securityContext.readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		f.add("securityContext.allowPrivilegeEscalation must be false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		f.add("securityContext.privileged must not be set")
	}
	var drop, add []corev1.Capability
	if sc.Capabilities != nil {
		drop, add = sc.Capabilities.Drop, sc.Capabilities.Add
	}
	if !slices.Contains(drop, "ALL") {
		f.add("securityContext.capabilities must drop ALL")
	}
	uid := sc.RunAsUser
	if uid == nil {
		uid = psc.RunAsUser
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	switch {
	case uid == nil:
		f.add("set runAsUser: otherwise the image decides whether the agent can read the audit log")
	case *uid == 0:
		// Root owns the 0600 log and its 0700 directory: the owner's
		// permission bits let it read them with no capability at all.
		if nonRoot == nil || *nonRoot {
			f.add("runAsUser 0: set runAsNonRoot: false explicitly, with the reason in a comment")
		}
		if len(add) > 0 {
			f.add("runAsUser 0 owns the audit log: add no capability (found %v)", add)
		}
	default:
		for _, c := range add {
			if c != "DAC_READ_SEARCH" {
				f.add("capability %s added: a non-root agent may keep DAC_READ_SEARCH only", c)
			}
		}
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		f.add("seccompProfile must be RuntimeDefault (on the container or the pod)")
	}
}

// checkResources: requests and a memory limit, GOMEMLIMIT below it.
func checkResources(f *findings, c *corev1.Container) {
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := req[name]; !ok || q.IsZero() {
			f.add("resources.requests.%s is not set", name)
		}
	}
	memLimit, ok := lim[corev1.ResourceMemory]
	if !ok || memLimit.IsZero() {
		f.add("resources.limits.memory is not set")
		return
	}
	if memReq, ok := req[corev1.ResourceMemory]; ok && memReq.Cmp(memLimit) > 0 {
		f.add("resources.requests.memory %s is above the limit %s", memReq.String(), memLimit.String())
	}
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		n, err := goMemLimit(e.Value)
		if err != nil {
			f.add("GOMEMLIMIT: %v", err)
		} else if resource.NewQuantity(n, resource.BinarySI).Cmp(memLimit) >= 0 {
			f.add("GOMEMLIMIT %s is not below the memory limit %s", e.Value, memLimit.String())
		}
	}
}

// goMemLimit parses a GOMEMLIMIT value: bytes with an optional B, KiB, MiB,
// GiB or TiB suffix.
func goMemLimit(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

// checkProbes: metrics are on, the liveness probe asks /healthz and the
// readiness probe /readyz, both on --metrics-addr's port and host.
func checkProbes(f *findings, c *corev1.Container, args map[string]string, rules agentRules) {
	addr, ok := args["metrics-addr"]
	if !ok {
		f.add("--metrics-addr is not set: the examples enable metrics so that the probes can use /healthz and /readyz")
		return
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		f.add("--metrics-addr %q: %v", addr, err)
		return
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		f.add("--metrics-addr %q: port %q is not a number", addr, portText)
		return
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == int32(port) }) {
		f.add("the metrics port %d is not declared in the container's ports", port)
	}
	check := func(kind string, p *corev1.Probe, wantPath string) {
		if p == nil || p.HTTPGet == nil {
			f.add("%s probe: want an httpGet on %s", kind, wantPath)
			return
		}
		g := p.HTTPGet
		if g.Path != wantPath {
			f.add("%s probe: path %s, want %s", kind, g.Path, wantPath)
		}
		if got := resolvePort(c, g.Port); got != port {
			f.add("%s probe: port %s is %d, want the --metrics-addr port %d", kind, g.Port.String(), got, port)
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			f.add("%s probe: scheme %s, the metrics endpoint is plain HTTP", kind, g.Scheme)
		}
		// The kubelet probes the pod IP unless told otherwise: an agent
		// listening on one address must be probed there.
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && g.Host != host {
			f.add("%s probe: host %q, but the agent listens on %s only", kind, g.Host, host)
		}
	}
	check("liveness", c.LivenessProbe, "/healthz")
	if rules.readinessRequired || c.ReadinessProbe != nil {
		check("readiness", c.ReadinessProbe, "/readyz")
	}
}

// checkEnvReferences: Kubernetes expands $(VAR) in command and args only
// when VAR is defined in env; otherwise the text stays as is.
func checkEnvReferences(f *findings, c *corev1.Container) {
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, a := range commandLine(c) {
		for _, m := range ref.FindAllStringSubmatch(a, -1) {
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == m[1] }) {
				f.add("%q refers to $(%s), which is not in env: it would be passed as is", a, m[1])
			}
		}
	}
}

func checkDaemonSetFile(objs []runtime.Object) findings {
	var (
		f       findings
		ds      *appsv1.DaemonSet
		sas     = map[string]*corev1.ServiceAccount{}
		nss     = map[string]*corev1.Namespace{}
		secrets []*corev1.Secret
	)
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.DaemonSet:
			if ds != nil {
				f.add("more than one DaemonSet")
			}
			ds = o
		case *corev1.ServiceAccount:
			sas[o.Namespace+"/"+o.Name] = o
		case *corev1.Namespace:
			nss[o.Name] = o
		case *corev1.Secret:
			secrets = append(secrets, o)
		default:
			f.add("unexpected object %T", o)
		}
	}
	if ds == nil {
		f.add("no DaemonSet")
		return f
	}
	spec := &ds.Spec.Template.Spec

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	switch {
	case err != nil:
		f.add("selector: %v", err)
	case sel.Empty() || !sel.Matches(labels.Set(ds.Spec.Template.Labels)):
		f.add("the selector %s does not match the pod template's labels", sel)
	}

	// Control-plane nodes only, their taint tolerated.
	if _, ok := spec.NodeSelector[controlPlaneLabel]; !ok && !requiresNodeLabel(spec.Affinity, controlPlaneLabel) {
		f.add("not restricted to control-plane nodes: want nodeSelector %s or a required node affinity on it", controlPlaneLabel)
	}
	taint := corev1.Taint{Key: controlPlaneLabel, Effect: corev1.TaintEffectNoSchedule}
	if !slices.ContainsFunc(spec.Tolerations, func(t corev1.Toleration) bool {
		return t.ToleratesTaint(klog.Background(), &taint, false)
	}) {
		f.add("no toleration for the %s:NoSchedule taint", controlPlaneLabel)
	}
	if spec.PriorityClassName != "system-node-critical" {
		f.add("priorityClassName %q, want system-node-critical", spec.PriorityClassName)
	}

	// No API access: its own ServiceAccount, no token.
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		f.add("automountServiceAccountToken must be false: the agent does not use the Kubernetes API")
	}
	if spec.ServiceAccountName == "" || spec.ServiceAccountName == "default" {
		f.add("serviceAccountName: use a ServiceAccount of its own")
	} else if sa := sas[ds.Namespace+"/"+spec.ServiceAccountName]; sa == nil {
		f.add("ServiceAccount %s/%s is not in the file", ds.Namespace, spec.ServiceAccountName)
	} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		f.add("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
	}

	// hostPath volumes need the "privileged" Pod Security level.
	if ns := nss[ds.Namespace]; ns == nil {
		f.add("Namespace %s is not in the file", ds.Namespace)
	} else if lvl := ns.Labels["pod-security.kubernetes.io/enforce"]; lvl != "privileged" {
		f.add("Namespace %s enforces Pod Security %q: hostPath volumes need privileged", ns.Name, lvl)
	}

	c := container(spec.Containers, agentContainer)
	if c == nil {
		f.add("no %q container", agentContainer)
		return f
	}
	return append(f, checkAgent(spec, c, agentRules{readinessRequired: true}, secrets)...)
}

// kubeadmFlags are the flags kubeadm v1.37 gives kube-apiserver on a
// single-stack cluster: the example keeps the container as kubeadm writes it.
var kubeadmFlags = []string{
	"advertise-address", "allow-privileged", "authorization-mode", "client-ca-file",
	"enable-admission-plugins", "enable-bootstrap-token-auth", "etcd-cafile", "etcd-certfile",
	"etcd-keyfile", "etcd-servers", "kubelet-client-certificate", "kubelet-client-key",
	"kubelet-preferred-address-types", "proxy-client-cert-file", "proxy-client-key-file",
	"requestheader-allowed-names", "requestheader-client-ca-file", "requestheader-extra-headers-prefix",
	"requestheader-group-headers", "requestheader-username-headers", "secure-port",
	"service-account-issuer", "service-account-key-file", "service-account-signing-key-file",
	"service-cluster-ip-range", "tls-cert-file", "tls-private-key-file",
}

// nodePorts are ports the control-plane node already uses (kube-apiserver,
// etcd, kubelet, controller-manager, scheduler, kube-proxy).
var nodePorts = []int{6443, 2379, 2380, 2381, 10249, 10250, 10256, 10257, 10259}

func checkStaticPod(objs []runtime.Object) findings {
	var f findings
	if len(objs) != 1 {
		f.add("a static pod manifest holds exactly one Pod, found %d objects", len(objs))
		return f
	}
	pod, ok := objs[0].(*corev1.Pod)
	if !ok {
		f.add("want a Pod, found %T", objs[0])
		return f
	}
	spec := &pod.Spec
	if pod.Namespace != "kube-system" || pod.Name != "kube-apiserver" ||
		pod.Labels["component"] != "kube-apiserver" || pod.Labels["tier"] != "control-plane" {
		f.add("not kubeadm's kube-apiserver pod (kube-system/kube-apiserver, component=kube-apiserver, tier=control-plane)")
	}
	if !spec.HostNetwork {
		f.add("hostNetwork must be true, as in kubeadm's manifest")
	}
	if spec.PriorityClassName != "system-node-critical" {
		f.add("priorityClassName %q, want system-node-critical", spec.PriorityClassName)
	}
	if names := containerNames(spec.Containers); !slices.Equal(names, []string{"kube-apiserver", agentContainer}) {
		f.add("containers %v, want [kube-apiserver audittail]", names)
	}
	api := container(spec.Containers, "kube-apiserver")
	agent := container(spec.Containers, agentContainer)
	if api == nil || agent == nil {
		return f
	}

	// The kube-apiserver container as kubeadm writes it.
	apiArgs := parseFlags(commandLine(api))
	if len(api.Command) == 0 || api.Command[0] != "kube-apiserver" {
		f.add("kube-apiserver container: command must start with kube-apiserver")
	}
	for _, k := range kubeadmFlags {
		if _, ok := apiArgs[k]; !ok {
			f.add("kube-apiserver container: kubeadm's --%s is missing", k)
		}
	}
	if api.SecurityContext != nil {
		f.add("kube-apiserver container: kubeadm sets no securityContext; leave it untouched")
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"liveness", api.LivenessProbe, "/livez"}, {"readiness", api.ReadinessProbe, "/readyz"}, {"startup", api.StartupProbe, "/livez"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path ||
			p.probe.HTTPGet.Scheme != corev1.URISchemeHTTPS || resolvePort(api, p.probe.HTTPGet.Port) != 6443 ||
			p.probe.HTTPGet.Host != apiArgs["advertise-address"] {
			f.add("kube-apiserver container: %s probe differs from kubeadm's (HTTPS %s on the advertise address, port 6443)", p.kind, p.path)
		}
	}

	// Audit logging on, to a file in a directory volume the sidecar shares.
	auditPath, ok := apiArgs["audit-log-path"]
	if !ok || auditPath == "-" {
		f.add("kube-apiserver: --audit-log-path must name a file")
	}
	if _, ok := apiArgs["audit-policy-file"]; !ok {
		f.add("kube-apiserver: --audit-policy-file is missing (without a policy nothing is logged)")
	} else if mountHolding(api, apiArgs["audit-policy-file"]) == nil {
		f.add("kube-apiserver: the audit policy file is not mounted")
	}
	if v, ok := apiArgs["audit-log-format"]; ok && v != "json" {
		f.add("kube-apiserver: --audit-log-format=%s, audittail reads json", v)
	}
	if v, ok := apiArgs["audit-log-mode"]; ok && v != "blocking" {
		f.add("kube-apiserver: --audit-log-mode=%s drops events when its buffer is full; keep blocking", v)
	}
	if auditPath != "" && auditPath != "-" {
		apiMount := mountAt(api, path.Dir(auditPath))
		agentPath := flagOr(parseFlags(commandLine(agent)), "path", defaultLogPath)
		agentMount := mountAt(agent, path.Dir(agentPath))
		switch {
		case apiMount == nil:
			f.add("kube-apiserver: the directory of --audit-log-path %s is not mounted", auditPath)
		case apiMount.ReadOnly:
			f.add("kube-apiserver: the audit log mount must be writable")
		case agentMount == nil:
			// reported by checkAgent
		case agentMount.Name != apiMount.Name || path.Base(agentPath) != path.Base(auditPath):
			f.add("audittail --path %s (volume %q) is not the file kube-apiserver writes, %s (volume %q)",
				agentPath, agentMount.Name, auditPath, apiMount.Name)
		}
	}

	// What a static pod cannot use: the kubelet runs it without the API server.
	if spec.ServiceAccountName != "" {
		f.add("a static pod cannot use a ServiceAccount")
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil || v.ConfigMap != nil || v.Projected != nil || v.PersistentVolumeClaim != nil {
			f.add("volume %q: a static pod cannot use Secrets, ConfigMaps, projected volumes or claims", v.Name)
		}
	}
	for _, c := range spec.Containers {
		for _, e := range c.Env {
			if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) {
				f.add("container %s env %s: a static pod cannot use Secrets or ConfigMaps", c.Name, e.Name)
			}
		}
	}
	// hostNetwork: the metrics port is a port of the node.
	for _, p := range agent.Ports {
		if slices.Contains(nodePorts, int(p.ContainerPort)) {
			f.add("audittail port %d is already used on a control-plane node", p.ContainerPort)
		}
	}

	return append(f, checkAgent(spec, agent, agentRules{tokenFromHost: true}, nil)...)
}

// commandLine is the container's command (without the binary) and args.
func commandLine(c *corev1.Container) []string {
	argv := slices.Clone(c.Command)
	if len(argv) > 0 && !strings.HasPrefix(argv[0], "-") {
		argv = argv[1:]
	}
	return append(argv, c.Args...)
}

// parseFlags reads --name=value, --name value and -name forms (Go's flag
// package and kube's pflag both accept --name=value). A flag without a value
// maps to "true". Later occurrences win.
func parseFlags(argv []string) map[string]string {
	flags := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		if k, v, ok := strings.Cut(name, "="); ok {
			flags[k] = v
			continue
		}
		if i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			flags[name] = argv[i+1]
			i++
			continue
		}
		flags[name] = "true"
	}
	return flags
}

func flagOr(flags map[string]string, name, def string) string {
	if v, ok := flags[name]; ok {
		return v
	}
	return def
}

func container(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func containerNames(cs []corev1.Container) []string {
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	return names
}

func volume(spec *corev1.PodSpec, name string) *corev1.Volume {
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == name {
			return &spec.Volumes[i]
		}
	}
	return nil
}

// mountAt is the volume mount exactly at dir.
func mountAt(c *corev1.Container, dir string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == path.Clean(dir) {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

// mountHolding is the deepest volume mount that file is in (or is).
func mountHolding(c *corev1.Container, file string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		mp := path.Clean(m.MountPath)
		if (file == mp || strings.HasPrefix(file, mp+"/")) && (best == nil || len(mp) > len(path.Clean(best.MountPath))) {
			best = m
		}
	}
	return best
}

func mountPaths(c *corev1.Container) []string {
	var ps []string
	for _, m := range c.VolumeMounts {
		ps = append(ps, m.MountPath)
	}
	return ps
}

// resolvePort is the number a probe's port means, named ports included; 0
// when it names no port of the container.
func resolvePort(c *corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return 0
}

func gracePeriod(spec *corev1.PodSpec) int64 {
	if spec.TerminationGracePeriodSeconds == nil {
		return defaultGracePeriod
	}
	return *spec.TerminationGracePeriodSeconds
}

// requiresNodeLabel reports a required node affinity term on key (Exists, or
// In), in every term (terms are ORed).
func requiresNodeLabel(a *corev1.Affinity, key string) bool {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	return len(terms) > 0 && !slices.ContainsFunc(terms, func(t corev1.NodeSelectorTerm) bool {
		return !slices.ContainsFunc(t.MatchExpressions, func(r corev1.NodeSelectorRequirement) bool {
			return r.Key == key && (r.Operator == corev1.NodeSelectorOpExists || r.Operator == corev1.NodeSelectorOpIn)
		})
	})
}
