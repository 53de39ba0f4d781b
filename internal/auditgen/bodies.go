package auditgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Body kinds.
const (
	bNone uint8 = iota
	bConfigMap
	bPodList
	bPod
	bDeployment
	bReplicaSet
	bCRD
	bEndpointSlice
	bNodeStatus
	bPodStatus
	bBinding
	bEvent
	bSARReq
	bSARResp
	bRestartPatch
	bStatus // the Status of a failed request (from ev.status)
)

// fillers holds the item runs bodies are cut from (see filler). They are built
// once per capacity (a little more than MaxBodyBytes) and shared.
type fillers struct {
	containers *filler // pod template containers
	pods       *filler // PodList items
	cmData     *filler // ConfigMap data members
	crdProps   *filler // openAPIV3Schema properties
	images     *filler // node status images
	endpoints  *filler // EndpointSlice endpoints
}

var (
	fillersMu    sync.Mutex
	fillersCache = map[int]*fillers{}
)

func getFillers(maxBody int) *fillers {
	c := 5 << 18 // 1.25 MiB
	for c < maxBody+maxBody/5 {
		c += 1 << 20
	}
	fillersMu.Lock()
	defer fillersMu.Unlock()
	if f := fillersCache[c]; f != nil {
		return f
	}
	f := buildFillers(c)
	fillersCache[c] = f
	return f
}

const holeMark = "\x00"

func (f *filler) addMarked(item, hole string) {
	pre, post, ok := strings.Cut(item, holeMark)
	if !ok {
		panic("auditgen: item without hole")
	}
	f.add(pre, hole, post)
}

func buildFillers(capacity int) *fillers {
	p := getPools()
	r := initRand{rand.New(rand.NewPCG(0x66696c6c, uint64(capacity)))}
	defHole := func() string {
		n := 8 + r.IntN(40)
		o := r.IntN(len(padText) - n)
		return string(padText[o : o+n])
	}
	fs := &fillers{containers: &filler{}, pods: &filler{}, cmData: &filler{}, crdProps: &filler{}, images: &filler{}, endpoints: &filler{}}

	for fs.containers.size() < 256<<10 {
		d := p.deploys[r.IntN(len(p.deploys))]
		fs.containers.addMarked(r.container(p, "app", p.images[r.IntN(len(p.images))]+fmt.Sprintf(":v2.%d.%d", r.IntN(30), r.IntN(10)), d, true), defHole())
	}
	for i := 0; fs.pods.size() < capacity; i++ {
		fs.pods.addMarked(r.podItem(p, i), defHole())
	}
	for i := 0; fs.cmData.size() < capacity; i++ {
		fs.cmData.addMarked(r.cmEntry(i), "")
	}
	seen := map[string]bool{}
	for i := 0; fs.crdProps.size() < capacity; i++ {
		fs.crdProps.addMarked(r.crdProp(i, seen), "")
	}
	for fs.images.size() < 256<<10 {
		img := p.images[r.IntN(len(p.images))]
		fs.images.addMarked(fmt.Sprintf(`{"names":[%s,%s],"sizeBytes":%d}`,
			q(img+"@sha256:"+r.hex(64)), `"`+esc(img)+holeMark+":v"+fmt.Sprint(r.IntN(9))+"."+fmt.Sprint(r.IntN(30))+"."+fmt.Sprint(r.IntN(9))+`"`,
			5_000_000+r.IntN(900_000_000)), "")
	}
	for fs.endpoints.size() < 256<<10 {
		pd := p.pods[r.IntN(len(p.pods))]
		if strings.Contains(pd.ip, ":") {
			continue // addressType IPv4
		}
		fs.endpoints.addMarked(fmt.Sprintf(`{"addresses":[%s],"conditions":{"ready":%t,"serving":true,"terminating":false},"hostname":"%s%s","targetRef":{"kind":"Pod","namespace":%s,"name":%s,"uid":%s},"nodeName":%s,"zone":"eu-west-3%c"}`,
			q(pd.ip), r.IntN(10) > 0, esc(pd.name), holeMark, q(pd.ns), q(pd.name), q(pd.uid), q(pd.node.name), "abc"[r.IntN(3)]), "")
	}
	return fs
}

