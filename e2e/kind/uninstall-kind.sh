#!/usr/bin/env bash
# e2e/kind/uninstall-kind.sh — takes sigguard off every node of a Kind cluster: copies
# install/install.sh to the node and runs `install.sh --uninstall` there (the hook out of every
# base spec, the files it put removed, containerd restarted), then kubectl waits (bounded) until
# every node is Ready again.
#
#   uninstall-kind.sh [--cluster NAME] [--wait SECONDS]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cluster=${KIND_CLUSTER:-sigguard}
wait_seconds=120
staging=/tmp/sigguard-uninstall

die() {
  printf 'uninstall-kind.sh: %s\n' "$*" >&2
  exit 1
}
while (($# > 0)); do
  case $1 in
    --cluster) cluster=${2:?--cluster needs a name} && shift 2 ;;
    --wait) wait_seconds=${2:?--wait needs seconds} && shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done

mapfile -t nodes < <(kind get nodes --name "$cluster")
((${#nodes[@]} > 0)) || die "no nodes in Kind cluster $cluster"

work=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-uninstall-kind.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sigguard-uninstall"
install -m 0755 "$repo/install/install.sh" "$work/sigguard-uninstall/install.sh"
for node in "${nodes[@]}"; do
  echo "== $node: uninstalling sigguard"
  docker exec "$node" rm -rf "$staging"
  docker cp "$work/sigguard-uninstall" "$node:$staging" >/dev/null || die "docker cp to node $node failed"
  if ! docker exec "$node" "$staging/install.sh" --uninstall --containerd-config /etc/containerd/config.toml; then
    docker exec "$node" rm -rf "$staging" || true
    die "uninstalling on node $node failed (the installer's own message is above)"
  fi
  docker exec "$node" rm -rf "$staging"
done

echo "== waiting up to ${wait_seconds}s for the nodes of $cluster to be Ready"
kubectl --context "kind-$cluster" wait --for=condition=Ready nodes --all --timeout="${wait_seconds}s" ||
  die "the nodes of $cluster are not Ready within ${wait_seconds}s of the uninstall"
echo "sigguard uninstalled from ${#nodes[@]} node(s) of $cluster"
