#!/usr/bin/env bash
# install/install.sh — puts sigguard on a containerd node (a Kind node, the local test node,
# any containerd 1.7 / 2.x host) and takes it off again.
#
#   install.sh --binary FILE --policy FILE [--keys DIR] [--config FILE] [--no-verifier]
#              [--containerd-config FILE] [--restart CMD] [--socket PATH] [--wait SECONDS]
#   install.sh --uninstall [--binary FILE] [--containerd-config FILE] [--restart CMD] ...
#
# Install:
#   FILE (--binary)   -> /usr/local/bin/sigguard   (it must run here: `sigguard version`)
#   FILE (--policy)   -> /etc/sigguard/policy.yaml (validated with `sigguard policy validate`)
#   DIR/* (--keys)    -> /etc/sigguard/keys/       (public keys only: a private key is refused)
#   FILE (--config)   -> /etc/sigguard/config.yaml
#   then `sigguard cache prime` validates them into the hook's document cache (its first start
#   finds them validated),
#   then, on a node booted with systemd (/run/systemd/system), the verifier service
#   /etc/systemd/system/sigguard-verifier.service (`sigguard verifier` on
#   /var/lib/sigguard/agent/hook.sock with the same policy and config) is enabled and (re)started,
#   and waited for (bounded) until it listens; the hook is then run with `--agent` on that socket:
#   it asks the verifier, already running, for what it has not verified, and decides by itself
#   when the verifier does not answer (a deny is always the hook's own). --no-verifier, or a node
#   without systemd, installs the hook alone (it verifies every new image itself, slower),
#   then `sigguard install-node --containerd-config FILE` puts the hook into the base runtime
#   spec of every runtime handler of the configuration containerd loads (FILE merged with its
#   imports; handlers without a base spec get one through sigguard's drop-in
#   sigguard-handlers.toml next to FILE), checks that with `install-node --check` (state in
#   /etc/sigguard/installed.json), restarts containerd
#   (--restart CMD, default "systemctl restart containerd") and waits, bounded, until it answers
#   again (`crictl info` where crictl is installed, else `ctr version`).
#   The files it put are listed in /etc/sigguard/installed-files; a re-install replaces them.
# Uninstall: `sigguard install-node --uninstall`, stops and disables the verifier service where
#   there is one, removes exactly the listed files, restarts containerd and waits. The decision
#   log (/var/log/sigguard) and the verdict cache (/var/lib/sigguard) are the hook's data and stay.
#
# SIGGUARD_ROOT (default /): the node's file system as seen from here. Every absolute path —
# the defaults above and the paths given to the flags alike — is read and written under it, so
# `docker exec NODE install.sh --binary /tmp/x/sigguard` and, on the local test node,
# `SIGGUARD_ROOT=/tmp/node install.sh --binary /tmp/x/sigguard` do the same thing. When the root
# is not /, the hook entry names the prefixed binary, policy, config and log. The contents of the
# policy and config (key paths, certs.d, the containerd socket) are taken as they are.
#
# Environment: SIGGUARD_ROOT, SIGGUARD_RESTART (like --restart), SIGGUARD_WAIT_SECONDS (60).
# Exit 0 when done; 1 with one line on stderr ("install.sh: ...") on any failure; 2 on bad usage.
set -Eeuo pipefail

readonly BIN=/usr/local/bin/sigguard
readonly ETC=/etc/sigguard
readonly POLICY=$ETC/policy.yaml
readonly CONFIG=$ETC/config.yaml
readonly KEYS=$ETC/keys
readonly STATE=$ETC/installed.json
readonly FILES=$ETC/installed-files
readonly LOG=/var/log/sigguard/decisions.log
readonly AGENT_SOCKET=/var/lib/sigguard/agent/hook.sock
readonly SERVICE=sigguard-verifier.service
readonly UNIT=/etc/systemd/system/$SERVICE
readonly WANTS_LINK=/etc/systemd/system/multi-user.target.wants/$SERVICE

