#!/bin/sh
# The approach sigguard replaces, as `make bench`'s baseline: an OCI hook (createRuntime) that is a
# shell script running jq and `cosign verify --key` on every container start, no cache.
#
#   shell-hook.sh <cosign.pub> [<cosign binary>]     (OCI state on stdin)
#
# The image is the CRI annotation io.kubernetes.cri.image-name from the state, else from the
# bundle's config.json; sandbox (pause) containers are let through, as sigguard does. Signatures
# are verified offline (--insecure-ignore-tlog: the bench signs without Rekor). Exits non-zero,
# and so fails the start, when cosign refuses or anything goes wrong.
set -eu

key=${1:?usage: shell-hook.sh <cosign.pub> [<cosign>]}
cosign=${2:-cosign}

state=$(cat)
annotation() { # <json> <name>
  printf '%s' "$1" | jq -r --arg n "$2" '.annotations[$n] // empty'
}

type=$(annotation "$state" io.kubernetes.cri.container-type)
[ "$type" = sandbox ] && exit 0

image=$(annotation "$state" io.kubernetes.cri.image-name)
if [ -z "$image" ]; then
  bundle=$(printf '%s' "$state" | jq -r '.bundle // empty')
  [ -n "$bundle" ] || { echo "shell-hook: no bundle in the state" >&2; exit 1; }
  image=$(annotation "$(cat "$bundle/config.json")" io.kubernetes.cri.image-name)
fi
[ -n "$image" ] || { echo "shell-hook: no image name in the state or config" >&2; exit 1; }

if ! out=$("$cosign" verify --key "$key" --insecure-ignore-tlog "$image" 2>&1); then
  printf 'shell-hook: %s refused: %s\n' "$image" "$(printf '%s' "$out" | tail -n 1)" >&2
  exit 1
fi
exit 0
