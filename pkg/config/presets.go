package config

import (
	"fmt"
	"strings"
)

// Preset is what a distribution's defaults say about its audit log: where
// kube-apiserver (and, on OpenShift, the other API servers) write it, whether
// they do so without being told, and how they rotate it. Every fact comes from
// the distribution's own source or documentation, named in Source.
type Preset struct {
	Name       string   // "kubeadm", "k3s", "rke2", "openshift", "talos", "kind"
	Paths      []string // audit log paths, in order (OpenShift has several)
	PolicyPath string   // where the distribution's audit policy usually is ("" if none by default)
	ByDefault  bool     // false: the distribution writes no audit log unless told to
	Enable     string   // one paragraph: what to set to turn it on / how the paths above come to be (with the source)
	Rotation   string   // the rotation the distribution sets (maxsize/maxbackup/maxage/compress), with the source
	Source     string   // URLs / source files the facts come from
}

// kubeAPIServerDefaults is what kube-apiserver rotates with when a
// distribution sets none of the --audit-log-max* flags.
const kubeAPIServerDefaults = "kube-apiserver's own defaults: in Kubernetes 1.37 " +
	"(k8s.io/apiserver v0.37.2 pkg/server/options/audit.go, NewAuditOptions) --audit-log-maxsize=100 (MB), " +
	"--audit-log-maxbackup=100, --audit-log-maxage=366 (days), --audit-log-compress=false; older releases " +
	"have other defaults (kube-apiserver --help shows them)"