var envPool = []struct{ name, value string }{
	{"LOG_FORMAT", "json"}, {"TZ", "Europe/Paris"}, {"GOMEMLIMIT", "460MiB"},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.monitoring.svc.cluster.local:4317"},
	{"JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75 -XX:+UseG1GC -Dfile.encoding=UTF-8"},
	{"KAFKA_BROKERS", "kafka-0.kafka-headless.data-pipeline.svc.cluster.local:9092,kafka-1.kafka-headless.data-pipeline.svc.cluster.local:9092,kafka-2.kafka-headless.data-pipeline.svc.cluster.local:9092"},
	{"DATABASE_URL", "postgres://app@postgres.payments.svc.cluster.local:5432/app?sslmode=require&connect_timeout=5"},
	{"REDIS_URL", "redis://redis-master.checkout.svc.cluster.local:6379/0"},
	{"FEATURE_NEW_CHECKOUT", "true"}, {"SPRING_PROFILES_ACTIVE", "prod,eu-west-3"},
	{"GREETING", "Bienvenue ! ¡Hola! ようこそ 👋"}, {"HTTP_PROXY", "http://proxy.internal:3128"},
	{"NO_PROXY", "10.0.0.0/8,172.20.0.0/16,.svc,.cluster.local,169.254.169.254"},
}

// container returns a pod template container, with the hole mark in its
// --feature-flags argument when hole is set.
func (r initRand) container(p *pools, name, image string, d obj, hole bool) string {
	var b strings.Builder
	flags := "canary=false"
	if hole {
		flags = holeMark
	}
	fmt.Fprintf(&b, `{"name":%s,"image":%s,"args":["--config=/etc/%s/config.yaml","--listen=:8080","--feature-flags=%s"],"ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"metrics","containerPort":9090,"protocol":"TCP"}],"env":[`,
		q(name), q(image), esc(d.name), flags)
	fmt.Fprintf(&b, `{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":%s,"key":"password"}}}`, q(d.name+"-db-credentials"))
	for i, k := 0, 1+r.IntN(6); i < k; i++ {
		e := envPool[r.IntN(len(envPool))]
		fmt.Fprintf(&b, `,{"name":%s,"value":%s}`, q(e.name), q(e.value))
	}
	fmt.Fprintf(&b, `],"resources":{"limits":{"cpu":"%dm","memory":"%dMi"},"requests":{"cpu":"%dm","memory":"%dMi"}},"volumeMounts":[{"name":"config","readOnly":true,"mountPath":"/etc/%s"},{"name":"kube-api-access-%s","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],"livenessProbe":{"httpGet":{"path":"/healthz","port":"http","scheme":"HTTP"},"initialDelaySeconds":10,"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},"readinessProbe":{"httpGet":{"path":"/ready","port":"http","scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":5,"successThreshold":1,"failureThreshold":3},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"capabilities":{"drop":["ALL"]},"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false}}`,
		250*(1+r.IntN(8)), 128*(1+r.IntN(16)), 50*(1+r.IntN(4)), 64*(1+r.IntN(8)), esc(d.name), r.suffix(5))
	return b.String()
}

// podItem returns one item of a PodList (a Pod as stored), hole mark in the
// last container's flags.
func (r initRand) podItem(p *pools, i int) string {
	d := p.deploys[r.IntN(len(p.deploys))]
	n := p.nodes[r.IntN(len(p.nodes))]
	hash := r.suffix(9 + r.IntN(2))
	name := d.name + "-" + hash + "-" + r.suffix(5)
	img := p.images[r.IntN(len(p.images))] + ":v" + fmt.Sprint(1+r.IntN(3)) + "." + fmt.Sprint(r.IntN(20)) + ".0"
	created := time.Date(2026, 11, 1+r.IntN(19), r.IntN(24), r.IntN(60), r.IntN(60), 0, time.UTC).Format(time.RFC3339)
	ip := fmt.Sprintf("10.244.%d.%d", r.IntN(48), 2+r.IntN(250))
	var b strings.Builder
	fmt.Fprintf(&b, `{"metadata":{"name":%s,"generateName":%s,"namespace":%s,"uid":%s,"resourceVersion":"%d","creationTimestamp":%s,"labels":{"app.kubernetes.io/name":%s,"app.kubernetes.io/part-of":%s,"pod-template-hash":%s},"annotations":{"kubectl.kubernetes.io/restartedAt":%s,"prometheus.io/scrape":"true","prometheus.io/port":"9090"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":%s,"uid":%s,"controller":true,"blockOwnerDeletion":true}]},`,
		q(name), q(d.name+"-"+hash+"-"), q(d.ns), q(r.uuid()), 40000000+r.IntN(8000000), q(created), q(d.name), q(d.ns), q(hash), q(created), q(d.name+"-"+hash), q(r.uuid()))
	fmt.Fprintf(&b, `"spec":{"volumes":[{"name":"config","configMap":{"name":%s,"defaultMode":420}},{"name":"kube-api-access-%s","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[`,
		q(d.name+"-config"), r.suffix(5))
	nc := 1 + r.IntN(3)
	if r.IntN(5) == 0 {
		nc += 2 + r.IntN(4)
	}
	for c := 0; c < nc; c++ {
		if c > 0 {
			b.WriteByte(',')
		}
		cname := "app"
		if c > 0 {
			cname = []string{"envoy", "fluent-bit", "oauth2-proxy", "vault-agent", "istio-proxy", "cloud-sql-proxy"}[c%6]
		}
		b.WriteString(r.container(p, cname, img, d, c == nc-1))
	}
	fmt.Fprintf(&b, `],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":%s,"serviceAccount":%s,"nodeName":%s,"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},`,
		q(d.name), q(d.name), q(n.name))
	fmt.Fprintf(&b, `"status":{"phase":"Running","conditions":[{"type":"PodReadyToStartContainers","status":"True","lastProbeTime":null,"lastTransitionTime":%[1]s},{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":%[1]s},{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":%[1]s},{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":%[1]s},{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":%[1]s}],"hostIP":%[2]s,"hostIPs":[{"ip":%[2]s}],"podIP":%[3]s,"podIPs":[{"ip":%[3]s}],"startTime":%[1]s,"containerStatuses":[{"name":"app","state":{"running":{"startedAt":%[1]s}},"lastState":{},"ready":true,"restartCount":%[4]d,"image":%[5]s,"imageID":%[6]s,"containerID":"containerd://%[7]s","started":true}],"qosClass":"Burstable"}}`,
		q(created), q(n.hostIP), q(ip), r.IntN(3), q(img), q(img[:strings.LastIndexByte(img, ':')]+"@sha256:"+r.hex(64)), r.hex(64))
	return b.String()
}

