# sigguard — see README.md. Every target runs with the Node pinned in
# package.json (node-linux-<arch>), never the host's.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

ARCH := $(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')
NODE := $(CURDIR)/node_modules/node-linux-$(ARCH)/bin/node
VITEST := $(NODE) node_modules/vitest/vitest.mjs run
STAMP := node_modules/.sigguard-installed

.PHONY: build deps tools typecheck test test-unit test-integration clean

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@test -x $(NODE) || { echo "pinned Node missing at $(NODE)"; exit 1; }
	touch $@

deps: $(STAMP)

# build/out/sigguard.cjs, then the single executables build/out/sigguard-linux-{amd64,arm64}
# and build/out/sigguard (this machine's); bin/sigguard runs the latter.
build: $(STAMP)
	$(NODE) build/bundle.mjs
	$(NODE) build/sea.mjs
	@bin/sigguard version

# make image: build/out/sigguard-image.tar, the OCI image archive (linux/amd64 + linux/arm64) of the
# single executables and the shared libraries they need from Debian (build/image.mjs; no Docker).
.PHONY: image
image: build
	$(NODE) build/image.mjs

typecheck: $(STAMP)
	$(NODE) node_modules/typescript/bin/tsc -p .

# make lint: Biome over the tree (biome.json: the formatter's layout, the recommended lint rules,
# no `any`), then lint-deps. make format rewrites the tree in the formatter's layout.
BIOME := $(NODE) node_modules/@biomejs/biome/bin/biome
.PHONY: lint format
lint: $(STAMP)
	$(BIOME) ci --max-diagnostics=50 .
	@$(MAKE) --no-print-directory lint-deps

format: $(STAMP)
	$(BIOME) format --write .

# make lint-deps: dependency-cruiser (.dependency-cruiser.cjs): no folder imports another in a
# circle, no module cycle, and bench -> e2e -> test -> src only, never back; then the same graph
# folded to src/<folder>, test, e2e, bench (build/folder-cycles.mjs), for circles across depths.
DEPCRUISE := $(NODE) node_modules/dependency-cruiser/bin/dependency-cruiser.mjs src test e2e bench --config .dependency-cruiser.cjs
.PHONY: lint-deps
lint-deps: $(STAMP)
	$(DEPCRUISE)
	$(DEPCRUISE) --output-type json | $(NODE) build/folder-cycles.mjs

# src/cri/gen/ from src/cri/proto/*.proto (build/gen-cri.mjs; test/unit/cri-proto.test.ts checks it is current)
.PHONY: proto
proto: $(STAMP)
	$(NODE) build/gen-cri.mjs

# Registry, runtimes, cosign 2 and 3, containerd: installed or fetched by the project itself.
tools:
	bash build/tools.sh

test-unit: build
	$(VITEST) test/unit test/fixtures

test-integration: build tools
	$(VITEST) test/integration

# Every tier. Installs what the tiers need (npm packages, Debian packages, cosign...):
# unit, fixtures, integration and conformance (vitest), then e2e on containerd 1.7 and 2.1,
# then the demo as a newcomer runs it.
test: build tools lint typecheck
	$(VITEST)
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory demo

clean:
	rm -rf build/out

# make fuzz: the fuzz properties of test/fuzz with FUZZ_RUNS inputs per weight unit (2500: about
# 115,000 generated inputs in all; `make test` runs them with the default 100). Fixed seed
# FUZZ_SEED (default 20261129); the count per property and the total are printed at the end.
.PHONY: fuzz
FUZZ_RUNS ?= 2500
fuzz: $(STAMP)
	@mkdir -p build/out && rm -f build/out/fuzz-counts.tsv
	FUZZ_RUNS=$(FUZZ_RUNS) FUZZ_PROPERTY_LIMIT_MS=600000 FUZZ_COUNT_FILE=$(CURDIR)/build/out/fuzz-counts.tsv $(VITEST) test/fuzz
	@sort build/out/fuzz-counts.tsv | awk -F'\t' '{ printf "  %-28s %8d\n", $$1, $$2; t += $$2 } END { printf "fuzz: %d generated inputs in total\n", t }'

# ---------------------------------------------------------------------------------------------
# CRI-O node (crio-policy/): run as root on a VM prepared by crio-policy/scripts/setup-vm.sh.
#   make crio-configure [CRIO_POLICY=/etc/sigguard/policy.yaml] [CONTAINERS_IMAGE_VERSION=5.33] [CRIO_POLICY_FLAGS=--hook-fallback]
#   make crio-test [SIGNED_IMAGE=...] [UNSIGNED_IMAGE=...]
.PHONY: crio-configure crio-test
CRIO_POLICY ?= /etc/sigguard/policy.yaml

crio-configure: build
	bash crio-policy/scripts/configure-crio.sh --sigguard $(CURDIR)/bin/sigguard --install-binary $(CURDIR)/build/out/sigguard \
		--policy $(CRIO_POLICY) $(if $(CONTAINERS_IMAGE_VERSION),--containers-image-version $(CONTAINERS_IMAGE_VERSION)) \
		$(if $(CRIO_POLICY_FLAGS),-- $(CRIO_POLICY_FLAGS))

crio-test:
	bash crio-policy/scripts/test-verification.sh

# ---------------------------------------------------------------------------------------------
# Kind (docker, kind and kubectl on the workstation; scripts in e2e/kind/, installer in install/):
#   make kind-up          a Kind cluster $(KIND_CLUSTER) + the local registry localhost:5001 (kind-registry)
#   make sign-images      signed/unsigned test images in $(KIND_REGISTRY); cosign keys made once in $(KIND_KEYS)
#   make install-kind     sigguard the Kubernetes way: the image loaded into the nodes, deploy/kind/ applied (below)
#   make uninstall-kind   the uninstall DaemonSet on every node, then everything deleted
#   make install-kind-sh  without the DaemonSet: install/install.sh on every node through docker exec (the
#                         installer of nodes without Kubernetes) with $(KIND_POLICY), $(KIND_CONFIG), $(KIND_KEYS)/*.pub,
#                         and its verifier service (systemd) on each node;
#                         make uninstall-kind-sh reverses it
# Then: kubectl apply -f e2e/manifests/signed-pod.yaml (runs), unsigned-pod.yaml (refused), ...
.PHONY: kind-up sign-images install-kind-sh uninstall-kind-sh
KIND_CLUSTER ?= sigguard
KIND_REGISTRY ?= localhost:5001
KIND_KEYS ?= .keys
KIND_POLICY ?= install/kind/policy.yaml
KIND_CONFIG ?= install/kind/config.yaml

kind-up:
	bash e2e/kind/kind-up.sh --cluster $(KIND_CLUSTER)

$(KIND_KEYS)/cosign.pub:
	bash e2e/kind/sign-images.sh --keys $(KIND_KEYS) --keys-only

sign-images: $(STAMP) $(KIND_KEYS)/cosign.pub
	bash e2e/kind/sign-images.sh --registry $(KIND_REGISTRY) --keys $(KIND_KEYS)

install-kind-sh: build $(KIND_KEYS)/cosign.pub
	bash e2e/kind/install-kind.sh --cluster $(KIND_CLUSTER) --policy $(KIND_POLICY) --config $(KIND_CONFIG) --keys $(KIND_KEYS)

uninstall-kind-sh:
	bash e2e/kind/uninstall-kind.sh --cluster $(KIND_CLUSTER)

# make install-kind: sigguard the Kubernetes way on that cluster (README, "Deploying on a cluster"):
# the image archive loaded into every node (`kind load image-archive`), .keys/cosign.pub as ConfigMap
# sigguard-keys, deploy/kind/ applied with the image pinned by its digest (build/kind-deploy.mjs
# writes the kustomizations into $(KIND_DEPLOY)). Every kubectl names the cluster's context: a
# privileged DaemonSet never goes to whatever context happens to be current.
# make uninstall-kind: the DaemonSet deleted (else it installs again), the uninstall DaemonSet on
# every node until each reports ready (node files put back, containerd restarted), then everything deleted.
# deploy-kind / undeploy-kind: the same (their earlier names).
.PHONY: install-kind uninstall-kind deploy-kind undeploy-kind
KIND_DEPLOY := build/out/kind-deploy
KUBECTL_KIND = kubectl --context kind-$(KIND_CLUSTER)
install-kind: image $(KIND_KEYS)/cosign.pub
	kind load image-archive build/out/sigguard-image.tar --name $(KIND_CLUSTER)
	$(NODE) build/kind-deploy.mjs build/out/sigguard-image.tar $(KIND_DEPLOY)
	$(KUBECTL_KIND) apply -f deploy/base/namespace.yaml
	$(KUBECTL_KIND) -n sigguard-system create configmap sigguard-keys --from-file=cosign.pub=$(KIND_KEYS)/cosign.pub \
		--dry-run=client -o yaml | $(KUBECTL_KIND) apply -f -
	$(KUBECTL_KIND) apply -k $(KIND_DEPLOY)/install
	$(KUBECTL_KIND) -n sigguard-system rollout status daemonset sigguard --timeout=180s

# the uninstall pods run the image install-kind pinned (deploy/uninstall's tag when there is none)
KIND_UNINSTALL = $(if $(wildcard $(KIND_DEPLOY)/uninstall/kustomization.yaml),$(KIND_DEPLOY)/uninstall,deploy/uninstall)
uninstall-kind:
	$(KUBECTL_KIND) -n sigguard-system delete daemonset sigguard --ignore-not-found --wait=true
	$(KUBECTL_KIND) apply -k $(KIND_UNINSTALL)
	$(KUBECTL_KIND) -n sigguard-system rollout status daemonset sigguard-uninstall --timeout=180s
	$(KUBECTL_KIND) delete -k $(KIND_UNINSTALL) --ignore-not-found
	$(KUBECTL_KIND) delete -k deploy/kind --ignore-not-found

deploy-kind: install-kind
undeploy-kind: uninstall-kind

# ---------------------------------------------------------------------------------------------
# End to end and the demo (e2e/), as root. The cases are one table, e2e/cases.ts.
#   make e2e    against the Kind cluster $KIND_CLUSTER when kubectl reaches it (e2e/run-kind.ts; its
#               header lists the SIGGUARD_KIND_* settings), else against local Kind-like containerd
#               1.7 and 2.1 nodes (e2e/run-local.ts; per version also the agent cases, e2e/agent-cases.ts:
#               the image as the DaemonSet's privileged pod through CRI). One `PASS|FAIL <runtime> <case> — <detail>` line
#               per case, then `N passed, M failed`; exit 1 on any failure.
#   make demo   a registry, cosign, a containerd 2.1 node with sigguard, a signed and an unsigned pod;
#               cleans up on exit and on Ctrl-C (e2e/demo.ts).
.PHONY: e2e demo e2e-bundle
E2E_OUT := build/out/e2e

e2e-bundle: $(STAMP)
	@$(NODE) e2e/bundle.mjs

e2e: build tools e2e-bundle
	@if [ -n "$${KIND_CLUSTER:-}" ] && kubectl --context "kind-$$KIND_CLUSTER" get nodes >/dev/null 2>&1; then \
		SIGGUARD_KIND_KEY="$${SIGGUARD_KIND_KEY:-$(abspath $(KIND_KEYS))/cosign.key}" SIGGUARD_KIND_REGISTRY="$${SIGGUARD_KIND_REGISTRY:-$(KIND_REGISTRY)}" \
			$(NODE) $(E2E_OUT)/run-kind.cjs; \
	else \
		if [ -n "$${KIND_CLUSTER:-}" ]; then echo "e2e: kubectl does not reach Kind cluster $$KIND_CLUSTER; running on local containerd nodes"; fi; \
		$(NODE) $(E2E_OUT)/run-local.cjs; \
	fi

# build and tools run first, their output kept in a log: the demo's own output is the first impression
demo: e2e-bundle
	@mkdir -p build/out/demo
	@echo "Building sigguard and checking the tools (make build tools; log: build/out/demo/prepare.log)"
	@$(MAKE) --no-print-directory build tools >build/out/demo/prepare.log 2>&1 || { tail -n 30 build/out/demo/prepare.log; exit 1; }
	@$(NODE) $(E2E_OUT)/demo.cjs

# ---------------------------------------------------------------------------------------------
# make bench: sigguard next to cosign verify on the same images, in one run (bench/bench.ts).
# Not a test: medians, min/max, ratios and peak RSS into bench/results.json. BENCH_RUNS=20.
# Also the node-boot storm and its curve (bench/storm.svg; BENCH_STORM_REPS=2, BENCH_CURVE=
# 1,10,50,100,200), StartContainer against the jq + cosign hook, and issue 15's targets table.
.PHONY: bench
bench: build tools $(STAMP)
	@$(NODE) e2e/bundle.mjs bench/bench.ts
	$(NODE) $(E2E_OUT)/bench.cjs

# make mutation: Stryker (vitest runner) mutates src/engine, src/verify, src/policy and src/hook and
# runs the unit and fixture tests (vitest.mutation.config.ts) against each mutant; incremental, so a
# second run re-tests only what changed. Reports in build/out/mutation (index.html, mutation.json);
# survivors in lines that decide allow or deny are explained in docs/mutation-survivors.md.
.PHONY: mutation
mutation: $(STAMP)
	@mkdir -p build/out/mutation && rm -rf build/out/mutation/cert-cache
	$(NODE) node_modules/@stryker-mutator/core/bin/stryker.js run stryker.config.json
