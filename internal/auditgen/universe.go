package auditgen

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
)

// The universe is the fixed cast of a simulated production cluster (48 nodes,
// control plane, controllers, operators, people, namespaces, pods, config
// maps, secrets), built once from a fixed seed and shared read-only by every
// Generator. Every string in it is already escaped for JSON; user objects and
// sourceIPs arrays are pre-rendered.

const (
	k8sVersion = "v1.31.4"
	k8sCommit  = "a78aa47"
)

// An actor is an authenticated identity and how it shows up in events.
type actor struct {
	username string   // escaped
	user     string   // the "user" object, JSON
	uas      []string // escaped user agents (first is the usual one)
	ips      []string // sourceIPs array contents, e.g. `"10.0.0.1"`
	reason   string   // escaped authorization.k8s.io/reason when allowed
	// nsReason overrides reason for namespaced requests (RoleBinding grants).
	nsReason map[string]string
	ns       []string // namespaces the actor works in (people)
}

func (a *actor) reasonIn(ns string) string {
	if r, ok := a.nsReason[ns]; ok {
		return r
	}
	return a.reason
}

type node struct {
	name    string
	ip      string // sourceIPs array contents
	hostIP  string // plain IP
	uid     string
	kubelet *actor
	cilium  *actor
}

type pod struct {
	ns, name, app, rs, hash string
	node                    *node
	uid, rsUID, ip, image   string
}

type obj struct{ ns, name string }

type lease struct {
	ns, name string
	holder   *actor
}

// impersonation is an impersonatedUser object and the RBAC reason that allows
// the impersonated identity.
type impersonation struct {
	user, reason, username string
}

type pools struct {
	nodes      []*node
	controlIPs []string
	ctrls      []*actor // kube-controller-manager controllers (service-account credentials)
	ctrlRes    [][]ctrlOp
	kcm        *actor
	sched      *actor
	apiserver  *actor
	coredns    []*actor
	certMgr    *actor
	ingress    *actor
	argocd     *actor
	prom       *actor
	ksm        *actor
	metrics    *actor
	ciOps      []*actor
	humans     []*actor
	admin      *actor // system:admin (client certificate, system:masters)
	anon       *actor // system:anonymous
	unauth     *actor // failed authentication: empty user
	imps       []impersonation

	namespaces []string
	appNS      []string
	pods       []*pod
	deploys    []obj
	cms        []obj
	secrets    []obj
	leases     []lease
	hex64      []string
	images     []string
	scanUAs    []string
	scanIPs    []string
	humanIPs   []string
}

// ctrlOp is one kind of request a controller makes.
type ctrlOp struct {
	verb, group, version, resource, sub string
	namespaced, named                   bool
	pool                                string // "pods", "deploys", "cms", "secrets", "nodes", "" (generated name)
}

var (
	poolsOnce sync.Once
	thePools  *pools
)

func getPools() *pools {
	poolsOnce.Do(func() { thePools = buildPools() })
	return thePools
}

type initRand struct{ *rand.Rand }

func (r initRand) hex(n int) string {
	b := make([]byte, 0, n)
	for len(b) < n {
		b = appendHex(b, r.Uint64(), min(16, n-len(b)))
	}
	return string(b)
}

func (r initRand) uuid() string { return string(appendUUID(nil, r.Uint64(), r.Uint64())) }

