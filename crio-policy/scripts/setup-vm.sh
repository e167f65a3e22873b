#!/usr/bin/env bash
# Turns a fresh Debian 12+ or Ubuntu 22.04+ VM into a single-node kubeadm cluster on CRI-O,
# ready for configure-crio.sh and test-verification.sh. Run as root, on a VM you can throw away.
#
# usage: setup-vm.sh [--kubernetes vX.Y] [--crio vX.Y] [--crio-from crio|distro] [--sigguard BIN]
#                    [--with-registry] [--test-images COSIGN_KEY] [--dry-run]
#   --kubernetes vX.Y    kubelet/kubeadm/kubectl from pkgs.k8s.io (default v1.30)
#   --crio vX.Y          CRI-O's own packages (default v1.30; 1.28+ reads signature_policy_dir)
#   --crio-from distro   the distribution's cri-o package instead (its CRI-O and containers/image
#                        versions are the distribution's: check them before configure-crio.sh)
#   --sigguard BIN       install BIN as /usr/local/bin/sigguard (the path hooks.d names)
#   --with-registry      the distribution's docker-registry on 127.0.0.1:5000, plain HTTP, for tests
#   --test-images KEY    with --with-registry: push registry.k8s.io/pause as
#                        localhost:5000/sigguard-test/{signed,unsigned}:v1 and sign the first with
#                        `cosign sign --key KEY` (cosign from PATH or $COSIGN)
#   --dry-run            print every command instead of running it
# env: CRIO_REPO overrides the CRI-O apt repository (default pkgs.k8s.io/addons:/cri-o:/stable:/vX.Y/deb)
set -euo pipefail

die() { echo "setup-vm: $*" >&2; exit 2; }

kube=v1.30
crio=v1.30
crio_from=crio
sigguard=""
registry=0
test_key=""
dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --kubernetes) [ $# -ge 2 ] || die "--kubernetes needs vX.Y"; kube=$2; shift 2 ;;
    --crio) [ $# -ge 2 ] || die "--crio needs vX.Y"; crio=$2; shift 2 ;;
    --crio-from) [ $# -ge 2 ] || die "--crio-from needs crio or distro"; crio_from=$2; shift 2 ;;
    --sigguard) [ $# -ge 2 ] || die "--sigguard needs a BIN"; sigguard=$2; shift 2 ;;
    --with-registry) registry=1; shift ;;
    --test-images) [ $# -ge 2 ] || die "--test-images needs a cosign KEY"; test_key=$2; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$kube" =~ ^v[0-9]+\.[0-9]+$ ]] || die "--kubernetes takes vX.Y, not $kube"
[[ "$crio" =~ ^v[0-9]+\.[0-9]+$ ]] || die "--crio takes vX.Y, not $crio"
case "$crio_from" in crio|distro) ;; *) die "--crio-from takes crio or distro" ;; esac
[ -z "$test_key" ] || [ "$registry" -eq 1 ] || die "--test-images needs --with-registry"
crio_repo=${CRIO_REPO:-https://pkgs.k8s.io/addons:/cri-o:/stable:/$crio/deb}
kube_repo=https://pkgs.k8s.io/core:/stable:/$kube/deb

# run CMD...: runs it, or prints it with --dry-run.
run() {
  if [ "$dry" -eq 1 ]; then printf '+'; printf ' %q' "$@"; printf '\n'; else "$@"; fi
}
# write FILE: stdin to FILE (printed with --dry-run).
write() {
  if [ "$dry" -eq 1 ]; then echo "+ write $1:"; sed 's/^/    /'; else install -d -m 0755 "$(dirname "$1")"; cat >"$1"; fi
}
# keyring URL FILE: an apt repository's signing key, dearmored.
keyring() {
  if [ "$dry" -eq 1 ]; then echo "+ curl -fsSL $1 | gpg --dearmor -o $2"; else curl -fsSL "$1" | gpg --dearmor --yes -o "$2"; fi
}

if [ "$dry" -eq 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "run as root"
  # shellcheck source=/dev/null
  . /etc/os-release
  case "${ID:-}" in debian|ubuntu) ;; *) die "Debian or Ubuntu only (this is ${ID:-unknown})" ;; esac
