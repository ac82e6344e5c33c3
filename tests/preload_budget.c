/* SPDX-License-Identifier: MIT */
/* Budgets and on_full, weighted interleave, and policies the kernel refuses, under the
 * preload. Run with CDMPLACE_CONFIG=tests/budget.conf. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "preload_util.h"

#ifndef MPOL_WEIGHTED_INTERLEAVE
#define MPOL_WEIGHTED_INTERLEAVE 6
#endif

enum { RULE_SPILL, RULE_STRICT, RULE_WEIGHTED, RULE_REFUSED, RULE_BALANCED, RULE_PIECES, RULE_HALVES };

Test(budget, fallback_spills_past_the_budget)
{
    void *a = malloc(9 * MiB), *b = malloc(9 * MiB), *c = malloc(9 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(a, &info), 0);
    cr_assert(info.applied);
    cr_assert_eq(query(b, &info), 0);
    cr_assert(info.applied);
    cr_assert_eq(query(c, &info), 0, "the third buffer is still the library's");
    cr_assert_eq(info.rule, RULE_SPILL);
    cr_assert_not(info.applied, "18M of 20M used: the third 9M spills");
    cr_assert_eq(policy_of(c, NULL), MPOL_DEFAULT);
    memset(c, 1, 9 * MiB);
    free(b);
    void *d = malloc(9 * MiB);
    cr_assert_eq(query(d, &info), 0);
    cr_assert(info.applied, "freeing b made room again");
    free(a);
    free(c);
    free(d);
}

Test(budget, fail_returns_enomem_past_the_budget)
{
    void *a = malloc(10 * MiB), *b = malloc(10 * MiB);
    cr_assert(placed(a) && placed(b));
    errno = 0;
    void *c = malloc(10 * MiB);
    cr_assert_null(c, "20M of 25M used: a third 10M fails");
    cr_assert_eq(errno, ENOMEM);
    free(a);
    void *d = malloc(10 * MiB);
    cr_assert(placed(d), "room again after a free");
    free(b);
    free(d);
}

Test(budget, weighted_interleave_where_the_kernel_has_it)
{
    if (access("/sys/kernel/mm/mempolicy/weighted_interleave", F_OK) != 0)
        cr_skip_test("this kernel has no weighted interleave (Linux 6.9)");
    void *buffer = malloc(11 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_WEIGHTED);
    cr_assert(info.applied);
    unsigned long nodes;
    cr_assert_eq(policy_of(buffer, &nodes), MPOL_WEIGHTED_INTERLEAVE);
    cr_assert_eq(nodes, 1ul);
    cr_assert_eq(pages_on_node(buffer, 11 * MiB, 0), 11 * MiB / 4096);
    free(buffer);
}

Test(budget, refused_policy_is_recorded_and_the_buffer_works)
{
    errno = EDOM;
    free(malloc(12 * MiB));
    cr_assert_eq(errno, EDOM, "a successful malloc leaves errno alone, refused policy or not");
    assert_refused_but_usable(12 * MiB, RULE_REFUSED, EINVAL);
}

Test(budget, migrate_kernel_binds_with_numa_balancing)
{
    void *buffer = malloc(13 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_BALANCED);
    cr_assert(info.applied, "MPOL_BIND | MPOL_F_NUMA_BALANCING (Linux 5.15): error %d", info.error);
    cr_assert_eq(policy_of(buffer, NULL) & 0xff, MPOL_BIND);
    free(buffer);
}

Test(budget, one_munmap_of_many_placed_mappings_gives_the_budget_back)
{
    for (int round = 0; round < 3; round++) {
        char *reserve = mmap(NULL, 40 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        cr_assert_neq(reserve, MAP_FAILED);
        for (int i = 0; i < 20; i++) {
            void *piece = mmap(reserve + (size_t)i * 2 * MiB, 2 * MiB, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            cr_assert_neq(piece, MAP_FAILED, "round %d piece %d: %s", round, i, strerror(errno));
            struct cdm_buffer_info info;
            cr_assert_eq(query(piece, &info), 0);
            cr_assert_eq(info.rule, RULE_PIECES);
        }
        cr_assert_eq(munmap(reserve, 40 * MiB), 0);
        cr_assert_not(placed(reserve + 39 * MiB));
    }
}

Test(budget, partial_munmaps_give_the_budget_back)
{
    for (int round = 0; round < 3; round++) {
        char *mem = mmap(NULL, 20 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cr_assert_neq(mem, MAP_FAILED, "round %d: %s", round, strerror(errno));
        char *other = mmap(NULL, 20 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        cr_assert_neq(other, MAP_FAILED, "round %d: 40M of 40M in use", round);
        cr_assert_eq(munmap(mem + 10 * MiB, 10 * MiB), 0);
        cr_assert_eq(munmap(mem, 10 * MiB), 0);
        cr_assert_eq(munmap(other + 4 * MiB, 4 * MiB), 0); /* a hole: head and tail stay */
        cr_assert(placed(other) && placed(other + 12 * MiB));
        cr_assert_not(placed(other + 5 * MiB));
        cr_assert_eq(munmap(other, 20 * MiB), 0);
    }
}
