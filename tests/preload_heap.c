/* SPDX-License-Identifier: MIT */
/* The malloc family under the preload: each function's contract (as glibc's), and the
 * policy really applied by the kernel. Run with CDMPLACE_CONFIG=tests/preload_heap.conf
 * (rules in file order: weights, partial, absent, mapped, big, clone). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "preload_util.h"

/* Some tests ask the library about an address after freeing it, or after a failed
 * reallocarray: by design, not by mistake. */
#pragma GCC diagnostic ignored "-Wuse-after-free"

enum { RULE_WEIGHTS, RULE_PARTIAL, RULE_ABSENT, RULE_MAPPED, RULE_BIG, RULE_CLONE };

void *fixture_load_weights(size_t size);
void *fixture_scratch(size_t size);
void *fixture_load_nested(size_t size, int calls);
void *fixture_clone_site(size_t size) __asm__("fixture_clone_site.constprop.0");

Test(heap, large_malloc_is_placed_and_bound)
{
    size_t size = 8 * MiB + 123;
    unsigned char *buffer = malloc(size);
    cr_assert_not_null(buffer);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_BIG);
    cr_assert_eq(info.applied, 1);
    cr_assert_eq(info.size, size);
    cr_assert_eq((uintptr_t)buffer % 4096, 0);
    unsigned long nodes;
    cr_assert_eq(policy_of(buffer, &nodes), MPOL_BIND);
    cr_assert_eq(nodes, 1ul, "bound to node 0");
    cr_assert_eq(pages_on_node(buffer, size, 0), (size + 4095) / 4096);
    fill(buffer, size, 7);
    cr_assert(intact(buffer, size, 7));
    uintptr_t at = (uintptr_t)buffer;
    free(buffer);
    cr_assert_not(placed_at(at));
}

Test(heap, small_malloc_is_not_placed)
{
    void *small = malloc(100), *below = malloc(MiB - 1);
    cr_assert_not(placed(small));
    cr_assert_not(placed(below));
    free(small);
    free(below);
}

Test(heap, caller_rule_places_one_call_site_and_not_another)
{
    void *weights = fixture_load_weights(2 * MiB);
    void *scratch = fixture_scratch(2 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(weights, &info), 0, "fixture_load_weights matches the caller glob");
    cr_assert_eq(info.rule, RULE_WEIGHTS);
    cr_assert_not(placed(scratch), "fixture_scratch matches no rule at 2M");
    free(weights);
    free(scratch);
}

/* The frame the glob names is ten calls down: a walk of the innermost frames alone does not
 * reach it, and the stack is walked on. (An allocation first, so that the library knows how
 * many of its own frames a walk passes.) */
Test(heap, caller_rule_matches_a_frame_calls_down)
{
    free(fixture_load_weights(2 * MiB));
    void *buffer = fixture_load_nested(2 * MiB, 10);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "fixture_load_nested matches the caller glob");
    cr_assert_eq(info.rule, RULE_WEIGHTS);
    free(buffer);
}

Test(heap, caller_rule_names_a_compiler_clone_as_its_function)
{
    void *buffer = fixture_clone_site(2 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0,
                 "fixture_clone_site.constprop.0 matches caller = ...:fixture_clone_site");
    cr_assert_eq(info.rule, RULE_CLONE);
    free(buffer);
}

Test(heap, nodeset_with_missing_nodes_keeps_the_present_ones)
{
    void *buffer = malloc(3 * MiB + MiB / 2);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_PARTIAL);
    unsigned long nodes;
    cr_assert_eq(policy_of(buffer, &nodes), MPOL_INTERLEAVE);
    cr_assert_eq(nodes, 1ul, "interleave 0-3 resolves to node 0 on a one-node machine");
    free(buffer);
}

Test(heap, nodeset_naming_no_node_places_without_policy)
{
    void *buffer = malloc(5 * MiB + MiB / 2);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_ABSENT);
    cr_assert_eq(info.applied, 0);
    cr_assert_eq(info.error, ENODEV);
    cr_assert_eq(policy_of(buffer, NULL), MPOL_DEFAULT);
    memset(buffer, 1, 5 * MiB);
    free(buffer);
}

/* Whether [addr, addr + 1 page) is mapped. */
static bool mapped(uintptr_t addr)
{
    unsigned char vec;
    return mincore((void *)addr, 4096, &vec) == 0;
}

/* A freed placed buffer's mapping serves the next request of its rule and about its size: its
 * pages are already made (what it held is still there), its policy on. */
