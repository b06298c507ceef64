# Shared helpers for infra/up, infra/down and infra/status. Sourced, not executed.
# Every service lives in infra/services/<name>.sh and defines <name>_install, <name>_start,
# <name>_stop, <name>_running and <name>_describe. All state lives under $TRIBUTARY_DATA
# (default: <repo>/.data) so `infra/down --purge` resets everything.

set -euo pipefail

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$INFRA_DIR/.." && pwd)"
TRIBUTARY_DATA="${TRIBUTARY_DATA:-$REPO_DIR/.data}"
LOG_DIR="$TRIBUTARY_DATA/logs"

# Order matters only for `up` without arguments (and reversed for `down`).
ALL_SERVICES=(kafka postgres mariadb redis clickhouse s3 opensearch elasticsearch)

log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

apt_updated=0
# apt_install <pkg...>: installs Debian packages that are missing, without starting their
# daemons (we start them ourselves, on loopback, with data under $TRIBUTARY_DATA).
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]} (apt-get); run infra/up as root"
  if [ $apt_updated -eq 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  log "apt-get install ${missing[*]}"
  # Keep package post-install scripts from starting system-wide daemons on default ports.
  local policy=/usr/sbin/policy-rc.d created=0
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod +x $policy; created=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$LOG_DIR/apt.log" 2>&1 \
    || { [ $created -eq 1 ] && rm -f $policy; die "apt-get install ${missing[*]} failed, see $LOG_DIR/apt.log"; }
  [ $created -eq 1 ] && rm -f $policy
  return 0
}

# port_open <port>: true when something accepts TCP connections on 127.0.0.1:<port>.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for <what> <seconds> <command...>: polls the command every 0.5 s.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.5
  done
  log "$what is ready"
}

# pid_alive <pidfile>: true when the pid file names a live process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile <name> <pidfile> [seconds]: SIGTERM, wait, then SIGKILL.
stop_pidfile() {
  local name=$1 pidfile=$2 secs=${3:-30}
  if ! pid_alive "$pidfile"; then rm -f "$pidfile"; log "$name is not running"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + secs))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "$name did not stop in ${secs}s, killing"; kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.3
  done
  rm -f "$pidfile"
}

# grant_traverse <os-user> <dir>: makes sure a service's OS user (postgres, mysql) can reach
# <dir> through its parent folders, adding only the execute (search) bit where it is missing.
grant_traverse() {
  local user=$1 dir=$2 d
  runuser -u "$user" -- test -x "$dir" 2>/dev/null && return 0
  d=$dir
  while [ "$d" != "/" ]; do
    d=$(dirname "$d")
    if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
      log "granting $user search permission on $d (o+x) so it can reach $dir"
      chmod o+x "$d"
    fi
  done
  runuser -u "$user" -- test -x "$dir" || die "user $user cannot enter $dir; make its parent folders searchable (chmod o+x)"
}

is_service() { local s; for s in "${ALL_SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

# resolve_services <args...>: prints the services named (all when none), dies on an unknown one.
resolve_services() {
  if [ $# -eq 0 ]; then printf '%s\n' "${ALL_SERVICES[@]}"; return; fi
  local s
  for s in "$@"; do
    is_service "$s" || die "unknown service '$s'; valid services: ${ALL_SERVICES[*]}"
  done
  printf '%s\n' "$@"
}

for f in "$INFRA_DIR"/services/*.sh; do . "$f"; done
mkdir -p "$LOG_DIR"
