#!/usr/bin/env bash
# build/tools.sh — install / fetch every external tool the tests need.
#
#  a) Debian (bookworm) packages, installed system-wide with apt-get when
#     missing: docker-registry, runc, crun, umoci, busybox-static, skopeo,
#     podman, the shell linter, jq, iproute2 (+ curl for the e2e helpers).
#     No service is left running by the install (policy-rc.d returns 101).
#  b) Newer tools from other Debian suites, NOT installed system-wide: a
#     private apt configuration under .tools/apt/<suite> (same mirror as the
#     machine's own sources), `apt-get download`, `dpkg -x` into
#     .tools/<pkg>-<debian-version>/, and stable entry points:
#       .tools/bin/cosign2                       (cosign 2.5.0,   trixie)
#       .tools/bin/cosign3                       (cosign 3.1.1,   sid)
#       .tools/containerd-1.7/bin/{containerd,ctr,containerd-shim-runc-v2}
#       .tools/containerd-2.1/bin/{containerd,ctr,containerd-shim-runc-v2}
#       .tools/cri-api/api.proto                 (Kubernetes 1.36 CRI, sid; test/unit/cri-proto.test.ts)
#       .tools/bin/promtool                      (Prometheus 2.42, bookworm: `promtool check metrics` on the agent's /metrics)
#       .tools/bin/kubectl                       (kubectl 1.32, trixie: `kubectl kustomize` renders deploy/ in test/unit/deploy.test.ts)
#       .tools/bin/dbus-daemon                   (dbus-daemon 1.14, bookworm, with its libdbus-1-3 in .tools/dbus-lib:
#                                                 the tests' stand-in for the host's system bus, `agent --restart systemd`)
#  c) One summary line per tool with its version.
#
# Idempotent; when everything is present it does no network access at all.
# Must run as root (it is called by `make test` in CI).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
TOOLS="$ROOT/.tools"
export DEBIAN_FRONTEND=noninteractive

APT_PKGS=(docker-registry runc crun umoci busybox-static skopeo podman
          shellcheck jq iproute2 curl time)

# name|debian-package|suite|wanted-upstream-version|stable-link
FETCH=(
  "cosign2|cosign|trixie|2.5.0|bin/cosign2"
  "cosign3|cosign|sid|3.1.1|bin/cosign3"
  "containerd17|containerd|trixie|1.7.24|containerd-1.7"
  "containerd21|containerd|sid|2.1.9|containerd-2.1"
  "criapi|golang-k8s-cri-api-dev|sid|0.36.4|cri-api"
  "promtool|prometheus|bookworm|2.42.0|bin/promtool"
  "kubectl|kubectl|trixie|1.32.3|bin/kubectl"
  "libdbus|libdbus-1-3|bookworm|1.14.10|dbus-lib"
  "dbusdaemon|dbus-daemon|bookworm|1.14.10|bin/dbus-daemon"
)
CONTAINERD_BINS=(containerd ctr containerd-shim-runc-v2)
CRI_PROTO=usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto

