// Tests of the audit webhook receiver's files: kubernetes/webhook-receiver.yaml
// (Namespace, ServiceAccount, PersistentVolumeClaim, Service, Deployment),
// decoded strictly with manifests_test.go's strictDecoder (core/v1 and
// apps/v1 hold every kind it uses), and kubernetes/audit-webhook-kubeconfig.yaml,
// the kubeconfig kube-apiserver's --audit-webhook-config-file names, decoded
// strictly into a mirror of clientcmd's v1 Config. The rules: every file the
// receiver reads comes from a read-only Secret or ConfigMap mount, the spool
// is on the claim, read-write, one pod and Recreate, the probes on the
// metrics port (readiness on /readyz/webhook), the Service in front of the
// --webhook-listen port, no secret written in the manifest or the kubeconfig,
// a locked-down non-root securityContext, and the kubeconfig pointing at the
// Service and presenting what the receiver asks for. The kube-apiserver flags
// in the kubeconfig's header comment are checked against k8s.io/apiserver's.
//
// TestWebhookRulesCatchMistakes breaks the files one way at a time and
// expects each mistake to be reported.
package examples

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	webhookReceiverFile   = "kubernetes/webhook-receiver.yaml"
	webhookKubeconfigFile = "kubernetes/audit-webhook-kubeconfig.yaml"

	// The spool's defaults (pkg/spool DefaultMaxBytes, DefaultFileBytes): the
	// spool holds up to max_bytes, plus one file past it.
	spoolMaxBytes  = 1 << 30
	spoolFileBytes = 64 << 20

	readyzWebhook = "/readyz/webhook"
)

// kubeconfig mirrors clientcmd's v1 Config, field for field
// (k8s.io/client-go v0.37.2, tools/clientcmd/api/v1/types.go), so that
// decoding with unknown fields refused finds what kube-apiserver would
// silently ignore.
type kubeconfig struct {
	Kind           string             `json:"kind,omitempty"`
	APIVersion     string             `json:"apiVersion,omitempty"`
	Preferences    *kcPreferences     `json:"preferences,omitempty"`
	Clusters       []kcNamedCluster   `json:"clusters"`
	AuthInfos      []kcNamedAuthInfo  `json:"users"`
	Contexts       []kcNamedContext   `json:"contexts"`
	CurrentContext string             `json:"current-context"`
	Extensions     []kcNamedExtension `json:"extensions,omitempty"`
}

type kcPreferences struct {
	Colors     bool               `json:"colors,omitempty"`
	Extensions []kcNamedExtension `json:"extensions,omitempty"`
}

type kcCluster struct {
	Server                   string             `json:"server"`
	TLSServerName            string             `json:"tls-server-name,omitempty"`
	InsecureSkipTLSVerify    bool               `json:"insecure-skip-tls-verify,omitempty"`
	CertificateAuthority     string             `json:"certificate-authority,omitempty"`
	CertificateAuthorityData []byte             `json:"certificate-authority-data,omitempty"`
	ProxyURL                 string             `json:"proxy-url,omitempty"`
	DisableCompression       bool               `json:"disable-compression,omitempty"`
	Extensions               []kcNamedExtension `json:"extensions,omitempty"`
}

type kcAuthInfo struct {
	ClientCertificate     string              `json:"client-certificate,omitempty"`
	ClientCertificateData []byte              `json:"client-certificate-data,omitempty"`
	ClientKey             string              `json:"client-key,omitempty"`
	ClientKeyData         []byte              `json:"client-key-data,omitempty"`
	Token                 string              `json:"token,omitempty"`
	TokenFile             string              `json:"tokenFile,omitempty"`
	Impersonate           string              `json:"as,omitempty"`
	ImpersonateUID        string              `json:"as-uid,omitempty"`
	ImpersonateGroups     []string            `json:"as-groups,omitempty"`
	ImpersonateUserExtra  map[string][]string `json:"as-user-extra,omitempty"`
	Username              string              `json:"username,omitempty"`
	Password              string              `json:"password,omitempty"`
	AuthProvider          *kcAuthProvider     `json:"auth-provider,omitempty"`
	Exec                  *kcExec             `json:"exec,omitempty"`
	Extensions            []kcNamedExtension  `json:"extensions,omitempty"`
}

type kcContext struct {
	Cluster    string             `json:"cluster"`
	AuthInfo   string             `json:"user"`
	Namespace  string             `json:"namespace,omitempty"`
	Extensions []kcNamedExtension `json:"extensions,omitempty"`
}

type kcNamedCluster struct {
	Name    string    `json:"name"`
	Cluster kcCluster `json:"cluster"`
}

type kcNamedContext struct {
	Name    string    `json:"name"`
	Context kcContext `json:"context"`
}

type kcNamedAuthInfo struct {
	Name     string     `json:"name"`
	AuthInfo kcAuthInfo `json:"user"`
}

type kcNamedExtension struct {
	Name      string          `json:"name"`
	Extension json.RawMessage `json:"extension"`
}

type kcAuthProvider struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
}

type kcExec struct {
	Command            string      `json:"command"`
	Args               []string    `json:"args"`
	Env                []kcExecEnv `json:"env"`
	APIVersion         string      `json:"apiVersion,omitempty"`
	InstallHint        string      `json:"installHint,omitempty"`
	ProvideClusterInfo bool        `json:"provideClusterInfo"`
	InteractiveMode    string      `json:"interactiveMode,omitempty"`
}

type kcExecEnv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// decodeKubeconfig decodes a kubeconfig strictly: duplicate keys, unknown
// fields and fields in the wrong case are errors (clientcmd's own decoder
// is case-sensitive too, and ignores what it does not know).
func decodeKubeconfig(data []byte) (*kubeconfig, error) {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	var kc kubeconfig
	strict, err := sigsjson.UnmarshalStrict(j, &kc, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	return &kc, nil
}

// apiserverFlag matches a kube-apiserver audit flag named in a comment,
// with its value when it is written --name=value.
var apiserverFlag = regexp.MustCompile(`--(audit-[a-z0-9-]+)(?:=(\S+))?`)

// headerFlags reads the --audit-* flags of a file's comment lines. A flag
// named with a value keeps it; one only named maps to "".
func headerFlags(data []byte) map[string]string {
	flags := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "#") {
			continue
		}
		for _, m := range apiserverFlag.FindAllStringSubmatch(line, -1) {
			if v, ok := flags[m[1]]; !ok || v == "" {
				flags[m[1]] = m[2]
			}
		}
	}
	return flags
}

// webhookFiles are the receiver's manifest and the kubeconfig, decoded.
type webhookFiles struct {
	objs []runtime.Object
	kc   *kubeconfig
	// apiserver are the kube-apiserver flags of the kubeconfig's header.
	apiserver map[string]string
}

func readWebhookFiles(t *testing.T) *webhookFiles {
	t.Helper()
	data, err := os.ReadFile(webhookKubeconfigFile)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := decodeKubeconfig(data)
	if err != nil {
		t.Fatalf("%s: %v", webhookKubeconfigFile, err)
	}
	return &webhookFiles{objs: readManifest(t, webhookReceiverFile), kc: kc, apiserver: headerFlags(data)}
}

func TestWebhookReceiver(t *testing.T) {
	for _, p := range checkWebhookFiles(readWebhookFiles(t)) {
		t.Errorf("%s, %s: %s", webhookReceiverFile, webhookKubeconfigFile, p)
	}
}

