#!/usr/bin/env bash
# Proves on a CRI-O + kubeadm node (setup-vm.sh, then configure-crio.sh) that the generated
# policy is enforced: a pod with a signed image runs, a pod with an unsigned image is refused
# at pull with SignatureValidationFailed, and (optionally) an exempt namespace runs it anyway.
#
# usage: test-verification.sh [--signed IMAGE] [--unsigned IMAGE] [--namespace NS]
#                             [--exempt-namespace NS] [--timeout SECONDS]
#   --signed/--unsigned  images under a scope that requires signatures (default: $SIGNED_IMAGE and
#                        $UNSIGNED_IMAGE; setup-vm.sh --with-registry pushes both to localhost:5000)
#   --namespace NS       where the two pods run (default: default)
#   --exempt-namespace NS  a namespace in the policy's exemptNamespaces: the unsigned pod must run there
# env: KUBECTL (default kubectl), CRICTL (default crictl; "none" skips the node-level pull check)
set -euo pipefail

die() { echo "test-verification: $*" >&2; exit 2; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

signed=${SIGNED_IMAGE:-localhost:5000/sigguard-test/signed:v1}
unsigned=${UNSIGNED_IMAGE:-localhost:5000/sigguard-test/unsigned:v1}
namespace=default
exempt=""
timeout=120
kubectl=${KUBECTL:-kubectl}
crictl=${CRICTL:-crictl}
while [ $# -gt 0 ]; do
  case "$1" in
    --signed) [ $# -ge 2 ] || die "--signed needs an IMAGE"; signed=$2; shift 2 ;;
    --unsigned) [ $# -ge 2 ] || die "--unsigned needs an IMAGE"; unsigned=$2; shift 2 ;;
    --namespace) [ $# -ge 2 ] || die "--namespace needs a NS"; namespace=$2; shift 2 ;;
    --exempt-namespace) [ $# -ge 2 ] || die "--exempt-namespace needs a NS"; exempt=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs SECONDS"; timeout=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[[ "$timeout" =~ ^[0-9]+$ ]] || die "--timeout takes whole seconds"
command -v "$kubectl" >/dev/null || die "no $kubectl in PATH"
manifest=$(cd "$(dirname "$0")/../manifests" && pwd)/pod.yaml
failures=0
created=()

cleanup() {
  local p
  for p in "${created[@]}"; do "$kubectl" delete pod "${p#*/}" -n "${p%%/*}" --ignore-not-found --wait=false >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# start NAME NAMESPACE IMAGE: a fresh pod from the manifest.
start() {
  "$kubectl" delete pod "$1" -n "$2" --ignore-not-found --wait=true >/dev/null
  sed -e "s|@NAME@|$1|g" -e "s|@NAMESPACE@|$2|g" -e "s|@IMAGE@|$3|g" "$manifest" | "$kubectl" apply -f - >/dev/null
  created+=("$2/$1")
}

# state NAME NAMESPACE: "phase|waiting reason|waiting message"
state() {
  "$kubectl" get pod "$1" -n "$2" -o jsonpath='{.status.phase}|{.status.containerStatuses[0].state.waiting.reason}|{.status.containerStatuses[0].state.waiting.message}' 2>/dev/null || true
}

# expect_runs NAME NAMESPACE WHAT
expect_runs() {
  local s deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    s=$(state "$1" "$2")
    case "$s" in
      Running\|*|Succeeded\|*) pass "$3 ($2/$1: ${s%%|*})"; return 0 ;;
      *SignatureValidationFailed*|*ErrImagePull*|*ImagePullBackOff*|Failed\|*|*CreateContainerError*|*RunContainerError*)
        fail "$3: $2/$1 did not start: $s"; return 0 ;;
    esac
    sleep 2
  done
  fail "$3: $2/$1 not running after ${timeout}s: ${s:-no status}"
}

# expect_refused NAME NAMESPACE WHAT
expect_refused() {
  local s deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    s=$(state "$1" "$2")
    case "$s" in
      *SignatureValidationFailed*) pass "$3 ($2/$1: SignatureValidationFailed)"; return 0 ;;
      Running\|*|Succeeded\|*) fail "$3: $2/$1 ran: $s"; return 0 ;;
    esac
    sleep 2
  done
  fail "$3: no SignatureValidationFailed for $2/$1 after ${timeout}s: ${s:-no status}"
}

start sigguard-signed "$namespace" "$signed"
start sigguard-unsigned "$namespace" "$unsigned"
expect_runs sigguard-signed "$namespace" "signed image runs"
expect_refused sigguard-unsigned "$namespace" "unsigned image is refused at pull"

if [ "$crictl" != none ] && command -v "$crictl" >/dev/null; then
  "$crictl" rmi "$unsigned" >/dev/null 2>&1 || true
  if out=$("$crictl" pull "$unsigned" 2>&1); then
    fail "crictl pull $unsigned succeeded"
  elif grep -q 'SignatureValidationFailed\|Source image rejected' <<<"$out"; then
    pass "crictl pull of the unsigned image is refused by CRI-O's policy"
  else
    fail "crictl pull $unsigned failed for another reason: $out"
  fi
fi

if [ -n "$exempt" ]; then
  start sigguard-exempt "$exempt" "$unsigned"
  expect_runs sigguard-exempt "$exempt" "unsigned image runs in exempt namespace $exempt"
fi

if [ "$failures" -gt 0 ]; then
  echo "test-verification: $failures check(s) failed" >&2
  exit 1
fi
echo "test-verification: all checks passed"
