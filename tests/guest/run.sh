#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh [OPTIONS] -- COMMAND [ARGS...]: runs COMMAND as root in a QEMU guest with several
# NUMA nodes, in a chroot of this machine's root (shared read-only over 9p), in the current
# directory. Prints COMMAND's stdout and stderr and exits with its status; 124 when the
# guest ran out of time, 125 when it failed before the command finished (both print the
# last 40 lines of the guest's console).
#
#   --kernel 6.12|6.1     guest kernel (default 6.12), fetched by fetch-kernels.sh
#   --topology NAME       cdm (default): node 0 has the 2 CPUs and 1G, node 1 has 1G and
#                           no CPUs;
#                         tiers: node 0 has the CPUs and 1G, nodes 1 and 2 have 512M each
#                           and no CPUs, and HMAT makes each slower than the last, so the
#                           kernel puts them in lower memory tiers (6.1: one tier);
#                         small-cdm: node 0 has the CPUs and 1G, node 1 48M and no CPUs;
#                         sockets: two sockets, each with a device memory of its own:
#                           CPU 0 on node 0, CPU 1 on node 1 (768M each), nodes 2 and 3
#                           512M each and no CPUs; distances 10 local, 20 from a socket to
#                           its device node (0-2, 1-3), 32 between sockets, 40 to the
#                           other socket's device node and between the device nodes;
#                         sockets-hmat: the same, with HMAT figures from each socket to
#                           each node (its device node slower than its DRAM, the other
#                           socket's slower still), nodes 2 and 3 each attached to its socket
#                         cdm-dimm: cdm, with 512M more on node 1 in a DIMM plugged at boot
#                           and onlined movable: its memory blocks can go offline
#   --mem SIZE,...        each node's memory instead of the topology's (M or G suffix)
#   --timeout SECONDS     the whole run, boot included (default 600)
#   --env NAME=VALUE      passed to COMMAND (repeatable); COMMAND sees PATH (this shell's),
#                         HOME=/tmp and these, nothing else
#   --accel tcg|kvm       tcg by default (CDMPLACE_GUEST_ACCEL); kvm is used only when a
#                         probe boot with it reaches the marker, else TCG
#   --console             copy the guest's console to stderr as it runs
#
# The guest sees this machine's files read-only, with a tmpfs on /tmp: COMMAND writes under
# /tmp. TCG emulates every instruction: expect a few times slower than the host.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd -P)
usage() {
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
# quote WORD: WORD as one shell word.
quote() {
    printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

kernel=6.12 topology=cdm mem="" limit=600 accel=${CDMPLACE_GUEST_ACCEL:-tcg} console=no
environment="$(quote "PATH=$PATH") 'HOME=/tmp'"
while [ $# -gt 0 ]; do
    case $1 in
    --kernel) kernel=${2:?}; shift 2 ;;
    --topology) topology=${2:?}; shift 2 ;;
    --mem) mem=${2:?}; shift 2 ;;
    --timeout) limit=${2:?}; shift 2 ;;
    --env)
        case ${2:-} in [A-Za-z_]*=*) ;; *) usage ;; esac
        environment="$environment $(quote "$2")"
        shift 2 ;;
    --accel) accel=${2:?}; shift 2 ;;
    --console) console=yes; shift ;;
    --) shift; break ;;
    *) usage ;;
    esac
done
[ $# -gt 0 ] || usage
case $kernel in 6.12|6.1) ;; *) echo "guest: no kernel $kernel (6.12 or 6.1)" >&2; exit 2 ;; esac
case $accel in tcg|kvm) ;; *) echo "guest: --accel takes tcg or kvm" >&2; exit 2 ;; esac
case $limit in ''|*[!0-9]*) echo "guest: --timeout takes seconds" >&2; exit 2 ;; esac