// webhookParts are the objects of the receiver's manifest, by kind.
type webhookParts struct {
	dep     *appsv1.Deployment
	svc     *corev1.Service
	ns      *corev1.Namespace
	sas     map[string]*corev1.ServiceAccount
	pvcs    map[string]*corev1.PersistentVolumeClaim
	secrets []*corev1.Secret
}

func checkWebhookFiles(w *webhookFiles) findings {
	var (
		f     findings
		p     = webhookParts{sas: map[string]*corev1.ServiceAccount{}, pvcs: map[string]*corev1.PersistentVolumeClaim{}}
		deps  int
		svcs  int
		named = map[string]metav1.Object{}
	)
	for _, o := range w.objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			p.dep, deps = o, deps+1
		case *corev1.Service:
			p.svc, svcs = o, svcs+1
		case *corev1.Namespace:
			p.ns = o
		case *corev1.ServiceAccount:
			p.sas[o.Namespace+"/"+o.Name] = o
		case *corev1.PersistentVolumeClaim:
			p.pvcs[o.Namespace+"/"+o.Name] = o
		case *corev1.ConfigMap:
		case *corev1.Secret:
			p.secrets = append(p.secrets, o)
			f.add("Secret %s is in the file: create it with kubectl (see the header), so that re-applying the file cannot put a placeholder over the real one", o.Name)
		default:
			f.add("unexpected object %T", o)
			continue
		}
		if m, ok := o.(metav1.Object); ok && m.GetNamespace() != "" {
			named[fmt.Sprintf("%T %s", o, m.GetName())] = m
		}
	}
	if deps != 1 || svcs != 1 {
		f.add("want one Deployment and one Service, found %d and %d", deps, svcs)
		return f
	}
	ns := p.dep.Namespace
	for what, m := range named {
		if m.GetNamespace() != ns {
			f.add("%s is in the namespace %s, not in the Deployment's, %s", what, m.GetNamespace(), ns)
		}
	}
	// Nothing in the pod needs more than the restricted Pod Security level.
	switch {
	case p.ns == nil || p.ns.Name != ns:
		f.add("Namespace %s is not in the file", ns)
	case p.ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted":
		f.add("Namespace %s enforces Pod Security %q: the receiver needs no more than restricted", ns, p.ns.Labels["pod-security.kubernetes.io/enforce"])
	}

	c, args := checkReceiverDeployment(&f, &p)
	if c == nil {
		return f
	}
	listenPort := checkReceiverService(&f, &p, c, args)
	if w.kc == nil {
		f.add("no kubeconfig")
	} else {
		checkWebhookKubeconfig(&f, w.kc, p.svc, args, w.apiserver)
	}
	checkAPIServerFlags(&f, w.apiserver)
	checkWebhookProbes(&f, c, args, listenPort)
	return f
}

// checkReceiverDeployment checks the Deployment, its pod and the audittail
// container, and returns the container and its flags (nil when there is no
// container to check).
func checkReceiverDeployment(f *findings, p *webhookParts) (*corev1.Container, map[string]string) {
	d := p.dep
	// One pod, stopped before the next starts: two writers would corrupt the spool.
	switch {
	case d.Spec.Replicas == nil:
		f.add("replicas unset: write replicas: 1 (two pods must never write one spool)")
	case *d.Spec.Replicas != 1:
		f.add("replicas %d: want exactly 1 (two pods must never write one spool)", *d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		f.add("strategy %q: want Recreate (a RollingUpdate starts the new pod on the spool while the old one still writes it)", d.Spec.Strategy.Type)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	switch {
	case err != nil:
		f.add("selector: %v", err)
	case sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)):
		f.add("the Deployment's selector %s does not match the pod template's labels", sel)
	}

	spec := &d.Spec.Template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		f.add("automountServiceAccountToken must be false: the agent does not use the Kubernetes API")
	}
	if spec.ServiceAccountName == "" || spec.ServiceAccountName == "default" {
		f.add("serviceAccountName: use a ServiceAccount of its own")
	} else if sa := p.sas[d.Namespace+"/"+spec.ServiceAccountName]; sa == nil {
		f.add("ServiceAccount %s/%s is not in the file", d.Namespace, spec.ServiceAccountName)
	} else if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		f.add("ServiceAccount %s: automountServiceAccountToken must be false", sa.Name)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		f.add("hostNetwork/hostPID/hostIPC: the receiver needs none of the host")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			f.add("volume %q is a hostPath: the receiver reads nothing of the host", v.Name)
		}
	}
	if grace := gracePeriod(spec); grace < minGracePeriod {
		f.add("terminationGracePeriodSeconds %d: want at least %d (the agent needs up to 10 s to stop)", grace, minGracePeriod)
	}

	c := container(spec.Containers, agentContainer)
	if c == nil {
		f.add("no %q container", agentContainer)
		return nil, nil
	}
	args := parseFlags(commandLine(c))
	if !releaseImage.MatchString(c.Image) {
		f.add("image %q: want %s:v<major>.<minor>.<patch>, the image make image builds", c.Image, imageRepository)
	}
	checkEnvReferences(f, c)
	if _, ok := args["path"]; ok {
		f.add("--path is set: the receiver's pod has no audit log to read (without --path the agent only receives the webhook)")
	}

	// The files the receiver and the shipper read: all from Secrets (or,
	// for what is not secret, ConfigMaps), read-only.
	for _, ff := range []struct {
		flag   string
		secret bool
		why    string
	}{
		{"webhook-cert", false, "the receiver only speaks HTTPS"},
		{"webhook-key", true, "the receiver only speaks HTTPS"},
		{"webhook-client-ca", false, "the example checks kube-apiserver's client certificate"},
		{"webhook-token-file", true, "the example checks kube-apiserver's bearer token besides its certificate"},
		{"stream-file", true, "the LDP stream token comes from a mounted Secret"},
	} {
		file, ok := args[ff.flag]
		if !ok {
			f.add("--%s is not set: %s", ff.flag, ff.why)
			continue
		}
		checkMountedFile(f, spec, c, "--"+ff.flag, file, ff.secret)
	}
	checkTLSPair(f, spec, c, args)
	checkSpool(f, p, spec, c, args)
	checkNoSecretValue(f, spec, c, args, p.secrets)

	checkSecurityContext(f, spec, c)
	checkReceiverUser(f, spec, c)
	checkResources(f, c)
	return c, args
}