log()  { printf 'tools.sh: %s\n' "$*" >&2; }
warn() { printf 'tools.sh: WARNING: %s\n' "$*" >&2; }
die()  { printf 'tools.sh: ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- .gitignore
ensure_gitignore() {
  local f="$ROOT/.gitignore" line
  touch "$f"
  for line in '.tools/' 'node_modules/'; do
    if ! grep -qxF "$line" "$f"; then
      # keep a trailing newline before appending
      if [[ -s "$f" && -n "$(tail -c1 "$f")" ]]; then printf '\n' >>"$f"; fi
      printf '%s\n' "$line" >>"$f"
    fi
  done
}

# ------------------------------------------------------------- a) apt-get
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=""
restore_policy() {
  if [[ -n "$POLICY_BAK" ]]; then
    mv -f "$POLICY_BAK" "$POLICY"
    POLICY_BAK=""
  else
    rm -f "$POLICY"
  fi
}

install_apt_packages() {
  local missing=() p
  for p in "${APT_PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
      missing+=("$p")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "must run as root to install: ${missing[*]}"
  log "installing: ${missing[*]}"

  # apt-get update only when the package lists do not know the packages
  if ! apt-cache policy docker-registry 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq
  fi

  # keep maintainer scripts from starting services (docker-registry) during
  # the install; an already present policy-rc.d is put back afterwards
  if [[ -e "$POLICY" ]]; then
    POLICY_BAK=$(mktemp /usr/sbin/policy-rc.d.sigguard.XXXXXX)
    cp -p "$POLICY" "$POLICY_BAK"
  fi
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 0755 "$POLICY"
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    # stale package lists (files gone from the mirror): refresh once, retry
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  restore_policy
  trap - EXIT

  # belt and braces: nothing may remain of a registry service started anyway
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  elif [[ -x /etc/init.d/docker-registry ]]; then
    /etc/init.d/docker-registry stop >/dev/null 2>&1 || true
  fi
}

# ---------------------------------------------------- b) private apt suites
# The mirror URI used by the machine's Debian main source (deb822 first).
mirror_uri() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    uri=$(awk '
      BEGIN { RS=""; FS="\n" }           # one paragraph per stanza
      {
        u=""; s=""; c=""; en="yes"
        for (i=1; i<=NF; i++) {
          if ($i ~ /^[ \t]*#/) continue
          if ($i ~ /^URIs:/)       { u=$i; sub(/^URIs:[ \t]*/, "", u) }
          if ($i ~ /^Suites:/)     { s=$i }
          if ($i ~ /^Components:/) { c=$i }
          if ($i ~ /^Enabled:[ \t]*no/) { en="no" }
        }
        split(u, us, /[ \t]+/)
        if (en == "yes" && us[1] ~ /\/debian\/?$/ && c ~ /main/ && s !~ /security/) {
          print us[1]; exit
        }
      }' "$f")
    [[ -n "$uri" ]] && break
  done
  if [[ -z "$uri" && -f /etc/apt/sources.list ]]; then
    uri=$(awk '$1 == "deb" {
        for (i=2; i<=NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; exit }
      }' /etc/apt/sources.list | grep -m1 '/debian/\?$' || true)
  fi
  [[ -n "$uri" ]] || die "cannot find the Debian mirror in the apt sources"
  printf '%s\n' "${uri%/}"
}

# Keyring that verifies <suite>: the machine's archive keyring first; a
# bookworm keyring also carries the trixie keys, which sign sid as well.
KEYRINGS=(/usr/share/keyrings/debian-archive-keyring.gpg
          /usr/share/keyrings/debian-archive-trixie-automatic.gpg
          /usr/share/keyrings/debian-archive-trixie-stable.gpg)

apt_opts() { # <suite-dir>
  local d=$1
  printf '%s\n' \
    -o "Dir::State=$d/state" \
    -o "Dir::State::status=/var/lib/dpkg/status" \
    -o "Dir::Cache=$d/cache" \
    -o "Dir::Etc::SourceList=$d/sources.list" \
    -o "Dir::Etc::SourceParts=$d/empty" \
    -o "Dir::Etc::Preferences=$d/empty/none" \
    -o "Dir::Etc::PreferencesParts=$d/empty" \
    -o "Acquire::Languages=none" \
    -o "APT::Sandbox::User=root"
}

# Prepare (and update, once) the private apt tree of a suite.
SUITE_READY=()
prepare_suite() { # <suite>
  local suite=$1 d="$TOOLS/apt/$1" uri kr ok="" s
  for s in "${SUITE_READY[@]}"; do [[ $s == "$suite" ]] && return 0; done
  uri=$(mirror_uri)
  mkdir -p "$d/state/lists/partial" "$d/cache/archives/partial" "$d/empty" "$d/debs"
  local -a opts
  mapfile -t opts < <(apt_opts "$d")
  for kr in "${KEYRINGS[@]}"; do
    [[ -f "$kr" ]] || continue
    printf 'deb [signed-by=%s] %s %s main\n' "$kr" "$uri" "$suite" >"$d/sources.list"
    if apt-get "${opts[@]}" -qq update >"$d/update.log" 2>&1 \
       && ! grep -qE '^(W|E):' "$d/update.log"; then
      ok=1; break
    fi
    warn "$suite: keyring $kr did not verify (see $d/update.log)"
  done
  [[ -n "$ok" ]] || die "no keyring verifies suite $suite; see $d/update.log"
  log "$suite: index updated (keyring $kr)"
  SUITE_READY+=("$suite")
}

# Debian version of <pkg> in <suite> whose upstream part is <want>; falls
# back (with a warning) to the suite's candidate.
pick_version() { # <suite> <pkg> <want>
  local suite=$1 pkg=$2 want=$3 d="$TOOLS/apt/$1" v up
  local -a opts
  mapfile -t opts < <(apt_opts "$d")
  local -a vers
  mapfile -t vers < <(apt-cache "${opts[@]}" madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}')
  [[ ${#vers[@]} -gt 0 ]] || die "$pkg not found in $suite"
  for v in "${vers[@]}"; do
    up=${v#*:}; up=${up%-*}; up=${up%%[~+]*}
    if [[ $up == "$want" ]]; then printf '%s\n' "$v"; return 0; fi
  done
  warn "$pkg $want not in $suite; taking ${vers[0]}"
  printf '%s\n' "${vers[0]}"
}

# Fetch one FETCH entry unless its stamp says it is already there.
fetch_tool() { # <entry>
  local name pkg suite want link
  IFS='|' read -r name pkg suite want link <<<"$1"
  local stamp="$TOOLS/.stamp-$name"
  if [[ -f "$stamp" ]] && [[ "$(head -n1 "$stamp")" == "$pkg|$suite|$want" ]] \
     && [[ -n "$(sed -n 3p "$stamp")" ]] \
     && check_links "$name" "$link" "$(sed -n 2p "$stamp")"; then
    return 0
  fi
  prepare_suite "$suite"
  local d="$TOOLS/apt/$suite" ver
  ver=$(pick_version "$suite" "$pkg" "$want")
  local -a opts
  mapfile -t opts < <(apt_opts "$d")
  local dest="$TOOLS/$pkg-${ver//:/_}"
  if [[ ! -d "$dest/usr" ]]; then
    local deb
    rm -f "$d/debs/${pkg}_"*.deb
    (cd "$d/debs" && apt-get "${opts[@]}" -qq download "$pkg=$ver" >/dev/null)
    deb=$(find "$d/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
    [[ -n "$deb" ]] || die "download of $pkg=$ver from $suite failed"
    rm -rf "$dest.tmp"
    dpkg-deb -x "$deb" "$dest.tmp"
    mv "$dest.tmp" "$dest"
    rm -f "$deb"
  fi
  make_links "$name" "$link" "$dest"
  printf '%s|%s|%s\n%s\n%s\n' "$pkg" "$suite" "$want" "$dest" "$ver" >"$stamp"
  log "$name: $pkg $ver from $suite -> ${dest#"$ROOT"/}"
}

make_links() { # <name> <link> <dest>
  local name=$1 link=$2 dest=$3 b
  case $name in
    cosign*)
      mkdir -p "$TOOLS/bin"
      [[ -x "$dest/usr/bin/cosign" ]] || die "no usr/bin/cosign in $dest"
      ln -sfn "../${dest#"$TOOLS"/}/usr/bin/cosign" "$TOOLS/$link" ;;
    containerd*)
      mkdir -p "$TOOLS/$link/bin"
      for b in "${CONTAINERD_BINS[@]}"; do
        [[ -x "$dest/usr/bin/$b" ]] || die "no usr/bin/$b in $dest"
        ln -sfn "../../${dest#"$TOOLS"/}/usr/bin/$b" "$TOOLS/$link/bin/$b"
      done ;;
    criapi)
      mkdir -p "$TOOLS/$link"
      [[ -f "$dest/$CRI_PROTO" ]] || die "no $CRI_PROTO in $dest"
      ln -sfn "../${dest#"$TOOLS"/}/$CRI_PROTO" "$TOOLS/$link/api.proto" ;;
    promtool|kubectl)
      mkdir -p "$TOOLS/bin"
      [[ -x "$dest/usr/bin/$name" ]] || die "no usr/bin/$name in $dest"
      ln -sfn "../${dest#"$TOOLS"/}/usr/bin/$name" "$TOOLS/$link" ;;
    libdbus)
      b=$(find "$dest" -name 'libdbus-1.so.3' -printf '%h\n' | head -n1)
      [[ -n "$b" ]] || die "no libdbus-1.so.3 in $dest"
      ln -sfn "${b#"$TOOLS"/}" "$TOOLS/$link" ;;
    dbusdaemon) # a wrapper: the private libdbus first (the machine may have none)
      mkdir -p "$TOOLS/bin"
      [[ -x "$dest/usr/bin/dbus-daemon" ]] || die "no usr/bin/dbus-daemon in $dest"
      rm -f "$TOOLS/$link"
      # shellcheck disable=SC2016 # expanded by the wrapper, not here
      printf '#!/bin/sh\nd=$(dirname "$(readlink -f "$0")")/..\nLD_LIBRARY_PATH="$d/dbus-lib" exec "$d/%s/usr/bin/dbus-daemon" "$@"\n' \
        "${dest#"$TOOLS"/}" >"$TOOLS/$link"
      chmod 0755 "$TOOLS/$link" ;;
  esac
}

check_links() { # <name> <link> <dest>
  local name=$1 link=$2 dest=$3 b
  [[ -n "$dest" && -d "$dest" ]] || return 1
  case $name in
    cosign*) [[ -x "$TOOLS/$link" ]] || return 1 ;;
    containerd*)
      for b in "${CONTAINERD_BINS[@]}"; do [[ -x "$TOOLS/$link/bin/$b" ]] || return 1; done ;;
    criapi) [[ -f "$TOOLS/$link/api.proto" ]] || return 1 ;;
    promtool|kubectl|dbusdaemon) [[ -x "$TOOLS/$link" ]] || return 1 ;;
    libdbus) [[ -f "$TOOLS/$link/libdbus-1.so.3" ]] || return 1 ;;
  esac
}

