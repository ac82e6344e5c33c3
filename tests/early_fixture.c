/* SPDX-License-Identifier: MIT */
/* Preloaded behind the library, this object is initialised before it, as an allocator linked
 * into a program is (jemalloc maps its first arena in its constructor). The mappings its
 * constructor makes must be placed when the library's constructor has run, what is left of
 * them (doc/design.md, "Before the constructor"). Its destructor prints each
 * mapping's policy as the kernel reports it. */
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MIB (1ul << 20)

static char *filled, *remapped, *fixed, *trimmed, *small;

static char *map(size_t len)
{
    char *at = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return at == MAP_FAILED ? NULL : at;
}

__attribute__((constructor)) static void map_early(void)
{
    filled = map(4 * MIB);
    if (filled) /* its pages exist before any policy: they must be moved */
        memset(filled, 1, 4 * MIB);
    char *gone = map(4 * MIB);
    if (gone)
        munmap(gone, 4 * MIB);
    remapped = map(2 * MIB);
    if (remapped) {
        remapped = mremap(remapped, 2 * MIB, 6 * MIB, MREMAP_MAYMOVE);
        if (remapped == MAP_FAILED)
            remapped = NULL;
    }
    fixed = map(4 * MIB);
    if (fixed && mmap(fixed, 4 * MIB, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
        fixed = NULL;
    /* Mapped large and its ends unmapped, as jemalloc aligns an extent: the middle is placed. */
    trimmed = map(7 * MIB);
    if (trimmed) {
        munmap(trimmed, MIB);
        munmap(trimmed + 6 * MIB, MIB);
        trimmed += MIB;
    }
    small = map(2 * MIB);
    if (small) /* what is left is below min_size (1M): not placed */
        munmap(small + MIB / 2, 3 * MIB / 2);
}

static const char *policy_of(const void *at)
{
    int mode = -1;
    if (!at || syscall(SYS_get_mempolicy, &mode, NULL, 0, at, MPOL_F_ADDR) != 0)
        return "unknown";
    return mode == MPOL_BIND ? "bind" : mode == MPOL_DEFAULT ? "default" : "other";
}

__attribute__((destructor)) static void print_policies(void)
{
    char line[200];
    int n = snprintf(line, sizeof line, "early filled=%s remapped=%s fixed=%s trimmed=%s small=%s\n",
                     policy_of(filled), policy_of(remapped), policy_of(fixed), policy_of(trimmed),
                     policy_of(small));
    if (write(1, line, (size_t)n) != n)
        _exit(3);
}
