#!/usr/bin/env bash
# Installs what `sigguard crio-policy` generates on a CRI-O node and restarts CRI-O:
# one sigguard policy, enforced by CRI-O at pull (containers/image) and by the
# sigguard hook at every container start.
#
# usage: configure-crio.sh [--root DIR] [--no-restart] [--sigguard BIN] [--install-binary FILE]
#                          [--policy FILE] [--containers-image-version X.Y] [-- CRIO-POLICY FLAGS...]
#
#   --policy FILE        the sigguard policy the hook reads too (default ROOT/etc/sigguard/policy.yaml);
#                        relative key paths in it are written as paths in its node folder
#   --sigguard BIN       the sigguard that generates (default: sigguard in PATH, else /usr/local/bin/sigguard)
#   --install-binary F   also install F as ROOT/usr/local/bin/sigguard, the path hooks.d names
#   --root DIR           install under DIR instead of / (a DESTDIR: image builds, tests); implies --no-restart
#   --containers-image-version X.Y   the containers/image CRI-O is built with (default: sigguard's newest)
#   after --              more `sigguard crio-policy` flags, e.g. --hook-fallback
#
# Installs (under ROOT):
#   policy.json                  /etc/crio/sigguard/policy.json
#   policies/<namespace>.json    /etc/crio/sigguard/policies/   (stale ones removed)
#   registries.d/sigguard.yaml   /etc/containers/registries.d/sigguard.yaml
#   crio.conf.d/10-sigguard.conf /etc/crio/crio.conf.d/10-sigguard.conf
#   hooks.d/sigguard.json        /usr/share/containers/oci/hooks.d/sigguard.json  (CRI-O's default hooks_dir)
#   NOTES.txt, README.md         /etc/crio/sigguard/
set -euo pipefail

die() { echo "configure-crio: $*" >&2; exit 2; }
say() { echo "configure-crio: $*"; }

root=""
restart=1
sigguard=""
install_binary=""
policy=""
version=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --root) [ $# -ge 2 ] || die "--root needs a DIR"; root=${2%/}; restart=0; shift 2 ;;
    --no-restart) restart=0; shift ;;
    --sigguard) [ $# -ge 2 ] || die "--sigguard needs a BIN"; sigguard=$2; shift 2 ;;
    --install-binary) [ $# -ge 2 ] || die "--install-binary needs a FILE"; install_binary=$2; shift 2 ;;
    --policy) [ $# -ge 2 ] || die "--policy needs a FILE"; policy=$2; shift 2 ;;
    --containers-image-version) [ $# -ge 2 ] || die "--containers-image-version needs X.Y"; version=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a folder"
  root=$(cd "$root" && pwd)
fi
if [ -z "$sigguard" ]; then
  sigguard=$(command -v sigguard || echo /usr/local/bin/sigguard)
fi
[ -x "$sigguard" ] || die "no sigguard at $sigguard (give --sigguard BIN)"
policy=${policy:-$root/etc/sigguard/policy.yaml}
[ -f "$policy" ] || die "no sigguard policy at $policy (give --policy FILE)"
policy=$(cd "$(dirname "$policy")" && pwd)/$(basename "$policy")

# Relative key paths are written as the node sees them: the policy's folder, without ROOT.
policy_dir=$(dirname "$policy")
key_dir=$policy_dir
if [ -n "$root" ]; then
  case "$policy_dir/" in
    "$root"/*) key_dir=${policy_dir#"$root"} ;;
    *) key_dir=$policy_dir ;;
  esac
  key_dir=${key_dir:-/}
fi

if [ "$policy" != "$root/etc/sigguard/policy.yaml" ]; then
  echo "configure-crio: warning: the hook reads /etc/sigguard/policy.yaml, not $policy: install this policy (and its keys) there so that both enforcers use one policy" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-crio.XXXXXX")
trap 'rm -rf "$work"' EXIT

args=(crio-policy --policy "$policy" --out "$work/out" --target-dir "$root/etc/containers/registries.d" --key-dir "$key_dir")
[ -z "$version" ] || args+=(--containers-image-version "$version")
args+=("${extra[@]}")
"$sigguard" "${args[@]}"
out=$work/out

# put SRC DEST: write DEST whole (a reader never sees half a file).
put() {
  install -d -m 0755 "$(dirname "$2")"
  install -m 0644 "$1" "$2.sigguard-new"
  mv -f "$2.sigguard-new" "$2"
}

put "$out/policy.json" "$root/etc/crio/sigguard/policy.json"
put "$out/NOTES.txt" "$root/etc/crio/sigguard/NOTES.txt"
put "$out/README.md" "$root/etc/crio/sigguard/README.md"
install -d -m 0755 "$root/etc/crio/sigguard/policies"
for old in "$root"/etc/crio/sigguard/policies/*.json; do
  [ -e "$old" ] || continue
  [ -e "$out/policies/$(basename "$old")" ] || { rm -f "$old"; say "removed stale namespace policy $(basename "$old")"; }
done
for ns in "$out"/policies/*.json; do
  [ -e "$ns" ] || continue
  put "$ns" "$root/etc/crio/sigguard/policies/$(basename "$ns")"
done
put "$out/registries.d/sigguard.yaml" "$root/etc/containers/registries.d/sigguard.yaml"
put "$out/crio.conf.d/10-sigguard.conf" "$root/etc/crio/crio.conf.d/10-sigguard.conf"
put "$out/hooks.d/sigguard.json" "$root/usr/share/containers/oci/hooks.d/sigguard.json"
if [ -n "$install_binary" ]; then
  [ -f "$install_binary" ] || die "--install-binary $install_binary: no such file"
  install -d -m 0755 "$root/usr/local/bin"
  install -m 0755 "$install_binary" "$root/usr/local/bin/sigguard.sigguard-new"
  mv -f "$root/usr/local/bin/sigguard.sigguard-new" "$root/usr/local/bin/sigguard"
fi

# A drop-in sorting after ours that sets the same keys would win over it.
for conf in "$root"/etc/crio/crio.conf.d/*.conf; do
  [ -e "$conf" ] || continue
  name=$(basename "$conf")
  if [[ "$name" > "10-sigguard.conf" ]] && grep -Eq '^[[:space:]]*signature_policy(_dir)?[[:space:]]*=' "$conf"; then
    echo "configure-crio: warning: $conf sorts after 10-sigguard.conf and sets signature_policy: it overrides sigguard's" >&2
  fi
done

say "installed under ${root:-/}"
if [ "$restart" -eq 1 ]; then
  systemctl restart crio
  for _ in $(seq 1 30); do
    if systemctl is-active --quiet crio; then say "crio restarted"; exit 0; fi
    sleep 1
  done
  die "crio did not come back within 30 s (journalctl -u crio)"
fi