# Node memory sizes, each node's CPUs ("-": none), the distances that are not 20
# (FROM-TO:DISTANCE), and what HMAT adds: each memory-only node's initiator and the latency
# (ns) and bandwidth from an initiator to a node (INITIATOR-TARGET:LATENCY:BANDWIDTH). The
# `tiers` figures give abstract distances 16 and 240 times node 0's, which the 6.12 kernel
# puts in memory_tier72 and memory_tier1080 (node 0: memory_tier4).
cpus="0-1" distances="" initiators="" hmat="" dimm=""
sockets_distances="0-1:32 0-2:20 0-3:40 1-2:40 1-3:20 2-3:40"
case $topology in
cdm) sizes=1G,1G ;;
cdm-dimm) sizes=1G,1G dimm=512M ;;
small-cdm) sizes=1G,48M ;;
tiers) sizes=1G,512M,512M initiators="- 0 0" hmat="0-0:10:10G 0-1:40:2560M 0-2:120:512M" ;;
sockets) sizes=768M,768M,512M,512M cpus="0 1" distances=$sockets_distances ;;
sockets-hmat)
    sizes=768M,768M,512M,512M cpus="0 1" distances=$sockets_distances initiators="- - 0 1"
    hmat="0-0:10:10G 0-1:32:5G 0-2:40:2560M 0-3:60:1280M 1-0:32:5G 1-1:10:10G 1-2:60:1280M 1-3:40:2560M" ;;
*) echo "guest: no topology $topology (cdm, cdm-dimm, tiers, small-cdm, sockets, sockets-hmat)" >&2; exit 2 ;;
esac
if [ -n "$mem" ]; then
    if [ "$(echo "$mem" | tr , '\n' | wc -l)" -ne "$(echo "$sizes" | tr , '\n' | wc -l)" ]; then
        echo "guest: --mem $mem: topology $topology has $(echo "$sizes" | tr , '\n' | wc -l) nodes" >&2
        exit 2
    fi
    sizes=$mem
fi
machine=pc numa="" total=0 node=0
for size in $(echo "$sizes" | tr , ' '); do
    case $size in
    *[!0-9]*[MG] | [MG] | *[!MG]) echo "guest: memory size $size: a number with M or G" >&2; exit 2 ;;
    *G) mib=$((${size%G} * 1024)) ;;
    *M) mib=${size%M} ;;
    esac
    total=$((total + mib))
    numa="$numa -object memory-backend-ram,id=m$node,size=${mib}M -numa node,nodeid=$node,memdev=m$node"
    node_cpus=$(echo $cpus | awk -v n="$((node + 1))" '{ print $n }')
    initiator=$(echo $initiators | awk -v n="$((node + 1))" '{ print $n }')
    if [ -n "$node_cpus" ]; then
        numa="$numa,cpus=$node_cpus"
    elif [ -n "$initiator" ] && [ "$initiator" != - ]; then
        numa="$numa,initiator=$initiator"
    fi
    node=$((node + 1))
done
for pair in $distances; do
    numa="$numa -numa dist,src=${pair%%-*},dst=$(echo "$pair" | sed 's/.*-\(.*\):.*/\1/'),val=${pair#*:}"