Test(heap, a_freed_buffer_is_kept_for_the_next_of_its_size)
{
    size_t size = 9 * MiB;
    unsigned char *first = malloc(size);
    fill(first, size, 5);
    free(first);
    unsigned char *again = malloc(size - 100 * 1024);
    cr_assert_eq(again, first, "the kept mapping is handed out again");
    cr_assert(intact(again, size - 100 * 1024, 5), "its pages were kept, not made afresh");
    struct cdm_buffer_info info;
    cr_assert_eq(query(again, &info), 0);
    cr_assert_eq(info.rule, RULE_BIG);
    cr_assert(info.applied);
    cr_assert_eq(info.size, size - 100 * 1024);
    cr_assert_eq(policy_of(again, NULL), MPOL_BIND);
    free(again);
    unsigned char *zeros = calloc(9, MiB);
    cr_assert_eq(zeros, first);
    for (size_t i = 0; i < size; i++)
        cr_assert_eq(zeros[i], 0, "calloc clears a kept buffer (byte %zu)", i);
    free(zeros);
    unsigned char *larger = malloc(2 * size); /* more than an eighth larger: a mapping of its own */
    cr_assert_neq(larger, first);
    free(larger);
}

/* At most 64 MiB of freed buffers are kept, the newest, and none past 32 MiB. */
Test(heap, kept_buffers_are_bounded)
{
    uintptr_t starts[5];
    for (int i = 0; i < 5; i++) {
        unsigned char *buffer = malloc(30 * MiB + 4096 * (size_t)i);
        fill(buffer, 30 * MiB, (unsigned)i);
        starts[i] = (uintptr_t)buffer;
    }
    for (int i = 0; i < 5; i++)
        free((void *)starts[i]);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mapped(starts[i]), i >= 3, "buffer %d of 5 %s", i,
                     i >= 3 ? "is kept" : "was given back");
    unsigned char *huge = malloc(40 * MiB);
    fill(huge, 40 * MiB, 9);
    free(huge);
    cr_assert_not(mapped((uintptr_t)huge), "a 40 MiB buffer is given back at once");
    cr_assert(mapped(starts[3]) && mapped(starts[4]));
}

Test(heap, calloc_zero_fills_and_checks_overflow)
{
    unsigned char *buffer = calloc(9, MiB);
    cr_assert(placed(buffer));
    for (size_t i = 0; i < 9 * MiB; i++)
        cr_assert_eq(buffer[i], 0);
    free(buffer);
    errno = 0;
    cr_assert_null(calloc(opaque(SIZE_MAX / 2 + 1), 4));
    cr_assert_eq(errno, ENOMEM);
    void *empty = calloc(0, 0);
    free(empty);
}

Test(heap, realloc_keeps_contents_and_policy)
{
    unsigned char *buffer = malloc(8 * MiB);
    fill(buffer, 8 * MiB, 3);
    buffer = realloc(buffer, 32 * MiB); /* grows past its pages: mremap */
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_BIG);
    cr_assert_eq(info.size, 32 * MiB);
    cr_assert(intact(buffer, 8 * MiB, 3));
    cr_assert_eq(policy_of(buffer + 31 * MiB, NULL), MPOL_BIND, "the grown part is bound too");
    fill(buffer, 32 * MiB, 4);
    unsigned char *same = realloc(buffer, 9 * MiB); /* shrinks within its pages */
    cr_assert_eq(same, buffer);
    cr_assert(intact(same, 9 * MiB, 4));
    unsigned char *small = realloc(same, 100); /* no longer large: the real allocator */
    cr_assert_not(placed(small));
    cr_assert(intact(small, 100, 4));
    unsigned char *grown = realloc(small, 10 * MiB); /* grows past min_size: placed */
    cr_assert(placed(grown));
    cr_assert(intact(grown, 100, 4));
    uintptr_t at = (uintptr_t)grown;
    cr_assert_null(realloc(grown, 0), "realloc(p, 0) frees p and returns NULL, as glibc");
    cr_assert_not(placed_at(at));
}

Test(heap, reallocarray_checks_overflow)
{
    void *buffer = reallocarray(NULL, 9, MiB);
    cr_assert(placed(buffer));
    errno = 0;
    cr_assert_null(reallocarray(buffer, opaque(SIZE_MAX / 2), 3));
    cr_assert_eq(errno, ENOMEM);
    cr_assert(placed(buffer), "a failed reallocarray leaves the buffer alone");
    free(buffer);
}

Test(heap, aligned_allocations)
{
    void *ptr = NULL;
    cr_assert_eq(posix_memalign(&ptr, 64 * 1024, 9 * MiB), 0);
    cr_assert_eq((uintptr_t)ptr % (64 * 1024), 0);
    cr_assert(placed(ptr));
    free(ptr);
    ptr = (void *)0x1;
    cr_assert_eq(posix_memalign(&ptr, 3, 9 * MiB), EINVAL);
    cr_assert_eq(ptr, (void *)0x1, "posix_memalign leaves *out alone on error");
    cr_assert_eq(posix_memalign(&ptr, 0, 9 * MiB), EINVAL);
    void *huge_aligned = aligned_alloc(2 * MiB, 10 * MiB);
    cr_assert_eq((uintptr_t)huge_aligned % (2 * MiB), 0);
    cr_assert(placed(huge_aligned));
    memset(huge_aligned, 1, 10 * MiB);
    free(huge_aligned);
    void *m = memalign(4096, 9 * MiB), *v = valloc(9 * MiB), *p = pvalloc(9 * MiB + 1);
    cr_assert(placed(m) && placed(v) && placed(p));
    cr_assert_geq(malloc_usable_size(p), 9 * MiB + 4096);
    free(m);
    free(v);
    free(p);
}

