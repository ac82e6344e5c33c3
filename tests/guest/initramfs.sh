#!/bin/sh
# SPDX-License-Identifier: MIT
# initramfs.sh KERNEL: packs build/guest/initrd-KERNEL.cpio.gz for a kernel fetched by
# fetch-kernels.sh (6.12 or 6.1): a static busybox, tests/guest/init as /init, a static
# fault_event_holder (tests/guest/fault_event_holder.c) and the modules that mounting the
# host's root over virtio 9p needs, in load order. Rebuilt only when the kernel, init, the
# holder or this script is newer than the archive.
set -eu
cd "$(dirname "$0")/../.."
kernel=${1:?usage: initramfs.sh KERNEL}
tree="build/guest/kernels/$kernel"
initrd="build/guest/initrd-$kernel.cpio.gz"
if [ ! -f "$tree/release" ]; then
    echo "initramfs: no kernel $kernel in $tree (run tests/guest/fetch-kernels.sh)" >&2
    exit 1
fi
if [ -f "$initrd" ] && [ -z "$(find "$tree/release" tests/guest/init tests/guest/fault_event_holder.c \
    tests/guest/initramfs.sh -newer "$initrd")" ]; then
    exit 0
fi
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "initramfs: needs a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi
modules="$tree/lib/modules/$(cat "$tree/release")"
stage=$(mktemp -d "${TMPDIR:-/tmp}/cdmplace-initramfs-XXXXXX")
trap 'rm -rf "$stage" "$stage.cpio.gz"' EXIT
mkdir -p "$stage/bin" "$stage/modules" "$stage/proc" "$stage/sys" "$stage/dev"
cp "$busybox" "$stage/bin/busybox"
cp tests/guest/init "$stage/init"
chmod 755 "$stage/init"
${CC:-cc} -static -Os -Wall -Wextra -Werror -o "$stage/bin/fault_event_holder" tests/guest/fault_event_holder.c ||
    { echo "initramfs: cannot build a static fault_event_holder (needs libc6-dev)" >&2; exit 1; }

# module_file NAME: the module's file under the kernel tree, or nothing when it is built
# in. Names use - and _ interchangeably.
module_file() {
    find "$modules/kernel" -name "$1.ko*" -o -name "$(echo "$1" | tr _ -).ko*" -o \
        -name "$(echo "$1" | tr - _).ko*" | head -n 1
}

# add NAME: copies the module after the modules it depends on (its modinfo "depends=",
# read from the file so that the host needs no kmod), decompressed: 6.12 ships .ko.xz and
# busybox insmod passes the file to the kernel as it is.
add() {
    grep -qx "$1.ko" "$stage/modules/order" 2>/dev/null && return 0
    file=$(module_file "$1")
    [ -n "$file" ] || return 0 # built in (6.12 has virtio built in, 6.1 has it as modules)
    case "$file" in
    *.xz) xz -dc "$file" >"$stage/modules/$1.ko" ;;
    *.zst) zstd -qdc "$file" >"$stage/modules/$1.ko" ;;
    *) cp "$file" "$stage/modules/$1.ko" ;;
    esac
    for dependency in $(tr '\0' '\n' <"$stage/modules/$1.ko" | sed -n 's/^depends=//p' | tr , ' '); do
        add "$dependency"
    done
    echo "$1.ko" >>"$stage/modules/order"
}
: >"$stage/modules/order"
# virtio_pci is no module's dependency: it is the transport the 9p devices sit on.
for module in virtio_pci 9pnet_virtio 9p; do
    add "$module"
done
grep -qx 9p.ko "$stage/modules/order" || grep -q '/9p.ko' "$modules/modules.builtin" || {
    echo "initramfs: kernel $kernel has no 9p module" >&2
    exit 1
}
mkdir -p "$(dirname "$initrd")"
(cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 >"$stage.cpio.gz"
mv "$stage.cpio.gz" "$initrd"
echo "initramfs: $initrd with $(tr '\n' ' ' <"$stage/modules/order")"
