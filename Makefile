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

typecheck: $(STAMP)
	$(NODE) node_modules/typescript/bin/tsc -p .

# Registry, runtimes, cosign 2 and 3, containerd: installed or fetched by the project itself.
tools:
	bash build/tools.sh

test-unit: build
	$(VITEST) test/unit test/fixtures

test-integration: build tools
	$(VITEST) test/integration

# Every tier. Installs what the tiers need (npm packages, Debian packages, cosign...).
test: build tools typecheck
	$(VITEST)

clean:
	rm -rf build/out

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