Test(heap, usable_size_of_placed_and_plain_buffers)
{
    void *buffer = malloc(8 * MiB + 1);
    cr_assert_eq(malloc_usable_size(buffer), 8 * MiB + 4096);
    free(buffer);
    void *small = malloc(10);
    cr_assert_geq(malloc_usable_size(small), 10);
    free(small);
    cr_assert_eq(malloc_usable_size(NULL), 0);
}

/* Whether this kernel aligns an anonymous mapping of whole PMDs to a PMD (Linux 6.7 on):
 * three such raw mappings held at once, all aligned. */
static bool kernel_aligns_whole_pmds(size_t size)
{
    void *raw[3];
    bool aligned = true;
    for (int i = 0; i < 3; i++) {
        raw[i] = (void *)syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cr_assert_neq(raw[i], MAP_FAILED);
        aligned = aligned && (uintptr_t)raw[i] % (2 * MiB) == 0;
    }
    for (int i = 0; i < 3; i++)
        syscall(SYS_munmap, raw[i], size);
    return aligned;
}

static bool power_of_two(uintptr_t n)
{
    return n && !(n & (n - 1));
}

/* Equal power-of-two buffers placed one after another must not lie a power of two apart (a
 * loop over such arrays runs at about half speed); buffers of whole PMDs (64 MiB) start on a
 * PMD where the kernel aligns such mappings, smaller ones (8 MiB) have a page to spare. */
Test(heap, equal_buffers_lie_no_power_of_two_apart_and_whole_pmds_stay_aligned)
{
    size_t sizes[] = {8 * MiB, 64 * MiB};
    for (int s = 0; s < 2; s++) {
        size_t size = sizes[s];
        bool aligns = size >= 32 * MiB && kernel_aligns_whole_pmds(size);
        uintptr_t at[3];
        for (int i = 0; i < 3; i++) {
            void *buffer = malloc(size);
            cr_assert(placed(buffer), "%zu MiB", size / MiB);
            at[i] = (uintptr_t)buffer;
            if (aligns)
                cr_assert_eq(at[i] % (2 * MiB), 0, "a %zu MiB buffer at %#lx: not on a PMD",
                             size / MiB, (unsigned long)at[i]);
        }
        for (int i = 1; i < 3; i++) {
            uintptr_t apart = at[i] > at[i - 1] ? at[i] - at[i - 1] : at[i - 1] - at[i];
            cr_assert_not(power_of_two(apart), "%zu MiB buffers %#lx apart", size / MiB,
                          (unsigned long)apart);
        }
        for (int i = 0; i < 3; i++)
            free((void *)at[i]);
    }
}

Test(heap, impossible_sizes_fail_like_glibc)
{
    errno = 0;
    cr_assert_null(malloc(opaque(SIZE_MAX)));
    cr_assert_eq(errno, ENOMEM);
    errno = 0;
    cr_assert_null(malloc(opaque(SIZE_MAX - 4096)));
    cr_assert_eq(errno, ENOMEM);
    void *zero = malloc(0);
    cr_assert_not_null(zero, "glibc returns a unique pointer for malloc(0)");
    free(zero);
    free(NULL);
}

/* Many threads: small allocations hammered while others place and free large buffers. */
static void *hammer_small(void *arg)
{
    for (int i = 0; i < 200000; i++) {
        unsigned char *p = malloc((size_t)(i % 4000) + 1);
        p[0] = (unsigned char)i;
        free(p);
    }
    return NULL;
}

static void *place_large(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 100; i++) {
        size_t size = 8 * MiB + (size_t)i * 4096;
        unsigned char *p = malloc(size);
        if (!p || !placed(p))
            return (void *)1;
        fill(p, 64 * 1024, seed + (unsigned)i);
        if (!intact(p, 64 * 1024, seed + (unsigned)i))
            return (void *)1;
        free(p);
    }
    return NULL;
}

/* Growing placed buffers move them (mremap) while other threads place at the addresses
 * they leave. */
static void *grow_large(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 100; i++) {
        unsigned char *p = malloc(8 * MiB);
        if (!p)
            return (void *)1;
        fill(p, 64 * 1024, seed + (unsigned)i);
        p = realloc(p, 24 * MiB);
        if (!p || !placed(p) || !intact(p, 64 * 1024, seed + (unsigned)i))
            return (void *)1;
        free(p);
    }
    return NULL;
}

Test(heap, threads_small_and_large_together)
{
    pthread_t threads[7];
    for (int i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, hammer_small, NULL);
    for (int i = 4; i < 6; i++)
        pthread_create(&threads[i], NULL, place_large, (void *)(uintptr_t)i);
    pthread_create(&threads[6], NULL, grow_large, (void *)(uintptr_t)6);
    for (int i = 0; i < 7; i++) {
        void *result;
        pthread_join(threads[i], &result);
        cr_assert_null(result, "thread %d saw a large buffer unplaced or corrupted", i);
    }
}
