#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetches the guest kernels into build/guest/kernels/<6.12|6.1>/ without installing them:
# `apt-get download` of Debian 12's image package, then `dpkg-deb -x` of the whole package
# (vmlinuz and every module, as Debian ships them). A kernel already unpacked is kept; delete
# its directory to fetch the current one again.
#
#   6.12  linux-image-6.12-amd64 (bookworm-security): NUMA, HMAT tiers, weighted interleave,
#         WP_ASYNC and PAGEMAP_SCAN; the default guest.
#   6.1   linux-image-amd64 (bookworm): none of the last three; the degradation guest.
#
# Each directory gets `vmlinuz` (a link to boot/vmlinuz-*), `vmlinux` (its ELF image, which
# QEMU boots through the kernel's PVH entry: decompressing vmlinuz took the emulated guest
# 0.8 s a boot for 6.12's zstd, 2.8 s for 6.1's xz; without it run.sh boots vmlinuz),
# `release` (the module directory name, written last: its presence means the kernel is
# complete) and `package`.
set -eu
cd "$(dirname "$0")/../.."
kernels=build/guest/kernels
updated=no

# image_package META: the real image package behind the metapackage, e.g.
# linux-image-6.12-amd64 -> linux-image-6.12.117+deb12-amd64.
image_package() {
    apt-cache depends "$1" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}

# candidate PACKAGE: the version apt would download, or nothing.
candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# download META DIR: resolves META to its image package and downloads that into DIR; sets
# package and version. Fails, saying why, when apt does not know or cannot fetch it.
download() {
    package=$(image_package "$1")
    if [ -z "$package" ]; then
        echo "fetch-kernels: apt knows no $1; Debian 12's sources (bookworm, bookworm-updates," \
            "bookworm-security) must be configured and read (apt-get update)" >&2
        return 1
    fi
    # The signed and the -unsigned package hold the same kernel; QEMU boots either.
    [ -n "$(candidate "$package")" ] || package="$package-unsigned"
    version=$(candidate "$package")
    if [ -z "$version" ]; then
        echo "fetch-kernels: no candidate version of $package" >&2
        return 1
    fi
    # As root apt drops to the _apt user, which cannot write here; the download is
    # verified against the signed lists all the same.
    sandbox=""
    [ "$(id -u)" -ne 0 ] || sandbox="-o APT::Sandbox::User=root"
    # shellcheck disable=SC2086
    (cd "$2" && apt-get download -q $sandbox "$package=$version" >/dev/null)
}

# u32 FILE OFFSET: the little-endian 32-bit word at OFFSET.
u32() {
    od -An -tu4 --endian=little -j "$2" -N4 "$1" | tr -d ' '
}

# unpack_vmlinux DIR: DIR/vmlinux out of DIR/vmlinuz: the payload the boot header names
# (payload_offset and payload_length, from the protected-mode code after the setup sectors),
# zstd or xz, whose last word is the size it unpacks to.
unpack_vmlinux() {
    image=$1/vmlinuz
    setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$image" | tr -d ' ')
    [ "$setup" -ne 0 ] || setup=4
    start=$(((setup + 1) * 512 + $(u32 "$image" $((0x248)))))
    length=$(u32 "$image" $((0x24c)))
    size=$(u32 "$image" $((start + length - 4)))
    case $(od -An -tx1 -j "$start" -N4 "$image" | tr -d ' ') in
    28b52ffd) unpack="zstd -dcq" ;;
    fd377a58) unpack="xz -dcq" ;;
    *) unpack="" ;;
    esac
    # The size word after the compressed stream is trailing data to zstd and xz: their
    # status is not the test, the size is.
    # shellcheck disable=SC2086
    [ -z "$unpack" ] ||
        tail -c +$((start + 1)) "$image" | head -c "$length" | $unpack >"$1/vmlinux.partial" 2>/dev/null || :
    if [ -n "$unpack" ] && [ "$(wc -c <"$1/vmlinux.partial")" -eq "$size" ] &&
        [ "$(od -An -c -N4 "$1/vmlinux.partial" | tr -d ' ')" = 177ELF ]; then
        mv "$1/vmlinux.partial" "$1/vmlinux"
    else
        rm -f "$1/vmlinux.partial"
        echo "fetch-kernels: could not unpack $image's ELF image: the guest boots vmlinuz" >&2
    fi
}

fetch() {
    name=$1 meta=$2
    target="$kernels/$name"
    if [ -f "$target/release" ]; then
        [ -f "$target/vmlinux" ] || unpack_vmlinux "$target"
        echo "fetch-kernels: $name: $(cat "$target/package") (already unpacked in $target)"
        return 0
    fi
    partial="$target.partial"
    rm -rf "$partial" "$target"
    mkdir -p "$partial/deb"
    if ! download "$meta" "$partial/deb"; then
        # Lists never read, or older than the mirror (a superseded kernel is deleted from
        # bookworm-security): read them again once.
        [ "$(id -u)" -eq 0 ] && [ "$updated" = no ] || exit 1
        echo "fetch-kernels: apt-get update, then again" >&2
        apt-get update -q >/dev/null
        updated=yes
        download "$meta" "$partial/deb" || exit 1
    fi
    dpkg-deb -x "$partial"/deb/*.deb "$partial"
    rm -rf "$partial/deb"
    release=$(ls "$partial/lib/modules")
    ln -s "boot/vmlinuz-$release" "$partial/vmlinuz"
    unpack_vmlinux "$partial"
    echo "$package=$version" >"$partial/package"
    echo "$release" >"$partial/release"
    mv "$partial" "$target"
    echo "fetch-kernels: $name: fetched $package=$version into $target ($(du -sh "$target" | cut -f1))"
}

fetch 6.12 linux-image-6.12-amd64
fetch 6.1 linux-image-amd64
