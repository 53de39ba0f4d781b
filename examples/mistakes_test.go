package examples

import (
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// TestRulesCatchMistakes breaks a freshly decoded manifest in one way and
// expects the checks to report it: a rule that cannot fail checks nothing.
func TestRulesCatchMistakes(t *testing.T) {
	ds := func(edit func(ds *appsv1.DaemonSet, objs []runtime.Object)) func([]runtime.Object) []runtime.Object {
		return func(objs []runtime.Object) []runtime.Object {
			for _, o := range objs {
				if d, ok := o.(*appsv1.DaemonSet); ok {
					edit(d, objs)
				}
			}
			return objs
		}
	}
	dsAgent := func(edit func(spec *corev1.PodSpec, c *corev1.Container)) func([]runtime.Object) []runtime.Object {
		return ds(func(d *appsv1.DaemonSet, _ []runtime.Object) {
			spec := &d.Spec.Template.Spec
			edit(spec, container(spec.Containers, agentContainer))
		})
	}
	pod := func(edit func(spec *corev1.PodSpec, api, agent *corev1.Container)) func([]runtime.Object) []runtime.Object {
		return func(objs []runtime.Object) []runtime.Object {
			spec := &objs[0].(*corev1.Pod).Spec
			edit(spec, container(spec.Containers, "kube-apiserver"), container(spec.Containers, agentContainer))
			return objs
		}
	}
	mount := func(c *corev1.Container, dir string) *corev1.VolumeMount { return mountAt(c, dir) }
	setArg := func(c *corev1.Container, name, value string) {
		for i, a := range c.Args {
			if strings.HasPrefix(a, "--"+name+"=") {
				c.Args[i] = "--" + name + "=" + value
				return
			}
		}
		c.Args = append(c.Args, "--"+name+"="+value)
	}
	const logDir, stateDir = "/var/log/kubernetes/audit", "/var/lib/audittail"

	for _, tc := range []struct {
		name, file string
		edit       func([]runtime.Object) []runtime.Object
		want       string
	}{
		// The image.
		{"a moving image tag", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Image = "ghcr.io/audittail/audittail:latest"
		}), `image "ghcr.io/audittail/audittail:latest": want`},
		{"another image", staticPodFile, pod(func(_ *corev1.PodSpec, _, c *corev1.Container) {
			c.Image = "docker.io/fluent/fluent-bit:v4.0.0"
		}), `image "docker.io/fluent/fluent-bit:v4.0.0": want`},
		// The audit log.
		{"audit log parent directory mounted", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			mount(c, logDir).MountPath = "/var/log/kubernetes"
		}), "audit log directory /var/log/kubernetes/audit (from the flags) is not mounted"},
		{"--path elsewhere than the mount", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			setArg(c, "path", "/var/log/audit/audit.log")
		}), "audit log directory /var/log/audit (from the flags) is not mounted"},
		{"audit log writable", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			mount(c, logDir).ReadOnly = false
		}), "audit log mount /var/log/kubernetes/audit must be read-only"},
		{"audit log file mounted alone", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "audit-log").HostPath.Type = ptr.To(corev1.HostPathFile)
		}), "want Directory or DirectoryOrCreate"},
		{"audit log host path differs", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "audit-log").HostPath.Path = "/var/log/apiserver"
		}), "host path /var/log/apiserver, want /var/log/kubernetes/audit"},

		// The checkpoint.
		{"checkpoint hostPath not DirectoryOrCreate", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "state").HostPath.Type = ptr.To(corev1.HostPathDirectory)
		}), "hostPath type must be DirectoryOrCreate"},
		{"checkpoint read-only", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			mount(c, stateDir).ReadOnly = true
		}), "checkpoint mount /var/lib/audittail must be read-write"},
		{"checkpoint in an emptyDir", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "state").VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}), "is not a hostPath volume"},
		{"--checkpoint outside the state mount", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			setArg(c, "checkpoint", "/tmp/checkpoint.json")
		}), "checkpoint directory /tmp (from the flags) is not in a mounted volume"},

		// The token.
		{"token on the command line", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Args = append(c.Args, "--stream", "0123abcd-0000-4000-8000-00000000cafe")
		}), "passed literally with --stream"},
		{"token in a literal env var", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "AUDITTAIL_STREAM", Value: "0123abcd-0000-4000-8000-00000000cafe"})
		}), "AUDITTAIL_STREAM holds a literal token"},
		{"token-like value anywhere", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: "X", Value: "0123abcd-0000-4000-8000-00000000cafe"})
		}), "contains a token-like value"},
		{"token from a host file in a DaemonSet", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "stream").VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc/audittail/stream"}}
		}), "in a DaemonSet the token comes from a Secret"},
		{"token file not an item of the Secret", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			setArg(c, "stream-file", "/etc/audittail/stream/stream-token")
		}), "has no item with path stream-token"},
		{"token Secret readable by all", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			volume(spec, "stream").Secret.DefaultMode = ptr.To[int32](0o644)
		}), "set defaultMode to 0400"},
		{"no token at all", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Args = removeArg(c.Args, "stream-file")
		}), "no stream token"},

		// The securityContext.
		{"drop ALL missing", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.Capabilities.Drop = nil
		}), "must drop ALL"},
		{"capability added to root", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH"}
		}), "add no capability"},
		{"non-root with another capability", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.RunAsUser, c.SecurityContext.RunAsNonRoot = ptr.To[int64](65534), ptr.To(true)
			c.SecurityContext.Capabilities.Add = []corev1.Capability{"DAC_READ_SEARCH", "DAC_OVERRIDE"}
		}), "capability DAC_OVERRIDE added"},
		{"runAsNonRoot left implicit for root", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.RunAsNonRoot = nil
		}), "set runAsNonRoot: false explicitly"},
		{"user left to the image", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.RunAsUser = nil
		}), "set runAsUser"},
		{"writable root file system", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		}), "readOnlyRootFilesystem must be true"},
		{"privilege escalation allowed by default", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.AllowPrivilegeEscalation = nil
		}), "allowPrivilegeEscalation must be false"},
		{"no seccomp profile", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, c *corev1.Container) {
			spec.SecurityContext, c.SecurityContext.SeccompProfile = nil, nil
		}), "seccompProfile must be RuntimeDefault"},
		{"unconfined seccomp", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			agent.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeUnconfined
		}), "seccompProfile must be RuntimeDefault"},

		// Resources.
		{"no memory limit", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Resources.Limits = nil
		}), "resources.limits.memory is not set"},
		{"no CPU request", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			delete(c.Resources.Requests, corev1.ResourceCPU)
		}), "resources.requests.cpu is not set"},
		{"GOMEMLIMIT above the limit", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Mi")
		}), "GOMEMLIMIT 200MiB is not below the memory limit 128Mi"},

		// Probes and metrics.
		{"metrics off", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Args = removeArg(c.Args, "metrics-addr")
		}), "--metrics-addr is not set"},
		{"liveness on /metrics", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.LivenessProbe.HTTPGet.Path = "/metrics"
		}), "liveness probe: path /metrics, want /healthz"},
		{"readiness on another port", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.ReadinessProbe.HTTPGet.Port = intstr.FromInt32(9100)
		}), "readiness probe: port 9100 is 9100, want the --metrics-addr port 9842"},
		{"metrics moved, probes not", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			setArg(c, "metrics-addr", "0.0.0.0:9843")
		}), "want the --metrics-addr port 9843"},
		{"no readiness in the DaemonSet", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.ReadinessProbe = nil
		}), "readiness probe: want an httpGet on /readyz"},
		{"loopback metrics probed on the pod IP", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			agent.LivenessProbe.HTTPGet.Host = ""
		}), "but the agent listens on 127.0.0.1 only"},
		{"metrics port taken by the kubelet", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			agent.Ports[0].ContainerPort = 10250
		}), "audittail port 10250 is already used"},

		// Environment and shutdown.
		{"$(NODE_NAME) undefined", daemonSetFile, dsAgent(func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Env = c.Env[1:]
		}), "refers to $(NODE_NAME), which is not in env"},
		{"grace period too short", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.TerminationGracePeriodSeconds = ptr.To[int64](5)
		}), "terminationGracePeriodSeconds 5"},

		// DaemonSet placement and identity.
		{"no control-plane selector", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.NodeSelector = nil
		}), "not restricted to control-plane nodes"},
		{"control-plane taint not tolerated", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.Tolerations = spec.Tolerations[1:]
		}), "no toleration for the node-role.kubernetes.io/control-plane:NoSchedule taint"},
		{"toleration for another effect", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.Tolerations[0].Effect = corev1.TaintEffectNoExecute
		}), "no toleration for the node-role.kubernetes.io/control-plane:NoSchedule taint"},
		{"no priority class", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.PriorityClassName = ""
		}), `priorityClassName "", want system-node-critical`},
		{"API token mounted", daemonSetFile, dsAgent(func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.AutomountServiceAccountToken = nil
		}), "automountServiceAccountToken must be false"},
		{"namespace too strict for hostPath", daemonSetFile, ds(func(_ *appsv1.DaemonSet, objs []runtime.Object) {
			for _, o := range objs {
				if ns, ok := o.(*corev1.Namespace); ok {
					ns.Labels["pod-security.kubernetes.io/enforce"] = "baseline"
				}
			}
		}), `enforces Pod Security "baseline"`},
		{"selector misses the pods", daemonSetFile, ds(func(d *appsv1.DaemonSet, _ []runtime.Object) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}), "does not match the pod template's labels"},

		// The static pod.
		{"not on the host network", staticPodFile, pod(func(spec *corev1.PodSpec, _, _ *corev1.Container) {
			spec.HostNetwork = false
		}), "hostNetwork must be true"},
		{"kube-apiserver container touched", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			api.SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		}), "kubeadm sets no securityContext"},
		{"kube-apiserver flag dropped", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			api.Command = removeArg(api.Command, "etcd-servers")
		}), "kubeadm's --etcd-servers is missing"},
		{"kube-apiserver probe changed", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			api.ReadinessProbe.HTTPGet.Path = "/healthz"
		}), "readiness probe differs from kubeadm's"},
		{"sidecar reads another file", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			for i, a := range api.Command {
				if strings.HasPrefix(a, "--audit-log-path=") {
					api.Command[i] = "--audit-log-path=/var/log/kubernetes/audit/kube-apiserver-audit.log"
				}
			}
		}), "is not the file kube-apiserver writes"},
		{"sidecar on its own copy of the directory", staticPodFile, pod(func(spec *corev1.PodSpec, _, agent *corev1.Container) {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "audit-log-2", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: "/var/log/kubernetes/audit", Type: ptr.To(corev1.HostPathDirectory)}}})
			mount(agent, logDir).Name = "audit-log-2"
		}), `(volume "audit-log-2") is not the file kube-apiserver writes`},
		{"audit logging off", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			api.Command = removeArg(api.Command, "audit-policy-file")
		}), "--audit-policy-file is missing"},
		{"batch mode", staticPodFile, pod(func(_ *corev1.PodSpec, api, _ *corev1.Container) {
			api.Command = append(api.Command, "--audit-log-mode=batch")
		}), "--audit-log-mode=batch drops events"},
		{"Secret in a static pod", staticPodFile, pod(func(spec *corev1.PodSpec, _, _ *corev1.Container) {
			volume(spec, "audittail-config").VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "audittail-stream", DefaultMode: ptr.To[int32](0o400)}}
		}), "a static pod cannot use Secrets"},
		{"static pod token mount writable", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			mount(agent, "/etc/audittail").ReadOnly = false
		}), "the token mount /etc/audittail must be read-only"},
		{"sidecar drop ALL missing", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			agent.SecurityContext.Capabilities = nil
		}), "must drop ALL"},
		{"sidecar audit mount writable", staticPodFile, pod(func(_ *corev1.PodSpec, _, agent *corev1.Container) {
			mount(agent, logDir).ReadOnly = false
		}), "audit log mount /var/log/kubernetes/audit must be read-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.edit(readManifest(t, tc.file))
			var found findings
			if tc.file == staticPodFile {
				found = checkStaticPod(objs)
			} else {
				found = checkDaemonSetFile(objs)
			}
			for _, p := range found {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("mistake not reported; want a finding containing %q, got %q", tc.want, found)
		})
	}
}

