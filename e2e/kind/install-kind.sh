#!/usr/bin/env bash
# e2e/kind/install-kind.sh — installs sigguard on every node of a Kind cluster with the one
# installer, install/install.sh:
#
#   for every node of `kind get nodes --name CLUSTER`:
#     the node's architecture (docker exec NODE uname -m) picks build/out/sigguard-linux-<arch>;
#     install.sh, that binary, the policy, the config and the PUBLIC keys (KEYS/*.pub) go to
#     /tmp/sigguard-install on the node (docker cp), and the node runs
#     /tmp/sigguard-install/install.sh (docker exec): /usr/local/bin/sigguard, /etc/sigguard/,
#     the hook in the base spec of every runtime handler, containerd restarted;
#   then kubectl waits (bounded) until every node is Ready again.
#
#   install-kind.sh [--cluster NAME] [--policy FILE] [--config FILE|--no-config] [--keys DIR]
#                   [--binary-dir DIR] [--wait SECONDS]
#
# Defaults: cluster sigguard, install/kind/policy.yaml, install/kind/config.yaml, .keys/
# (make sign-images), build/out (make build), 120 s.
# Environment: KIND_CLUSTER.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cluster=${KIND_CLUSTER:-sigguard}
policy=$repo/install/kind/policy.yaml
config=$repo/install/kind/config.yaml
keys=$repo/.keys
bindir=$repo/build/out
wait_seconds=120
staging=/tmp/sigguard-install

die() {
  printf 'install-kind.sh: %s\n' "$*" >&2
  exit 1
}
while (($# > 0)); do
  case $1 in
    --cluster) cluster=${2:?--cluster needs a name} && shift 2 ;;
    --policy) policy=${2:?--policy needs a file} && shift 2 ;;
    --config) config=${2:?--config needs a file} && shift 2 ;;
    --no-config) config='' && shift ;;
    --keys) keys=${2:?--keys needs a directory} && shift 2 ;;
    --binary-dir) bindir=${2:?--binary-dir needs a directory} && shift 2 ;;
    --wait) wait_seconds=${2:?--wait needs seconds} && shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ -f $policy ]] || die "policy $policy does not exist"
[[ -z $config || -f $config ]] || die "config $config does not exist"
pubs=()
for k in "$keys"/*.pub; do [[ ! -f $k ]] || pubs+=("$k"); done
((${#pubs[@]} > 0)) || die "no public keys (*.pub) in $keys (make sign-images makes .keys/cosign.pub)"

mapfile -t nodes < <(kind get nodes --name "$cluster")
((${#nodes[@]} > 0)) || die "no nodes in Kind cluster $cluster (make kind-up)"

work=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-install-kind.XXXXXX")
trap 'rm -rf "$work"' EXIT
for node in "${nodes[@]}"; do
  machine=$(docker exec "$node" uname -m) || die "cannot run uname -m on node $node"
  case $machine in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "node $node: no sigguard build for $machine" ;;
  esac
  binary=$bindir/sigguard-linux-$arch
  [[ -x $binary ]] || die "no $binary for node $node (make build)"

  stage=$work/$node/sigguard-install
  mkdir -p "$stage/keys"
  install -m 0755 "$repo/install/install.sh" "$stage/install.sh"
  install -m 0755 "$binary" "$stage/sigguard"
  install -m 0644 "$policy" "$stage/policy.yaml"
  install -m 0644 "${pubs[@]}" "$stage/keys/"
  args=(--binary "$staging/sigguard" --policy "$staging/policy.yaml" --keys "$staging/keys"
    --containerd-config /etc/containerd/config.toml)
  if [[ -n $config ]]; then
    install -m 0644 "$config" "$stage/config.yaml"
    args+=(--config "$staging/config.yaml")
  fi

  echo "== $node ($machine): installing sigguard"
  docker exec "$node" rm -rf "$staging"
  docker cp "$stage" "$node:$staging" >/dev/null || die "docker cp to node $node failed"
  if ! docker exec "$node" "$staging/install.sh" "${args[@]}"; then
    docker exec "$node" rm -rf "$staging" || true
    die "installing on node $node failed (the installer's own message is above)"
  fi
  docker exec "$node" rm -rf "$staging"
done

echo "== waiting up to ${wait_seconds}s for the nodes of $cluster to be Ready"
kubectl --context "kind-$cluster" wait --for=condition=Ready nodes --all --timeout="${wait_seconds}s" ||
  die "the nodes of $cluster are not Ready within ${wait_seconds}s of the install"
echo "sigguard installed on ${#nodes[@]} node(s) of $cluster"