// checkMountedFile: file is in a read-only mount, not a subPath (which the
// kubelet never updates), of a Secret volume (a ConfigMap for what is not
// secret) that has it, with a mode that gives nothing to others.
func checkMountedFile(f *findings, spec *corev1.PodSpec, c *corev1.Container, flag, file string, secret bool) {
	if !path.IsAbs(file) {
		f.add("%s %s: want an absolute path", flag, file)
		return
	}
	m := mountHolding(c, file)
	if m == nil {
		f.add("%s %s is on no volume mount; mounts: %v", flag, file, mountPaths(c))
		return
	}
	if !m.ReadOnly {
		f.add("%s: the mount %s must be read-only", flag, m.MountPath)
	}
	if m.SubPath != "" || m.SubPathExpr != "" {
		f.add("%s: the mount %s uses a subPath, which the kubelet never updates: a rotated file would not be seen", flag, m.MountPath)
	}
	rel := strings.TrimPrefix(file, strings.TrimSuffix(path.Clean(m.MountPath), "/")+"/")
	v := volume(spec, m.Name)
	switch {
	case v == nil:
		f.add("%s: the mount %s names no volume", flag, m.MountPath)
	case v.Secret != nil:
		mode := v.Secret.DefaultMode
		if len(v.Secret.Items) > 0 {
			i := slices.IndexFunc(v.Secret.Items, func(k corev1.KeyToPath) bool { return k.Path == rel })
			if i < 0 {
				f.add("%s %s: the Secret volume %q has no item with path %s", flag, file, v.Name, rel)
			} else if v.Secret.Items[i].Mode != nil {
				mode = v.Secret.Items[i].Mode
			}
		}
		// Owner and group read at most: the kubelet adds group read for
		// fsGroup anyway, and others must get nothing (the default, 0644,
		// lets every user of the container read it).
		if mode == nil || *mode&^0o440 != 0 {
			f.add("%s: Secret volume %q has mode %s: set defaultMode to 0440 or 0400 (no write, nothing for others)", flag, v.Name, modeText(mode))
		}
	case v.ConfigMap != nil && secret:
		f.add("%s %s is in the ConfigMap volume %q: a key or a token belongs in a Secret", flag, file, v.Name)
	case v.ConfigMap != nil:
		if len(v.ConfigMap.Items) > 0 && !slices.ContainsFunc(v.ConfigMap.Items, func(k corev1.KeyToPath) bool { return k.Path == rel }) {
			f.add("%s %s: the ConfigMap volume %q has no item with path %s", flag, file, v.Name, rel)
		}
	default:
		f.add("%s %s: volume %q is neither a Secret nor a ConfigMap", flag, file, v.Name)
	}
}

func modeText(m *int32) string {
	if m == nil {
		return "unset (0644)"
	}
	return fmt.Sprintf("%#o", *m)
}

// secretKeyOf is the key of the Secret volume v that the file at rel in its
// mount holds.
func secretKeyOf(v *corev1.Volume, rel string) string {
	for _, k := range v.Secret.Items {
		if k.Path == rel {
			return k.Key
		}
	}
	return rel
}

// checkTLSPair: the certificate and its key come from one kubernetes.io/tls
// Secret (kubectl create secret tls), so that they are replaced together.
func checkTLSPair(f *findings, spec *corev1.PodSpec, c *corev1.Container, args map[string]string) {
	cert, key := args["webhook-cert"], args["webhook-key"]
	cm, km := mountHolding(c, cert), mountHolding(c, key)
	if cm == nil || km == nil {
		return // reported by checkMountedFile
	}
	v := volume(spec, cm.Name)
	if cm.Name != km.Name || v == nil || v.Secret == nil {
		f.add("the certificate and the key come from different volumes (%s, %s): keep them in one kubernetes.io/tls Secret, replaced together", cm.Name, km.Name)
		return
	}
	for _, p := range []struct{ flag, file, want string }{
		{"--webhook-cert", cert, corev1.TLSCertKey}, {"--webhook-key", key, corev1.TLSPrivateKeyKey},
	} {
		rel := strings.TrimPrefix(p.file, strings.TrimSuffix(path.Clean(cm.MountPath), "/")+"/")
		if k := secretKeyOf(v, rel); k != p.want {
			f.add("%s %s is the Secret's key %q: kubectl create secret tls names it %s", p.flag, p.file, k, p.want)
		}
	}
}

// checkSpool: --spool-dir is a directory of the claim in the file, mounted
// read-write, and the claim is one pod's and large enough.
func checkSpool(f *findings, p *webhookParts, spec *corev1.PodSpec, c *corev1.Container, args map[string]string) {
	dir, ok := args["spool-dir"]
	if !ok {
		f.add("--spool-dir is not set: name a directory on the claim")
		return
	}
	m := mountHolding(c, dir)
	if m == nil {
		f.add("--spool-dir %s is on no volume mount: the batches answered 200 would be lost with the pod; mounts: %v", dir, mountPaths(c))
		return
	}
	if m.ReadOnly {
		f.add("the spool mount %s must be read-write", m.MountPath)
	}
	if path.Clean(dir) == path.Clean(m.MountPath) {
		f.add("--spool-dir %s is the volume's root: name a directory in it, which the agent creates with mode 0700 (the root is group-writable through fsGroup and may hold lost+found)", dir)
	}
	v := volume(spec, m.Name)
	if v == nil || v.PersistentVolumeClaim == nil {
		f.add("--spool-dir %s: volume %q is not a PersistentVolumeClaim: the spool must outlive the pod", dir, m.Name)
		return
	}
	if v.PersistentVolumeClaim.ReadOnly {
		f.add("the spool's claim is mounted read-only")
	}
	pvc := p.pvcs[p.dep.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]
	if pvc == nil {
		f.add("PersistentVolumeClaim %s/%s is not in the file", p.dep.Namespace, v.PersistentVolumeClaim.ClaimName)
		return
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 || slices.ContainsFunc(modes, func(m corev1.PersistentVolumeAccessMode) bool {
		return m != corev1.ReadWriteOncePod && m != corev1.ReadWriteOnce
	}) {
		f.add("the claim's accessModes %v: want ReadWriteOncePod (or ReadWriteOnce): two pods must never write one spool", modes)
	}
	if pvc.Spec.VolumeMode != nil && *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		f.add("the claim's volumeMode %s: the spool is a directory, want Filesystem", *pvc.Spec.VolumeMode)
	}
	want := resource.NewQuantity(spoolMaxBytes+spoolFileBytes, resource.BinarySI)
	if got, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || got.Cmp(*want) < 0 {
		f.add("the claim's storage request %s is below spool.max_bytes (1 GiB) plus one file (64 MiB): the disk would fill before the spool does", got.String())
	}
}

// secretEnvName is an environment variable whose name says it holds a secret.
var secretEnvName = regexp.MustCompile(`(?i)token|secret|passw|key|stream|credential`)

// checkNoSecretValue: no token on the command line, in a literal
// environment variable or anywhere else in the pod spec.
func checkNoSecretValue(f *findings, spec *corev1.PodSpec, c *corev1.Container, args map[string]string, secrets []*corev1.Secret) {
	if _, ok := args["stream"]; ok {
		f.add("the token is passed literally with --stream: use --stream-file on a mounted Secret")
	}
	for _, e := range c.Env {
		switch {
		case e.Name == "AUDITTAIL_STREAM" && e.Value != "":
			f.add("AUDITTAIL_STREAM holds a literal token: take it from a Secret")
		case e.Value != "" && secretEnvName.MatchString(e.Name):
			f.add("env %s holds a literal value: a secret belongs in a Secret (a mounted file, or valueFrom.secretKeyRef)", e.Name)
		}
	}
	checkNoLiteralSecret(f, spec, secrets)
}

// checkReceiverUser adds to checkSecurityContext what the receiver needs:
// not root, no capability at all, and fsGroup, without which the claim is
// not writable and the Secret files (owned by root) not readable.
func checkReceiverUser(f *findings, spec *corev1.PodSpec, c *corev1.Container) {
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		return // reported by checkSecurityContext
	}
	uid, nonRoot := sc.RunAsUser, sc.RunAsNonRoot
	if uid == nil {
		uid = psc.RunAsUser
	}
	if nonRoot == nil {
		nonRoot = psc.RunAsNonRoot
	}
	if uid != nil && *uid == 0 {
		f.add("runAsUser 0: the receiver reads nothing of the host; run it as an unprivileged user (65532)")
	}
	if nonRoot == nil || !*nonRoot {
		f.add("runAsNonRoot must be true")
	}
	if sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			f.add("capability %s added: the receiver needs none (its port is above 1024)", cp)
		}
	}
	if psc.FSGroup == nil {
		f.add("no fsGroup: a non-root user cannot write the claim or read the Secret files (owned by root, mode 0440 only with fsGroup)")
	}
}