// TestSecretValueNeverCopied: a Secret shipped in the same file must not see
// its value written into the pod spec as well.
func TestSecretValueNeverCopied(t *testing.T) {
	objs := readManifest(t, daemonSetFile)
	secret := &corev1.Secret{StringData: map[string]string{"token": "s3cr3t-t0ken"}}
	secret.Name, secret.Namespace = "audittail-stream", "audittail"
	for _, o := range objs {
		if d, ok := o.(*appsv1.DaemonSet); ok {
			c := container(d.Spec.Template.Spec.Containers, agentContainer)
			c.Env = append(c.Env, corev1.EnvVar{Name: "X", Value: "s3cr3t-t0ken"})
		}
	}
	found := checkDaemonSetFile(append(objs, secret))
	for _, p := range found {
		if strings.Contains(p, "the value of Secret audittail-stream key token appears literally") {
			return
		}
	}
	t.Errorf("a Secret's value in the pod spec was not reported: %q", found)
}

// TestStrictDecoding: what the API server's strict field validation refuses,
// the test refuses too.
func TestStrictDecoding(t *testing.T) {
	data, err := os.ReadFile(daemonSetFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"unknown field", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n          readOnlyFilesystem: true", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyFilesystem"`},
		{"field in the wrong case", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"field at the wrong level", "      priorityClassName: system-node-critical", "      priorityClassName: system-node-critical\n      runAsNonRoot: false", `unknown field "spec.template.spec.runAsNonRoot"`},
		{"duplicate key", "      priorityClassName: system-node-critical", "      priorityClassName: system-node-critical\n      priorityClassName: system-cluster-critical", `key "priorityClassName" already set in map`},
		{"unknown kind", "kind: ServiceAccount", "kind: ServiceAcount", `no kind "ServiceAcount" is registered`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(data), tc.old) {
				t.Fatalf("%s no longer contains %q: update the test", daemonSetFile, tc.old)
			}
			_, err := decodeManifest([]byte(strings.Replace(string(data), tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("decode error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// removeArg drops --name=value (or --name value) from argv.
func removeArg(argv []string, name string) []string {
	var out []string
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--"+name {
			i++
			continue
		}
		if strings.HasPrefix(a, "--"+name+"=") {
			continue
		}
		out = append(out, a)
	}
	return out
}
