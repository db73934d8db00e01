#!/bin/bash
# Where a cheap session's CPU goes: starts the host on the bench personality, runs the best-case
# session load (C=50) for a warm-up and then for the measured seconds, and prints each thread's CPU
# (user, system) and context switches per session from /proc/PID/task/*/{stat,status}.
# The event loop is the first thread; piscina workers and V8's platform threads follow.
#   bash bench/session-cpu.sh [seconds=6] [concurrency=50] [warm-up seconds=8]
# Needs `bash bench/setup.sh` and `npm run build` first; port 12110 must be free.
set -eu
export LC_ALL=C
S=${1:-6}
C=${2:-50}
W=${3:-8}
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
node dist/src/cli/main.js start bench/work/personality >bench/work/session-cpu.log 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 2
load() { bench/work/popload --port 12110 --users bench/work/users-s14.txt --mode session -c "$C" --seconds "$1" 2>/dev/null; }
load "$W" >/dev/null
# The host's primary process forks the one that serves (processes = 1 too): measure that one.
SERVER=$(pgrep -P $PID | head -1)
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
n=$(echo "$result" | grep -o 'sessions=[0-9]*' | cut -d= -f2)
join <(echo "$before") <(echo "$after") | awk -v n="$n" '
  { u = ($6 - $2) * 10000 / n; s = ($7 - $3) * 10000 / n; v = ($8 - $4) / n; i = ($9 - $5) / n
    tu += u; ts += s; tv += v; ti += i
    if (u + s > 3) printf "%-20s user %6.1f  sys %6.1f  us/session   switches: voluntary %.2f involuntary %.2f\n", $1, u, s, v, i }
  END { printf "%-20s user %6.1f  sys %6.1f  total %6.1f us/session   switches: voluntary %.2f involuntary %.2f\n", "all threads", tu, ts, tu + ts, tv, ti }'