// checkReceiverService: --webhook-listen reachable from the Service, and
// every Service port sent to it. It returns the listen port (0 if unknown).
func checkReceiverService(f *findings, p *webhookParts, c *corev1.Container, args map[string]string) int {
	svc := p.svc
	tmpl := labels.Set(p.dep.Spec.Template.Labels)
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(tmpl) {
		f.add("the Service's selector %v does not select the Deployment's pods", svc.Spec.Selector)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		f.add("the Service must set publishNotReadyAddresses: true: with one pod, a not-ready receiver should answer 429 with Retry-After, not leave kube-apiserver a refused connection")
	}

	addr, ok := args["webhook-listen"]
	if !ok {
		f.add("--webhook-listen is not set: the receiver is off")
		return 0
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		f.add("--webhook-listen %q: %v", addr, err)
		return 0
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 {
		f.add("--webhook-listen %q: want a port number", addr)
		return 0
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		f.add("--webhook-listen %s: the Service sends to the pod's IP, which a receiver listening on %s only cannot be reached at; listen on 0.0.0.0 (or [::])", addr, host)
	}
	if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == int32(port) }) {
		f.add("the webhook port %d is not declared in the container's ports", port)
	}
	if len(svc.Spec.Ports) == 0 {
		f.add("the Service has no port")
	}
	for _, sp := range svc.Spec.Ports {
		target := sp.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(sp.Port) // unset: the same as port
		}
		if got := resolvePort(c, target); got != port {
			f.add("the Service's port %d targets %s (%d), not the --webhook-listen port %d", sp.Port, target.String(), got, port)
		}
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			f.add("the Service's port %d: protocol %s, want TCP", sp.Port, sp.Protocol)
		}
	}
	return port
}

// checkWebhookProbes: liveness on /healthz, readiness on /readyz/webhook,
// both on --metrics-addr's port, which is not the webhook's.
func checkWebhookProbes(f *findings, c *corev1.Container, args map[string]string, listenPort int) {
	addr, ok := args["metrics-addr"]
	if !ok {
		f.add("--metrics-addr is not set: the probes need /healthz and /readyz/webhook")
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
	if port == listenPort {
		f.add("--metrics-addr and --webhook-listen use the same port %d", port)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.ContainerPort == int32(port) }) {
		f.add("the metrics port %d is not declared in the container's ports", port)
	}
	check := func(kind string, p *corev1.Probe, wantPath, why string) {
		if p == nil || p.HTTPGet == nil {
			f.add("%s probe: want an httpGet on %s%s", kind, wantPath, why)
			return
		}
		g := p.HTTPGet
		if g.Path != wantPath {
			f.add("%s probe: path %s, want %s%s", kind, g.Path, wantPath, why)
		}
		if got := resolvePort(c, g.Port); got != port {
			f.add("%s probe: port %s is %d, want the --metrics-addr port %d", kind, g.Port.String(), got, port)
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			f.add("%s probe: scheme %s, the metrics endpoint is plain HTTP", kind, g.Scheme)
		}
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && g.Host != host {
			f.add("%s probe: host %q, but the agent listens on %s only", kind, g.Host, host)
		}
	}
	check("liveness", c.LivenessProbe, "/healthz", "")
	check("readiness", c.ReadinessProbe, readyzWebhook,
		" (200 while the spool takes batches; /readyz fails while the log server is away, exactly when the spool must take them)")
}

