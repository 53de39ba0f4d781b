# audittail — see README.md.
GO       ?= go
BIN      := bin/audittail
# The version: git describe against the newest v* tag (v0.1.0, or
# v0.1.0-3-gabc1234 three commits later, with -dirty for uncommitted
# changes); before the first tag, v0.0.0-<commits>-g<hash>.
VERSION  ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null || \
	echo "v0.0.0-$$(git rev-list --count HEAD 2>/dev/null || echo 0)-g$$(git rev-parse --short HEAD 2>/dev/null || echo 0000000)$$(git diff --quiet HEAD 2>/dev/null || echo -dirty)")
# The commit and its time: every time stored in the image, the packages and
# the archives is this one, so the same commit gives the same files.
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
# The release flags (build/binaries/binaries.go, Flags): no build ID, no path.
LDFLAGS  := -s -w -buildid= -X main.version=$(VERSION)
DIST     := dist
FUZZTIME ?= 30s
# staticcheck, pinned, run with go run so that neither module requires it.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test test-short lint tidy-check fuzz bench clean verify-examples binaries image packages archives release

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/audittail

# The agent on the bundled sample audit log, GELF printed to standard output.
# It keeps following the file like tail -f: press Ctrl-C to stop. Each run uses
# a fresh checkpoint, so every run prints the whole sample.
run: build
	@dir=$$(mktemp -d) && echo "checkpoint in $$dir; Ctrl-C to stop" >&2 && \
	$(BIN) --path examples/sample-audit.log --endpoint - --checkpoint $$dir/checkpoint.json \
		--host sample-node --log-format console

# The second line tests the Kubernetes manifests in examples/, the third the
# release tools in build/ (image, packages, archives): modules of their own,
# so that the agent's go.mod carries neither a Kubernetes library nor nfpm.
# The build/ tests use lintian, rpm, dpkg-deb and podman when installed, and
# skip what needs a missing one; AUDITTAIL_REQUIRE_TOOLS=1 (CI) fails instead.
test:
	$(GO) test -race -count=1 ./...
	cd examples && $(GO) test -count=1 ./...
	cd internal/k8sdiff && $(GO) test -count=1 ./...
	cd internal/k8swebhook && $(GO) test -count=1 ./...
	cd build && $(GO) test -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...
	cd examples && $(GO) test -count=1 ./...
	cd internal/k8sdiff && $(GO) test -count=1 ./...
	cd internal/k8swebhook && $(GO) test -count=1 ./...
	cd build && $(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd examples && $(GO) vet ./...
	cd build && $(GO) vet ./...
	cd internal/k8sdiff && $(GO) vet ./...
	cd internal/k8swebhook && $(GO) vet ./...
	$(STATICCHECK) ./...
	cd examples && $(STATICCHECK) ./...
	cd build && $(STATICCHECK) ./...
	cd internal/k8sdiff && $(STATICCHECK) ./...
	cd internal/k8swebhook && $(STATICCHECK) ./...

# Fails, printing the difference, if go.mod or go.sum of a module is not
# what go mod tidy would write; changes nothing.
tidy-check:
	$(GO) mod tidy -diff
	cd examples && $(GO) mod tidy -diff
	cd build && $(GO) mod tidy -diff
	cd internal/k8sdiff && $(GO) mod tidy -diff
	cd internal/k8swebhook && $(GO) mod tidy -diff

# The systemd examples against systemd's own tools (systemd-analyze verify and
# security, systemd-sysusers): see examples/systemd/verify.sh.
verify-examples: build
	examples/systemd/verify.sh $(BIN)

# Every fuzz target of the repository (each func Fuzz... in a _test.go file),
# one after the other, for FUZZTIME each: a duration (30s) or a count of
# inputs (5000x, what CI runs). With Go 1.26 a duration may end in a spurious
# "context deadline exceeded" failure with no failing input written
# (golang/go#75804, fixed in Go 1.27): run again, or use a count.
fuzz:
	@set -e; for f in $$(find . -name '*_test.go' -not -path './.git/*' | sort); do \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			d=$$(dirname $$f); m=$$d; while [ ! -f $$m/go.mod ]; do m=$$(dirname $$m); done; \
			echo "fuzz $$t in $$d for $(FUZZTIME)"; \
			(cd $$m && $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) .$${d#$$m}); \
		done; \
	done

# The end-to-end benchmark: the built agent ships BENCH_EVENTS generated
# events (1.7 KB average) over tcp:// and tls://; then the steady rates
# (idle, 100, 1,000 and 5,000 events/s for STEADY_SECONDS each, written
# through lumberjack, shipped over tls://: CPU per event, share of a core,
# latency); the live latency at 5,000 events/s for 10 s and 200,000 events
# with 10 MiB lines in the mix, over tls://; then the Go benchmarks of
# parse, map+encode and send, with allocations.
BENCH_EVENTS ?= 1000000
STEADY_SECONDS ?= 30
bench:
	$(GO) test -run '^$$' -bench '^BenchmarkEndToEnd$$' -benchtime $(BENCH_EVENTS)x -timeout 30m ./cmd/audittail
	STEADY_SECONDS=$(STEADY_SECONDS) $(GO) test -run '^$$' -bench '^BenchmarkSteady$$' -benchtime 1x -timeout 30m ./cmd/audittail
	$(GO) test -run '^$$' -bench '^BenchmarkLiveLatency$$' -benchtime 50000x ./cmd/audittail
	$(GO) test -run '^$$' -bench '^BenchmarkHugeLines$$' -benchtime 200000x ./cmd/audittail
	$(GO) test -run '^$$' -bench '^BenchmarkWebhook$$' -benchtime 200000x ./cmd/audittail
	$(GO) test -run '^$$' -bench '^BenchmarkSeveralLogs$$' -benchtime $(BENCH_EVENTS)x ./cmd/audittail
	$(GO) test -run '^$$' -bench '^BenchmarkContainerLog$$' -benchtime $(BENCH_EVENTS)x ./cmd/audittail
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/... ./shipper/ ./internal/auditgen/

clean:
	rm -rf bin $(DIST)

# Release artefacts, into dist/, by build/cmd/dist (the build/ module): the
# two binaries are compiled once (dist/linux_<arch>/audittail) and reused.
#   make image     dist/audittail_<version>_oci.tar: OCI image index, linux/amd64 and linux/arm64
#   make packages  .deb and .rpm for amd64 and arm64
#   make archives  audittail_<version>_linux_<arch>.tar.gz: binary, README, LICENSE, examples
#   make release   all of it, in an emptied dist/, and dist/SHA256SUMS
DIST_FLAGS = -repo .. -dist ../$(DIST) -version '$(VERSION)' -revision '$(REVISION)' -epoch '$(SOURCE_DATE_EPOCH)'
binaries image packages archives:
	cd build && $(GO) run ./cmd/dist $(DIST_FLAGS) binaries $(filter-out binaries,$@)

release:
	rm -rf $(DIST)
	cd build && $(GO) run ./cmd/dist $(DIST_FLAGS) release

# Torture suite (torture/README.md): the built agent end to end under
# rotation, kills, server faults, copytruncate and hostile lines.
# TORTURE_DURATION is how long the writer runs in each scenario.
.PHONY: torture torture-short
torture:
	TORTURE_DURATION=60s $(GO) test -count=1 -v -timeout 60m ./torture/

torture-short:
	$(GO) test -count=1 -v ./torture/