// cmEntry returns one ConfigMap data member with the hole at the end of its value.
func (r initRand) cmEntry(i int) string {
	var key, val string
	switch r.IntN(5) {
	case 0: // Grafana dashboard (JSON in a string: escaped quotes everywhere)
		var b strings.Builder
		b.WriteString(`{"annotations":{"list":[]},"editable":false,"panels":[`)
		for k, n := 0, 2+r.IntN(12); k < n; k++ {
			if k > 0 {
				b.WriteByte(',')
			}
			metric := []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kube_pod_container_status_restarts_total", "apiserver_request_total", "node_network_receive_bytes_total"}[r.IntN(5)]
			fmt.Fprintf(&b, `{"datasource":{"type":"prometheus","uid":"prometheus"},"gridPos":{"h":8,"w":12,"x":%d,"y":%d},"id":%d,"targets":[{"expr":"sum(rate(%s{namespace=\"$namespace\", pod=~\"$pod\"}[5m])) by (pod) > 0 & < 1e9","legendFormat":"{{pod}}","refId":"A"}],"title":"%s <b>%d</b>","type":"timeseries"}`,
				12*(k%2), 8*(k/2), k+1, metric, strings.ReplaceAll(metric, "_", " "), k)
		}
		b.WriteString(`],"schemaVersion":39,"title":"Kubernetes / Compute Resources / Namespace (Pods)","uid":"` + r.hex(32) + `"}`)
		key, val = fmt.Sprintf("k8s-resources-namespace-%d.json", i), b.String()
	case 1: // Prometheus rules
		var b strings.Builder
		b.WriteString("groups:\n- name: kubernetes-apps\n  rules:\n")
		for k, n := 0, 1+r.IntN(8); k < n; k++ {
			alert := []string{"KubePodCrashLooping", "KubePodNotReady", "KubeDeploymentReplicasMismatch", "KubeContainerWaiting", "KubeJobFailed"}[r.IntN(5)]
			fmt.Fprintf(&b, "  - alert: %s\n    annotations:\n      description: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: \"CrashLoopBackOff\").'\n      runbook_url: https://runbooks.prometheus-operator.dev/runbooks/kubernetes/%s\n      summary: Pod is crash looping.\n    expr: max_over_time(kube_pod_container_status_waiting_reason{reason=\"CrashLoopBackOff\", job=\"kube-state-metrics\"}[5m]) >= 1\n    for: %dm\n    labels:\n      severity: warning\n",
				alert, strings.ToLower(alert), 5*(1+r.IntN(6)))
		}
		key, val = fmt.Sprintf("prometheus-rules-%d.yaml", i), b.String()
	case 2: // nginx
		var b strings.Builder
		for k, n := 0, 1+r.IntN(6); k < n; k++ {
			fmt.Fprintf(&b, "server {\n    listen 8080;\n    server_name shop-%d.example.com;\n    if ($http_x_forwarded_proto != 'https') { return 301 https://$host$request_uri; }\n    location /api/ {\n        proxy_pass http://checkout-web.checkout.svc.cluster.local:8080;\n        proxy_set_header Host $host;\n        proxy_set_header X-Real-IP $remote_addr;\n        proxy_read_timeout %ds;\n    }\n}\n", k, 30+r.IntN(90))
		}
		key, val = fmt.Sprintf("nginx-%d.conf", i), b.String()
	case 3: // Spring properties, with a little unicode
		var b strings.Builder
		fmt.Fprintf(&b, "spring.datasource.url=jdbc:postgresql://postgres.payments.svc.cluster.local:5432/payments?ssl=true&sslmode=require\nspring.jpa.hibernate.ddl-auto=validate\nserver.shutdown=graceful\nmanagement.endpoints.web.exposure.include=health,info,prometheus\n")
		for k, n := 0, 2+r.IntN(20); k < n; k++ {
			fmt.Fprintf(&b, "app.limits.tenant-%d.rate=%d\napp.messages.welcome.%d=Bienvenue, ¡hola!, ようこそ — %s\n", k, 10*(1+r.IntN(100)), k, r.suffix(6))
		}
		key, val = fmt.Sprintf("application-%d.properties", i), b.String()
	default: // small values
		key, val = fmt.Sprintf("FEATURE_%d_%s", i, strings.ToUpper(r.suffix(4))), []string{"true", "false", "eu-west-3", "https://api.example.com/v2", "3"}[r.IntN(5)]
	}
	return q(key) + `:"` + esc(val) + holeMark + `"`
}