// checkWebhookKubeconfig: the kubeconfig's current context sends to the
// Service, checks its certificate, and presents what the receiver asks for,
// from files in the directory of --audit-webhook-config-file.
func checkWebhookKubeconfig(f *findings, kc *kubeconfig, svc *corev1.Service, args map[string]string, apiserver map[string]string) {
	if kc.APIVersion != "v1" || kc.Kind != "Config" {
		f.add("kubeconfig: apiVersion %q, kind %q: want v1, Config", kc.APIVersion, kc.Kind)
	}
	var ctx *kcContext
	for i := range kc.Contexts {
		if kc.Contexts[i].Name == kc.CurrentContext {
			ctx = &kc.Contexts[i].Context
		}
	}
	if ctx == nil {
		f.add("kubeconfig: current-context %q names no context (kube-apiserver uses the current context)", kc.CurrentContext)
		return
	}
	var cluster *kcCluster
	for i := range kc.Clusters {
		if kc.Clusters[i].Name == ctx.Cluster {
			cluster = &kc.Clusters[i].Cluster
		}
	}
	var user *kcAuthInfo
	for i := range kc.AuthInfos {
		if kc.AuthInfos[i].Name == ctx.AuthInfo {
			user = &kc.AuthInfos[i].AuthInfo
		}
	}
	if cluster == nil {
		f.add("kubeconfig: the context %q names no cluster %q", kc.CurrentContext, ctx.Cluster)
	}
	if user == nil {
		f.add("kubeconfig: the context %q names no user %q", kc.CurrentContext, ctx.AuthInfo)
	}
	if cluster == nil || user == nil {
		return
	}

	// The server: the Service, by name or by its fixed address with the
	// name checked in the certificate.
	u, err := url.Parse(cluster.Server)
	if err != nil {
		f.add("kubeconfig: server %q: %v", cluster.Server, err)
		return
	}
	if u.Scheme != "https" {
		f.add("kubeconfig: server %s: want https:// (the receiver only speaks HTTPS)", cluster.Server)
	}
	svcName := svc.Name + "." + svc.Namespace + ".svc"
	var svcPort int32
	if len(svc.Spec.Ports) > 0 {
		svcPort = svc.Spec.Ports[0].Port
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	fixedIP := svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone && host == svc.Spec.ClusterIP
	if host != svcName && !fixedIP {
		f.add("kubeconfig: server %s: want https://%s:%d, the Service (or its fixed clusterIP, with tls-server-name %s)", cluster.Server, svcName, svcPort, svcName)
	}
	if identity := cmp.Or(cluster.TLSServerName, host); identity != svcName {
		f.add("kubeconfig: the receiver's certificate would be checked for %q, want the Service's name %s (tls-server-name, or the server's host)", identity, svcName)
	}
	if port != strconv.Itoa(int(svcPort)) {
		f.add("kubeconfig: server port %s is not the Service's port %d", port, svcPort)
	}
	if cluster.InsecureSkipTLSVerify {
		f.add("kubeconfig: insecure-skip-tls-verify: anyone on the way could take the audit events")
	}
	if cluster.CertificateAuthority == "" && len(cluster.CertificateAuthorityData) == 0 {
		f.add("kubeconfig: no certificate-authority: the receiver's certificate would be checked against the system roots, which did not sign it")
	}

	// What the receiver asks for, from files.
	if _, ok := args["webhook-client-ca"]; ok && (user.ClientCertificate == "" || user.ClientKey == "") {
		f.add("kubeconfig: the receiver asks for a client certificate (--webhook-client-ca): set client-certificate and client-key")
	}
	if _, ok := args["webhook-token-file"]; ok && user.TokenFile == "" && user.Token == "" {
		f.add("kubeconfig: the receiver asks for a bearer token (--webhook-token-file): set tokenFile")
	}
	if user.Token != "" {
		f.add("kubeconfig: token holds the bearer token itself: use tokenFile, so that the kubeconfig holds no secret")
	}
	if len(user.ClientKeyData) > 0 {
		f.add("kubeconfig: client-key-data holds the private key itself: use client-key, a file")
	}
	if user.Username != "" || user.Password != "" {
		f.add("kubeconfig: username/password: the receiver knows no basic authentication")
	}
	dir := path.Dir(apiserver["audit-webhook-config-file"])
	for _, p := range []struct{ field, file string }{
		{"certificate-authority", cluster.CertificateAuthority}, {"client-certificate", user.ClientCertificate},
		{"client-key", user.ClientKey}, {"tokenFile", user.TokenFile},
	} {
		switch {
		case p.file == "":
		case !path.IsAbs(p.file):
			f.add("kubeconfig: %s %s: want an absolute path (a relative one is taken from the kubeconfig's directory)", p.field, p.file)
		case path.Dir(p.file) != dir:
			f.add("kubeconfig: %s %s is not in %s, the directory of --audit-webhook-config-file (one read-only mount in the kube-apiserver pod)", p.field, p.file, dir)
		}
	}
}

// auditFlags are kube-apiserver's audit flags, from k8s.io/apiserver v0.37.2
// pkg/server/options/audit.go: AuditOptions.AddFlags (--audit-policy-file),
// AuditLogOptions.AddFlags, AuditWebhookOptions.AddFlags, and for each
// plugin ("log", "webhook") AuditBatchOptions.AddFlags and
// AuditTruncateOptions.AddFlags.
var auditFlags = func() []string {
	flags := []string{
		"audit-policy-file",
		"audit-log-path", "audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize", "audit-log-format",
		"audit-log-version", "audit-log-compress",
		"audit-webhook-config-file", "audit-webhook-initial-backoff", "audit-webhook-version",
	}
	for _, plugin := range []string{"log", "webhook"} {
		for _, opt := range []string{"mode", "batch-buffer-size", "batch-max-size", "batch-max-wait", "batch-throttle-enable",
			"batch-throttle-qps", "batch-throttle-burst", "truncate-enabled", "truncate-max-batch-size", "truncate-max-event-size"} {
			flags = append(flags, "audit-"+plugin+"-"+opt)
		}
	}
	return flags
}()

// requiredAPIServerFlags are the flags the header must give.
var requiredAPIServerFlags = []string{
	"audit-policy-file", "audit-webhook-config-file", "audit-webhook-mode", "audit-webhook-batch-max-size",
	"audit-webhook-batch-max-wait", "audit-webhook-batch-throttle-qps", "audit-webhook-batch-throttle-burst",
	"audit-webhook-initial-backoff", "audit-webhook-version",
}

// checkAPIServerFlags checks the kube-apiserver flags of the kubeconfig's
// header: real flag names, the ones that matter given, with values
// kube-apiserver accepts and that suit the receiver.
func checkAPIServerFlags(f *findings, flags map[string]string) {
	for name := range flags {
		switch {
		case name == "audit-webhook-batch-initial-backoff":
			f.add("kube-apiserver flag --%s is deprecated: use --audit-webhook-initial-backoff", name)
		case !slices.Contains(auditFlags, name):
			f.add("kube-apiserver flag --%s is not one of k8s.io/apiserver's audit flags (pkg/server/options/audit.go)", name)
		}
	}
	for _, name := range requiredAPIServerFlags {
		if flags[name] == "" {
			f.add("kube-apiserver flag --%s=VALUE is missing from the header", name)
		}
	}
	if v := flags["audit-webhook-mode"]; v != "" && v != "batch" {
		f.add("--audit-webhook-mode=%s: want batch (blocking makes every API request wait for the receiver)", v)
	}
	if v := flags["audit-webhook-version"]; v != "" && v != "audit.k8s.io/v1" {
		f.add("--audit-webhook-version=%s: want audit.k8s.io/v1, the only version kube-apiserver accepts", v)
	}
	if v := flags["audit-webhook-batch-throttle-enable"]; v != "" && v != "true" {
		f.add("--audit-webhook-batch-throttle-enable=%s: keep throttling on (it bounds the receiver's load)", v)
	}
	for _, name := range []string{"audit-webhook-batch-max-size", "audit-webhook-batch-throttle-burst", "audit-webhook-batch-buffer-size"} {
		if v := flags[name]; v != "" {
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				f.add("--%s=%s: want a positive number", name, v)
			}
		}
	}
	if v := flags["audit-webhook-batch-throttle-qps"]; v != "" {
		if q, err := strconv.ParseFloat(v, 32); err != nil || q <= 0 {
			f.add("--audit-webhook-batch-throttle-qps=%s: want a positive number", v)
		}
	}
	for _, name := range []string{"audit-webhook-batch-max-wait", "audit-webhook-initial-backoff"} {
		if v := flags[name]; v != "" {
			if d, err := time.ParseDuration(v); err != nil || d <= 0 {
				f.add("--%s=%s: want a positive duration", name, v)
			}
		}
	}
}

