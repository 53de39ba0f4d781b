// Package torture holds audittail's torture suite: end-to-end scenarios that
// run the real binary against gelftest servers while a writer produces the
// audit log as kube-apiserver does (lumberjack, 1 MB files, gzip), and that
// kill the agent, break the server and feed it hostile lines. Every scenario
// fails on any missing event. See README.md; the tests are in *_test.go.
package torture
