#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages that building, testing and the demo need (root, apt-get);
# qemu-system-x86, busybox-static and cpio are the multi-node guests' (tests/guest/);
# nodejs and npm load --perfetto's output in a real trace viewer's engine
# (tests/report-perfetto.sh); chromium-headless-shell and python3-pil look at `report --svg`'s
# picture (tests/report-svg.sh); openmpi-bin and libopenmpi-dev (mpirun, mpicc) the job tests'
# (tests/jobs.sh); libcap2-bin (setcap) a program with file capabilities
# (tests/process_lifecycle.c); mbw a third-party memory benchmark (bench/layout.sh);
# redis-server, redis-tools, libjemalloc2, libgoogle-perftools4 (tcmalloc), libmimalloc2.0 and
# gdb the programs with their own allocators and the stacks of a hung one
# (tests/allocators.sh, bench/redis.sh); libslurm-dev (<slurm/spank.h>) builds the Slurm
# plugin, and slurmctld, slurmd, slurm-client (srun, sinfo) and munge are the single-node
# Slurm it runs in (tests/slurm.sh starts daemons of its own, on its own socket and ports).
# Packages already present are not fetched again; anything missing triggers apt-get update.
set -eu
packages="gcc g++ make libc6-dev pkg-config libnuma-dev libunwind-dev uthash-dev libbsd-dev libcriterion-dev
libsimdjson-dev libdw-dev clang libclang-rt-14-dev openmpi-bin libopenmpi-dev
numactl libcap2-bin mbw man-db groff-base python3 perl sqlite3 xz-utils zstd gzip bzip2 tar gawk diffutils coreutils findutils
qemu-system-x86 busybox-static cpio nodejs
chromium-headless-shell python3-pil
redis-server redis-tools libjemalloc2 libgoogle-perftools4 libmimalloc2.0 gdb
libslurm-dev slurmctld slurmd slurm-client munge"
missing=""
for package in $packages; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $package"
done
# A Node.js from NodeSource brings its own npm and conflicts with Debian's package.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages:$missing; run as root (or install them) first" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