// TestWebhookRulesCatchMistakes breaks the files one way at a time and
// expects the checks to report it.
func TestWebhookRulesCatchMistakes(t *testing.T) {
	type parts struct {
		dep  *appsv1.Deployment
		spec *corev1.PodSpec
		c    *corev1.Container
		svc  *corev1.Service
		pvc  *corev1.PersistentVolumeClaim
		ns   *corev1.Namespace
		sa   *corev1.ServiceAccount
		w    *webhookFiles
	}
	split := func(w *webhookFiles) *parts {
		p := &parts{w: w}
		for _, o := range w.objs {
			switch o := o.(type) {
			case *appsv1.Deployment:
				p.dep, p.spec = o, &o.Spec.Template.Spec
				p.c = container(p.spec.Containers, agentContainer)
			case *corev1.Service:
				p.svc = o
			case *corev1.PersistentVolumeClaim:
				p.pvc = o
			case *corev1.Namespace:
				p.ns = o
			case *corev1.ServiceAccount:
				p.sa = o
			}
		}
		return p
	}
	setArg := func(c *corev1.Container, name, value string) {
		for i, a := range c.Args {
			if strings.HasPrefix(a, "--"+name+"=") {
				c.Args[i] = "--" + name + "=" + value
				return
			}
		}
		c.Args = append(c.Args, "--"+name+"="+value)
	}
	kcCluster := func(p *parts) *kcCluster { return &p.w.kc.Clusters[0].Cluster }
	kcUser := func(p *parts) *kcAuthInfo { return &p.w.kc.AuthInfos[0].AuthInfo }
	const (
		tlsDir   = "/etc/audittail/webhook-tls"
		tokenDir = "/etc/audittail/webhook-token"
		spoolDir = "/var/spool/audittail"
	)

	for _, tc := range []struct {
		name string
		edit func(p *parts)
		want string
	}{
		// The Deployment.
		{"two replicas", func(p *parts) { p.dep.Spec.Replicas = ptr.To[int32](2) }, "replicas 2: want exactly 1"},
		{"replicas left to the default", func(p *parts) { p.dep.Spec.Replicas = nil }, "replicas unset"},
		{"rolling update", func(p *parts) {
			p.dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
		}, `strategy "RollingUpdate": want Recreate`},
		{"selector misses the pods", func(p *parts) {
			p.dep.Spec.Template.Labels = map[string]string{"app": "other"}
		}, "the Deployment's selector app.kubernetes.io/name=audittail-webhook does not match"},
		{"API token mounted", func(p *parts) { p.spec.AutomountServiceAccountToken = nil }, "automountServiceAccountToken must be false"},
		{"default ServiceAccount", func(p *parts) { p.spec.ServiceAccountName = "" }, "use a ServiceAccount of its own"},
		{"ServiceAccount with a token", func(p *parts) { p.sa.AutomountServiceAccountToken = nil }, "ServiceAccount audittail-webhook: automountServiceAccountToken must be false"},
		{"namespace not restricted", func(p *parts) {
			p.ns.Labels["pod-security.kubernetes.io/enforce"] = "privileged"
		}, `enforces Pod Security "privileged"`},
		{"claim in another namespace", func(p *parts) { p.pvc.Namespace = "default" }, "is in the namespace default, not in the Deployment's, audittail"},
		{"host network", func(p *parts) { p.spec.HostNetwork = true }, "hostNetwork/hostPID/hostIPC"},
		{"a hostPath", func(p *parts) {
			p.spec.Volumes = append(p.spec.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}, `volume "h" is a hostPath`},
		{"a moving image tag", func(p *parts) { p.c.Image = "ghcr.io/audittail/audittail:latest" }, `image "ghcr.io/audittail/audittail:latest": want`},
		{"--path given", func(p *parts) { setArg(p.c, "path", "/var/log/kubernetes/audit/audit.log") }, "--path is set"},
		{"grace period too short", func(p *parts) { p.spec.TerminationGracePeriodSeconds = ptr.To[int64](5) }, "terminationGracePeriodSeconds 5"},

		// The files it reads.
		{"certificate mount writable", func(p *parts) { mountAt(p.c, tlsDir).ReadOnly = false }, "--webhook-cert: the mount /etc/audittail/webhook-tls must be read-only"},
		{"token file through a subPath", func(p *parts) { mountAt(p.c, tokenDir).SubPath = "token" }, "--webhook-token-file: the mount /etc/audittail/webhook-token uses a subPath"},
		{"token in a ConfigMap", func(p *parts) {
			volume(p.spec, "webhook-token").VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "audittail-webhook-token"}}}
		}, "--webhook-token-file /etc/audittail/webhook-token/token is in the ConfigMap volume"},
		{"client CA in an emptyDir", func(p *parts) {
			volume(p.spec, "webhook-client-ca").VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}, `--webhook-client-ca /etc/audittail/webhook-client-ca/ca.crt: volume "webhook-client-ca" is neither a Secret nor a ConfigMap`},
		{"client CA not an item of the ConfigMap", func(p *parts) {
			setArg(p.c, "webhook-client-ca", "/etc/audittail/webhook-client-ca/client-ca.crt")
		}, "the ConfigMap volume \"webhook-client-ca\" has no item with path client-ca.crt"},
		{"certificate outside every mount", func(p *parts) { setArg(p.c, "webhook-cert", "/etc/ssl/tls.crt") }, "--webhook-cert /etc/ssl/tls.crt is on no volume mount"},
		{"token file not an item of the Secret", func(p *parts) {
			setArg(p.c, "webhook-token-file", tokenDir+"/webhook-token")
		}, `the Secret volume "webhook-token" has no item with path webhook-token`},
		{"Secret readable by all", func(p *parts) {
			volume(p.spec, "stream").Secret.DefaultMode = ptr.To[int32](0o644)
		}, `--stream-file: Secret volume "stream" has mode 0644`},
		{"Secret mode left to the default", func(p *parts) {
			volume(p.spec, "webhook-tls").Secret.DefaultMode = nil
		}, `--webhook-key: Secret volume "webhook-tls" has mode unset (0644)`},
		{"key item writable", func(p *parts) {
			volume(p.spec, "webhook-tls").Secret.Items[1].Mode = ptr.To[int32](0o600)
		}, `--webhook-key: Secret volume "webhook-tls" has mode 0600`},
		{"certificate and key from two Secrets", func(p *parts) {
			p.spec.Volumes = append(p.spec.Volumes, corev1.Volume{Name: "key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "audittail-webhook-key", DefaultMode: ptr.To[int32](0o440)}}})
			p.c.VolumeMounts = append(p.c.VolumeMounts, corev1.VolumeMount{Name: "key", MountPath: "/etc/audittail/webhook-key", ReadOnly: true})
			setArg(p.c, "webhook-key", "/etc/audittail/webhook-key/tls.key")
		}, "the certificate and the key come from different volumes"},
		{"key from another key of the Secret", func(p *parts) {
			volume(p.spec, "webhook-tls").Secret.Items[1].Key = "server.key"
		}, `--webhook-key /etc/audittail/webhook-tls/tls.key is the Secret's key "server.key"`},
		{"no client CA", func(p *parts) { p.c.Args = removeArg(p.c.Args, "webhook-client-ca") }, "--webhook-client-ca is not set"},
		{"no bearer token", func(p *parts) { p.c.Args = removeArg(p.c.Args, "webhook-token-file") }, "--webhook-token-file is not set"},
		{"no stream token", func(p *parts) { p.c.Args = removeArg(p.c.Args, "stream-file") }, "--stream-file is not set"},
		{"no certificate", func(p *parts) { p.c.Args = removeArg(p.c.Args, "webhook-cert") }, "--webhook-cert is not set"},

		// The spool.
		{"no --spool-dir", func(p *parts) { p.c.Args = removeArg(p.c.Args, "spool-dir") }, "--spool-dir is not set"},
		{"spool read-only", func(p *parts) { mountAt(p.c, spoolDir).ReadOnly = true }, "the spool mount /var/spool/audittail must be read-write"},
		{"spool claim mounted read-only", func(p *parts) { volume(p.spec, "spool").PersistentVolumeClaim.ReadOnly = true }, "the spool's claim is mounted read-only"},
		{"spool in an emptyDir", func(p *parts) {
			volume(p.spec, "spool").VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}, `volume "spool" is not a PersistentVolumeClaim`},
		{"spool off the claim", func(p *parts) { setArg(p.c, "spool-dir", "/tmp/spool") }, "--spool-dir /tmp/spool is on no volume mount"},
		{"spool at the claim's root", func(p *parts) { setArg(p.c, "spool-dir", spoolDir) }, "is the volume's root"},
		{"claim shared", func(p *parts) {
			p.pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}, "the claim's accessModes [ReadWriteMany]"},
		{"claim too small", func(p *parts) {
			p.pvc.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("1Gi")
		}, "the claim's storage request 1Gi is below"},
		{"claim as a block device", func(p *parts) {
			p.pvc.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
		}, "the claim's volumeMode Block"},
		{"claim not in the file", func(p *parts) {
			volume(p.spec, "spool").PersistentVolumeClaim.ClaimName = "spool"
		}, "PersistentVolumeClaim audittail/spool is not in the file"},
		{"no fsGroup", func(p *parts) { p.spec.SecurityContext.FSGroup = nil }, "no fsGroup"},

		// The Service.
		{"Service to another port", func(p *parts) {
			p.svc.Spec.Ports[0].TargetPort = intstr.FromInt32(9443)
		}, "the Service's port 443 targets 9443 (9443), not the --webhook-listen port 8443"},
		{"listen port moved, Service not", func(p *parts) { setArg(p.c, "webhook-listen", "0.0.0.0:9443") }, "the Service's port 443 targets webhook (8443), not the --webhook-listen port 9443"},
		{"listen port not declared", func(p *parts) { setArg(p.c, "webhook-listen", "0.0.0.0:9443") }, "the webhook port 9443 is not declared"},
		{"metrics through the Service", func(p *parts) {
			p.svc.Spec.Ports = append(p.svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9842, TargetPort: intstr.FromString("metrics")})
		}, "the Service's port 9842 targets metrics (9842)"},
		{"target port left to the port", func(p *parts) { p.svc.Spec.Ports[0].TargetPort = intstr.IntOrString{} }, "the Service's port 443 targets 443 (443), not the --webhook-listen port 8443"},
		{"listening on loopback", func(p *parts) { setArg(p.c, "webhook-listen", "127.0.0.1:8443") }, "listening on 127.0.0.1 only cannot be reached"},
		{"not-ready pod out of the Service", func(p *parts) { p.svc.Spec.PublishNotReadyAddresses = false }, "publishNotReadyAddresses: true"},
		{"Service selects other pods", func(p *parts) {
			p.svc.Spec.Selector = map[string]string{"app.kubernetes.io/name": "audittail"}
		}, "the Service's selector map[app.kubernetes.io/name:audittail] does not select"},
		{"no --webhook-listen", func(p *parts) { p.c.Args = removeArg(p.c.Args, "webhook-listen") }, "--webhook-listen is not set"},

		// Probes.
		{"readiness on /readyz", func(p *parts) { p.c.ReadinessProbe.HTTPGet.Path = "/readyz" }, "readiness probe: path /readyz, want /readyz/webhook"},
		{"no readiness probe", func(p *parts) { p.c.ReadinessProbe = nil }, "readiness probe: want an httpGet on /readyz/webhook"},
		{"liveness on the readiness path", func(p *parts) { p.c.LivenessProbe.HTTPGet.Path = readyzWebhook }, "liveness probe: path /readyz/webhook, want /healthz"},
		{"readiness on the webhook port", func(p *parts) {
			p.c.ReadinessProbe.HTTPGet.Port = intstr.FromString("webhook")
		}, "readiness probe: port webhook is 8443, want the --metrics-addr port 9842"},
		{"liveness over HTTPS", func(p *parts) { p.c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS }, "liveness probe: scheme HTTPS"},
		{"metrics moved, probes not", func(p *parts) { setArg(p.c, "metrics-addr", "0.0.0.0:9843") }, "want the --metrics-addr port 9843"},
		{"metrics on the webhook port", func(p *parts) { setArg(p.c, "metrics-addr", "0.0.0.0:8443") }, "use the same port 8443"},
		{"metrics off", func(p *parts) { p.c.Args = removeArg(p.c.Args, "metrics-addr") }, "--metrics-addr is not set"},

		// The securityContext.
		{"root", func(p *parts) { p.spec.SecurityContext.RunAsUser = ptr.To[int64](0) }, "runAsUser 0: the receiver reads nothing of the host"},
		{"runAsNonRoot off", func(p *parts) {
			p.spec.SecurityContext.RunAsNonRoot, p.c.SecurityContext.RunAsNonRoot = nil, ptr.To(false)
		}, "runAsNonRoot must be true"},
		{"user left to the image", func(p *parts) { p.spec.SecurityContext.RunAsUser = nil }, "set runAsUser"},
		{"a capability added", func(p *parts) {
			p.c.SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH"}
		}, "capability DAC_READ_SEARCH added: the receiver needs none"},
		{"drop ALL missing", func(p *parts) { p.c.SecurityContext.Capabilities = nil }, "must drop ALL"},
		{"writable root file system", func(p *parts) { p.c.SecurityContext.ReadOnlyRootFilesystem = nil }, "readOnlyRootFilesystem must be true"},
		{"privilege escalation allowed", func(p *parts) { p.c.SecurityContext.AllowPrivilegeEscalation = ptr.To(true) }, "allowPrivilegeEscalation must be false"},
		{"no seccomp profile", func(p *parts) { p.spec.SecurityContext.SeccompProfile = nil }, "seccompProfile must be RuntimeDefault"},

		// Resources.
		{"no memory limit", func(p *parts) { p.c.Resources.Limits = nil }, "resources.limits.memory is not set"},
		{"no memory request", func(p *parts) { delete(p.c.Resources.Requests, corev1.ResourceMemory) }, "resources.requests.memory is not set"},
		{"GOMEMLIMIT above the limit", func(p *parts) {
			p.c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("512Mi")
		}, "GOMEMLIMIT 900MiB is not below the memory limit 512Mi"},

		// Secrets written in the manifest.
		{"token on the command line", func(p *parts) {
			p.c.Args = append(p.c.Args, "--stream", "0123abcd-0000-4000-8000-00000000cafe")
		}, "passed literally with --stream"},
		{"stream token in a literal env var", func(p *parts) {
			p.c.Env = append(p.c.Env, corev1.EnvVar{Name: "AUDITTAIL_STREAM", Value: "x"})
		}, "AUDITTAIL_STREAM holds a literal token"},
		{"webhook token in a literal env var", func(p *parts) {
			p.c.Env = append(p.c.Env, corev1.EnvVar{Name: "WEBHOOK_TOKEN", Value: "c2VjcmV0LXdlYmhvb2stdG9rZW4"})
		}, "env WEBHOOK_TOKEN holds a literal value"},
		{"token-like value anywhere", func(p *parts) {
			p.spec.Containers[0].Env = append(p.spec.Containers[0].Env, corev1.EnvVar{Name: "X", Value: "0123abcd-0000-4000-8000-00000000cafe"})
		}, "contains a token-like value"},
		{"Secret in the file", func(p *parts) {
			s := &corev1.Secret{Type: corev1.SecretTypeTLS}
			s.Name, s.Namespace = "audittail-webhook-tls", "audittail"
			p.w.objs = append(p.w.objs, s)
		}, "Secret audittail-webhook-tls is in the file"},

		// The kubeconfig against the Service.
		{"kubeconfig to another namespace", func(p *parts) {
			kcCluster(p).Server = "https://audittail-webhook.default.svc:443"
		}, "want https://audittail-webhook.audittail.svc:443"},
		{"Service renamed", func(p *parts) { p.svc.Name = "audittail" }, "want https://audittail.audittail.svc:443"},
		{"kubeconfig to the pod's port", func(p *parts) {
			kcCluster(p).Server = "https://audittail-webhook.audittail.svc:8443"
		}, "server port 8443 is not the Service's port 443"},
		{"kubeconfig port left out", func(p *parts) {
			kcCluster(p).Server = "https://audittail-webhook.audittail.svc"
			p.svc.Spec.Ports[0].Port = 8443
		}, "server port 443 is not the Service's port 8443"},
		{"kubeconfig in clear", func(p *parts) {
			kcCluster(p).Server = "http://audittail-webhook.audittail.svc:443"
		}, "want https://"},
		{"kubeconfig by address without the name", func(p *parts) {
			p.svc.Spec.ClusterIP = "10.96.0.44"
			kcCluster(p).Server = "https://10.96.0.44:443"
		}, `certificate would be checked for "10.96.0.44"`},
		{"kubeconfig by an address that is not the Service's", func(p *parts) {
			kcCluster(p).Server, kcCluster(p).TLSServerName = "https://10.96.0.44:443", "audittail-webhook.audittail.svc"
		}, "server https://10.96.0.44:443: want https://audittail-webhook.audittail.svc:443"},
		{"kubeconfig checks another name", func(p *parts) { kcCluster(p).TLSServerName = "audittail-webhook" }, `checked for "audittail-webhook"`},
		{"certificate not checked", func(p *parts) { kcCluster(p).InsecureSkipTLSVerify = true }, "insecure-skip-tls-verify"},
		{"no CA for the receiver", func(p *parts) { kcCluster(p).CertificateAuthority = "" }, "no certificate-authority"},
		{"no client certificate", func(p *parts) { kcUser(p).ClientCertificate = "" }, "set client-certificate and client-key"},
		{"no token file", func(p *parts) { kcUser(p).TokenFile = "" }, "set tokenFile"},
		{"token in the kubeconfig", func(p *parts) {
			kcUser(p).TokenFile, kcUser(p).Token = "", "c2VjcmV0LXdlYmhvb2stdG9rZW4"
		}, "token holds the bearer token itself"},
		{"key in the kubeconfig", func(p *parts) {
			kcUser(p).ClientKey, kcUser(p).ClientKeyData = "", []byte("-----BEGIN EC PRIVATE KEY-----")
		}, "client-key-data holds the private key itself"},
		{"basic authentication", func(p *parts) { kcUser(p).Username, kcUser(p).Password = "u", "p" }, "no basic authentication"},
		{"relative file", func(p *parts) { kcUser(p).ClientKey = "client.key" }, "client-key client.key: want an absolute path"},
		{"file out of the mounted directory", func(p *parts) {
			kcCluster(p).CertificateAuthority = "/etc/kubernetes/pki/ca.crt"
		}, "certificate-authority /etc/kubernetes/pki/ca.crt is not in /etc/kubernetes/audit/webhook"},
		{"current context unknown", func(p *parts) { p.w.kc.CurrentContext = "default" }, `current-context "default" names no context`},
		{"context names no user", func(p *parts) { p.w.kc.Contexts[0].Context.AuthInfo = "admin" }, `names no user "admin"`},
		{"context names no cluster", func(p *parts) { p.w.kc.Contexts[0].Context.Cluster = "kubernetes" }, `names no cluster "kubernetes"`},
		{"kubeconfig kind", func(p *parts) { p.w.kc.Kind = "" }, `kind "": want v1, Config`},

		// The kube-apiserver flags of the kubeconfig's header.
		{"a misspelt flag", func(p *parts) { p.w.apiserver["audit-webhook-batch-size"] = "400" }, "--audit-webhook-batch-size is not one of"},
		{"a flag of another plugin's name", func(p *parts) { p.w.apiserver["audit-webhook-path"] = "/x" }, "--audit-webhook-path is not one of"},
		{"the deprecated backoff flag", func(p *parts) { p.w.apiserver["audit-webhook-batch-initial-backoff"] = "10s" }, "is deprecated"},
		{"blocking mode", func(p *parts) { p.w.apiserver["audit-webhook-mode"] = "blocking" }, "--audit-webhook-mode=blocking: want batch"},
		{"v1beta1", func(p *parts) { p.w.apiserver["audit-webhook-version"] = "audit.k8s.io/v1beta1" }, "want audit.k8s.io/v1"},
		{"throttling off", func(p *parts) { p.w.apiserver["audit-webhook-batch-throttle-enable"] = "false" }, "keep throttling on"},
		{"backoff left out", func(p *parts) { delete(p.w.apiserver, "audit-webhook-initial-backoff") }, "--audit-webhook-initial-backoff=VALUE is missing"},
		{"no policy", func(p *parts) { delete(p.w.apiserver, "audit-policy-file") }, "--audit-policy-file=VALUE is missing"},
		{"bad duration", func(p *parts) { p.w.apiserver["audit-webhook-batch-max-wait"] = "30" }, "--audit-webhook-batch-max-wait=30: want a positive duration"},
		{"bad qps", func(p *parts) { p.w.apiserver["audit-webhook-batch-throttle-qps"] = "0" }, "--audit-webhook-batch-throttle-qps=0: want a positive number"},
		{"bad batch size", func(p *parts) { p.w.apiserver["audit-webhook-batch-max-size"] = "-1" }, "--audit-webhook-batch-max-size=-1: want a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := readWebhookFiles(t)
			tc.edit(split(w))
			found := checkWebhookFiles(w)
			for _, p := range found {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("mistake not reported; want a finding containing %q, got %q", tc.want, found)
		})
	}
}