fi

echo "== kernel and network prerequisites"
run swapoff -a
run sed -i '/[[:space:]]swap[[:space:]]/s/^/#/' /etc/fstab
printf 'overlay\nbr_netfilter\n' | write /etc/modules-load.d/k8s.conf
run modprobe overlay
run modprobe br_netfilter
printf 'net.bridge.bridge-nf-call-iptables = 1\nnet.bridge.bridge-nf-call-ip6tables = 1\nnet.ipv4.ip_forward = 1\n' | write /etc/sysctl.d/k8s.conf
run sysctl --system

echo "== packages: Kubernetes $kube, CRI-O $crio ($crio_from)"
export DEBIAN_FRONTEND=noninteractive
run apt-get update
run apt-get install -y ca-certificates curl gpg apt-transport-https
run install -d -m 0755 /etc/apt/keyrings
keyring "$kube_repo/Release.key" /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] $kube_repo/ /" | write /etc/apt/sources.list.d/kubernetes.list
if [ "$crio_from" = crio ]; then
  keyring "$crio_repo/Release.key" /etc/apt/keyrings/cri-o-apt-keyring.gpg
  echo "deb [signed-by=/etc/apt/keyrings/cri-o-apt-keyring.gpg] $crio_repo/ /" | write /etc/apt/sources.list.d/cri-o.list
fi
run apt-get update
run apt-get install -y cri-o kubelet kubeadm kubectl
run apt-mark hold cri-o kubelet kubeadm kubectl
run systemctl enable --now crio

if [ -n "$sigguard" ]; then
  echo "== sigguard"
  [ "$dry" -eq 1 ] || [ -x "$sigguard" ] || die "--sigguard $sigguard is not an executable"
  run install -D -m 0755 "$sigguard" /usr/local/bin/sigguard
fi

if [ "$registry" -eq 1 ]; then
  echo "== a test registry on 127.0.0.1:5000"
  run apt-get install -y docker-registry skopeo
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5000\n' | write /etc/docker/registry/config.yml
  run systemctl restart docker-registry
  printf '[[registry]]\nlocation = "localhost:5000"\ninsecure = true\n' | write /etc/containers/registries.conf.d/50-sigguard-test-registry.conf
fi

echo "== kubeadm init (single node)"
run kubeadm init --cri-socket unix:///var/run/crio/crio.sock --pod-network-cidr 10.85.0.0/16
run install -d -m 0700 /root/.kube
run install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config
run kubectl --kubeconfig /etc/kubernetes/admin.conf taint nodes --all node-role.kubernetes.io/control-plane- --overwrite

if [ -n "$test_key" ]; then
  echo "== test images"
  cosign=${COSIGN:-$(command -v cosign || true)}
  [ "$dry" -eq 1 ] || [ -n "$cosign" ] || die "--test-images needs cosign in PATH (or COSIGN=...)"
  pause=$(kubeadm config images list --kubernetes-version "$(kubeadm version -o short 2>/dev/null || echo stable)" 2>/dev/null | grep /pause: || echo registry.k8s.io/pause:3.9)
  for name in signed unsigned; do
    run skopeo copy --dest-tls-verify=false "docker://$pause" "docker://localhost:5000/sigguard-test/$name:v1"
  done
  if [ "$dry" -eq 1 ]; then
    run "${cosign:-cosign}" sign --key "$test_key" --tlog-upload=false --allow-insecure-registry -y "localhost:5000/sigguard-test/signed@DIGEST"
  else
    digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' docker://localhost:5000/sigguard-test/signed:v1)
    run "$cosign" sign --key "$test_key" --tlog-upload=false --allow-insecure-registry -y "localhost:5000/sigguard-test/signed@$digest"
  fi
fi

echo "== done. Next: put the sigguard policy (and its keys) in /etc/sigguard, then"
echo "   crio-policy/scripts/configure-crio.sh   (or: make crio-configure)"
echo "   crio-policy/scripts/test-verification.sh (or: make crio-test)"
