#!/usr/bin/env bash
# e2e/lib/registry.sh — run Debian's docker-registry (distribution 2.8) on
# loopback for tests.  Source it, then:
#
#   registry_start <port> <datadir> <logfile>   # config in <datadir>/config.yml
#   registry_stop
#   registry_request_count [<grep-ERE>]         # access-log lines (optionally
#                                               # filtered, e.g. 'GET /v2/demo/')
#
# Sets REGISTRY_PID, REGISTRY_PORT, REGISTRY_ADDR (127.0.0.1:PORT),
# REGISTRY_LOG.  No auth, plain HTTP, filesystem storage under
# <datadir>/storage, deletes enabled.
#
# Logging: with the default access log enabled (accesslog.disabled: false),
# distribution 2.8 writes one Apache "combined" line per HTTP request to
# stdout, e.g.
#   127.0.0.1 - - [26/Nov/2026:15:50:01 +0000] "GET /v2/demo/app/manifests/v1 HTTP/1.1" 200 ...
# independent of log.level.  At log.level info it also writes one
# logrus line per request ("response completed" with http.request.method=
# and http.request.uri=) to stderr.  Both go to <logfile>.
# registry_request_count counts the access-log lines only.

REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
REGISTRY_PID=""
REGISTRY_PORT=""
REGISTRY_ADDR=""
REGISTRY_LOG=""

registry_start() {
  local port=${1:?port} datadir=${2:?datadir} logfile=${3:?logfile}
  if [[ -n "$REGISTRY_PID" ]] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
    echo "registry_start: already running (pid $REGISTRY_PID)" >&2
    return 1
  fi
  mkdir -p "$datadir/storage" "$(dirname "$logfile")"
  cat >"$datadir/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $datadir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  # no OTEL / proxy settings may leak into the registry
  env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY \
    "$REGISTRY_BIN" serve "$datadir/config.yml" >>"$logfile" 2>&1 &
  REGISTRY_PID=$!
  # shellcheck disable=SC2034  # read by the callers
  REGISTRY_PORT=$port
  REGISTRY_ADDR=127.0.0.1:$port
  REGISTRY_LOG=$logfile
  local i
  for ((i = 0; i < 100; i++)); do
    if curl -fsS --noproxy '*' -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then
      echo "registry_start: docker-registry exited; log follows" >&2
      tail -n 20 "$logfile" >&2
      REGISTRY_PID=""
      return 1
    fi
    sleep 0.1
  done
  echo "registry_start: no answer on $REGISTRY_ADDR after 10 s" >&2
  registry_stop
  return 1
}

registry_stop() {
  [[ -n "$REGISTRY_PID" ]] || return 0
  if kill -0 "$REGISTRY_PID" 2>/dev/null; then
    kill -TERM "$REGISTRY_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$REGISTRY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$REGISTRY_PID" 2>/dev/null || true
  fi
  wait "$REGISTRY_PID" 2>/dev/null || true
  REGISTRY_PID=""
}

# Number of HTTP requests in the access log, optionally only those whose
# request line matches the ERE <filter> (matched against 'METHOD PATH').
registry_request_count() {
  local filter=${1:-}
  [[ -n "$REGISTRY_LOG" && -f "$REGISTRY_LOG" ]] || { echo 0; return 0; }
  local n
  n=$(grep -E '^[0-9a-fA-F.:]+ - - \[[^]]+\] "[A-Z]+ [^ ]+ HTTP/[0-9.]+"' "$REGISTRY_LOG" \
        | sed -E 's/^[^"]*"([A-Z]+ [^ ]+) HTTP.*/\1/' \
        | { if [[ -n "$filter" ]]; then grep -cE -- "$filter" || true; else wc -l; fi; })
  echo "$((n + 0))"
}
