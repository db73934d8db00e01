#!/bin/bash
# Where the CPU of one operation goes: starts the host on the bench personality, runs a popload
# load for a warm-up and then for the measured seconds, and prints each thread's CPU (user,
# system) and context switches per operation from /proc/PID/task/*/{stat,status}.
#   session: the best-case session (C=50 by default), per session
#   retr:    one client RETRing the 1,000 small messages of `bulk` one after the other, per RETR
# The event loop is the first thread; piscina workers and V8's platform threads follow.
#   bash bench/thread-cpu.sh [session|retr] [seconds=6] [concurrency=50] [warm-up seconds=8]
# Needs `bash bench/setup.sh` and `npm run build` first; port 12110 must be free.
set -eu
export LC_ALL=C
MODE=${1:-session}
S=${2:-6}
C=${3:-50}
W=${4:-8}
cd "$(dirname "$0")/.."
case $MODE in
  session) ARGS=(--users bench/work/users-s14.txt --mode session -c "$C") ;;
  retr) ARGS=(--users bench/work/users-bulk.txt --only-user bulk --mode retr -c 1) ;;
  *) echo "usage: $0 [session|retr] [seconds] [concurrency] [warm-up]" >&2; exit 2 ;;
esac
ulimit -n "$(ulimit -Hn)"
node dist/src/cli/main.js start bench/work/personality >bench/work/thread-cpu.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 2
load() { bench/work/popload --port 12110 "${ARGS[@]}" --seconds "$1" 2>/dev/null; }
load "$W" >/dev/null
# With processes > 1 the primary forks the processes that serve: measure the first of them.
SERVER=$(pgrep -P $PID | head -1 || true)
SERVER=${SERVER:-$PID}
# One line per thread: name.tid utime stime voluntary involuntary (ticks of 10 ms).
snap() {
  for t in /proc/$SERVER/task/*; do
    printf '%s.%s %s %s %s\n' "$(tr " " _ <"$t/comm")" "${t##*/}" "$(cut -d' ' -f14,15 "$t/stat")" \
      "$(awk '/voluntary_ctxt/ {printf "%s ", $2}' "$t/status")"
  done | sort
}
before=$(snap)
result=$(load "$S" | grep RESULT)
after=$(snap)
echo "$result"
if [ "$MODE" = retr ]; then
  n=$(echo "$result" | grep -o 'retr_per_s=[0-9.]*' | cut -d= -f2 | awk -v s="$S" '{ printf "%d", $1 * s }')
else
  n=$(echo "$result" | grep -o 'sessions=[0-9]*' | cut -d= -f2)
fi
join <(echo "$before") <(echo "$after") | awk -v n="$n" -v op="$MODE" '
  { u = ($6 - $2) * 10000 / n; s = ($7 - $3) * 10000 / n; v = ($8 - $4) / n; i = ($9 - $5) / n
    tu += u; ts += s; tv += v; ti += i
    if (u + s > 0.5) printf "%-20s user %6.1f  sys %6.1f  us/%s   switches: voluntary %.2f involuntary %.2f\n", $1, u, s, op, v, i }
  END { printf "%-20s user %6.1f  sys %6.1f  total %6.1f us/%s   switches: voluntary %.2f involuntary %.2f\n", "all threads", tu, ts, tu + ts, op, tv, ti }'