# on_die: what to undo first, where a caller has set it (`local on_die=FUNCTION`: bash's dynamic
# scope carries it to every die under that caller, run's included)
die() {
  ${on_die:-:}
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
usage() {
  printf 'install.sh: %s (see install.sh --help)\n' "$*" >&2
  exit 2
}
# Any failure not caught below still ends in one line.
trap 'die "failed at line $LINENO: $BASH_COMMAND"' ERR

# The line of a command's output that says what went wrong, for one-line errors: sigguard's own
# error line ("sigguard: ... [CODE]") where there is one, else the last non-empty line.
last_line() {
  local line out='' own=''
  while IFS= read -r line; do
    [[ -n ${line//[[:space:]]/} ]] || continue
    out=$line
    [[ $line != sigguard:* ]] || own=$line
  done <<<"$1"
  out=${own:-$out}
  printf '%s' "${out:-(no output)}"
}

# run WHAT CMD...: runs CMD; its output goes to stdout; on failure, dies naming WHAT and CMD's last line.
run() {
  local what=$1 out
  shift
  if ! out=$("$@" 2>&1); then
    die "$what: $(last_line "$out")"
  fi
  [[ -z $out ]] || printf '%s\n' "$out"
}

# ---- arguments ----------------------------------------------------------------------------------
binary='' policy='' keys='' config='' uninstall=false verifier=true
containerd_config=/etc/containerd/config.toml
socket=/run/containerd/containerd.sock
restart=${SIGGUARD_RESTART:-systemctl restart containerd}
wait_seconds=${SIGGUARD_WAIT_SECONDS:-60}
while (($# > 0)); do
  case $1 in
    --binary | --policy | --keys | --config | --containerd-config | --restart | --socket | --wait)
      (($# >= 2)) || usage "$1 needs a value"
      case $1 in
        --binary) binary=$2 ;;
        --policy) policy=$2 ;;
        --keys) keys=$2 ;;
        --config) config=$2 ;;
        --containerd-config) containerd_config=$2 ;;
        --restart) restart=$2 ;;
        --socket) socket=$2 ;;
        --wait) wait_seconds=$2 ;;
      esac
      shift 2
      ;;
    --uninstall) uninstall=true && shift ;;
    --no-verifier) verifier=false && shift ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//' && exit 0 ;;
    *) usage "unknown argument: $1" ;;
  esac
done
if ! [[ $wait_seconds =~ ^[0-9]+$ ]] || ((wait_seconds == 0)); then usage "--wait must be a positive number of seconds"; fi
[[ -n $restart ]] || usage "--restart needs a command"

root=${SIGGUARD_ROOT:-/}
[[ $root == /* ]] || usage "SIGGUARD_ROOT must be an absolute path (got $root)"
prefix=$root
while [[ $prefix == */ ]]; do prefix=${prefix%/}; done
[[ -z $prefix || -d $prefix ]] || die "SIGGUARD_ROOT $root is not a directory"

