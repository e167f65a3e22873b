#!/usr/bin/env bash
# e2e/kind/kind-up.sh — a Kind cluster with a local registry, Kind's documented recipe
# (https://kind.sigs.k8s.io/docs/user/local-registry/):
#
#   1. the registry container `kind-registry` (registry:2), published on 127.0.0.1:5001;
#   2. the cluster (default name sigguard), containerd reading hosts from /etc/containerd/certs.d;
#   3. on every node, certs.d/localhost:5001/hosts.toml: localhost:5001 is http://kind-registry:5000;
#   4. the registry connected to the `kind` network;
#   5. the local-registry-hosting ConfigMap in kube-public (KEP-1755).
#
#   kind-up.sh [--cluster NAME] [--registry-port 5001] [--node-image IMAGE] [--wait SECONDS]
#
# Idempotent: an existing registry container or cluster is reused.
# Environment: KIND_CLUSTER, KIND_NODE_IMAGE.
set -euo pipefail

cluster=${KIND_CLUSTER:-sigguard}
reg_name=kind-registry
reg_port=5001
node_image=${KIND_NODE_IMAGE:-}
wait_seconds=180

die() {
  printf 'kind-up.sh: %s\n' "$*" >&2
  exit 1
}
while (($# > 0)); do
  case $1 in
    --cluster) cluster=${2:?--cluster needs a name} && shift 2 ;;
    --registry-port) reg_port=${2:?--registry-port needs a port} && shift 2 ;;
    --node-image) node_image=${2:?--node-image needs an image} && shift 2 ;;
    --wait) wait_seconds=${2:?--wait needs seconds} && shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

# 1. the registry container
if [[ "$(docker inspect -f '{{.State.Running}}' "$reg_name" 2>/dev/null || true)" != true ]]; then
  docker run -d --restart=always -p "127.0.0.1:${reg_port}:5000" --network bridge --name "$reg_name" registry:2 >/dev/null ||
    die "cannot start the registry container $reg_name"
fi

# 2. the cluster (the config_path patch is what Kind images before v0.27 need; harmless after)
if ! kind get clusters 2>/dev/null | grep -qx -- "$cluster"; then
  create=(kind create cluster --name "$cluster" --wait "${wait_seconds}s" --config=-)
  [[ -z $node_image ]] || create+=(--image "$node_image")
  "${create[@]}" <<'YAML' || die "kind create cluster --name $cluster failed"
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
containerdConfigPatches:
- |-
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
YAML
fi

# 3. localhost:<port> on every node is the registry container, by name on the kind network
registry_dir="/etc/containerd/certs.d/localhost:${reg_port}"
mapfile -t nodes < <(kind get nodes --name "$cluster")
((${#nodes[@]} > 0)) || die "Kind cluster $cluster has no nodes"
for node in "${nodes[@]}"; do
  docker exec "$node" mkdir -p "$registry_dir"
  printf '[host."http://%s:5000"]\n' "$reg_name" | docker exec -i "$node" cp /dev/stdin "$registry_dir/hosts.toml"
done

# 4. the registry on the cluster's network
if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$reg_name")" == null ]]; then
  docker network connect kind "$reg_name"
fi

# 5. document the local registry
kubectl --context "kind-$cluster" apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${reg_port}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML
echo "Kind cluster $cluster (context kind-$cluster) with registry localhost:${reg_port} ($reg_name) on ${#nodes[@]} node(s)"