// presets is the table behind Presets and LookupPreset, in the order of the
// issue that asked for them. The sources were read at these commits:
// kubernetes/kubernetes ad7cb45bb24a (cmd/kubeadm/app/phases/controlplane/manifests.go),
// k3s-io/docs 035acb07eecd, rancher/rke2 6ce1a8019e9d, rancher/rke2-docs 9477b7b1df1f,
// openshift/cluster-kube-apiserver-operator c813e820bb94,
// openshift/cluster-openshift-apiserver-operator 8206430b0546,
// openshift/cluster-authentication-operator f3df4f5b2604, openshift/library-go 93ac9206ae34,
// openshift/cluster-logging-operator 04dc774010a2, siderolabs/talos ad8823176e75,
// siderolabs/docs 5debdd92a904, kubernetes-sigs/kind fed268827e21.
var presets = []Preset{
	{
		Name:       "kubeadm",
		Paths:      []string{"/var/log/kubernetes/audit/audit.log"},
		PolicyPath: "/etc/kubernetes/audit/policy.yaml",
		ByDefault:  false,
		Enable: "kubeadm puts no audit flag in the kube-apiserver static pod it writes " +
			"(getAPIServerCommand in kubernetes/kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go), and " +
			"kube-apiserver logs nothing without --audit-policy-file (k8s.io/apiserver pkg/server/options/audit.go). " +
			"Set, in ClusterConfiguration.apiServer so that kubeadm upgrade keeps them, extraArgs " +
			"audit-policy-file=/etc/kubernetes/audit/policy.yaml and audit-log-path=/var/log/kubernetes/audit/audit.log, " +
			"and extraVolumes mounting the policy file and the directory /var/log/kubernetes/audit (hostPath, " +
			"DirectoryOrCreate) into the pod, as the Kubernetes Auditing page shows for an API server run as a pod " +
			"(that page names the policy /etc/kubernetes/audit-policy.yaml; these are the paths of audittail's README).",
		Rotation: "kubeadm sets no rotation flag, so " + kubeAPIServerDefaults + ". audittail's README recommends " +
			"--audit-log-maxsize=100, --audit-log-maxbackup=10, --audit-log-maxage=7 and --audit-log-compress in extraArgs.",
		Source: "kubernetes/kubernetes cmd/kubeadm/app/phases/controlplane/manifests.go (getAPIServerCommand); " +
			"https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/ (Log backend); " +
			"k8s.io/apiserver v0.37.2 pkg/server/options/audit.go",
	},
	{
		Name:       "k3s",
		Paths:      []string{"/var/lib/rancher/k3s/server/logs/audit.log"},
		PolicyPath: "/var/lib/rancher/k3s/server/audit.yaml",
		ByDefault:  false,
		Enable: "K3s doesn't enable auditing by default and creates neither the log directory nor a policy " +
			"(K3s CIS Hardening Guide, API Server audit configuration). Create /var/lib/rancher/k3s/server/logs " +
			"(mode 0700) and a policy /var/lib/rancher/k3s/server/audit.yaml, set in /etc/rancher/k3s/config.yaml " +
			"kube-apiserver-arg: audit-log-path=/var/lib/rancher/k3s/server/logs/audit.log and " +
			"audit-policy-file=/var/lib/rancher/k3s/server/audit.yaml, then restart k3s. kube-apiserver runs inside " +
			"the k3s server process (one binary, no static pod), so these are host paths.",
		Rotation: "K3s sets no rotation flag, so " + kubeAPIServerDefaults + ". The K3s CIS Hardening Guide adds " +
			"audit-log-maxage=30, audit-log-maxbackup=10, audit-log-maxsize=100 (no compression).",
		Source: "https://docs.k3s.io/security/hardening-guide (k3s-io/docs docs/security/hardening-guide.md: " +
			"Configuration for Kubernetes Components; API Server audit configuration)",
	},
	{
		Name:       "rke2",
		Paths:      []string{"/var/lib/rancher/rke2/server/logs/audit.log"},
		PolicyPath: "/etc/rancher/rke2/audit-policy.yaml",
		ByDefault:  false,
		Enable: "RKE2 adds the audit flags only when it is started with profile (profile: cis) or audit-policy-file " +
			"in /etc/rancher/rke2/config.yaml (StaticPodConfig.APIServer in rancher/rke2 " +
			"pkg/executor/staticpod/staticpod.go). It then writes /etc/rancher/rke2/audit-policy.yaml if absent, " +
			"with the single rule level: None (WriteDefaultPolicyFile, pkg/podtemplate/utils.go), which logs " +
			"nothing: put a real policy there (for example level: Metadata) and restart rke2-server (RKE2 CIS " +
			"Hardening Guide, API Server audit configuration). The log is <data-dir>/server/logs/audit.log " +
			"(/var/lib/rancher/rke2 by default) unless kube-apiserver-arg sets audit-log-path; RKE2 mounts its " +
			"directory into the kube-apiserver static pod at the same path.",
		Rotation: "--audit-log-maxage=30, --audit-log-maxbackup=10, --audit-log-maxsize=100, no compression " +
			"(rancher/rke2 pkg/executor/staticpod/staticpod.go, StaticPodConfig.APIServer).",
		Source: "rancher/rke2 pkg/executor/staticpod/staticpod.go (StaticPodConfig.APIServer), " +
			"pkg/podtemplate/types.go (DefaultAuditPolicyFile), pkg/podtemplate/utils.go (WriteDefaultPolicyFile); " +
			"https://docs.rke2.io/security/hardening_guide (rancher/rke2-docs docs/security/hardening_guide.md)",
	},
	{
		Name: "openshift",
		Paths: []string{
			"/var/log/kube-apiserver/audit.log",
			"/var/log/openshift-apiserver/audit.log",
			"/var/log/oauth-apiserver/audit.log",
			"/var/log/oauth-server/audit.log",
		},
		PolicyPath: "/etc/kubernetes/static-pod-resources/configmaps/kube-apiserver-audit-policies/policy.yaml",
		ByDefault:  true,
		Enable: "On by default: four servers on each control-plane node write an audit log, kube-apiserver " +
			"(a static pod), openshift-apiserver, oauth-apiserver and the OAuth server (Deployments on the masters), " +
			"with policies the operators generate from spec.audit.profile of the APIServer resource cluster, " +
			"Default unless changed (metadata of every request, bodies only of OAuth token requests; openshift/library-go " +
			"pkg/operator/apiserver/audit). " +
			"The profile None turns all four off; set another one with oc edit apiserver cluster, not by editing " +
			"files on the node. The policy path above is kube-apiserver's flag value inside its pod (on the host: " +
			"/etc/kubernetes/static-pod-resources/kube-apiserver-pod-<revision>/configmaps/kube-apiserver-audit-policies/); " +
			"the other three read /var/run/configmaps/audit/ inside their pods.",
		Rotation: "kube-apiserver --audit-log-maxsize=200 --audit-log-maxbackup=10 " +
			"(openshift/cluster-kube-apiserver-operator bindata/assets/config/defaultconfig.yaml); " +
			"openshift-apiserver 100 and 10 (openshift/cluster-openshift-apiserver-operator " +
			"bindata/v3.11.0/config/defaultconfig.yaml); oauth-apiserver 100 and 10 " +
			"(openshift/cluster-authentication-operator bindata/oauth-apiserver/deploy.yaml); OAuth server 100 and 10 " +
			"(same repository, pkg/controllers/configobservation/oauth/observe_audit.go). None sets maxage or " +
			"compress: the k8s.io/apiserver default maxage applies and rotated files are not gzipped.",
		Source: "https://docs.redhat.com/en/documentation/openshift_container_platform/latest/html/security_and_compliance/audit-log-policy-config; " +
			"https://docs.redhat.com/en/documentation/openshift_container_platform/4.19/html/security_and_compliance/nodes-nodes-audit-log-basic-viewing_audit-log-view; " +
			"openshift/cluster-kube-apiserver-operator bindata/assets/config/defaultconfig.yaml, bindata/assets/kube-apiserver/pod.yaml; " +
			"openshift/cluster-openshift-apiserver-operator bindata/v3.11.0/config/defaultconfig.yaml, bindata/v3.11.0/openshift-apiserver/deploy.yaml; " +
			"openshift/cluster-authentication-operator bindata/oauth-apiserver/deploy.yaml, bindata/oauth-openshift/deployment.yaml, " +
			"pkg/controllers/configobservation/oauth/observe_audit.go; openshift/library-go pkg/operator/apiserver/audit",
	},
	{
		Name:       "talos",
		Paths:      []string{"/var/log/audit/kube/kube-apiserver.log"},
		PolicyPath: "/system/config/kubernetes/kube-apiserver/auditpolicy.yaml",
		ByDefault:  true,
		Enable: "On by default: Talos renders the kube-apiserver static pod with audit-log-path " +
			"/var/log/audit/kube/kube-apiserver.log and a policy of one rule, level: Metadata " +
			"(siderolabs/talos internal/app/machined/pkg/controllers/k8s/control_plane_final.go; " +
			"APIServerDefaultAuditPolicy in pkg/machinery/config/types/v1alpha1/v1alpha1_apiserverconfig.go). " +
			"The policy file is rendered from the machine config: change it with cluster.apiServer.auditPolicy " +
			"(Talos 1.13 and earlier) or a KubeAuditPolicyConfig document (1.14). kube-apiserver runs as uid 65534 " +
			"(nobody), which owns /var/log/audit/kube (mode 0700; internal/app/machined/pkg/controllers/block/" +
			"internal/volumes/volumeconfig/system_volumes.go), so a reader needs that uid or CAP_DAC_READ_SEARCH " +
			"(Talos Knowledge Base, Logging Kubernetes audit logs with loki).",
		Rotation: "--audit-log-maxage=30, --audit-log-maxbackup=10, --audit-log-maxsize=100, no compression " +
			"(siderolabs/talos internal/app/machined/pkg/controllers/k8s/control_plane_final.go).",
		Source: "siderolabs/talos internal/app/machined/pkg/controllers/k8s/control_plane_final.go, " +
			"internal/app/machined/pkg/controllers/k8s/internal/k8stemplates/apiserver.go, " +
			"pkg/machinery/constants/constants.go (KubernetesAuditLogDir), " +
			"pkg/machinery/config/types/v1alpha1/v1alpha1_apiserverconfig.go; " +
			"https://docs.siderolabs.com/talos/v1.13/learn-more/knowledge-base; " +
			"https://docs.siderolabs.com/talos/v1.13/security/talos-default-hardening-and-cis-compliance",
	},
	{
		Name:       "kind",
		Paths:      []string{"/var/log/kubernetes/kube-apiserver-audit.log"},
		PolicyPath: "/etc/kubernetes/policies/audit-policy.yaml",
		ByDefault:  false,
		Enable: "kind turns on no auditing; its Auditing guide adds, through kubeadmConfigPatches on the " +
			"control-plane node, apiServer.extraArgs audit-log-path=/var/log/kubernetes/kube-apiserver-audit.log " +
			"and audit-policy-file=/etc/kubernetes/policies/audit-policy.yaml, extraVolumes for " +
			"/etc/kubernetes/policies and /var/log/kubernetes, and an extraMounts of the local policy file. " +
			"The paths are inside the node container, whose /var is a container volume " +
			"(kubernetes-sigs/kind pkg/cluster/internal/providers/docker/provision.go), so the log is read from " +
			"a pod in the cluster (hostPath /var/log/kubernetes), or from the host after an extraMounts of a host " +
			"directory at /var/log/kubernetes.",
		Rotation: "kind sets no rotation flag, so " + kubeAPIServerDefaults + ".",
		Source: "https://kind.sigs.k8s.io/docs/user/auditing/ (kubernetes-sigs/kind site/content/docs/user/auditing.md); " +
			"kubernetes-sigs/kind pkg/cluster/internal/providers/docker/provision.go",
	},
}

// Presets returns every preset, in the order kubeadm, k3s, rke2, openshift,
// talos, kind. The result is a copy: changing it changes no later result.
func Presets() []Preset {
	out := make([]Preset, len(presets))
	for i, p := range presets {
		out[i] = p.clone()
	}
	return out
}

// LookupPreset returns the preset named name (as written in Preset.Name). An
// unknown name is an error that lists the known ones.
func LookupPreset(name string) (Preset, error) {
	for _, p := range presets {
		if p.Name == name {
			return p.clone(), nil
		}
	}
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.Name
	}
	return Preset{}, fmt.Errorf("preset %q: unknown; want one of %s", name, strings.Join(names, ", "))
}

func (p Preset) clone() Preset {
	p.Paths = append([]string(nil), p.Paths...)
	return p
}
