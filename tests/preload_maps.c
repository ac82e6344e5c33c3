/* SPDX-License-Identifier: MIT */
/* mmap, munmap, mremap and madvise under the preload: kinds, policies, the table kept true.
 * Run with CDMPLACE_CONFIG=tests/preload_heap.conf (rule 'mapped': anon, 2M-, preferred 0;
 * sizes avoid 3M-6M, where rules 'partial' and 'absent' come first). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "preload_util.h"

enum { RULE_MAPPED = 3 };

static void *map(size_t size, int flags)
{
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    cr_assert_neq(mem, MAP_FAILED, "mmap: %s", strerror(errno));
    return mem;
}

Test(maps, private_anonymous_mapping_is_placed)
{
    size_t size = 8 * MiB;
    void *mem = map(size, MAP_PRIVATE | MAP_ANONYMOUS);
    struct cdm_buffer_info info;
    cr_assert_eq(query(mem, &info), 0);
    cr_assert_eq(info.rule, RULE_MAPPED);
    cr_assert_eq(info.kind, 2);
    unsigned long nodes;
    cr_assert_eq(policy_of(mem, &nodes), MPOL_PREFERRED);
    cr_assert_eq(nodes, 1ul);
    cr_assert_eq(pages_on_node(mem, size, 0), size / 4096);
    uintptr_t at = (uintptr_t)mem;
    cr_assert_eq(munmap(mem, size), 0);
    cr_assert_not(placed_at(at), "munmap forgets the range");
}

Test(maps, other_kinds_and_small_mappings_pass_through)
{
    void *shared = map(8 * MiB, MAP_SHARED | MAP_ANONYMOUS);
    void *small = map(MiB, MAP_PRIVATE | MAP_ANONYMOUS);
    void *reserved = mmap(NULL, 68 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_not(placed(shared), "kind shared is not in the rule");
    cr_assert_not(placed(small), "below the rule's 2M");
    cr_assert_not(placed(reserved), "PROT_NONE reserves address space, it is no buffer");
    cr_assert_eq(policy_of(shared, NULL), MPOL_DEFAULT);
    munmap(shared, 8 * MiB);
    munmap(small, MiB);
    munmap(reserved, 68 * MiB);
}

Test(maps, file_mapping_is_kind_file)
{
    char path[] = "/tmp/cdmplace-maps-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unlink(path);
    cr_assert_eq(ftruncate(fd, 8 * MiB), 0);
    void *mem = mmap(NULL, 8 * MiB, PROT_READ, MAP_PRIVATE, fd, 0);
    cr_assert_neq(mem, MAP_FAILED);
    cr_assert_not(placed(mem), "kind file is not in the rule");
    munmap(mem, 8 * MiB);
    close(fd);
}

Test(maps, partial_munmap_trims_the_range)
{
    size_t size = 8 * MiB;
    char *mem = map(size, MAP_PRIVATE | MAP_ANONYMOUS);
    cr_assert_eq(munmap(mem, 2 * MiB), 0); /* head */
    cr_assert_not(placed(mem));
    cr_assert(placed(mem + 2 * MiB));
    cr_assert_eq(munmap(mem + 6 * MiB, 2 * MiB), 0); /* tail */
    cr_assert_not(placed_at((uintptr_t)mem + 7 * MiB));
    struct cdm_buffer_info info;
    cr_assert_eq(query(mem + 3 * MiB, &info), 0);
    cr_assert_eq((char *)info.start, mem + 2 * MiB);
    cr_assert_eq(info.mapped, 4 * MiB);
    munmap(mem + 2 * MiB, 4 * MiB);
    cr_assert_not(placed_at((uintptr_t)mem + 3 * MiB));
}

/* One munmap over three neighbouring placed mappings: the first keeps its head, the middle
 * one goes, the last keeps its tail; a hole in the head then leaves two pieces. */
