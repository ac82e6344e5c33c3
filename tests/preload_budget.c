/* Budgets and on_full, weighted interleave, and policies the kernel refuses, under the
 * preload. Run with CDMPLACE_CONFIG=tests/budget.conf. */
#include <errno.h>
#include <stdlib.h>

#include "preload_util.h"

#ifndef MPOL_WEIGHTED_INTERLEAVE
#define MPOL_WEIGHTED_INTERLEAVE 6
#endif

enum { RULE_SPILL, RULE_STRICT, RULE_WEIGHTED, RULE_REFUSED, RULE_BALANCED };

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
    unsigned char *buffer = malloc(12 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, RULE_REFUSED);
    cr_assert_not(info.applied);
    cr_assert_eq(info.error, EINVAL);
    fill(buffer, 12 * MiB, 5);
    cr_assert(intact(buffer, 12 * MiB, 5));
    free(buffer);
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