var crdWords = []string{"max", "min", "replicas", "template", "selector", "target", "source", "ref", "secret", "config",
	"timeout", "retry", "policy", "backoff", "limit", "tls", "issuer", "endpoint", "port", "protocol", "labels",
	"annotations", "node", "affinity", "tolerations", "volume", "claim", "storage", "class", "interval", "schedule",
	"suspend", "history", "deadline", "ready", "observed", "generation", "conditions", "phase", "message"}

// crdProp returns one openAPIV3Schema property, hole at the end of its description.
func (r initRand) crdProp(i int, seen map[string]bool) string {
	var name string
	for {
		name = crdWords[r.IntN(len(crdWords))]
		for k := 0; k < 1+r.IntN(2); k++ {
			w := crdWords[r.IntN(len(crdWords))]
			name += strings.ToUpper(w[:1]) + w[1:]
		}
		if !seen[name] {
			break
		}
		name += fmt.Sprint(i)
		if !seen[name] {
			break
		}
	}
	seen[name] = true
	var desc strings.Builder
	for k, n := 0, 6+r.IntN(60); k < n; k++ {
		if k > 0 {
			desc.WriteByte(' ')
		}
		desc.WriteString(crdWords[r.IntN(len(crdWords))])
	}
	d := name + " defines the " + desc.String() + ". More info: https://kubernetes.io/docs/concepts/configuration/overview/ — see \"spec." + name + "\"."
	switch r.IntN(4) {
	case 0:
		return fmt.Sprintf(`%s:{"description":"%s%s","type":"integer","format":"int32","minimum":0}`, q(name), esc(d), holeMark)
	case 1:
		return fmt.Sprintf(`%s:{"description":"%s%s","type":"object","additionalProperties":{"type":"string"}}`, q(name), esc(d), holeMark)
	case 2:
		return fmt.Sprintf(`%s:{"description":"%s%s","type":"array","items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"value":{"type":"string"}}},"x-kubernetes-list-type":"map","x-kubernetes-list-map-keys":["name"]}`, q(name), esc(d), holeMark)
	default:
		return fmt.Sprintf(`%s:{"description":"%s%s","type":"string","enum":["Always","Never","IfNotPresent"]}`, q(name), esc(d), holeMark)
	}
}

// appendBody appends the JSON of b for request e. Sized bodies never exceed
// MaxBodyBytes (unless b.exact asks for a huge line).
func (g *Generator) appendBody(dst []byte, e *ev, b *body) []byte {
	if b.exact == 0 && b.size > g.maxBody {
		c := *b
		c.size = g.maxBody
		b = &c
	}
	switch b.kind {
	case bConfigMap:
		return g.appendConfigMap(dst, e, b)
	case bPodList:
		return g.appendPodList(dst, e, b)
	case bPod:
		return g.appendPod(dst, e, b)
	case bDeployment, bReplicaSet:
		return g.appendDeployment(dst, e, b)
	case bCRD:
		return g.appendCRD(dst, e, b)
	case bEndpointSlice:
		return g.appendEndpointSlice(dst, e, b)
	case bNodeStatus:
		return g.appendNodeStatus(dst, e, b)
	case bPodStatus:
		return g.appendPodStatus(dst, e)
	case bBinding:
		return g.appendBinding(dst, e)
	case bEvent:
		return g.appendEventObj(dst, e)
	case bSARReq, bSARResp:
		return g.appendSAR(dst, e, b.kind == bSARResp)
	case bRestartPatch:
		dst = append(dst, `{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"`...)
		dst = appendSecTime(dst, e.rrt)
		return append(dst, `"}}}}}`...)
	case bStatus:
		dst = append(dst, `{"kind":"Status","apiVersion":"v1",`...)
		return append(dst, e.status[1:]...)
	}
	return append(dst, "{}"...)
}