done
if [ -n "$hmat" ]; then
    machine=pc,hmat=on
    for entry in $hmat; do
        pair=${entry%%:*} figures=${entry#*:}
        to="initiator=${pair%-*},target=${pair#*-},hierarchy=memory"
        numa="$numa -numa hmat-lb,$to,data-type=access-latency,latency=${figures%:*}"
        numa="$numa -numa hmat-lb,$to,data-type=access-bandwidth,bandwidth=${figures#*:}"
    done
fi

# One CPU at boot (maxcpus): the guest's /init brings the others up once the code patches
# are made (see there). The console has warnings and worse (loglevel): writing the boot's
# informational lines to it took TCG 0.4 s a boot; dmesg keeps them all.
memory="${total}M" append="console=ttyS0 panic=-1 maxcpus=1 loglevel=5"
# The delay loop's calibration on the second CPU takes 0.7-0.9 s under TCG (the guest has no
# constant TSC to take the first CPU's from); TCG's TSC is the host's, so it is preset from the
# host's clock (loops per jiffy: TSC ticks per jiffy, as the first CPU computes it).
host_mhz=$(awk -F': *' '/^cpu MHz/ { print $2; exit }' /proc/cpuinfo)
kernel_hz=$(sed -n 's/^CONFIG_HZ=//p' "$repo/build/guest/kernels/$kernel/boot/config-"* 2>/dev/null)
if [ "$accel" = tcg ] && [ -n "$host_mhz" ] && [ -n "$kernel_hz" ]; then
    append="$append lpj=$(awk -v mhz="$host_mhz" -v hz="$kernel_hz" 'BEGIN { printf "%d", mhz * 1e6 / hz }')"
fi
# A DIMM on node 1, plugged before boot: the kernel onlines its blocks into ZONE_MOVABLE
# (memhp_default_state), the only memory it lets go offline.
if [ -n "$dimm" ]; then
    memory="${total}M,slots=1,maxmem=$((total + ${dimm%M}))M"
    numa="$numa -object memory-backend-ram,id=dimm,size=$dimm -device pc-dimm,memdev=dimm,node=1"
    append="$append memhp_default_state=online_movable"
fi

cwd=$(pwd -P)
[ -f "$repo/build/guest/kernels/$kernel/release" ] || sh "$repo/tests/guest/fetch-kernels.sh" >&2
sh "$repo/tests/guest/initramfs.sh" "$kernel" >&2

# KVM, when asked for, only after a probe boot reached the marker on this host kernel:
# a software KVM may start and then fail on ordinary instructions and hang.
if [ "$accel" = kvm ] && [ -z "${CDMPLACE_GUEST_PROBE:-}" ]; then
    verdict="$repo/build/guest/kvm-probe-$(uname -r)"
    if [ ! -f "$verdict" ]; then
        if CDMPLACE_GUEST_PROBE=1 sh "$0" --accel kvm --kernel "$kernel" --timeout 30 -- true >/dev/null 2>&1; then
            echo works >"$verdict"
        else
            echo fails >"$verdict"
        fi
    fi
    if [ "$(cat "$verdict")" != works ]; then
        echo "guest: KVM failed its probe boot on this host ($verdict); using TCG" >&2
        accel=tcg
    fi
fi
if [ "$accel" = kvm ]; then
    cpu="-accel kvm -cpu host"
else
    cpu="-accel tcg -cpu max"
fi

# The run's results directory: the job to run, the guest's console, COMMAND's output and
# exit status. Removed after a run that reached the marker; kept when the guest failed.
out="$repo/build/guest/out/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$out"
echo "$out" >"$out/path"
# A tree under /tmp (a CI clone) is bound back over the guest's tmpfs on /tmp.
case $repo in /tmp/*) echo "$repo" >"$out/keep" ;; esac
{
    echo "cd $(quote "$cwd") || exit 125"
    printf 'exec env -i %s' "$environment"
    for word in "$@"; do
        printf ' %s' "$(quote "$word")"
    done
    echo
} >"$out/job"

qemu=""
tail=""
cleanup() {
    [ -n "$qemu" ] && kill "$qemu" 2>/dev/null
    [ -n "$tail" ] && kill "$tail" 2>/dev/null
    return 0
}
trap cleanup EXIT
trap 'cleanup; rm -rf "$out"; exit 130' INT
trap 'cleanup; rm -rf "$out"; exit 143' TERM

# The emulated CPUs before the host's other work, as root: a vCPU thread the host runs late
# leaves the guest's inter-processor interrupts waiting for milliseconds, which hardware never
# does. 6.1 flushes the TLB of the CPUs running a program for each page it migrates (Linux
# 6.4 batches them): under TCG with two busy loops on the host it took up to 3.1 s to move
# 1,024 pages while a second thread of the program ran, against 79 ms at nice -10, and
# tier-6.1 missed its convergence in half its runs.
priority=""
[ "$(id -u)" = 0 ] && priority="nice -n -10"

# The kernel's ELF image when fetch-kernels.sh unpacked it (booted through its PVH entry, with
# no decompression under emulation), else its vmlinuz.
image=$repo/build/guest/kernels/$kernel/vmlinux
[ -f "$image" ] || image=$repo/build/guest/kernels/$kernel/vmlinuz

# boot: one run of the guest; sets status to QEMU's exit status.
boot() {
    : >"$out/console"
    # shellcheck disable=SC2086
    $priority timeout --kill-after=5 "$limit" qemu-system-x86_64 $cpu -smp 2 -m "$memory" -machine "$machine" \
        $numa -nodefaults -no-user-config -display none -monitor none -serial "file:$out/console" \
        -no-reboot -net none \
        -kernel "$image" -initrd "$repo/build/guest/initrd-$kernel.cpio.gz" \
        -append "$append" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$(echo "$out" | sed 's/,/,,/g'),mount_tag=results,security_model=none" \
        </dev/null >"$out/qemu.log" 2>&1 &
    qemu=$!
    if [ "$console" = yes ]; then
        tail -n +1 -f --pid="$qemu" "$out/console" >&2 &
        tail=$!
    fi
    status=0
    wait "$qemu" || status=$?
    qemu=""
}
boot
# Under TCG the 6.12 kernel rarely oopses on an int3 while it patches its own code at boot
# (seen once in CI, "Oops: int3" 1.2 s in), before the job began: that one fault, and only
# it, boots once more. The failed boot's console is kept in build/guest/failed-boots/, and
# the line below says so (tests/run-all.sh marks the suite's line).
if ! grep -q 'cdmplace-guest: running the job' "$out/console" &&
    grep -q 'Oops: int3' "$out/console"; then
    kept=$repo/build/guest/failed-boots/console.$(date +%Y%m%d-%H%M%S).$$
    mkdir -p "$repo/build/guest/failed-boots" && cp "$out/console" "$kept"
    echo "guest: the kernel failed before the job began ($(grep -m 1 'Oops: int3' "$kept" |
        sed 's/^\[[^]]*\] //')); booting again; the failed boot's console is $kept" >&2
    [ -n "$tail" ] && wait "$tail"
    tail=""
    boot
fi

if grep -q 'CDMPLACE-GUEST-DONE' "$out/console" && [ -f "$out/status" ]; then
    [ -n "$tail" ] && wait "$tail"
    tail=""
    cat "$out/stdout"
    cat "$out/stderr" >&2
    status=$(cat "$out/status")
    rm -rf "$out"
    exit "$status"
fi
# What COMMAND printed before the guest stopped, then why it stopped.
[ -f "$out/stdout" ] && cat "$out/stdout"
[ -f "$out/stderr" ] && cat "$out/stderr" >&2
if [ -n "${CDMPLACE_GUEST_PROBE:-}" ]; then
    rm -rf "$out"
    exit 125
fi
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "guest: timed out after ${limit}s (kernel $kernel, topology $topology); results in $out" >&2
    status=124
else
    echo "guest: the guest stopped before its command finished (kernel $kernel, topology" \
        "$topology, QEMU exit $status); results in $out" >&2
    status=125
fi
cat "$out/qemu.log" >&2
echo "guest: last 40 console lines:" >&2
tail -n 40 "$out/console" >&2
# The cause may lie further up than 40 lines (a panic's call trace is longer).
trouble=$(grep -E 'Kernel panic|BUG:|Oops:|Out of memory:' "$out/console" | head -n 3)
[ -z "$trouble" ] || printf 'guest: the kernel said:\n%s\n' "$trouble" >&2
exit "$status"