// TestWebhookKubeconfigByClusterIP: the alternative the kubeconfig
// describes for kube-apiserver on a node's host network (the Service's
// fixed address, the name in tls-server-name) passes.
func TestWebhookKubeconfigByClusterIP(t *testing.T) {
	w := readWebhookFiles(t)
	for _, o := range w.objs {
		if s, ok := o.(*corev1.Service); ok {
			s.Spec.ClusterIP = "10.96.0.44"
		}
	}
	c := &w.kc.Clusters[0].Cluster
	c.Server, c.TLSServerName = "https://10.96.0.44:443", "audittail-webhook.audittail.svc"
	if found := checkWebhookFiles(w); len(found) > 0 {
		t.Errorf("findings: %q", found)
	}
}

// TestWebhookSecretValueNeverCopied: a Secret in the same file must not
// see its value written into the pod spec as well.
func TestWebhookSecretValueNeverCopied(t *testing.T) {
	w := readWebhookFiles(t)
	secret := &corev1.Secret{StringData: map[string]string{"token": "s3cr3t-webhook-t0ken"}}
	secret.Name, secret.Namespace = "audittail-webhook-token", "audittail"
	for _, o := range w.objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			c := container(d.Spec.Template.Spec.Containers, agentContainer)
			c.Args = append(c.Args, "--host=s3cr3t-webhook-t0ken")
		}
	}
	w.objs = append(w.objs, secret)
	for _, p := range checkWebhookFiles(w) {
		if strings.Contains(p, "the value of Secret audittail-webhook-token key token appears literally") {
			return
		}
	}
	t.Error("a Secret's value in the pod spec was not reported")
}