// sized cuts items from f so that the body started at start, with tail
// appended after, is b.size bytes long.
func (g *Generator) sized(dst []byte, start int, b *body, f *filler, tail []byte) []byte {
	budget := b.size - (len(dst) - start) - len(tail)
	dst = f.appendFit(dst, budget, f.start(budget, g.r.Uint32()))
	return append(dst, tail...)
}

func (g *Generator) appendMeta(dst []byte, e *ev, b *body, ns bool) []byte {
	dst = append(dst, `"metadata":{"name":"`...)
	dst = append(dst, e.name...)
	if ns && e.ns != "" {
		dst = append(dst, `","namespace":"`...)
		dst = append(dst, e.ns...)
	}
	dst = append(dst, '"')
	if b.server {
		dst = append(dst, `,"uid":"`...)
		dst = append(dst, e.uid...)
		dst = append(dst, `","resourceVersion":"`...)
		dst = appendInt(dst, e.rv)
		dst = append(dst, `","creationTimestamp":"`...)
		dst = appendSecTime(dst, e.rrt.Add(-time.Duration(uint64(e.tag)%(90*86400))*time.Second))
		dst = append(dst, '"')
	}
	return dst
}

func (g *Generator) appendConfigMap(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	dst = append(dst, `{"kind":"ConfigMap","apiVersion":"v1",`...)
	dst = g.appendMeta(dst, e, b, true)
	dst = append(dst, `,"labels":{"app.kubernetes.io/managed-by":"Helm","app.kubernetes.io/part-of":"`...)
	dst = append(dst, e.ns...)
	dst = append(dst, `"},"annotations":{"meta.helm.sh/release-name":"`...)
	dst = append(dst, e.ns...)
	dst = append(dst, `","meta.helm.sh/release-namespace":"`...)
	dst = append(dst, e.ns...)
	dst = append(dst, `"}},"data":{`...)
	return g.sized(dst, start, b, g.f.cmData, []byte("}}"))
}