Test(maps, munmap_across_neighbours_keeps_what_survives)
{
    char *area = mmap(NULL, 24 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(area, MAP_FAILED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mmap(area + i * 8 * MiB, 8 * MiB, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
                     (void *)(area + i * 8 * MiB));
    cr_assert(placed(area) && placed(area + 8 * MiB) && placed(area + 16 * MiB));
    cr_assert_eq(munmap(area + 4 * MiB, 16 * MiB), 0);
    struct cdm_buffer_info info;
    cr_assert_eq(query(area + MiB, &info), 0);
    cr_assert_eq((char *)info.start, area);
    cr_assert_eq(info.mapped, 4 * MiB);
    cr_assert_not(placed_at((uintptr_t)area + 4 * MiB));
    cr_assert_not(placed_at((uintptr_t)area + 12 * MiB));
    cr_assert_not(placed_at((uintptr_t)area + 19 * MiB));
    cr_assert_eq(query(area + 23 * MiB, &info), 0);
    cr_assert_eq((char *)info.start, area + 20 * MiB);
    cr_assert_eq(info.mapped, 4 * MiB);
    cr_assert_eq(munmap(area + MiB, MiB), 0); /* a hole */
    cr_assert_eq(query(area, &info), 0);
    cr_assert_eq(info.mapped, MiB);
    cr_assert_not(placed_at((uintptr_t)area + MiB));
    cr_assert_eq(query(area + 3 * MiB, &info), 0);
    cr_assert_eq((char *)info.start, area + 2 * MiB);
    cr_assert_eq(info.mapped, 2 * MiB);
    cr_assert_eq(munmap(area, 24 * MiB), 0);
    cr_assert_not(placed_at((uintptr_t)area));
    cr_assert_not(placed_at((uintptr_t)area + 2 * MiB));
    cr_assert_not(placed_at((uintptr_t)area + 20 * MiB));
}

Test(maps, mremap_moves_the_range_and_keeps_the_policy)
{
    char *mem = map(8 * MiB, MAP_PRIVATE | MAP_ANONYMOUS);
    fill((unsigned char *)mem, 8 * MiB, 9);
    char *moved = mremap(mem, 8 * MiB, 68 * MiB, MREMAP_MAYMOVE);
    cr_assert_neq(moved, MAP_FAILED);
    struct cdm_buffer_info info;
    cr_assert_eq(query(moved, &info), 0);
    cr_assert_eq(info.mapped, 68 * MiB);
    cr_assert(intact((unsigned char *)moved, 8 * MiB, 9));
    cr_assert_eq(policy_of(moved + 63 * MiB, NULL), MPOL_PREFERRED);
    if (moved != mem)
        cr_assert_not(placed(mem));
    munmap(moved, 68 * MiB);
}

Test(maps, map_fixed_over_a_placed_range_replaces_it)
{
    char *mem = map(8 * MiB, MAP_PRIVATE | MAP_ANONYMOUS);
    void *over = mmap(mem, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    cr_assert_eq(over, (void *)mem);
    cr_assert_not(placed(mem), "the shared mapping that replaced it is not placed");
    munmap(mem, 8 * MiB);
}

Test(maps, madvise_passes_through)
{
    char *mem = map(8 * MiB, MAP_PRIVATE | MAP_ANONYMOUS);
    memset(mem, 7, 8 * MiB);
    cr_assert_eq(madvise(mem, 8 * MiB, MADV_DONTNEED), 0);
    cr_assert_eq(mem[12345], 0, "MADV_DONTNEED really ran: private anonymous pages read zero");
    cr_assert(placed(mem), "the range is still the program's");
    errno = 0;
    cr_assert_eq(madvise(mem + 1, 4096, MADV_DONTNEED), -1);
    cr_assert_eq(errno, EINVAL, "errors come back unchanged");
    munmap(mem, 8 * MiB);
}

/* The program's errno through every hook on placed memory: as it was when the call succeeds,
 * the kernel's when it fails (doc/design.md, "What a hook may call"). */
Test(maps, errno_is_the_programs_own_through_every_hook)
{
    errno = EDOM;
    char *mem = map(8 * MiB, MAP_PRIVATE | MAP_ANONYMOUS);
    cr_assert(placed(mem));
    cr_assert_eq(errno, EDOM, "mmap");
    cr_assert_eq(madvise(mem, 8 * MiB, MADV_WILLNEED), 0);
    cr_assert_eq(errno, EDOM, "madvise");
    char *grown = mremap(mem, 8 * MiB, 16 * MiB, MREMAP_MAYMOVE);
    cr_assert_neq(grown, MAP_FAILED);
    cr_assert_eq(errno, EDOM, "mremap");
    cr_assert_eq(munmap(grown + 8 * MiB, 8 * MiB), 0);
    cr_assert_eq(errno, EDOM, "munmap");
    /* The pages after it taken, it cannot grow in place. */
    void *after = mmap(grown + 8 * MiB, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
                       MAP_FIXED_NOREPLACE, -1, 0);
    cr_assert_eq(after, (void *)(grown + 8 * MiB));
    cr_assert_eq(mremap(grown, 8 * MiB, 16 * MiB, 0), MAP_FAILED);
    cr_assert_eq(errno, ENOMEM, "mremap's own error");
    cr_assert(placed(grown), "still placed where it was");
    errno = EDOM;
    cr_assert_eq(madvise(grown, 8 * MiB, -1), -1);
    cr_assert_eq(errno, EINVAL, "madvise's own error");
    munmap(after, 4096);
    munmap(grown, 8 * MiB);

    errno = EDOM;
    unsigned char *heap = malloc(opaque(8 * MiB));
    cr_assert(placed(heap));
    cr_assert_eq(errno, EDOM, "malloc");
    heap = realloc(heap, opaque(12 * MiB));
    cr_assert(placed(heap));
    cr_assert_eq(errno, EDOM, "realloc");
    free(heap);
    cr_assert_eq(errno, EDOM, "free");
}
