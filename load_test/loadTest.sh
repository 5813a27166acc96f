#!/usr/bin/env bash
# Load-tests the local ringcache cluster through its load balancer (NGINX) with
# `ringcache bench`, or any target named with --target. Flags it does not know go to
# ringcache bench unchanged; see --help.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="${RINGCACHE_LB_HOST:-127.0.0.1}"
RESP_PORT="${RINGCACHE_LB_RESP_PORT:-6379}"
HTTP_PORT="${RINGCACHE_LB_HTTP_PORT:-8088}"
PROTOCOL="${RINGCACHE_PROTOCOL:-resp}"
TARGET=""
HELP=0
ARGS=()

usage() {
  cat <<USAGE
Usage: load_test/loadTest.sh [options] [ringcache bench flags...]

Runs \`ringcache bench\` against the local cluster's load balancer: RESP on its stream
port, HTTP on its http port. Every flag not listed here goes to ringcache bench.

Options (each default can also be set by the environment variable shown):
  --host HOST          load balancer host    [RINGCACHE_LB_HOST, default 127.0.0.1]
  --resp-port PORT     its RESP stream port  [RINGCACHE_LB_RESP_PORT, default 6379]
  --http-port PORT     its HTTP port         [RINGCACHE_LB_HTTP_PORT, default 8088]
  --protocol resp|http which port to load    [RINGCACHE_PROTOCOL, default resp]
  --target HOST:PORT   load this address instead of the load balancer
  -h, --help           this help, then the flags of ringcache bench

Now: protocol ${PROTOCOL}, load balancer ${HOST} (resp ${RESP_PORT}, http ${HTTP_PORT}).

Examples:
  load_test/loadTest.sh                                     # RESP, 30 s, 50 connections
  load_test/loadTest.sh --protocol http --duration 10s
  load_test/loadTest.sh --pipeline 16 --distribution zipf --html report.html
  RINGCACHE_LB_RESP_PORT=6390 load_test/loadTest.sh --requests 1000000
  load_test/loadTest.sh --target 127.0.0.1:6380 --json > run.json   # one master, no NGINX
USAGE
}

die() {
  echo "loadTest.sh: $*" >&2
  exit 2
}

# Reads "--flag value" and "--flag=value"; sets VALUE and SHIFT.
take_value() {
  local flag="$1" next="${2-}" has_next="$3"
  if [[ "$flag" == *=* ]]; then
    VALUE="${flag#*=}"
    SHIFT=1
  else
    [[ "$has_next" == 1 ]] || die "${flag} needs a value"
    VALUE="$next"
    SHIFT=2
  fi
}

while [[ $# -gt 0 ]]; do
  arg="$1"
  has_next=0
  [[ $# -gt 1 ]] && has_next=1
  case "$arg" in
    -h | --help)
      HELP=1
      shift
      ;;
    --host | --host=*)
      take_value "$arg" "${2-}" "$has_next"
      HOST="$VALUE"
      shift "$SHIFT"
      ;;
    --resp-port | --resp-port=*)
      take_value "$arg" "${2-}" "$has_next"
      RESP_PORT="$VALUE"
      shift "$SHIFT"
      ;;
    --http-port | --http-port=*)
      take_value "$arg" "${2-}" "$has_next"
      HTTP_PORT="$VALUE"
      shift "$SHIFT"
      ;;
    --protocol | --protocol=*)
      take_value "$arg" "${2-}" "$has_next"
      PROTOCOL="$VALUE"
      ARGS+=(--protocol "$VALUE")
      shift "$SHIFT"
      ;;
    --target | --target=*)
      take_value "$arg" "${2-}" "$has_next"
      TARGET="$VALUE"
      shift "$SHIFT"
      ;;
    *)
      ARGS+=("$arg")
      shift
      ;;
  esac
done

if [[ ! -f "$ROOT/dist/src/cli/main.js" ]]; then
  echo "loadTest.sh: building ringcache first (npm run build)" >&2
  (cd "$ROOT" && npm run build --silent) >&2
fi
RINGCACHE=(node "$ROOT/bin/ringcache.js")

if [[ "$HELP" == 1 ]]; then
  usage
  echo
  echo "Flags of ringcache bench:"
  "${RINGCACHE[@]}" bench --help | sed -n '/^Options:/,$p' | sed 1d
  exit 0
fi

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
DEFAULT_TARGET=0
if [[ -z "$TARGET" ]]; then
  case "$PROTOCOL" in
    resp) PORT="$RESP_PORT" ;;
    http) PORT="$HTTP_PORT" ;;
    *) die "--protocol must be resp or http, got \"$PROTOCOL\"" ;;
  esac
  is_port "$PORT" || die "the ${PROTOCOL} port must be a number from 1 to 65535, got \"$PORT\""
  [[ -n "$HOST" ]] || die "--host must not be empty"
  if [[ "$HOST" == *:* ]]; then TARGET="[$HOST]:$PORT"; else TARGET="$HOST:$PORT"; fi
  DEFAULT_TARGET=1
fi

status=0
"${RINGCACHE[@]}" bench --target "$TARGET" "${ARGS[@]}" || status=$?
if [[ "$status" == 1 && "$DEFAULT_TARGET" == 1 ]]; then
  echo "loadTest.sh: is the local cluster up? Its load balancer is expected at $TARGET (start it with \`npm start\` or \`ringcache up\`, or name another address with --target)." >&2
fi
exit "$status"