// suffix returns n characters of the alphabet Kubernetes uses for generated names.
func (r initRand) suffix(n int) string {
	const alnum = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

func userJSON(name, uid string, groups []string, extra [][2]string) string {
	var b strings.Builder
	b.WriteString(`{"username":`)
	b.WriteString(q(name))
	if uid != "" {
		b.WriteString(`,"uid":`)
		b.WriteString(q(uid))
	}
	if len(groups) > 0 {
		b.WriteString(`,"groups":[`)
		for i, g := range groups {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(q(g))
		}
		b.WriteByte(']')
	}
	if len(extra) > 0 {
		sort.Slice(extra, func(i, j int) bool { return extra[i][0] < extra[j][0] })
		b.WriteString(`,"extra":{`)
		for i, kv := range extra {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(q(kv[0]))
			b.WriteString(`:[`)
			b.WriteString(q(kv[1]))
			b.WriteByte(']')
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.String()
}

func ipList(ips ...string) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = q(ip)
	}
	return strings.Join(s, ",")
}

func crbReason(binding, role, subjKind, subj string) string {
	return esc(fmt.Sprintf("RBAC: allowed by ClusterRoleBinding %q of ClusterRole %q to %s %q", binding, role, subjKind, subj))
}

func rbReason(binding, ns, roleKind, role, subjKind, subj string) string {
	return esc(fmt.Sprintf("RBAC: allowed by RoleBinding %q of %s %q to %s %q", binding+"/"+ns, roleKind, role, subjKind, subj))
}

func saGroups(ns string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
}

// podSA is a service account used by a pod, with a bound token carrying the
// pod and node claims (user.extra), as kube-apiserver 1.30+ records them.
func (r initRand) podSA(ns, sa, podName string, n *node, ua, reason string, podIP string) *actor {
	extra := [][2]string{
		{"authentication.kubernetes.io/credential-id", "JTI=" + r.uuid()},
		{"authentication.kubernetes.io/node-name", n.name},
		{"authentication.kubernetes.io/node-uid", n.uid},
		{"authentication.kubernetes.io/pod-name", podName},
		{"authentication.kubernetes.io/pod-uid", r.uuid()},
	}
	name := "system:serviceaccount:" + ns + ":" + sa
	return &actor{
		username: esc(name),
		user:     userJSON(name, r.uuid(), saGroups(ns), extra),
		uas:      []string{esc(ua)},
		ips:      []string{ipList(podIP)},
		reason:   reason,
	}
}

func buildPools() *pools {
	r := initRand{rand.New(rand.NewPCG(0x6b387375, 0x61756469))}
	p := &pools{}
	kv := k8sVersion + " (linux/amd64) kubernetes/" + k8sCommit

	for i := 0; i < 40; i++ {
		p.hex64 = append(p.hex64, r.hex(64))
	}

	// Nodes: 40 AWS-style names (IPv4), 8 IPv6-only nodes of a second pool.
	for i := 0; i < 48; i++ {
		n := &node{uid: r.uuid()}
		if i < 40 {
			a, b := 16+r.IntN(80), 2+r.IntN(250)
			n.name = fmt.Sprintf("ip-10-0-%d-%d.eu-west-3.compute.internal", a, b)
			n.hostIP = fmt.Sprintf("10.0.%d.%d", a, b)
		} else {
			n.name = "gpu-pool-" + r.suffix(5) + "-" + r.suffix(4)
			n.hostIP = fmt.Sprintf("2a05:d012:8b3:4c%02x::%x", 1+r.IntN(3), 0x1000+r.IntN(0xe000))
		}
		n.ip = ipList(n.hostIP)
		n.kubelet = &actor{
			username: esc("system:node:" + n.name),
			user: userJSON("system:node:"+n.name, "", []string{"system:nodes", "system:authenticated"},
				[][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=" + r.hex(64)}}),
			uas:    []string{esc("kubelet/" + kv)},
			ips:    []string{n.ip},
			reason: "", // the Node authorizer gives no reason
		}
		p.nodes = append(p.nodes, n)
	}
	p.controlIPs = []string{ipList("10.0.0.11"), ipList("10.0.0.12"), ipList("10.0.0.13")}

	podIP := func(n *node) string {
		if strings.Contains(n.hostIP, ":") {
			return fmt.Sprintf("fd00:10:244:%x::%x", 0x30+r.IntN(8), 1+r.IntN(0xfff))
		}
		return fmt.Sprintf("10.244.%d.%d", r.IntN(48), 2+r.IntN(250))
	}
	for _, n := range p.nodes {
		pn := "cilium-" + r.suffix(5)
		n.cilium = r.podSA("kube-system", "cilium", pn, n, "cilium-agent/v1.16.4 (linux/amd64) kubernetes/$Format",
			crbReason("cilium", "cilium", "ServiceAccount", "cilium/kube-system"), n.hostIP)
	}

	// Control plane.
	x509 := func(name string, groups []string) string {
		return userJSON(name, "", groups, [][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=" + r.hex(64)}})
	}
	p.kcm = &actor{
		username: "system:kube-controller-manager",
		user:     x509("system:kube-controller-manager", []string{"system:authenticated"}),
		uas:      []string{esc("kube-controller-manager/" + kv + "/leader-election"), esc("kube-controller-manager/" + kv + "/shared-informers")},
		ips:      p.controlIPs[1:2],
		reason:   crbReason("system:kube-controller-manager", "system:kube-controller-manager", "User", "system:kube-controller-manager"),
	}
	p.sched = &actor{
		username: "system:kube-scheduler",
		user:     x509("system:kube-scheduler", []string{"system:authenticated"}),
		uas:      []string{esc("kube-scheduler/" + kv + "/scheduler"), esc("kube-scheduler/" + kv + "/leader-election")},
		ips:      p.controlIPs[0:1],
		reason:   crbReason("system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
	}
	p.apiserver = &actor{
		username: "system:apiserver",
		user:     userJSON("system:apiserver", r.uuid(), []string{"system:authenticated", "system:masters"}, nil),
		uas:      []string{esc("kube-apiserver/" + kv)},
		ips:      []string{ipList("::1"), ipList("127.0.0.1")},
		reason:   "",
	}
	ctrlNames := []string{"endpointslice-controller", "replicaset-controller", "deployment-controller",
		"generic-garbage-collector", "daemon-set-controller", "job-controller", "cronjob-controller",
		"horizontal-pod-autoscaler", "node-controller", "resourcequota-controller", "namespace-controller",
		"statefulset-controller", "endpoint-controller", "pvc-protection-controller", "disruption-controller",
		"ttl-after-finished-controller", "root-ca-cert-publisher", "service-account-controller",
		"endpointslicemirroring-controller", "attachdetach-controller"}
	ops := map[string][]ctrlOp{
		"endpointslice-controller": {{"update", "discovery.k8s.io", "v1", "endpointslices", "", true, true, ""},
			{"list", "", "v1", "services", "", false, false, ""}, {"get", "", "v1", "pods", "", true, true, "pods"}},
		"replicaset-controller": {{"update", "apps", "v1", "replicasets", "status", true, true, "deploys"},
			{"list", "", "v1", "pods", "", true, false, ""}, {"get", "apps", "v1", "replicasets", "", true, true, "deploys"}},
		"deployment-controller": {{"update", "apps", "v1", "deployments", "status", true, true, "deploys"},
			{"list", "apps", "v1", "replicasets", "", true, false, ""}, {"get", "apps", "v1", "deployments", "", true, true, "deploys"}},
		"generic-garbage-collector": {{"list", "apps", "v1", "replicasets", "", false, false, ""},
			{"list", "", "v1", "configmaps", "", false, false, ""}, {"list", "batch", "v1", "jobs", "", false, false, ""},
			{"list", "rbac.authorization.k8s.io", "v1", "rolebindings", "", false, false, ""},
			{"get", "apps", "v1", "replicasets", "", true, true, "deploys"}},
		"daemon-set-controller": {{"update", "apps", "v1", "daemonsets", "status", true, true, ""},
			{"get", "apps", "v1", "controllerrevisions", "", true, true, ""}},
		"job-controller":                    {{"update", "batch", "v1", "jobs", "status", true, true, ""}, {"get", "batch", "v1", "jobs", "", true, true, ""}},
		"cronjob-controller":                {{"update", "batch", "v1", "cronjobs", "status", true, true, ""}, {"create", "batch", "v1", "jobs", "", true, true, ""}},
		"horizontal-pod-autoscaler":         {{"get", "apps", "v1", "deployments", "scale", true, true, "deploys"}, {"update", "autoscaling", "v2", "horizontalpodautoscalers", "status", true, true, "deploys"}},
		"node-controller":                   {{"get", "", "v1", "nodes", "", false, true, "nodes"}, {"list", "", "v1", "pods", "", false, false, ""}},
		"resourcequota-controller":          {{"list", "", "v1", "resourcequotas", "", false, false, ""}, {"update", "", "v1", "resourcequotas", "status", true, true, ""}},
		"namespace-controller":              {{"list", "", "v1", "namespaces", "", false, false, ""}, {"deletecollection", "", "v1", "configmaps", "", true, false, ""}},
		"statefulset-controller":            {{"update", "apps", "v1", "statefulsets", "status", true, true, ""}, {"get", "", "v1", "persistentvolumeclaims", "", true, true, ""}},
		"endpoint-controller":               {{"update", "", "v1", "endpoints", "", true, true, "deploys"}},
		"pvc-protection-controller":         {{"get", "", "v1", "persistentvolumeclaims", "", true, true, ""}},
		"disruption-controller":             {{"update", "policy", "v1", "poddisruptionbudgets", "status", true, true, "deploys"}},
		"ttl-after-finished-controller":     {{"get", "batch", "v1", "jobs", "", true, true, ""}},
		"root-ca-cert-publisher":            {{"update", "", "v1", "configmaps", "", true, true, "cms"}},
		"service-account-controller":        {{"get", "", "v1", "serviceaccounts", "", true, true, ""}},
		"endpointslicemirroring-controller": {{"list", "discovery.k8s.io", "v1", "endpointslices", "", false, false, ""}},
		"attachdetach-controller":           {{"get", "storage.k8s.io", "v1", "volumeattachments", "", false, true, ""}},
	}
	for _, c := range ctrlNames {
		name := "system:serviceaccount:kube-system:" + c
		a := &actor{
			username: esc(name),
			user: userJSON(name, r.uuid(), saGroups("kube-system"),
				[][2]string{{"authentication.kubernetes.io/credential-id", "JTI=" + r.uuid()}}),
			uas:    []string{esc("kube-controller-manager/" + kv + "/" + c)},
			ips:    p.controlIPs[1:2],
			reason: crbReason("system:controller:"+c, "system:controller:"+c, "ServiceAccount", c+"/kube-system"),
		}
		p.ctrls = append(p.ctrls, a)
		p.ctrlRes = append(p.ctrlRes, ops[c])
	}

	// Workloads.
	apps := map[string][]string{
		"payments":      {"payments-api", "payments-worker", "ledger"},
		"checkout":      {"checkout-web", "cart", "promo-engine"},
		"search":        {"search-api", "search-indexer"},
		"data-pipeline": {"airflow-scheduler", "airflow-worker", "spark-operator"},
		"monitoring":    {"grafana", "kube-state-metrics", "prometheus-operator", "alertmanager-main"},
		"ingress-nginx": {"ingress-nginx-controller"},
		"cert-manager":  {"cert-manager", "cert-manager-webhook", "cert-manager-cainjector"},
		"argocd":        {"argocd-server", "argocd-repo-server", "argocd-applicationset-controller"},
		"kube-system":   {"coredns", "metrics-server", "cilium-operator", "ebs-csi-controller"},
	}
	p.namespaces = []string{"argocd", "cert-manager", "checkout", "data-pipeline", "default", "ingress-nginx",
		"kube-node-lease", "kube-public", "kube-system", "monitoring", "payments", "search"}
	p.appNS = []string{"payments", "checkout", "search", "data-pipeline", "monitoring", "ingress-nginx", "argocd"}
	registry := "123456789012.dkr.ecr.eu-west-3.amazonaws.com/"
	podsByApp := map[string][]*pod{}
	for _, ns := range sortedKeys(apps) {
		for _, app := range apps[ns] {
			p.deploys = append(p.deploys, obj{ns, app})
			hash := r.suffix(9 + r.IntN(2))
			rsUID := r.uuid()
			image := registry + ns + "/" + app + fmt.Sprintf(":v%d.%d.%d", 1+r.IntN(3), r.IntN(20), r.IntN(10))
			for k := 0; k < 2+r.IntN(4); k++ {
				n := p.nodes[r.IntN(len(p.nodes))]
				pd := &pod{ns: ns, app: app, rs: app + "-" + hash, hash: hash, node: n,
					name: app + "-" + hash + "-" + r.suffix(5), uid: r.uuid(), rsUID: rsUID, ip: podIP(n), image: image}
				p.pods = append(p.pods, pd)
				podsByApp[app] = append(podsByApp[app], pd)
			}
			p.cms = append(p.cms, obj{ns, app + "-config"})
			p.secrets = append(p.secrets, obj{ns, app + "-tls"}, obj{ns, fmt.Sprintf("sh.helm.release.v1.%s.v%d", app, 1+r.IntN(40))})
			if ns != "kube-system" && ns != "monitoring" {
				p.secrets = append(p.secrets, obj{ns, app + "-db-credentials"})
			}
		}
		p.cms = append(p.cms, obj{ns, "kube-root-ca.crt"})
	}
	p.cms = append(p.cms, obj{"kube-system", "coredns"}, obj{"kube-system", "kube-proxy"}, obj{"kube-system", "cilium-config"},
		obj{"kube-system", "extension-apiserver-authentication"}, obj{"kube-system", "kubeadm-config"}, obj{"kube-public", "cluster-info"},
		obj{"monitoring", "grafana-dashboard-k8s-resources-cluster"}, obj{"monitoring", "grafana-dashboard-node-exporter"},
		obj{"monitoring", "prometheus-k8s-rulefiles-0"}, obj{"argocd", "argocd-cm"}, obj{"argocd", "argocd-rbac-cm"},
		obj{"ingress-nginx", "ingress-nginx-controller"})
	p.secrets = append(p.secrets, obj{"argocd", "argocd-secret"}, obj{"kube-system", "cilium-ca"},
		obj{"cert-manager", "cert-manager-webhook-ca"}, obj{"kube-system", "bootstrap-token-" + r.suffix(6)})

	podOf := func(app string) (*pod, *node) {
		pd := podsByApp[app][0]
		return pd, pd.node
	}
	for _, app := range []string{"coredns"} {
		for _, pd := range podsByApp[app] {
			p.coredns = append(p.coredns, r.podSA("kube-system", "coredns", pd.name, pd.node,
				"coredns/v0.0.0 (linux/amd64) kubernetes/$Format",
				crbReason("system:coredns", "system:coredns", "ServiceAccount", "coredns/kube-system"), pd.ip))
		}
	}
	pd, n := podOf("cert-manager")
	p.certMgr = r.podSA("cert-manager", "cert-manager", pd.name, n,
		"cert-manager-controller/v1.16.2 (linux/amd64) cert-manager/2a0ef53b06e183356d922cd58af2510d8885bef5",
		crbReason("cert-manager-controller-certificates", "cert-manager-controller-certificates", "ServiceAccount", "cert-manager/cert-manager"), pd.ip)
	pd, n = podOf("ingress-nginx-controller")
	p.ingress = r.podSA("ingress-nginx", "ingress-nginx", pd.name, n,
		"nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a",
		rbReason("ingress-nginx", "ingress-nginx", "Role", "ingress-nginx", "ServiceAccount", "ingress-nginx/ingress-nginx"), pd.ip)
	pd, n = podOf("argocd-server")
	p.argocd = r.podSA("argocd", "argocd-application-controller", "argocd-application-controller-0", n,
		"argocd-application-controller/v2.13.1+af54ef8 (linux/amd64)",
		crbReason("argocd-application-controller", "argocd-application-controller", "ServiceAccount", "argocd-application-controller/argocd"), pd.ip)
	_, n = podOf("prometheus-operator")
	p.prom = r.podSA("monitoring", "prometheus-k8s", "prometheus-k8s-0", n, "Prometheus/2.55.1",
		crbReason("prometheus-k8s", "prometheus-k8s", "ServiceAccount", "prometheus-k8s/monitoring"), podIP(n))
	pd, n = podOf("kube-state-metrics")
	p.ksm = r.podSA("monitoring", "kube-state-metrics", pd.name, n,
		"kube-state-metrics/v2.14.0 (linux/amd64) kubernetes/$Format",
		crbReason("kube-state-metrics", "kube-state-metrics", "ServiceAccount", "kube-state-metrics/monitoring"), pd.ip)
	pd, n = podOf("metrics-server")
	p.metrics = r.podSA("kube-system", "metrics-server", pd.name, n,
		"metrics-server/v0.7.2 (linux/amd64) kubernetes/$Format",
		crbReason("metrics-server:system:auth-delegator", "system:auth-delegator", "ServiceAccount", "metrics-server/kube-system"), pd.ip)

	// CI and deployment bots.
	pd, n = podOf("argocd-repo-server")
	gl := r.podSA("ci", "gitlab-runner", "runner-x7k2p-project-4821-concurrent-0-"+r.suffix(8), n,
		"Helm/3.16.3", crbReason("ci-deployer", "cluster-admin", "ServiceAccount", "gitlab-runner/ci"), pd.ip)
	bot := r.podSA("ci", "deploy-bot", "deploy-bot-"+r.suffix(9)+"-"+r.suffix(5), n,
		"deploy-bot 🚀/2.3.1 (linux/amd64) kubernetes/$Format", crbReason("deploy-bot", "edit", "ServiceAccount", "deploy-bot/ci"), pd.ip)
	p.ciOps = []*actor{gl, bot, p.argocd}

	// People. Requests come through the load balancer (X-Forwarded-For, then LB).
	p.humanIPs = []string{
		ipList("203.0.113.45", "10.0.0.5"), ipList("198.51.100.17", "10.0.0.6"),
		ipList("2001:db8:3c4d:15::1a2f", "10.0.0.5"), ipList("2001:db8:85a3::8a2e:370:7334", "10.0.0.6"),
		ipList("100.64.12.7"), ipList("192.0.2.201", "10.0.0.5"),
	}
	kubectl := []string{
		esc("kubectl/v1.31.2 (darwin/arm64) kubernetes/5864a46"), esc("kubectl/v1.30.5 (linux/amd64) kubernetes/74e84a9"),
		esc("k9s/v0.32.5 (darwin/arm64) kubernetes/$Format"), esc("Lens/2024.11.131815-latest"),
	}
	oidc := func(name string, groups []string, ua []string) *actor {
		return &actor{
			username: esc("oidc:" + name),
			user: userJSON("oidc:"+name, "", append(groups, "system:authenticated"),
				[][2]string{{"authentication.kubernetes.io/credential-id", "JTI=" + r.uuid()}}),
			uas: ua,
			ips: p.humanIPs,
		}
	}
	alice := oidc("alice.martin@example.com", []string{"oidc:platform-admins"}, kubectl)
	alice.reason = crbReason("oidc-platform-admins", "cluster-admin", "Group", "oidc:platform-admins")
	alice.ns = p.namespaces
	jose := oidc("josé.núñez@example.com", []string{"oidc:équipe-données", "oidc:developers"},
		[]string{esc("kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46"), esc("déployeur/v0.0.0 (linux/amd64) kubernetes/$Format")})
	jose.ns = []string{"data-pipeline", "search"}
	tanaka := oidc("田中太郎", []string{"oidc:日本-sre"},
		[]string{esc("kubectl/v1.29.8 (windows/amd64) kubernetes/0e6ed7b"), esc("OpenLens/6.5.2 (日本語) kubernetes/$Format")})
	tanaka.ns = []string{"checkout", "payments", "monitoring"}
	bob := oidc("bob@example.com", []string{"oidc:developers"}, kubectl)
	bob.ns = []string{"checkout", "payments"}
	eks := &actor{
		username: esc("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_4b5c6d7e8f9a0b1c/carol"),
		user: userJSON("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_4b5c6d7e8f9a0b1c/carol",
			"aws-iam-authenticator:123456789012:AROA4EXAMPLE7QZ2KXJ3V", []string{"oidc:platform-admins", "system:authenticated"},
			[][2]string{{"accessKeyId", "ASIA4EXAMPLEQ3VZ7KD2"},
				{"arn", "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_4b5c6d7e8f9a0b1c/carol"},
				{"canonicalArn", "arn:aws:iam::123456789012:role/AWSReservedSSO_AdministratorAccess_4b5c6d7e8f9a0b1c"},
				{"principalId", "AROA4EXAMPLE7QZ2KXJ3V"}, {"sessionName", "carol"},
				{"sigs.k8s.io/aws-iam-authenticator/principalId", "AROA4EXAMPLE7QZ2KXJ3V"}}),
		uas:    kubectl,
		ips:    p.humanIPs,
		reason: crbReason("oidc-platform-admins", "cluster-admin", "Group", "oidc:platform-admins"),
		ns:     p.namespaces,
	}
	for _, h := range []*actor{jose, tanaka, bob} {
		h.nsReason = map[string]string{}
		for _, ns := range h.ns {
			switch h {
			case jose:
				h.nsReason[ns] = rbReason("data-team-edit", ns, "ClusterRole", "edit", "Group", "oidc:équipe-données")
			case tanaka:
				h.nsReason[ns] = rbReason("sre-admin", ns, "ClusterRole", "admin", "Group", "oidc:日本-sre")
			default:
				h.nsReason[ns] = rbReason("developers-edit", ns, "ClusterRole", "edit", "Group", "oidc:developers")
			}
		}
		h.reason = crbReason("developers-view", "view", "Group", "oidc:developers")
	}
	p.humans = []*actor{alice, jose, tanaka, bob, eks}
	p.admin = &actor{
		username: "system:admin",
		user: userJSON("system:admin", "", []string{"system:masters", "system:authenticated"},
			[][2]string{{"authentication.kubernetes.io/credential-id", "X509SHA256=" + r.hex(64)}}),
		uas: kubectl[:2],
		ips: []string{ipList("10.0.0.11"), ipList("::1")},
	}
	p.imps = []impersonation{
		{user: userJSON("system:serviceaccount:payments:deployer", "", saGroups("payments"), nil),
			username: esc("system:serviceaccount:payments:deployer"),
			reason:   rbReason("deployer", "payments", "Role", "deployer", "ServiceAccount", "deployer/payments")},
		{user: userJSON("bob", "", []string{"developers", "system:authenticated"}, nil),
			username: "bob",
			reason:   rbReason("developers-view", "checkout", "ClusterRole", "view", "Group", "developers")},
		{user: userJSON("ñoño@example.com", "", []string{"auditors", "system:authenticated"}, nil),
			username: esc("ñoño@example.com"),
			reason:   crbReason("auditors-view", "view", "Group", "auditors")},
	}
	p.anon = &actor{
		username: "system:anonymous",
		user:     userJSON("system:anonymous", "", []string{"system:unauthenticated"}, nil),
		uas:      []string{esc("kube-probe/1.31"), esc("ELB-HealthChecker/2.0"), esc("Go-http-client/1.1")},
		ips:      []string{ipList("10.0.0.5"), ipList("10.0.0.6"), ipList("10.0.0.11"), ipList("fd00:ec2::254")},
		reason:   crbReason("system:public-info-viewer", "system:public-info-viewer", "Group", "system:unauthenticated"),
	}
	p.unauth = &actor{user: "{}"}
	p.scanUAs = []string{esc("python-requests/2.32.3"), esc("curl/8.5.0"),
		esc("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
		esc("Mozilla/5.0 zgrab/0.x"), esc("kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3")}
	p.scanIPs = []string{ipList("198.51.100.23", "10.0.0.5"), ipList("2001:db8:4f2::17", "10.0.0.6"),
		ipList("203.0.113.250", "10.0.0.5"), ipList("192.0.2.77")}

	// Leases.
	for _, n := range p.nodes {
		p.leases = append(p.leases, lease{"kube-node-lease", n.name, n.kubelet})
	}
	p.leases = append(p.leases,
		lease{"kube-system", "kube-controller-manager", p.kcm}, lease{"kube-system", "kube-scheduler", p.sched},
		lease{"kube-system", "apiserver-" + r.suffix(26), p.apiserver},
		lease{"kube-system", "cert-manager-controller", p.certMgr}, lease{"kube-system", "cert-manager-cainjector-leader-election", p.certMgr},
		lease{"ingress-nginx", "ingress-nginx-leader", p.ingress})

	for i := 0; i < 24; i++ {
		app := []string{"payments/api", "checkout/web", "search/indexer", "platform/envoy", "platform/fluent-bit",
			"library/redis", "library/postgres", "cilium/cilium", "coredns/coredns", "airflow/airflow"}[i%10]
		p.images = append(p.images, registry+app)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