func (g *Generator) appendPodList(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	dst = append(dst, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"`...)
	dst = appendInt(dst, e.rv)
	dst = append(dst, `"},"items":[`...)
	return g.sized(dst, start, b, g.f.pods, []byte("]}"))
}

func (g *Generator) appendPod(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	pd := e.pod
	dst = append(dst, `{"kind":"Pod","apiVersion":"v1",`...)
	dst = g.appendMeta(dst, e, b, true)
	dst = append(dst, `,"generateName":"`...)
	dst = append(dst, pd.rs...)
	dst = append(dst, `-","labels":{"app.kubernetes.io/name":"`...)
	dst = append(dst, pd.app...)
	dst = append(dst, `","pod-template-hash":"`...)
	dst = append(dst, pd.hash...)
	dst = append(dst, `"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"`...)
	dst = append(dst, pd.rs...)
	dst = append(dst, `","uid":"`...)
	dst = append(dst, pd.rsUID...)
	dst = append(dst, `","controller":true,"blockOwnerDeletion":true}]},"spec":{"volumes":[{"name":"kube-api-access-`...)
	dst = append(dst, pd.hash[:5]...)
	dst = append(dst, `","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}},{"downwardAPI":{"items":[{"path":"namespace","fieldRef":{"apiVersion":"v1","fieldPath":"metadata.namespace"}}]}}],"defaultMode":420}}],"containers":[`...)
	t := append(g.tmp[:0], `],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"`...)
	t = append(t, pd.app...)
	t = append(t, `","securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":`...)
	if b.server {
		t = append(t, `{"phase":"Pending","qosClass":"Burstable"}}`...)
	} else {
		t = append(t, `{}}`...)
	}
	g.tmp = t
	return g.sized(dst, start, b, g.f.containers, t)
}

func (g *Generator) appendDeployment(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	if b.kind == bReplicaSet {
		dst = append(dst, `{"kind":"ReplicaSet","apiVersion":"apps/v1",`...)
	} else {
		dst = append(dst, `{"kind":"Deployment","apiVersion":"apps/v1",`...)
	}
	dst = g.appendMeta(dst, e, b, true)
	gen := int64(e.tag%40) + 1
	if b.server {
		dst = append(dst, `,"generation":`...)
		dst = appendInt(dst, gen)
	}
	dst = append(dst, `,"labels":{"app.kubernetes.io/name":"`...)
	dst = append(dst, e.name...)
	dst = append(dst, `","app.kubernetes.io/part-of":"`...)
	dst = append(dst, e.ns...)
	dst = append(dst, `"},"annotations":{"deployment.kubernetes.io/revision":"`...)
	dst = appendInt(dst, gen)
	dst = append(dst, `"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app.kubernetes.io/name":"`...)
	dst = append(dst, e.name...)
	dst = append(dst, `"}},"template":{"metadata":{"labels":{"app.kubernetes.io/name":"`...)
	dst = append(dst, e.name...)
	dst = append(dst, `"},"annotations":{"kubectl.kubernetes.io/restartedAt":"`...)
	dst = appendSecTime(dst, e.rrt.Add(-time.Duration(e.tag%7200)*time.Second))
	dst = append(dst, `"}},"spec":{"containers":[`...)
	t := append(g.tmp[:0], `],"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"`...)
	t = append(t, e.name...)
	t = append(t, `","securityContext":{"runAsNonRoot":true},"schedulerName":"default-scheduler"}}`...)
	if b.kind == bDeployment {
		t = append(t, `,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}},"revisionHistoryLimit":10,"progressDeadlineSeconds":600`...)
	}
	t = append(t, '}')
	if b.server {
		t = append(t, `,"status":{"observedGeneration":`...)
		t = appendInt(t, gen)
		t = append(t, `,"replicas":3,"updatedReplicas":3,"readyReplicas":3,"availableReplicas":3,"conditions":[{"type":"Available","status":"True","lastUpdateTime":"`...)
		t = appendSecTime(t, e.rrt)
		t = append(t, `","lastTransitionTime":"`...)
		t = appendSecTime(t, e.rrt)
		t = append(t, `","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability."}]}`...)
	}
	t = append(t, '}')
	g.tmp = t
	return g.sized(dst, start, b, g.f.containers, t)
}

type crdName struct{ name, group, plural, singular, kind string }

var crdNames = []crdName{
	{"applications.argoproj.io", "argoproj.io", "applications", "application", "Application"},
	{"prometheusrules.monitoring.coreos.com", "monitoring.coreos.com", "prometheusrules", "prometheusrule", "PrometheusRule"},
	{"ciliumnetworkpolicies.cilium.io", "cilium.io", "ciliumnetworkpolicies", "ciliumnetworkpolicy", "CiliumNetworkPolicy"},
	{"certificates.cert-manager.io", "cert-manager.io", "certificates", "certificate", "Certificate"},
	{"kafkas.kafka.strimzi.io", "kafka.strimzi.io", "kafkas", "kafka", "Kafka"},
	{"alertmanagers.monitoring.coreos.com", "monitoring.coreos.com", "alertmanagers", "alertmanager", "Alertmanager"},
}

func (g *Generator) appendCRD(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	c := crdNames[e.tag%uint32(len(crdNames))]
	dst = append(dst, `{"kind":"CustomResourceDefinition","apiVersion":"apiextensions.k8s.io/v1",`...)
	dst = g.appendMeta(dst, e, b, false)
	dst = append(dst, `,"annotations":{"controller-gen.kubebuilder.io/version":"v0.16.5"}},"spec":{"group":"`...)
	dst = append(dst, c.group...)
	dst = append(dst, `","names":{"plural":"`...)
	dst = append(dst, c.plural...)
	dst = append(dst, `","singular":"`...)
	dst = append(dst, c.singular...)
	dst = append(dst, `","kind":"`...)
	dst = append(dst, c.kind...)
	dst = append(dst, `","listKind":"`...)
	dst = append(dst, c.kind...)
	dst = append(dst, `List"},"scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"description":"`...)
	dst = append(dst, c.kind...)
	dst = append(dst, ` is the Schema for the `...)
	dst = append(dst, c.plural...)
	dst = append(dst, ` API.","type":"object","properties":{`...)
	t := append(g.tmp[:0], `}}},"subresources":{"status":{}}}],"conversion":{"strategy":"None"}}`...)
	if b.server {
		t = append(t, `,"status":{"conditions":[{"type":"NamesAccepted","status":"True","lastTransitionTime":"`...)
		t = appendSecTime(t, e.rrt)
		t = append(t, `","reason":"NoConflicts","message":"no conflicts found"},{"type":"Established","status":"True","lastTransitionTime":"`...)
		t = appendSecTime(t, e.rrt)
		t = append(t, `","reason":"InitialNamesAccepted","message":"the initial names have been accepted"}],"storedVersions":["v1"]}`...)
	}
	t = append(t, '}')
	g.tmp = t
	return g.sized(dst, start, b, g.f.crdProps, t)
}

func (g *Generator) appendEndpointSlice(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	dst = append(dst, `{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1",`...)
	dst = g.appendMeta(dst, e, b, true)
	svc := e.name[:len(e.name)-6]
	dst = append(dst, `,"generateName":"`...)
	dst = append(dst, svc...)
	dst = append(dst, `-","labels":{"endpointslice.kubernetes.io/managed-by":"endpointslice-controller.k8s.io","kubernetes.io/service-name":"`...)
	dst = append(dst, svc...)
	dst = append(dst, `"},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"`...)
	dst = appendSecTime(dst, e.rrt)
	dst = append(dst, `"},"ownerReferences":[{"apiVersion":"v1","kind":"Service","name":"`...)
	dst = append(dst, svc...)
	dst = append(dst, `","uid":"`...)
	dst = append(dst, e.uid...)
	dst = append(dst, `","controller":true,"blockOwnerDeletion":true}]},"addressType":"IPv4","endpoints":[`...)
	return g.sized(dst, start, b, g.f.endpoints, []byte(`],"ports":[{"name":"http","protocol":"TCP","port":8080},{"name":"metrics","protocol":"TCP","port":9090}]}`))
}

func (g *Generator) appendNodeStatus(dst []byte, e *ev, b *body) []byte {
	start := len(dst)
	dst = append(dst, `{"status":{"$setElementOrder/conditions":[{"type":"MemoryPressure"},{"type":"DiskPressure"},{"type":"PIDPressure"},{"type":"Ready"}],"conditions":[`...)
	for i, c := range [...]string{"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"} {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"lastHeartbeatTime":"`...)
		dst = appendSecTime(dst, e.rrt)
		dst = append(dst, `","type":"`...)
		dst = append(dst, c...)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, ']')
	if b.size > 2048 {
		dst = append(dst, `,"images":[`...)
		return g.sized(dst, start, b, g.f.images, []byte("]}}"))
	}
	return append(dst, "}}"...)
}

func (g *Generator) appendPodStatus(dst []byte, e *ev) []byte {
	pd := e.pod
	p := g.p
	dst = append(dst, `{"metadata":{"uid":"`...)
	dst = append(dst, pd.uid...)
	dst = append(dst, `"},"status":{"$setElementOrder/conditions":[{"type":"PodReadyToStartContainers"},{"type":"Initialized"},{"type":"Ready"},{"type":"ContainersReady"},{"type":"PodScheduled"}],"conditions":[{"lastTransitionTime":"`...)
	dst = appendSecTime(dst, e.rrt)
	ready := "True"
	if e.tag&3 == 0 {
		ready = "False"
	}
	dst = append(dst, `","status":"`...)
	dst = append(dst, ready...)
	dst = append(dst, `","type":"Ready"},{"lastTransitionTime":"`...)
	dst = appendSecTime(dst, e.rrt)
	dst = append(dst, `","status":"`...)
	dst = append(dst, ready...)
	dst = append(dst, `","type":"ContainersReady"}],"containerStatuses":[{"containerID":"containerd://`...)
	dst = append(dst, p.hex64[e.tag%40]...)
	dst = append(dst, `","image":"`...)
	dst = append(dst, pd.image...)
	dst = append(dst, `","imageID":"`...)
	dst = append(dst, pd.image[:strings.LastIndexByte(pd.image, ':')]...)
	dst = append(dst, `@sha256:`...)
	dst = append(dst, p.hex64[(e.tag>>8)%40]...)
	dst = append(dst, `","lastState":{"terminated":{"containerID":"containerd://`...)
	dst = append(dst, p.hex64[(e.tag>>16)%40]...)
	dst = append(dst, `","exitCode":137,"finishedAt":"`...)
	dst = appendSecTime(dst, e.rrt.Add(-41*time.Second))
	dst = append(dst, `","reason":"OOMKilled","startedAt":"`...)
	dst = appendSecTime(dst, e.rrt.Add(-3*time.Hour))
	dst = append(dst, `"}},"name":"app","ready":`...)
	if ready == "True" {
		dst = append(dst, `true,"restartCount":`...)
	} else {
		dst = append(dst, `false,"restartCount":`...)
	}
	dst = appendInt(dst, int64(1+e.tag%9))
	dst = append(dst, `,"started":true,"state":{"running":{"startedAt":"`...)
	dst = appendSecTime(dst, e.rrt.Add(-40*time.Second))
	dst = append(dst, `"}},"volumeMounts":[{"mountPath":"/etc/app","name":"config","readOnly":true,"recursiveReadOnly":"Disabled"},{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":"kube-api-access-`...)
	dst = append(dst, pd.hash[:5]...)
	dst = append(dst, `","readOnly":true,"recursiveReadOnly":"Disabled"}]}],"podIP":"`...)
	dst = append(dst, pd.ip...)
	dst = append(dst, `","podIPs":[{"ip":"`...)
	dst = append(dst, pd.ip...)
	return append(dst, `"}]}}`...)
}

func (g *Generator) appendBinding(dst []byte, e *ev) []byte {
	dst = append(dst, `{"kind":"Binding","apiVersion":"v1","metadata":{"name":"`...)
	dst = append(dst, e.name...)
	dst = append(dst, `","namespace":"`...)
	dst = append(dst, e.ns...)
	dst = append(dst, `","uid":"`...)
	dst = append(dst, e.pod.uid...)
	dst = append(dst, `","creationTimestamp":null},"target":{"kind":"Node","name":"`...)
	dst = append(dst, e.pod.node.name...)
	return append(dst, `"}}`...)
}

var eventReasons = []struct{ typ, reason, msg string }{
	{"Normal", "Pulled", `Successfully pulled image \"IMG\" in 1.204s (1.204s including waiting). Image size: 48213375 bytes.`},
	{"Normal", "Created", `Created container: app`},
	{"Normal", "Started", `Started container app`},
	{"Warning", "BackOff", `Back-off restarting failed container app in pod POD_NS(UID)`},
	{"Warning", "Unhealthy", `Readiness probe failed: Get \"http://IP:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
	{"Normal", "Killing", `Stopping container app`},
}

func (g *Generator) appendEventObj(dst []byte, e *ev) []byte {
	pd := e.pod
	er := eventReasons[e.tag%uint32(len(eventReasons))]
	dst = append(dst, `{"kind":"Event","apiVersion":"v1","metadata":{"name":"`...)
	dst = append(dst, e.name...)
	dst = append(dst, `","namespace":"`...)
	dst = append(dst, pd.ns...)
	dst = append(dst, `","creationTimestamp":null},"involvedObject":{"kind":"Pod","namespace":"`...)
	dst = append(dst, pd.ns...)
	dst = append(dst, `","name":"`...)
	dst = append(dst, pd.name...)
	dst = append(dst, `","uid":"`...)
	dst = append(dst, pd.uid...)
	dst = append(dst, `","apiVersion":"v1","resourceVersion":"`...)
	dst = appendInt(dst, g.rv-int64(e.tag%5000))
	dst = append(dst, `","fieldPath":"spec.containers{app}"},"reason":"`...)
	dst = append(dst, er.reason...)
	dst = append(dst, `","message":"`...)
	msg := er.msg
	for len(msg) > 0 {
		i := strings.IndexAny(msg, "IPUN")
		if i < 0 {
			dst = append(dst, msg...)
			break
		}
		dst = append(dst, msg[:i]...)
		msg = msg[i:]
		switch {
		case strings.HasPrefix(msg, "IMG"):
			dst = append(dst, pd.image...)
			msg = msg[3:]
		case strings.HasPrefix(msg, "IP"):
			dst = append(dst, pd.ip...)
			msg = msg[2:]
		case strings.HasPrefix(msg, "POD_"):
			dst = append(dst, pd.name...)
			dst = append(dst, '_')
			msg = msg[4:]
		case strings.HasPrefix(msg, "NS"):
			dst = append(dst, pd.ns...)
			msg = msg[2:]
		case strings.HasPrefix(msg, "UID"):
			dst = append(dst, pd.uid...)
			msg = msg[3:]
		default:
			dst = append(dst, msg[0])
			msg = msg[1:]
		}
	}
	dst = append(dst, `","source":{"component":"kubelet","host":"`...)
	dst = append(dst, pd.node.name...)
	dst = append(dst, `"},"firstTimestamp":"`...)
	dst = appendSecTime(dst, e.rrt)
	dst = append(dst, `","lastTimestamp":"`...)
	dst = appendSecTime(dst, e.rrt)
	dst = append(dst, `","count":1,"type":"`...)
	dst = append(dst, er.typ...)
	dst = append(dst, `","eventTime":null,"reportingComponent":"kubelet","reportingInstance":"`...)
	dst = append(dst, pd.node.name...)
	return append(dst, `"}`...)
}

func (g *Generator) appendSAR(dst []byte, e *ev, resp bool) []byte {
	pd := e.pod
	dst = append(dst, `{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"`...)
	dst = append(dst, pd.ns...)
	dst = append(dst, `","verb":"get","version":"v1","resource":"pods","subresource":"metrics","name":"`...)
	dst = append(dst, pd.name...)
	dst = append(dst, `"},"user":"system:serviceaccount:monitoring:prometheus-k8s","groups":["system:serviceaccounts","system:serviceaccounts:monitoring","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=`...)
	dst = append(dst, g.p.hex64[e.tag%40][:8]...)
	dst = append(dst, `-5e2b-4c1d-9a7f-`...)
	dst = append(dst, g.p.hex64[e.tag%40][8:20]...)
	dst = append(dst, `"]},"uid":"`...)
	dst = appendUUID(dst, uint64(e.tag)*0x9e3779b97f4a7c15, uint64(e.tag)*0xbf58476d1ce4e5b9)
	dst = append(dst, `"},"status":{`...)
	if resp {
		dst = append(dst, `"allowed":true,"reason":"RBAC: allowed by ClusterRoleBinding \"prometheus-k8s\" of ClusterRole \"prometheus-k8s\" to ServiceAccount \"prometheus-k8s/monitoring\""`...)
	} else {
		dst = append(dst, `"allowed":false`...)
	}
	return append(dst, `}}`...)
}
