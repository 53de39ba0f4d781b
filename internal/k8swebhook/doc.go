// Package k8swebhook holds the end-to-end tests of audittail's webhook
// receiver (--webhook-listen) against kube-apiserver's own audit webhook
// client, k8s.io/apiserver v0.37: the plugin/pkg/audit/webhook backend,
// built by webhook.NewBackend from a kubeconfig file as kube-apiserver
// builds it from --audit-webhook-config-file, behind the
// plugin/pkg/audit/buffered batching layer that kube-apiserver puts in
// front of it (--audit-webhook-mode=batch, the default). It is a module of
// its own so that the agent's go.mod requires no Kubernetes library; it has
// no code but its tests.
//
// The tests run the real agent binary, built once from ../../cmd/audittail
// in its own module, with a GELF server of internal/gelftest behind it:
//
//   - TestRealWebhookClientSurvivesKillsAndServerOutages sends 20,480
//     events of internal/auditgen, each with its own auditID, through the
//     client in 64 waves, while the GELF server is stopped twice for a few
//     seconds and the agent is killed with SIGKILL four times (with the
//     server up, during an outage, during the catch-up after it, near the
//     end) and restarted on the same port, spool and checkpoint. It
//     requires that the receiver takes batches while the server is down,
//     that every auditID reaches the GELF server, that no batch was given
//     up by the client (which would make the test meaningless, not the
//     agent wrong), that every duplicate is one an incident can explain
//     (its first copy arrived just before or after a kill or an outage,
//     or it is within what the client had in flight at a kill) and their
//     number within the bound this implies, and exit status 0 after
//     SIGTERM. Counts, duplicates per incident and timings are logged
//     (go test -v).
//   - TestRealWebhookClientRefusedWithoutClientCert sends batches with
//     kubeconfigs that lack the client certificate, the token or both, or
//     carry a wrong one: every batch is refused (counted by reason in
//     audittail_webhook_refused_total), the client drops it after its
//     retries, and none of its events is spooled or shipped; the same
//     client with the full kubeconfig then gets through.
//
// Run with: cd internal/k8swebhook && go test -count=1 ./...
package k8swebhook
