#!/usr/bin/env bash
# test_syscalls.sh BUILD_DIR SOURCE_DIR - the units' sandbox against what
# the daemons really do: a broker and a node run under strace -f through
# start, a connection, krctl, both HTTP endpoints, a backup, SIGHUP and
# SIGTERM; every system call they made must pass the unit's
# SystemCallFilter= lines (as systemd merges them: the first an allow
# list, then ~removals and additions in order), and every socket() family
# its RestrictAddressFamilies=. A call refused under systemd is EPERM, and
# libzmq aborts on some (getifaddrs' netlink, sched_setscheduler).
set -uo pipefail
build=$1 src=$2
for tool in strace systemd-analyze curl; do
  if ! command -v $tool >/dev/null; then
    echo "skip - $tool is not installed (packages strace, systemd, curl)"
    exit 0
  fi
done
if ! strace -f -o /dev/null true 2>/dev/null; then
  echo "skip - strace cannot trace here (ptrace not permitted in this container)"
  exit 0
fi
tmp=$(mktemp -d /tmp/kr-it-syscalls.XXXXXX)
fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
pids=()
cleanup() { for p in "${pids[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

krctl=$build/clients/krctl/krctl
"$krctl" keygen --out "$tmp/broker" >/dev/null && "$krctl" keygen --out "$tmp/org" >/dev/null ||
  { echo "FAIL - keygen"; exit 1; }
strace -f -qq -o "$tmp/broker.strace" "$build/broker/krbroker" --data_dir "$tmp/b" \
  --keys "$tmp/broker.secret" --listen tcp://127.0.0.1:0 --http_listen 127.0.0.1:0 \
  --socket_mode 0660 2>"$tmp/broker.log" &
pids+=($!)
for i in $(seq 200); do [ -s "$tmp/b/http.port" ] && break; sleep 0.05; done
"$krctl" --admin "ipc://$tmp/b/admin.sock" org add --id ura:00000001 --category jgz \
  --name x --keys "$tmp/org.public" >/dev/null || bad "org add"
strace -f -qq -o "$tmp/node.strace" "$build/clients/krnode/krnode" --org ura:00000001 \
  --data_dir "$tmp/n" --keys "$tmp/org.secret" --broker_key "$tmp/broker.public" \
  --broker "$(cat "$tmp/b/endpoint")" --http_listen 127.0.0.1:0 2>"$tmp/node.log" &
pids+=($!)
connected=no
for i in $(seq 200); do
  "$krctl" --node "ipc://$tmp/n/node.sock" --timeout 500 status 2>/dev/null |
    grep -q '"connected": true' && { connected=yes; break; }
  sleep 0.05
done
[ $connected = yes ] && ok "node connected under strace" || bad "node connected under strace"
curl -s -m 5 "127.0.0.1:$(cat "$tmp/b/http.port")/metrics" >/dev/null || bad "broker /metrics"
curl -s -m 5 "127.0.0.1:$(cat "$tmp/n/http.port")/metrics" >/dev/null || bad "node /metrics"
"$krctl" --admin "ipc://$tmp/b/admin.sock" --timeout 20000 backup "$tmp/backup" >/dev/null || bad "backup"
# Signals go to the daemons, not to strace (their parents).
daemons=()
for p in "${pids[@]}"; do daemons+=($(pgrep -P "$p")); done
[ ${#daemons[@]} -eq 2 ] || bad "two daemons under strace (${daemons[*]})"
for p in "${daemons[@]}"; do kill -HUP "$p"; done
for i in $(seq 100); do
  [ "$(grep -c 'reload: done' "$tmp/broker.log" "$tmp/node.log" | grep -c ':1')" -eq 2 ] && break
  sleep 0.05
done
for p in "${daemons[@]}"; do kill -TERM "$p"; done
for i in $(seq 200); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive -eq 0 ] && break
  sleep 0.05
done
[ $alive -eq 0 ] && ok "both daemons stopped" || bad "both daemons stopped"
pids=()

# The unit's filter as systemd builds it.
expand() { # names and @groups -> syscalls, one a line
  for n in "$@"; do
    if [[ $n == @* ]]; then
      systemd-analyze syscall-filter "$n" | awk '/^    [a-z_0-9]/ {print $1} /^    @/ {print $1}' |
        while read -r x; do expand "$x"; done
    else
      echo "$n"
    fi
  done
}
for unit in krbroker.service krnode@.service; do
  allowed=$tmp/$unit.allowed
  : >"$allowed"
  first=yes
  while read -r line; do
    val=${line#SystemCallFilter=}
    if [[ $val == ~* ]]; then
      expand ${val#\~} | sort -u >"$tmp/rm"
      grep -vxF -f "$tmp/rm" "$allowed" >"$tmp/keep"; mv "$tmp/keep" "$allowed"
    else
      expand $val >>"$allowed"
    fi
    first=no
  done < <(grep '^SystemCallFilter=' "$src/systemd/$unit.in")
  sort -u -o "$allowed" "$allowed"
  families=$(grep '^RestrictAddressFamilies=' "$src/systemd/$unit.in" | cut -d= -f2)
  trace=$tmp/broker.strace
  [ $unit = krnode@.service ] && trace=$tmp/node.strace
  sed -E 's/^[0-9]+ +//' "$trace" | grep -oE '^[a-z_0-9]+\(' | tr -d '(' | sort -u >"$tmp/used"
  missing=$(grep -vxF -f "$allowed" "$tmp/used" | tr '\n' ' ')
  if [ -z "$missing" ]; then
    ok "$unit: all $(wc -l <"$tmp/used") system calls pass its SystemCallFilter="
  else
    bad "$unit: system calls its SystemCallFilter= refuses: $missing"
  fi
  used_fam=$(grep -oE 'socket\(AF_[A-Z0-9]+' "$trace" | cut -d'(' -f2 | sort -u)
  for f in $used_fam; do
    if grep -qw "$f" <<<"$families"; then ok "$unit: $f allowed"; else bad "$unit: $f used but not in RestrictAddressFamilies="; fi
  done
done

if [ $fails -eq 0 ]; then
  rm -rf "$tmp"
  echo "test_syscalls: all passed"
  exit 0
fi
echo "test_syscalls: $fails failed; kept $tmp"
exit 1
