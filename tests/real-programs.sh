#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/real-programs.sh: the library must never break its host program.
#
# Runs real, unmodified programs from Debian packages twice, plainly and under
# `cdmplace run -c tests/real-programs.conf` (a rule that places every buffer of 1M or more, of
# every kind), and compares stdout, stderr less the library's own `cdmplace: ` lines, and the
# exit status byte for byte. Each case is a separate check; each also proves the library was
# loaded (a trace with a "start" event). For the programs known to allocate 1M or more, a
# separate check `placed:NAME` proves the library placed something in that very program (a
# trace whose "program" is it and which holds a "place" event with "result":"applied").
#
# Usage: bash tests/real-programs.sh [CASE-GLOB...]   (from anywhere; the build must exist)
# Prints `ok NAME`, `FAIL NAME` with a diff excerpt, or `skip NAME (why)`, and at the end
# `N passed, M failed` (with `, K skipped` when any was skipped); exits 1 if any failed.
# RP_TIMEOUT (seconds, default 120) bounds each run of each program; RP_KEEP=1 keeps the
# temporary directory (each case's outputs and traces) for a look after a failure;
# RP_VERBOSE=1 prints the seconds each case took.
# RP_CONFIG names another config (the multi-node guest binds to the CDM node with
# tests/real-programs-cdm.conf). RP_LINES: the lines of the large input (default 8000000,
# some 200 MB), which the sqlite3 and git inputs follow; the emulated guest makes fewer: its
# cases still place buffers of 1M or more.

# The cases' commands and scripts are expanded by the shells that run them, not here.
# shellcheck disable=SC2016

# Re-run under bash when started as `sh tests/real-programs.sh`: the cases use arrays.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi

set -u
ulimit -c 0 # the signal cases must not leave core files behind

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/build/cdmplace
LIB=${CDMPLACE_LIBRARY:-$ROOT/build/libcdmplace.so} # make check-sanitize's build, else this tree's
CONF=${RP_CONFIG:-$ROOT/tests/real-programs.conf}
case $CONF in /*) ;; *) CONF=$PWD/$CONF ;; esac # the programs run in directories of their own
TIMEOUT=${RP_TIMEOUT:-120}
LINES=${RP_LINES:-8000000}

# The Debian programs, not whatever a user's PATH puts first (pyenv shims, /usr/local).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C TZ=UTC
unset LD_PRELOAD CDMPLACE_CONFIG CDMPLACE_LOG CDMPLACE_REPORT CDMPLACE_DRY_RUN CDMPLACE_DEBUG

if [ ! -x "$CLI" ] || [ ! -f "$LIB" ]; then
    echo "real-programs: $CLI or $LIB is missing: run make first" >&2
    exit 1
fi

. "$ROOT/tests/suite.sh"
scratch real "${RP_KEEP:-}" # outputs and traces under cases/NAME
DATA=$TMP/data
mkdir -p "$DATA"

select_from "$@"

# Shows the first lines of a difference, indented under the FAIL line.
excerpt() { diff -u --label "$3" --label "$4" "$1" "$2" | head -n 25 | sed 's/^/    /'; }

# run_case NAME PLACER PROGRAM ARGS...
# Runs the command in a fresh directory, plainly and preloaded, and compares. PLACER is the
# program name (the trace's "program") that must show an applied "place" event, or - for none.
run_case() {
    local name=$1 placer=$2
    shift 2
    selected "$name" || return 0
    if ! command -v "$1" >/dev/null 2>&1; then
        fail "$name" "$1 is not installed: run make deps"
        return
    fi
    local dir=$TMP/cases/$name started=$SECONDS
    mkdir -p "$dir/plain" "$dir/preload" "$dir/trace"

    # The groups' stderr is bash's own: its "Terminated" notice for the signal cases.
    {
        (cd "$dir/plain" && exec timeout -k 10 "$TIMEOUT" "$@") \
            <"$DATA/stdin" >"$dir/plain.out" 2>"$dir/plain.err"
        echo "exit status $?" >"$dir/plain.status"
    } 2>/dev/null
    {
        (cd "$dir/preload" && exec timeout -k 10 "$TIMEOUT" "$CLI" run -c "$CONF" \
            --log "$dir/trace/trace.%p.jsonl" -- "$@") \
            <"$DATA/stdin" >"$dir/preload.out" 2>"$dir/preload.raw.err"
        echo "exit status $?" >"$dir/preload.status"
    } 2>/dev/null
    sed '/^cdmplace: /d' "$dir/preload.raw.err" >"$dir/preload.err"
    # What the programs wrote is compared through their output; keep the disk use small.
    [ -n "${RP_KEEP:-}" ] || rm -rf "$dir/plain" "$dir/preload"

    # Both runs cut off by the timeout "agree" without the program having run: a failure.
    if grep -q 'exit status 124' "$dir/plain.status"; then
        fail "$name" "the plain run timed out after ${TIMEOUT}s: nothing to compare"
        return
    fi
    local what
    for what in status out err; do
        cmp -s "$dir/plain.$what" "$dir/preload.$what" && continue
        if [ $what = status ]; then
            fail "$name" "the exit status differs"
            sed 's/^/    plain: /' "$dir/plain.status"
            sed 's/^/    preloaded: /' "$dir/preload.status"
            grep -q 'exit status 124' "$dir/preload.status" &&
                echo "    (the preloaded run timed out after ${TIMEOUT}s)"
        else
            fail "$name" "std$what differs"
            excerpt "$dir/plain.$what" "$dir/preload.$what" "plain $name" "preloaded $name"
        fi
        if grep -q '^cdmplace: ' "$dir/preload.raw.err"; then
            echo "    the library said (first lines):"
            grep '^cdmplace: ' "$dir/preload.raw.err" | head -n 8 | sed 's/^/    /'
        fi
        return
    done
    if ! grep -qs '"ev":"start"' "$dir"/trace/trace.*.jsonl; then
        fail "$name" "the library was not loaded: no trace with a start event in $dir/trace"
        return
    fi
    pass "$name"
    [ -n "${RP_VERBOSE:-}" ] && echo "    $((SECONDS - started)) s for both runs"

    if [ "$placer" != - ]; then
        local file placed=
        # "place" events are written for unplaced requests too: only "applied" counts.
        while IFS= read -r file; do
            if grep -m 1 '"ev":"start"' "$file" | grep -q "\"program\":\"$placer\""; then
                placed=$file
                break
            fi
        done < <(grep -ls '"ev":"place".*"result":"applied"' "$dir"/trace/trace.*.jsonl)
        if [ -n "$placed" ]; then
            pass "placed:$name"
        else
            fail "placed:$name" "no trace of $placer holds an applied place event: nothing was placed"
        fi
    fi
}

# --- Inputs, made deterministically --------------------------------------------------------
: >"$DATA/stdin"
# ~200 MB of lines (RP_LINES, default 8000000): a Park-Miller sequence (products stay below
# 2^53, exact in awk's doubles). d50 is its first 50 MiB, or all of it when it is shorter.
seq 1 "$LINES" | awk 'BEGIN { x = 12345 }
    { x = (x * 16807) % 2147483647; printf "%010d %d %s\n", x, $1, (x % 7 == 0 ? "seven" : "other") }' \
    >"$DATA/big.txt"
head -c 52428800 "$DATA/big.txt" >"$DATA/d50"
# The other inputs follow RP_LINES too: sqlite3 makes a row per 16 lines (500,000 by default),
# git commits a byte per line (8 MB; its clone twice that). The emulated guest's sixteenth still
# places buffers of 1M or more in both; at full size their three cases took it 80 s.
GIT_BYTES=$LINES

cat >"$DATA/lists.py" <<'EOF'
import hashlib, sys
b = bytearray(50 * 1024 * 1024)
for i in range(0, len(b), 4096):
    b[i] = (i // 4096) % 251
ints = list(range(2_000_000))
squares = [i * i % 1000003 for i in ints]
d = {i: str(i) for i in range(300_000)}
s = "".join(d[i] for i in range(0, 300_000, 3))
grown = bytearray()
for i in range(64):               # realloc of a large buffer, again and again
    grown += bytes([i]) * (256 * 1024)
print(len(b), sum(b), hashlib.sha256(b).hexdigest())
print(len(ints), sum(ints), sum(squares), len(d), len(s), hashlib.sha1(s.encode()).hexdigest())
print(len(grown), hashlib.sha256(grown).hexdigest())
del b, ints, squares
sys.stdout.flush()
EOF

cat >"$DATA/threads.py" <<'EOF'
import hashlib, threading
results = [None] * 4
def work(n):
    buf = bytearray()
    for j in range(96):
        buf += bytes([(n * 31 + j) % 256]) * 65536
    values = [x * (n + 1) for x in range(400_000)]
    results[n] = (len(buf), hashlib.sha256(buf).hexdigest()[:16], sum(values))
threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
for r in results: print(*r)
EOF

cat >"$DATA/maps.py" <<'EOF'
import hashlib, mmap, os
shared = mmap.mmap(-1, 64 << 20)                          # anonymous, MAP_SHARED
private = mmap.mmap(-1, 32 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
for m in (shared, private):
    for i in range(0, len(m), 4096):
        m[i] = (i // 4096) % 256
shared.madvise(mmap.MADV_DONTNEED, 0, 1 << 20)            # the first MiB reads back as zeros
print(shared[0], shared[4096], shared[(1 << 20) + 3 * 4096], private[5 * 4096])
private.resize(96 << 20)                                  # mremap of an anonymous mapping
private[(90 << 20)] = 7
print(len(private), private[5 * 4096], private[90 << 20], hashlib.sha256(private).hexdigest())
with open("file.bin", "wb") as f:
    f.truncate(8 << 20)
fd = os.open("file.bin", os.O_RDWR)
fm = mmap.mmap(fd, 8 << 20)                               # a shared file mapping
fm[:5] = b"hello"
fm.resize(24 << 20)                                       # ftruncate and mremap
fm[(20 << 20):(20 << 20) + 5] = b"world"
fm.flush(); fm.close(); os.close(fd)
with open("file.bin", "rb") as f:
    print(os.path.getsize("file.bin"), hashlib.sha256(f.read()).hexdigest())
pid = os.fork()                                           # the child touches placed memory
if pid == 0:
    shared[8 << 20] = 42
    os._exit(shared[8 << 20] + private[90 << 20])
print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), shared[8 << 20])
EOF

cat >"$DATA/spawn.py" <<'EOF'
import hashlib, subprocess
data = bytes(range(256)) * (128 * 1024)                   # 32 MiB, placed
done = subprocess.run(["sha256sum"], input=data, capture_output=True, check=True)
print(done.stdout.decode().split()[0] == hashlib.sha256(data).hexdigest())
child = subprocess.run(["python3", "-c", "print(len(bytearray(24 << 20)))"],
                       capture_output=True, text=True)
print(child.returncode, child.stdout.strip())
print(subprocess.call(["sh", "-c", "exit 4"]))
EOF

# A program that closes stderr and opens a file, which gets fd 2 (as a daemon does).
cat >"$DATA/fd2.py" <<'EOF'
import os
os.close(2)
fd = os.open("data.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
b = bytearray(8 << 20)
os.write(fd, b"fd %d: data\n" % fd)
EOF

cat >"$DATA/prog.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int compare(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}
int main(void)
{
    enum { LIMIT = 20000000, COUNT = 2000000 };
    char *composite = calloc(LIMIT, 1);
    unsigned *values = malloc(COUNT * sizeof *values);
    if (!composite || !values)
        return 1;
    unsigned long primes = 0;
    for (unsigned long i = 2; i < LIMIT; i++) {
        if (composite[i])
            continue;
        primes++;
        for (unsigned long j = i * i; j < LIMIT; j += i)
            composite[j] = 1;
    }
    unsigned x = 1;
    for (int i = 0; i < COUNT; i++)
        values[i] = x = x * 1103515245u + 12345u;
    qsort(values, COUNT, sizeof *values, compare);
    values = realloc(values, 2 * COUNT * sizeof *values);
    memset(values + COUNT, 0, COUNT * sizeof *values);
    printf("primes below %d: %lu; sorted min %u median %u max %u\n", LIMIT, primes, values[0],
           values[COUNT / 2], values[COUNT - 1]);
    free(composite);
    free(values);
    return 0;
}
EOF
printf 'int main(void) { return undeclared_name + ; }\n' >"$DATA/broken.c"

SQL="PRAGMA cache_size = -65536;
PRAGMA mmap_size = 268435456;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, txt TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $((LINES / 16)))
INSERT INTO t SELECT x, x % 1000, (x * 2654435761) % 4294967296, printf('row-%08d-%x', x, x * 7919) FROM c;
SELECT count(*), sum(val), min(txt), max(txt) FROM t;
SELECT grp, count(*), sum(val) % 1000003 FROM t GROUP BY grp ORDER BY sum(val) DESC LIMIT 5;
SELECT id, txt FROM t ORDER BY val, id LIMIT 3;
CREATE INDEX t_val ON t(val);
SELECT count(DISTINCT grp), sum(val % 97) FROM t WHERE val BETWEEN 1000000 AND 2000000000;
SELECT length(group_concat(txt)) FROM t WHERE grp < 100;"

PERL='use Digest::MD5 qw(md5_hex);
my %h; $h{$_} = $_ * 2 for 1 .. 400_000;
my $s = "x" x 50_000_000; substr($s, 25_000_000, 5) = "hello";
my $t = 0; $t += $h{$_} for keys %h;
my @sorted = sort { $a <=> $b } keys %h;
print scalar(keys %h), " $t ", length($s), " ", index($s, "hello"), " ",
    md5_hex(join(",", @sorted[0 .. 999])), " ", md5_hex($s), "\n";'

GIT='export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z
set -e
git init -q -b main repo && cd repo
head -c "$GIT_BYTES" "$DATA/d50" >data.txt && seq 1 20000 >numbers.txt
git add . && git commit -q -m first
sed -i "1000,1010s/seven/SEVEN/" data.txt && seq 5 20005 >numbers.txt
git commit -q -a -m second
git gc -q
git log --stat --format="%H %s"
git diff --stat HEAD~1
git show HEAD:data.txt | sha256sum
git fsck --full --no-progress'

GIT_CLONE='export HOME=$PWD GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid
export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid
export GIT_AUTHOR_DATE=2024-01-01T00:00:00Z GIT_COMMITTER_DATE=2024-01-01T00:00:00Z
set -e
git init -q -b main origin
head -c "$((GIT_BYTES * 2))" "$DATA/d50" >origin/data.txt
git -C origin add data.txt && git -C origin commit -q -m first
git clone -q --no-local origin copy
git -C copy log --format="%H %s" && sha256sum <copy/data.txt'

# --- The cases ------------------------------------------------------------------------------
export DATA GIT_BYTES

run_case python3-lists python3 python3 "$DATA/lists.py"
run_case python3-threads python3 python3 "$DATA/threads.py"
run_case python3-mmap python3 python3 "$DATA/maps.py"
run_case python3-subprocess python3 python3 "$DATA/spawn.py"
run_case sort-parallel sort sh -c 'sort --parallel=2 -S 100M "$DATA/big.txt" | sha256sum'
run_case sort-numeric - sh -c 'sort -n -k2,2r "$DATA/d50" | sha256sum'
run_case xz xz sh -c 'xz -T2 -1 -c "$DATA/d50" >d50.xz && sha256sum d50.xz &&
    xz -T2 -dc d50.xz | sha256sum && sha256sum <"$DATA/d50"'
run_case sqlite3 sqlite3 sqlite3 -batch test.db "$SQL"
run_case gcc cc1 sh -c 'gcc -O2 -Wall -o prog "$DATA/prog.c" && ./prog'
run_case perl perl perl -e "$PERL"
run_case bash-pipeline - bash -c 'for i in $(seq 50); do echo $i | sha1sum; done | sort | uniq -c | wc -l'
run_case gzip - sh -c 'gzip -1 -c "$DATA/d50" | tee d50.gz | gzip -dc | sha256sum && sha256sum <d50.gz'
run_case zstd zstd sh -c 'zstd -q -T2 -3 -c "$DATA/d50" >d50.zst && sha256sum <d50.zst &&
    zstd -q -dc d50.zst | sha256sum'
run_case awk - awk '{ sum += $2; count[$3]++; first[substr($1, 1, 4)] = $2 }
    END { printf "%d %d %d %d\n", sum, count["seven"], count["other"], length(first) }' "$DATA/d50"
run_case tar tar sh -c 'mkdir tree && cp "$DATA/d50" "$DATA/prog.c" tree/ && touch -d @0 tree tree/* &&
    tar -b 2048 --sort=name --owner=0 --group=0 -cf out.tar tree && sha256sum <out.tar &&
    mkdir x && tar -b 2048 -xf out.tar -C x && cmp tree/d50 x/tree/d50 && tar -tvf out.tar'
run_case cp-cmp - sh -c 'cp "$DATA/big.txt" copy.txt && cmp "$DATA/big.txt" copy.txt && wc -c <copy.txt'
run_case find - find /usr/lib/python3.11 -name '*.py' -size +40k -printf '%s %P\n'
run_case dd dd sh -c 'dd if="$DATA/d50" of=out.bin bs=8M status=none && cmp "$DATA/d50" out.bin &&
    dd if=out.bin bs=4M count=3 status=none | sha256sum'
if command -v git >/dev/null 2>&1; then
    run_case git git sh -c "$GIT"
    # The server side's stderr reaches the client through git's sideband, as "remote: ..."
    run_case git-clone git sh -c "$GIT_CLONE"
else
    selected git && skip git "git is not installed; it is optional"
    selected git-clone && skip git-clone "git is not installed; it is optional"
fi
# Programs that read a child's stderr as data: the autoconf test of a compiler (a check
# fails when conftest.err is not empty) and a shell capturing 2>&1. And one whose fd 2 is a
# data file by the time it exits: nothing may be written into it.
run_case stderr-of-child - sh -c 'printf "int main(void) { return 0; }\n" >conftest.c
    gcc -c conftest.c 2>conftest.err; if test -s conftest.err; then
    echo "conftest.err not empty:"; cat conftest.err; else echo "conftest.err empty"; fi
    out=$(python3 -c "b = bytearray(4 << 20); print(len(b))" 2>&1); echo "captured: $out"'
run_case stderr-closed python3 sh -c 'python3 "$DATA/fd2.py"; cat data.txt'
# Programs started with stdin or stdout closed: the library's own files (the trace) must not
# take fd 0, 1 or 2, or the program writes into the trace and reads from it.
run_case stdio-closed - sh -c 'seq 3 >&-; echo "seq: $?"
    python3 -c "import sys; print(sys.stdin)" <&-'

# Failing programs: the exit status and what they say on stderr must come through unchanged.
run_case exit-python - python3 -c 'import sys; b = bytearray(8 << 20); print(len(b)); sys.exit(3)'
run_case exit-sh - sh -c 'exit 5'
run_case stderr-python - python3 -c 'import sys
b = bytearray(16 << 20)
print("to stdout", len(b))
print("to stderr", file=sys.stderr)
sys.exit(1)'
run_case traceback-python - python3 -c 'x = bytearray(4 << 20); y = [0] * 1000000; print(len(x)); 1 / 0'
run_case die-perl - perl -e 'my $s = "y" x 4_000_000; print length($s), "\n"; die "boom\n"'
run_case missing-file - ls /nonexistent-cdmplace-file
run_case gcc-error - gcc -c -o broken.o "$DATA/broken.c"
run_case signal-python - python3 -c 'import os, signal, sys
b = bytearray(16 << 20); print(len(b)); sys.stdout.flush()
os.kill(os.getpid(), signal.SIGTERM)'
run_case signal-sh - sh -c 'echo before; kill -TERM $$; echo after'

finish