# ------------------------------------------------------------- c) summary
summary() {
  local v
  v=$(dpkg-query -W -f='${Version}' docker-registry)
  printf '%-22s %s\n' docker-registry "$v"
  printf '%-22s %s\n' runc "$(runc --version | head -n1)"
  printf '%-22s %s\n' crun "$(crun --version | head -n1)"
  printf '%-22s %s\n' umoci "$(umoci --version)"
  printf '%-22s %s\n' busybox-static "$(dpkg-query -W -f='${Version}' busybox-static)"
  printf '%-22s %s\n' skopeo "$(skopeo --version)"
  printf '%-22s %s\n' podman "$(podman --version)"
  printf '%-22s %s\n' shellcheck "$(shellcheck --version | sed -n 's/^version: //p')"
  printf '%-22s %s\n' jq "$(jq --version)"
  printf '%-22s %s\n' iproute2 "$(ip -V)"
  # Debian's cosign builds report "GitVersion: devel": show the .deb version
  local out
  for v in cosign2 cosign3; do
    out=$("$TOOLS/bin/$v" version 2>&1)
    printf '%-22s cosign %s (GitVersion %s, %s)\n' ".tools/bin/$v" \
      "$(sed -n 3p "$TOOLS/.stamp-$v")" \
      "$(awk '/^GitVersion:/ {print $2}' <<<"$out")" \
      "$(awk '/^GoVersion:/ {print $2}' <<<"$out")"
  done
  for v in 1.7 2.1; do
    printf '%-22s %s\n' ".tools/containerd-$v" \
      "$("$TOOLS/containerd-$v/bin/containerd" --version)"
  done
}

main() {
  ensure_gitignore
  install_apt_packages
  mkdir -p "$TOOLS"
  local e
  for e in "${FETCH[@]}"; do fetch_tool "$e"; done
  summary
}

main "$@"
