#!/bin/bash
# Benchmark set-up: the load generator, the corpora, the user database and the personality.
#
#   bash bench/setup.sh [--force]      # everything goes to bench/work/ (git-ignored)
#
# Corpora (made by ../shared/bench/mkmaildir.py, deterministic), all under one maildir root
# bench/work/ours/<login>/Maildir so that one personality and one Dovecot instance serve them all:
#   s100uNNNN  2,000 users x 100 messages   best-case session, issue 3's figure
#   s14uNNNN   2,000 users x 14 messages    best-case session, Dovecot's published figure; idle
#   bulk       1,000 small messages         RETR/s
#   big        one 10 MB message            MB/s
#   scale      100,000 messages             STAT+UIDL first open / cached re-open
#   idleNNNNN  16,000 users x 1 message     idle capacity at 10,000-16,000 sessions
# bench/work/dovecot/ is a real copy (cp -a, not hard links) for Dovecot, whose start script
# chowns the tree to uid 5000; our server never reads that copy.
#
# Passwords are stored as {PLAIN}secret: the benchmark measures the session, not a hash.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kit=${BENCH_KIT:-$here/../../shared/bench}
kit=$(cd "$kit" && pwd)
work=${BENCH_WORK:-$here/work}
force=0
[ "${1:-}" = "--force" ] && force=1

# add_huge: one 100 MB message (user "huge"), to show that RETR memory does not grow with the
# message. Added to an existing bench/work too (it came after the first corpora).
add_huge() {
    [ -d "$work/ours/huge" ] && return 0
    echo "== corpus huge: mkmaildir --users 0 --msgs 0 --big-mb 100"
    rm -rf "$work/gen-huge"
    python3 "$kit/mkmaildir.py" "$work/gen-huge" --users 0 --msgs 0 --big-mb 100 --seed 6
    mv "$work/gen-huge/big" "$work/ours/huge"
    sed -n 's/^big:/huge:/p' "$work/gen-huge/users.txt" > "$work/users-huge.txt"
    rm -rf "$work/gen-huge"
    cat "$work/users-huge.txt" >> "$work/users-all.txt"
    python3 - "$work/users-huge.txt" "$work/ours" "$work/personality/users.sqlite" <<'EOF2'
import sqlite3, sys
users, root, db = sys.argv[1:]
con = sqlite3.connect(db)
for line in open(users):
    login, pw = line.rstrip("\n").split(":", 1)
    con.execute("INSERT OR REPLACE INTO mailbox (address, password, maildrop) VALUES (?, ?, ?)",
                (login, "{PLAIN}" + pw, "%s/%s/Maildir" % (root, login)))
con.commit()
EOF2
    cp -a "$work/ours/huge" "$work/dovecot/huge"
}

if [ -f "$work/.ready" ] && [ $force = 0 ]; then
    add_huge
    echo "bench/work is ready (bash bench/setup.sh --force to rebuild)"
    exit 0
fi
rm -rf "$work"
mkdir -p "$work"/gen "$work"/ours "$work"/personality/modules

echo "== popload"
gcc -O2 -Wall -o "$work/popload" "$kit/popload.c"
gcc -O2 -Wall -o "$work/ceiling-epoll" "$here/ceiling-epoll.c"

# gen NAME PREFIX ARGS...: run mkmaildir, then move each user to ours/PREFIX<number> (or keep a
# plain name when PREFIX is empty) and append "login:password" to users-NAME.txt.
gen() {
    local name=$1 prefix=$2; shift 2
    echo "== corpus $name: mkmaildir $*"
    python3 "$kit/mkmaildir.py" "$work/gen/$name" "$@"
    python3 - "$work/gen/$name" "$work/ours" "$prefix" "$work/users-$name.txt" <<'EOF'
import os, sys
src, dst, prefix, out = sys.argv[1:]
with open(os.path.join(src, "users.txt")) as f, open(out, "w") as o:
    for line in f:
        user, pw = line.rstrip("\n").split(":", 1)
        login = user
        if prefix and user.startswith("user"):
            login = prefix + user[4:]
        os.rename(os.path.join(src, user), os.path.join(dst, login))
        o.write("%s:%s\n" % (login, pw))
EOF
    rm -rf "$work/gen/$name"
}

gen s100 s100u --users 2000 --msgs 100 --seed 1
gen s14 s14u --users 2000 --msgs 14 --seed 2
gen rbulk "" --users 0 --msgs 0 --bulk-msgs 1000 --big-mb 10 --seed 3
grep '^bulk:' "$work/users-rbulk.txt" > "$work/users-bulk.txt"
grep '^big:' "$work/users-rbulk.txt" > "$work/users-big.txt"
rm "$work/users-rbulk.txt"
gen scale "" --users 1 --msgs 100000 --seed 4
mv "$work/ours/user0001" "$work/ours/scale"
sed 's/^user0001:/scale:/' "$work/users-scale.txt" > "$work/users-scale.tmp" && mv "$work/users-scale.tmp" "$work/users-scale.txt"
gen idle idle --users 16000 --msgs 1 --seed 5
rmdir "$work/gen"

# The scale Maildir's pristine new/ listing: the runner moves these back from cur/ before each
# "first open", so every first open does the same work (scan, sizes, new/ -> cur/).
ls "$work/ours/scale/Maildir/new" > "$work/scale-new.txt"
cat "$work"/users-{s100,s14,bulk,big,scale,idle}.txt > "$work/users-all.txt"

echo "== users.sqlite ($(wc -l < "$work/users-all.txt") rows)"
cat > "$work/personality/schema.sql" <<'EOF'
CREATE TABLE mailbox (
  address TEXT PRIMARY KEY,
  password TEXT NOT NULL,
  maildrop TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  last_login INTEGER,
  last_login_ip TEXT
);
EOF
python3 - "$work/users-all.txt" "$work/ours" "$work/personality/users.sqlite" "$work/personality/schema.sql" <<'EOF'
import sqlite3, sys
users, root, db, schema = sys.argv[1:]
con = sqlite3.connect(db)
con.executescript(open(schema).read())
rows = []
for line in open(users):
    login, pw = line.rstrip("\n").split(":", 1)
    rows.append((login, "{PLAIN}" + pw, "%s/%s/Maildir" % (root, login)))
con.executemany("INSERT INTO mailbox (address, password, maildrop) VALUES (?, ?, ?)", rows)
con.commit()
con.close()
EOF

echo "== dovecot copy (cp -a; Dovecot's script chowns it to uid 5000)"
cp -a "$work/ours" "$work/dovecot"

add_huge
touch "$work/.ready"
du -sh "$work"
echo "bench/work ready"