// TestWebhookStrictDecoding: what strict decoding refuses in the
// receiver's manifest (as the API server would) and in the kubeconfig (what
// kube-apiserver would silently ignore).
func TestWebhookStrictDecoding(t *testing.T) {
	for _, tc := range []struct{ file, name, old, new, want string }{
		{webhookReceiverFile, "unknown field of a claim", `  accessModes: ["ReadWriteOncePod"]`, `  accessMode: ["ReadWriteOncePod"]`,
			`unknown field "spec.accessMode"`},
		{webhookReceiverFile, "unknown field of a Service", "  publishNotReadyAddresses: true", "  publishNotReadyAddress: true",
			`unknown field "spec.publishNotReadyAddress"`},
		{webhookReceiverFile, "field in the wrong case", "        fsGroupChangePolicy: OnRootMismatch", "        fsgroupChangePolicy: OnRootMismatch",
			`unknown field "spec.template.spec.securityContext.fsgroupChangePolicy"`},
		{webhookReceiverFile, "duplicate key", "  replicas: 1", "  replicas: 1\n  replicas: 2", `key "replicas" already set in map`},
		{webhookKubeconfigFile, "token-file is no kubeconfig field", "    tokenFile: ", "    token-file: ", `unknown field "users[0].user.token-file"`},
		{webhookKubeconfigFile, "tokenFile in the wrong case", "    tokenFile: ", "    tokenfile: ", `unknown field "users[0].user.tokenfile"`},
		{webhookKubeconfigFile, "misspelt field", "    client-certificate: ", "    client-certficate: ", `unknown field "users[0].user.client-certficate"`},
		{webhookKubeconfigFile, "field at the wrong level", "    certificate-authority: ", "    user-certificate-authority: ", `unknown field "clusters[0].cluster.user-certificate-authority"`},
		{webhookKubeconfigFile, "duplicate key", "current-context: audittail-webhook", "current-context: audittail-webhook\ncurrent-context: other",
			`key "current-context" already set in map`},
	} {
		t.Run(tc.file+"/"+tc.name, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.old) {
				t.Fatalf("%s no longer contains %q: update the test", tc.file, tc.old)
			}
			broken := []byte(strings.Replace(string(data), tc.old, tc.new, 1))
			if tc.file == webhookKubeconfigFile {
				_, err = decodeKubeconfig(broken)
			} else {
				_, err = decodeManifest(broken)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