# at PATH: where the node's PATH is from here (absolute paths go under the root).
at() {
  if [[ $1 == /* ]]; then printf '%s%s' "$prefix" "$1"; else printf '%s' "$1"; fi
}

# ---- containerd ---------------------------------------------------------------------------------
cri_answers() {
  local sock
  sock=$(at "$socket")
  if command -v crictl >/dev/null 2>&1; then
    crictl --runtime-endpoint "unix://$sock" --timeout 2s info >/dev/null 2>&1
  else
    ctr --address "$sock" --timeout 2s version >/dev/null 2>&1
  fi
}

restart_containerd() {
  command -v crictl >/dev/null 2>&1 || command -v ctr >/dev/null 2>&1 ||
    die "neither crictl nor ctr is on PATH: cannot tell when containerd is back"
  run "restarting containerd ($restart) failed" sh -c "$restart"
  local deadline=$((SECONDS + wait_seconds))
  until cri_answers; do
    ((SECONDS < deadline)) || die "containerd did not answer on $(at "$socket") within ${wait_seconds}s of \"$restart\""
    sleep 1
  done
  echo "containerd answers again on $(at "$socket")"
}

# The node paths (unprefixed) listed in the record of a previous install.
recorded_files() {
  local f
  f=$(at "$FILES")
  [[ -f $f ]] || return 0
  grep -E '^/' "$f" || true
}

# ---- the verifier service -----------------------------------------------------------------------
# Whether the node runs systemd (as sd_booted(3) tells: /run/systemd/system exists).
systemd_booted() {
  [[ -d $(at /run/systemd/system) ]] && command -v systemctl >/dev/null 2>&1
}

# The paths the unit names, checked before anything changes: only plain path characters, since
# systemd would read quotes, backslashes, % and $ in ExecStart as its own syntax.
check_unit_paths() {
  local p
  for p in "$(at "$BIN")" "$(at "$AGENT_SOCKET")" "$(at "$POLICY")" "$(at "$CONFIG")"; do
    [[ $p =~ ^[A-Za-z0-9._/+:@-]+$ ]] ||
      die "cannot name $p in $UNIT: only letters, digits and ._/+:@- are taken (install.sh --no-verifier installs the hook alone)"
  done
}

# The verifier's unit: `sigguard verifier` with the hook's policy and config on the hook's socket,
# restarted whenever it stops, ordered before containerd (a boot's first container starts usually
# find it listening; one that comes sooner is decided by its hook alone). The paths are
# check_unit_paths's. Hardening that takes nothing the verifier needs and needs no mount
# namespace. The verifier talks to registries and containerd's socket, resolves names through
# glibc (which asks netlink for the host's addresses), reads keys and documents wherever the
# policy names them, and writes its caches and socket where the configuration says. The
# directives that need a mount namespace (ProtectSystem=, ProtectHome=, ProtectKernel*=) can fail
# a unit in a rootless Kind node, and would have to follow the configuration's folders.
verifier_unit() {
  local exec
  exec="$(at "$BIN") verifier --socket $(at "$AGENT_SOCKET") --policy $(at "$POLICY")"
  [[ -z $src_config ]] || exec+=" --config $(at "$CONFIG")"
  cat <<UNIT
# Written by sigguard's install/install.sh; install.sh --uninstall stops it and removes it.
[Unit]
Description=sigguard verifier: verifies image signatures for the sigguard hook ahead of its own work
After=network.target
Before=containerd.service

[Service]
Type=simple
ExecStart=$exec
Restart=always
RestartSec=2
UMask=0077
NoNewPrivileges=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
UNIT
}

# The verifier stopped and disabled, best effort: what a failed start undoes first, so that no
# verifier is left answering the hook after a failed install.
disable_verifier() {
  systemctl disable --now "$SERVICE" >/dev/null 2>&1 || true
}

# Stops the verifier of an earlier install before its binary or documents are replaced: the hook
# decides alone meanwhile, and a failed install leaves no verifier of the replaced binary running.
stop_verifier() {
  run "stopping $SERVICE before the files are replaced failed" systemctl stop "$SERVICE"
}

# Enables and (re)starts the verifier, then waits (bounded) until it listens on its socket and is
# active. The stale socket goes first, so what is waited for is the new process's.
start_verifier() {
  local sock deadline
  # shellcheck disable=SC2034 # read by die
  local on_die=disable_verifier
  sock=$(at "$AGENT_SOCKET")
  run "systemctl daemon-reload failed" systemctl daemon-reload
  run "enabling $SERVICE failed" systemctl enable "$SERVICE"
  [[ ! -S $sock ]] || rm -f -- "$sock"
  # a verifier that crashed often enough before has hit systemd's start limit: restart would be refused
  systemctl reset-failed "$SERVICE" >/dev/null 2>&1 || true
  run "starting $SERVICE failed" systemctl restart "$SERVICE"
  deadline=$((SECONDS + wait_seconds))
  until [[ -S $sock ]]; do
    ((SECONDS < deadline)) || verifier_failed "it does not listen on $sock within ${wait_seconds}s"
    sleep 0.2
  done
  systemctl is-active --quiet "$SERVICE" || verifier_failed "it stopped after it began to listen on $sock"
  echo "$SERVICE listens on $sock: the hook asks it first"
}

# (called by start_verifier only: its on_die disables the service first)
verifier_failed() {
  die "$SERVICE did not start: $1 (journalctl -u $SERVICE says why; the new files are in place and the hook decides alone; install.sh --no-verifier installs without the service)"
}

# Stops and disables the verifier of an earlier install and takes its unit out. Stopped first, on
# its own: systemd stops a loaded unit whose file was taken out by hand, where `disable --now`
# fails before it stops anything; and a unit systemd no longer knows cannot be stopped, which is an
# error only while the service still runs. Disabling is then best effort: its link in
# multi-user.target.wants goes with the unit either way.
remove_verifier() {
  local out stopped='removed (no systemd here to stop it)'
  if systemd_booted; then
    if ! out=$(systemctl stop "$SERVICE" 2>&1) && systemctl is-active --quiet "$SERVICE"; then
      die "stopping $SERVICE failed: $(last_line "$out")"
    fi
    systemctl disable "$SERVICE" >/dev/null 2>&1 || true
    stopped='stopped and removed'
  fi
  rm -f -- "$(at "$UNIT")"
  if [[ -L $(at "$WANTS_LINK") ]]; then rm -f -- "$(at "$WANTS_LINK")"; fi
  if systemd_booted; then run "systemctl daemon-reload failed" systemctl daemon-reload; fi
  echo "$SERVICE $stopped"
}

# ---- uninstall ----------------------------------------------------------------------------------
if $uninstall; then
  cfg=$(at "$containerd_config")
  [[ -f $cfg ]] || die "containerd config $cfg does not exist"
  sigguard=$(at "$BIN")
  if [[ ! -x $sigguard ]]; then
    [[ -n $binary ]] || die "no sigguard at $sigguard to uninstall with; give --binary FILE"
    sigguard=$(at "$binary")
    [[ -x $sigguard ]] || die "--binary $sigguard is not an executable file"
  fi
  run "taking the hook out of $cfg failed" "$sigguard" install-node --uninstall --containerd-config "$cfg" --state "$(at "$STATE")"
  mapfile -t old < <(recorded_files)
  for f in "${old[@]}"; do
    [[ $f != "$UNIT" ]] || remove_verifier
  done
  for f in "${old[@]}"; do rm -f -- "$(at "$f")"; done
  rm -f -- "$(at "$FILES")"
  for d in "$KEYS" "$ETC"; do
    [[ ! -d $(at "$d") ]] || rmdir --ignore-fail-on-non-empty -- "$(at "$d")"
  done
  echo "removed ${#old[@]} files sigguard's installer had put under ${root}"
  restart_containerd
  echo "sigguard uninstalled"
  exit 0
fi

# ---- install: check everything before changing anything ----------------------------------------
[[ -n $binary ]] || usage "--binary FILE is required"
[[ -n $policy ]] || usage "--policy FILE is required"
src_binary=$(at "$binary")
src_policy=$(at "$policy")
cfg=$(at "$containerd_config")
[[ -f $src_binary ]] || die "--binary $src_binary does not exist"
[[ -x $src_binary ]] || die "--binary $src_binary is not executable"
run "--binary $src_binary does not run on this node ($(uname -m))" "$src_binary" version >/dev/null
[[ -f $src_policy && -r $src_policy ]] || die "--policy $src_policy is not a readable file"
[[ -f $cfg ]] || die "containerd config $cfg does not exist"
src_config=''
if [[ -n $config ]]; then
  src_config=$(at "$config")
  [[ -f $src_config && -r $src_config ]] || die "--config $src_config is not a readable file"
fi
key_files=()
if [[ -n $keys ]]; then
  src_keys=$(at "$keys")
  [[ -d $src_keys ]] || die "--keys $src_keys is not a directory"
  for k in "$src_keys"/*; do
    [[ -f $k ]] || continue
    ! grep -q 'PRIVATE KEY' "$k" || die "--keys: $k is a private key; give the public keys only"
    key_files+=("$k")
  done
  ((${#key_files[@]} > 0)) || die "--keys $src_keys holds no key files"
fi

if $verifier && ! systemd_booted; then
  echo "no systemd on this node: no verifier service, the hook verifies every new image by itself"
  verifier=false
fi
if $verifier; then check_unit_paths; fi

# ---- install: the files, with the previous ones kept until the new policy validates ------------
backup=$(mktemp -d "${TMPDIR:-/tmp}/sigguard-install-backup.XXXXXX")
# shellcheck disable=SC2317 # called by the traps
cleanup() { rm -rf -- "$backup"; }
# shellcheck disable=SC2317
restore() {
  rm -rf -- "$(at "$ETC")"
  if [[ -d $backup/etc ]]; then cp -a -- "$backup/etc" "$(at "$ETC")"; fi
  # by rename, as put() does: a copy onto the new binary fails while a hook is running it (ETXTBSY)
  if [[ -f $backup/bin ]]; then
    install -m 0755 -- "$backup/bin" "$(at "$BIN").sigguard-new"
    mv -f -- "$(at "$BIN").sigguard-new" "$(at "$BIN")"
  else
    rm -f -- "$(at "$BIN")"
  fi
}
trap cleanup EXIT
[[ ! -d $(at "$ETC") ]] || cp -a -- "$(at "$ETC")" "$backup/etc"
[[ ! -f $(at "$BIN") ]] || cp -a -- "$(at "$BIN")" "$backup/bin"

# put SRC NODE-PATH MODE: atomic copy into place, recorded.
placed=()
put() {
  local dst
  dst=$(at "$2")
  mkdir -p -- "$(dirname -- "$dst")"
  install -m "$3" -- "$1" "$dst.sigguard-new"
  mv -f -- "$dst.sigguard-new" "$dst"
  placed+=("$2")
}
# an earlier install's verifier: stopped while its files change (started again below, or put
# back running with the previous files when this install fails validation). Whether it was meant
# to run is whether it is enabled: one waiting out RestartSec after a crash is not "active".
verifier_was_enabled=false
if [[ -f $(at "$UNIT") ]] && systemd_booted; then
  if systemctl is-enabled --quiet "$SERVICE"; then verifier_was_enabled=true; fi
  stop_verifier
fi
mkdir -p -- "$(at "$ETC")"
chmod 0755 "$(at "$ETC")"
put "$src_binary" "$BIN" 0755
put "$src_policy" "$POLICY" 0644
[[ -z $src_config ]] || put "$src_config" "$CONFIG" 0644
for k in "${key_files[@]}"; do put "$k" "$KEYS/$(basename -- "$k")" 0644; done
# files a previous install put that this one did not: no longer ours to keep
mapfile -t old < <(recorded_files)
had_unit=false
for f in "${old[@]}"; do
  keep=false
  for p in "${placed[@]}"; do [[ $p != "$f" ]] || keep=true; done
  # the verifier's unit stays listed until the service is stopped or its unit replaced (below)
  if [[ $f == "$UNIT" ]]; then keep=true && had_unit=true; fi
  $keep || rm -f -- "$(at "$f")"
done
record() {
  printf '%s\n' "${placed[@]}" >"$(at "$FILES")"
  if $had_unit; then printf '%s\n' "$UNIT" >>"$(at "$FILES")"; fi
}
record
sigguard=$(at "$BIN")

fail_restoring() {
  restore
  if $verifier_was_enabled; then systemctl start "$SERVICE" >/dev/null 2>&1 || true; fi
  die "$1 (the previous files are back)"
}
if ! out=$("$sigguard" policy validate "$(at "$POLICY")" 2>&1); then
  fail_restoring "policy $src_policy is not valid on this node: $(last_line "$out")"
fi
printf '%s\n' "$out"
if [[ -n $src_config ]] && ! out=$("$sigguard" cache list --config "$(at "$CONFIG")" 2>&1); then
  fail_restoring "config $src_config is not valid: $(last_line "$out")"
fi
# the documents validated once more into the hook's document cache, as the hook will load them, so
# that its first start does not parse and check them itself (best effort: the hook does it otherwise)
prime_args=(cache prime --policy "$(at "$POLICY")")
[[ -z $src_config ]] || prime_args+=(--config "$(at "$CONFIG")")
"$sigguard" "${prime_args[@]}" >/dev/null 2>&1 || true

# ---- install: the verifier ----------------------------------------------------------------------
agent_flags=()
if $verifier; then
  verifier_unit >"$backup/unit"
  put "$backup/unit" "$UNIT" 0644
  had_unit=false
  record
  start_verifier
  agent_flags=(--agent "$(at "$AGENT_SOCKET")")
elif $had_unit; then
  remove_verifier
  had_unit=false
  record
fi

# ---- install: the hook --------------------------------------------------------------------------
node_args=(install-node --containerd-config "$cfg" --state "$(at "$STATE")")
hook_flags=()
if [[ -n $prefix ]]; then
  hook_flags=(--policy "$(at "$POLICY")" --log "$(at "$LOG")")
  [[ -z $src_config ]] || hook_flags+=(--config "$(at "$CONFIG")")
  node_args+=(--path "$sigguard")
fi
hook_flags+=("${agent_flags[@]}")
if ((${#hook_flags[@]} > 0)); then node_args+=(-- "${hook_flags[@]}"); fi
if ! out=$("$sigguard" "${node_args[@]}" 2>&1); then
  die "putting the hook into $cfg failed: $(last_line "$out") (install.sh --uninstall takes back what was done)"
fi
printf '%s\n' "$out"
if ! out=$("$sigguard" install-node --check --containerd-config "$cfg" --state "$(at "$STATE")" 2>&1); then
  die "a runtime handler of $cfg is still without the hook: $(last_line "$out") (install.sh --uninstall takes back what was done)"
fi
restart_containerd
echo "$("$sigguard" version 2>/dev/null | head -n1) installed under ${root}"
