// Package auditgen generates realistic Kubernetes API server audit log lines
// (one audit.k8s.io/v1 Event JSON object per line, as the apiserver's "log"
// backend writes them) for benchmarks and tests of audittail. It uses only the
// standard library, is deterministic for a seed, and is fast (about 3 GB/s of
// output on one core, no allocation per line): use [Generator.Append] in a loop,
// or [WriteFile] for a file.
//
// # Where the shape comes from
//
// The recorded events in pkg/audit/testdata/samples (the 2017 audit2rbac demo
// log of a real kube-apiserver and Falco's 2018–2020 rule-test traces, see
// pkg/audit/testdata/README.md) and kube-apiserver's own code
// (k8s.io/apiserver: pkg/apis/audit/v1/types.go for the schema,
// pkg/audit/request.go and pkg/endpoints/filters/audit.go for what is filled
// at each stage, pkg/endpoints/filters/authn_audit.go for failed
// authentication, the log backend in plugin/pkg/audit/log/backend.go):
//
//   - format: keys in the apiserver's struct order, annotation keys
//     sorted, encoding/json escaping including the HTML-safe \u003c \u003e
//     \u0026 (so query strings read "?limit=500\u0026resourceVersion=0"),
//     MicroTime timestamps in UTC, {"metadata":{},"code":200} for successes and
//     status/message/reason/details/code for failures, objectRef on list and
//     watch too, objectRef.name from the fieldSelector metadata.name=...;
//   - identities (samples): system:node:* kubelets (client certificates,
//     credential-id X509SHA256=...), kube-controller-manager controllers and
//     kube-scheduler, service accounts with bound-token extras (credential-id
//     JTI=..., pod-name/pod-uid/node-name/node-uid), OIDC and EKS people,
//     system:anonymous health checks; RBAC reasons in the authorizer's exact
//     wording ("RBAC: allowed by ClusterRoleBinding \"x\" of ClusterRole \"y\"
//     to ServiceAccount \"sa/ns\""); empty reasons from the Node authorizer;
//   - stages: ResponseStarted + ResponseComplete for watch, exec and
//     log (exec with code 101, as in the Falco exec trace); RequestReceived +
//     ResponseComplete for some deletes (as in the audit2rbac log), with no
//     responseStatus, annotations or impersonatedUser at RequestReceived;
//     failed authentication (401) as a single ResponseStarted line with an
//     empty user ("user":{}) and no objectRef or annotations (authn_audit.go) —
//     system:anonymous appears on allowed health checks and on 403 probes;
//   - annotations: authorization.k8s.io/decision and reason,
//     pod-security.kubernetes.io/enforce-policy and audit-violations,
//     authentication.kubernetes.io/issued-credential-id, k8s.io/deprecated,
//     mutation.webhook.admission.k8s.io/round_0_index_N, the
//     ValidatingAdmissionPolicy validation_failure list (2–4 KB), a free-form
//     webhook annotation with non-ASCII text;
//   - sizes: Metadata events about 0.9–1.6 KB (the 2017 sample averages
//     625 B; modern events with user agents, extras and RBAC reasons are
//     1–1.5 KB), bodies from a few hundred bytes to MBs, 10 MiB lines in the mix.
//
// # The mix
//
// A simulated production cluster (48 nodes, 8 of them IPv6, control plane,
// 20 controllers, CoreDNS, Cilium, cert-manager, ingress-nginx, Argo CD,
// Prometheus, kube-state-metrics, CI bots, five people) doing what the samples
// and kube-apiserver's code describe. Measured over 1,000,000 lines of the default
// configuration (seeds 1–3):
//
//	level            Metadata 84.8%, Request 9.1%, RequestResponse 6.2%
//	stage            ResponseComplete 88.3%, ResponseStarted 11.1%, RequestReceived 0.6%
//	response code    200 87.4%, 201 10.0%, 404 0.56%, 403 0.54%, 409 0.30%,
//	                 401 0.24%, 101 0.24%, 422 0.05%, 500 0.03%
//	verb watch       20.7% of lines (watch stage pairs)
//	non-ASCII text   4.8% of lines (names, groups, user agents, annotations, bodies)
//	impersonation    0.8% of lines
//	line size        average 1,725–1,745 B; p50 1.26 KB, p90 1.9 KB, p99 9 KB,
//	                 p99.9 36 KB, p99.99 ~370 KB, max ~2 MB (update of a 1 MiB object)
//	body size        p50 1.1 KB, p90 3.6 KB, p99 17 KB, p99.9 150 KB, max ≈ MaxBodyBytes
//	                 (10–15 bodies ≥ 900 KB per million lines); bodies are 29% of the bytes
//
// Metadata traffic: kubelet lease renewals (the largest single source), node
// gets, watches of config maps, secrets, pods and services, service-account
// token requests, leader-election leases, controller gets/lists/updates,
// scheduler and operator lists and watches, people's kubectl reads,
// discovery, health checks, creates/updates/patches of secrets and config
// maps. Request level: kubelet pod and node status patches, events, scheduler
// bindings, exec. RequestResponse level: SubjectAccessReviews, EndpointSlice,
// Deployment and ReplicaSet status updates, pod creates, config maps (the
// carrier of the rare ~1 MiB bodies), pod lists, kubectl apply/rollout restart
// and CRD updates. Bodies are real-looking objects (pods with containers,
// env, probes; Grafana dashboards, Prometheus rules and nginx configs in config
// maps; CRD schemas; node images; endpoints), cut at an exact size from long
// pre-built runs of varied items, so that a 1 MiB body is one memmove and
// compresses like a real one rather than like a repeated block.
//
// # Differences from a real apiserver
//
// Every line has its own auditID, which encodes the caller's seq (see
// [SeqOf]): a real apiserver gives all stages of a request the same auditID.
// The two lines of a stage pair are consecutive (next seq), share verb,
// requestURI, user, objectRef, requestReceivedTimestamp and the last 8 hex
// digits of the auditID, and the second line's stageTimestamp is a few
// milliseconds after its own Append time (a real watch ends minutes later).
// Object uids are derived from namespace and name; resourceVersions grow
// with the stream. Response statuses of requests are plausible, not
// consistent with a cluster state.
package auditgen
