/* SPDX-License-Identifier: MIT */
/* bench/live_buffers.c: what one call costs while many placed buffers are live.
 *
 * For each LIVE in the list it maps LIVE buffers of 2 MiB + 4 KiB (never touched), which a
 * rule `size = 1M-` places, then times OPS calls of each kind with all of them still live:
 *   mmap     mapping a new buffer of that size (placed too)
 *   munmap   unmapping those again
 *   malloc   malloc of 1 MiB + 4 KiB (placed: a mapping of its own)
 *   free     freeing those again
 *   madvise  MADV_DONTNEED over one live buffer, a different one each call
 * and unmaps them all before the next LIVE. Run plainly and under the library by
 * bench/live_buffers.sh, which takes the difference: the library's own cost per call, and how
 * it grows with what is live. The live buffers are kept apart (a PROT_NONE page between
 * neighbours), so that the kernel does not merge them into one mapping.
 *
 * Usage: live_buffers OPS LIVE...   e.g. live_buffers 2000 1000 10000 100000
 * Prints a line per LIVE: `live=N mmap=NS munmap=NS malloc=NS free=NS madvise=NS`, each the
 * mean nanoseconds per call. Needs vm.max_map_count above twice the largest LIVE. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define MiB (1024ul * 1024)
#define PAGE 4096ul
#define LIVE_SIZE (2 * MiB + PAGE)
#define HEAP_SIZE (MiB + PAGE)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what)
{
    perror(what);
    exit(1);
}

/* LIVE buffers mapped over one PROT_NONE reservation, a page of it left between each two. */
static char *map_live(size_t live)
{
    size_t stride = LIVE_SIZE + PAGE;
    char *area = mmap(NULL, live * stride, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (area == MAP_FAILED)
        fail("mmap (reservation)");
    for (size_t i = 0; i < live; i++) {
        char *at = area + i * stride;
        if (mmap(at, LIVE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                 -1, 0) == MAP_FAILED)
            fail("mmap (live buffer)");
    }
    return area;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: live_buffers OPS LIVE...\n");
        return 2;
    }
    /* glibc's own threshold moves up to a freed mmap'd chunk's size, after which plain
     * malloc of HEAP_SIZE comes from the heap: fixed, plain maps each one, as placed does. */
    mallopt(M_MMAP_THRESHOLD, MiB);
    size_t ops = strtoul(argv[1], NULL, 10);
    void **made = malloc(ops * sizeof *made);
    if (!ops || !made)
        return 2;
    for (int arg = 2; arg < argc; arg++) {
        size_t live = strtoul(argv[arg], NULL, 10), stride = LIVE_SIZE + PAGE;
        char *area = map_live(live);
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < ops; i++)
            if ((made[i] = mmap(NULL, LIVE_SIZE, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
                fail("mmap");
        uint64_t t1 = now_ns();
        for (size_t i = 0; i < ops; i++)
            if (munmap(made[i], LIVE_SIZE) != 0)
                fail("munmap");
        uint64_t t2 = now_ns();
        for (size_t i = 0; i < ops; i++)
            if (!(made[i] = malloc(HEAP_SIZE)))
                fail("malloc");
        uint64_t t3 = now_ns();
        for (size_t i = 0; i < ops; i++)
            free(made[i]);
        uint64_t t4 = now_ns();
        for (size_t i = 0; i < ops; i++)
            if (madvise(area + (i * 7919 % live) * stride, LIVE_SIZE, MADV_DONTNEED) != 0)
                fail("madvise");
        uint64_t t5 = now_ns();
        if (munmap(area, live * stride) != 0)
            fail("munmap (live buffers)");
        printf("live=%zu mmap=%.0f munmap=%.0f malloc=%.0f free=%.0f madvise=%.0f\n", live,
               (double)(t1 - t0) / ops, (double)(t2 - t1) / ops, (double)(t3 - t2) / ops,
               (double)(t4 - t3) / ops, (double)(t5 - t4) / ops);
        fflush(stdout);
    }
    free(made);
    return 0;
}
