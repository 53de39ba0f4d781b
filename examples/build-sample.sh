#!/bin/sh
# Rebuilds examples/sample-audit.log from the recorded audit events in shared/samples/events
# (provenance and licences: shared/samples/SOURCES.md; all Apache-2.0).
# Usage: examples/build-sample.sh [SAMPLES_DIR]   (default: ../shared/samples, next to the repository)
# Lines are copied byte for byte: every Falco trace event except the synthetic malformed
# fal_01_003.json (files in name order), then the first 100 lines of the audit2rbac demo log.
set -eu
export LC_ALL=C
repo=$(cd "$(dirname "$0")/.." && pwd)
samples=${1:-$repo/../shared/samples}
out=$repo/examples/sample-audit.log
{
	for f in "$samples"/events/falco-k8s-audit-traces/*.json; do
		[ "$(basename "$f")" = fal_01_003.json ] && continue
		grep -v '^[[:space:]]*$' "$f"
	done
	head -n 100 "$samples/events/audit2rbac/demo-2017-v1beta1.log"
} >"$out.tmp"
mv "$out.tmp" "$out"
wc -l "$out"
