#!/usr/bin/env bash
# e2e/lib/images.sh — build tiny OCI images with umoci and push them with
# skopeo to a plain-HTTP registry.  Source it, then:
#
#   digest=$(build_and_push_image 127.0.0.1:5000 demo/app:v1 "hello v1")
#
# The image is linux/<host arch>, one layer holding /bin/busybox (static,
# from busybox-static), /bin/sh -> busybox, and /marker containing
# <marker-text>; Cmd is ["/bin/busybox","cat","/marker"].  Different marker
# texts give different layer and manifest digests (umoci also stamps the
# creation time, so even equal markers are not guaranteed to give equal
# digests).  The manifest is pushed as an OCI image manifest
# (application/vnd.oci.image.manifest.v1+json).  Prints the manifest digest
# (sha256:...) on stdout; progress goes to stderr.

IMAGES_BUSYBOX=${IMAGES_BUSYBOX:-/bin/busybox}

build_and_push_image() {
  local hostport=${1:?registry host:port} ref=${2:?repo:tag} marker=${3:?marker text}
  local work rc=0
  work=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-img.XXXXXX")
  _images_build_push "$hostport" "$ref" "$marker" "$work" || rc=$?
  rm -rf "$work"
  return "$rc"
}

_images_build_push() {
  local hostport=$1 ref=$2 marker=$3 work=$4
  local layout="$work/oci" bundle="$work/bundle" rootfs
  [[ -x "$IMAGES_BUSYBOX" ]] || { echo "images.sh: $IMAGES_BUSYBOX missing (busybox-static)" >&2; return 1; }
  umoci init --layout "$layout" >&2
  umoci new --image "$layout:img" >&2
  umoci unpack --image "$layout:img" "$bundle" >&2
  rootfs="$bundle/rootfs"
  mkdir -p "$rootfs/bin"
  cp "$IMAGES_BUSYBOX" "$rootfs/bin/busybox"
  ln -sf busybox "$rootfs/bin/sh"
  printf '%s\n' "$marker" >"$rootfs/marker"
  umoci repack --image "$layout:img" "$bundle" >&2
  umoci config --image "$layout:img" \
    --config.cmd /bin/busybox --config.cmd cat --config.cmd /marker \
    --config.env PATH=/bin >&2
  umoci gc --layout "$layout" >&2
  skopeo copy --quiet --dest-tls-verify=false --digestfile "$work/digest" \
    "oci:$layout:img" "docker://$hostport/$ref" >&2
  cat "$work/digest"
  echo
}
