#!/bin/sh
# SPDX-License-Identifier: MIT
# `make install PREFIX=...` into a scratch prefix: the files land where the man pages say, and
# the installed CLI finds the installed library and places with it.
set -u
prefix=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
. tests/suite.sh
make -s install PREFIX="$prefix" >/dev/null
for file in bin/cdmplace lib/libcdmplace.so include/cdmplace.h share/man/man1/cdmplace.1 \
    share/man/man5/cdmplace.conf.5 share/doc/cdmplace/examples/profile.conf; do
    check "installed $file" eval "[ -f '$prefix/$file' ]"
done
check "the man pages render" \
    eval "MANWIDTH=80 man -l '$prefix/share/man/man1/cdmplace.1' 2>&1 | grep -q 'cdmplace run' &&
     MANWIDTH=80 man -l '$prefix/share/man/man5/cdmplace.conf.5' 2>&1 | grep -q 'min_size'"
out=$(env -u CDMPLACE_LIBRARY "$prefix/bin/cdmplace" run -c tests/process.conf --report off -- \
    build/tests/probe alloc 9 2>&1)
check "the installed CLI preloads the installed library" eval "[ '$out' = 'placed=1' ]"
check "--version" eval "'$prefix/bin/cdmplace' --version | grep -q '[0-9]\.[0-9]'"
check "the pkg-config file names the header's directory" \
    eval "PKG_CONFIG_PATH='$prefix/lib/pkgconfig' pkg-config --cflags cdmplace | grep -qx -- '-I$prefix/include *'"
check "the licence is installed" eval "[ -f '$prefix/share/doc/cdmplace/LICENSE' ]"
# The Slurm plugin, built where <slurm/spank.h> is: in LIBDIR/slurm, and by default it runs the
# library and the CLI where they were installed.
if [ -f build/spank_cdmplace.so ]; then
    check "the SPANK plugin is installed and names the installed library and CLI" \
        eval "[ -f '$prefix/lib/slurm/spank_cdmplace.so' ] &&
         strings '$prefix/lib/slurm/spank_cdmplace.so' | grep -qx '$prefix/lib/libcdmplace.so' &&
         strings '$prefix/lib/slurm/spank_cdmplace.so' | grep -qx '$prefix/bin/cdmplace'"
fi
# Completion: bash with the installed script, as bash-completion would load it.
complete_line() {
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _cdmplace
             echo "${COMPREPLY[*]}"' sh "$prefix/share/bash-completion/completions/cdmplace" "$@"
}
check "bash completes the commands" eval "[ \"\$(complete_line cdmplace r)\" = 'run report' ]"
check "bash completes report's options after a trace" \
    eval "[ \"\$(complete_line cdmplace report t.jsonl --)\" = '--json --folded --top --rule --pid --rank --svg --perfetto --diff --help' ]"
check "bash completes check's and topo's options" \
    eval "[ \"\$(complete_line cdmplace check x.conf --)\" = '--json --help' ] &&
     [ \"\$(complete_line cdmplace topo --)\" = '--json --help' ]"
check "bash completes run's program after its options" \
    eval "complete_line cdmplace run -c x.conf -- sleep | grep -qw sleep"
make -s uninstall PREFIX="$prefix" >/dev/null
check "uninstall leaves no file" eval "[ -z \"\$(find '$prefix' -type f)\" ]"

# A distribution's layout: the library in a multiarch directory, not ../lib beside bin; the
# CLI finds it there because the build knows LIBDIR. Staged under DESTDIR, as packagers do.
stage=$prefix/stage
multiarch=$prefix/usr/lib/x86_64-linux-gnu
make -s install PREFIX="$prefix/usr" LIBDIR="$multiarch" >/dev/null
check "installed the library in LIBDIR" eval "[ -f '$multiarch/libcdmplace.so' ] && [ ! -e '$prefix/usr/lib/libcdmplace.so' ]"
out=$(env -u CDMPLACE_LIBRARY "$prefix/usr/bin/cdmplace" run -c tests/process.conf --report off -- \
    build/tests/probe alloc 9 2>&1)
check "the installed CLI finds the library in LIBDIR" eval "[ '$out' = 'placed=1' ]"
make -s install PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu DESTDIR="$stage" >/dev/null
check "DESTDIR stages every file under it" \
    eval "[ -f '$stage/usr/bin/cdmplace' ] && [ -f '$stage/usr/lib/x86_64-linux-gnu/libcdmplace.so' ] &&
     [ -f '$stage/usr/lib/x86_64-linux-gnu/pkgconfig/cdmplace.pc' ] && [ -f '$stage/usr/include/cdmplace.h' ]"

make -s all >/dev/null # the build tree's CLI for the default LIBDIR again
finish
