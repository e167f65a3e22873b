#!/usr/bin/env bash
# e2e/kind/sign-images.sh — the images the Kind end-to-end pods run, in the local registry:
#
#   sigguard-e2e/signed:v1    signed with .keys/cosign.key         (e2e/manifests/signed-pod.yaml: runs)
#   sigguard-e2e/unsigned:v1  no signature                         (unsigned-pod.yaml: refused, NO_SIGNATURE)
#   sigguard-e2e/otherkey:v1  signed with .keys/other/cosign.key   (wrong-key-pod.yaml: UNTRUSTED_SIGNER)
#   sigguard-e2e/copied:v1    signed:v1 and its signature copied   (wrong-repository-pod.yaml: IDENTITY_MISMATCH)
#
#   sign-images.sh [--registry localhost:5001] [--keys DIR] [--keys-only]
#
# Keys: made once (cosign 2 generate-key-pair, empty password) in DIR (default .keys/, git-ignored);
# DIR/cosign.pub is the key install-kind puts on the nodes. --keys-only stops there.
# Images: busybox + /marker for this machine's architecture, pushed with the project's own pusher
# (e2e/kind/push-images.ts, bundled with esbuild and run with the pinned Node); signatures:
# cosign 2 legacy signatures (.tools/bin/cosign2, --tlog-upload=false: no Rekor).
# Environment: KIND_REGISTRY, COSIGN (default .tools/bin/cosign2).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
registry=${KIND_REGISTRY:-localhost:5001}
keys=$repo/.keys
keys_only=false
cosign=${COSIGN:-$repo/.tools/bin/cosign2}

die() {
  printf 'sign-images.sh: %s\n' "$*" >&2
  exit 1
}
while (($# > 0)); do
  case $1 in
    --registry) registry=${2:?--registry needs host:port} && shift 2 ;;
    --keys) keys=${2:?--keys needs a directory} && shift 2 ;;
    --keys-only) keys_only=true && shift ;;
    *) die "unknown argument: $1 (usage: sign-images.sh [--registry HOST:PORT] [--keys DIR] [--keys-only])" ;;
  esac
done
[[ -x $cosign ]] || die "cosign 2 not found at $cosign (make tools)"

# ---- keys, once --------------------------------------------------------------------------------
for dir in "$keys" "$keys/other"; do
  [[ ! -f $dir/cosign.key ]] || continue
  mkdir -p "$dir"
  chmod 0700 "$dir"
  (cd "$dir" && COSIGN_PASSWORD='' "$cosign" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair in $dir failed"
  echo "new key pair: $dir/cosign.key, $dir/cosign.pub"
done
$keys_only && exit 0

# ---- images ------------------------------------------------------------------------------------
case $(uname -m) in
  x86_64) node_arch=x64 ;;
  aarch64 | arm64) node_arch=arm64 ;;
  *) die "no pinned Node for $(uname -m)" ;;
esac
node=$repo/node_modules/node-linux-$node_arch/bin/node
esbuild=$repo/node_modules/esbuild/bin/esbuild
[[ -x $node && -x $esbuild ]] || die "the pinned Node or esbuild is missing (make deps)"
work=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-sign-images.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$esbuild" "$here/push-images.ts" --bundle --platform=node --format=cjs --target=node24 \
  --log-level=warning --outfile="$work/push-images.cjs" || die "bundling push-images.ts failed"

declare -A digest
while read -r name d; do digest[$name]=$d; done < <("$node" "$work/push-images.cjs" "$registry" signed unsigned otherkey || echo "failed -")
for name in signed unsigned otherkey; do
  [[ ${digest[$name]:-} == sha256:* ]] || die "pushing sigguard-e2e/$name:v1 to $registry failed"
done

sign() { # KEY REF
  COSIGN_PASSWORD='' "$cosign" sign --key "$1" --tlog-upload=false -y "$2" >"$work/cosign.log" 2>&1 ||
    die "cosign sign $2 failed: $(tail -n1 "$work/cosign.log")"
}
sign "$keys/cosign.key" "$registry/sigguard-e2e/signed@${digest[signed]}"
sign "$keys/other/cosign.key" "$registry/sigguard-e2e/otherkey@${digest[otherkey]}"
# the signed image with its signature, under another repository: the signature names sigguard-e2e/signed
"$cosign" copy -f "$registry/sigguard-e2e/signed@${digest[signed]}" "$registry/sigguard-e2e/copied:v1" >"$work/cosign.log" 2>&1 ||
  die "cosign copy to $registry/sigguard-e2e/copied:v1 failed: $(tail -n1 "$work/cosign.log")"

printf '%-40s %s\n' \
  "$registry/sigguard-e2e/signed:v1" "${digest[signed]} signed by $keys/cosign.key" \
  "$registry/sigguard-e2e/unsigned:v1" "${digest[unsigned]} not signed" \
  "$registry/sigguard-e2e/otherkey:v1" "${digest[otherkey]} signed by $keys/other/cosign.key" \
  "$registry/sigguard-e2e/copied:v1" "${digest[signed]} signed:v1 copied with its signature"
