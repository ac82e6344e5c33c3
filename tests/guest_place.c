/* SPDX-License-Identifier: MIT */
/* Placement on a machine with a CDM node, read back page by page with move_pages. Runs in
 * the guest's `cdm` topology (node 0: CPUs and DRAM, node 1: memory only), on 6.12 and on
 * 6.1, with CDMPLACE_CONFIG=tests/guest_place.conf. Nothing here skips: a missing CDM node
 * is a failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "preload_util.h"

enum { RULE_WEIGHTS, RULE_BOUND, RULE_PREFERRED, RULE_INTERLEAVED, RULE_WEIGHTED };

void *fixture_load_weights(size_t size);
void *fixture_scratch(size_t size);

/* A placed buffer of `size`, without transparent huge pages so every 4 KiB page has a
 * node of its own (THP is `always` in these kernels). */
static unsigned char *placed_buffer(size_t size, int rule)
{
    unsigned char *buffer = malloc(size);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "not placed");
    cr_assert_eq(info.rule, rule);
    cr_assert_eq(madvise(buffer, size, MADV_NOHUGEPAGE), 0);
    return buffer;
}

static void write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file, "%s: %s", path, strerror(errno));
    fputs(text, file);
    cr_assert_eq(fclose(file), 0, "%s", path);
}

Test(guest, the_machine_has_a_cdm_node)
{
    cr_assert_eq(access("/sys/devices/system/node/node1", F_OK), 0, "no node 1: wrong topology");
    FILE *cpus = fopen("/sys/devices/system/node/node1/cpulist", "r");
    char list[64] = "";
    cr_assert(fgets(list, sizeof list, cpus) == NULL || list[0] == '\n', "node 1 has CPUs: %s", list);
    fclose(cpus);
}

Test(guest, bind_cdm_puts_every_page_on_node_1)
{
    unsigned char *buffer = placed_buffer(8 * MiB, RULE_BOUND);
    unsigned long nodes;
    cr_assert_eq(policy_of(buffer, &nodes), MPOL_BIND);
    cr_assert_eq(nodes, 2ul, "cdm resolved to node 1");
    cr_assert_eq(pages_on_node(buffer, 8 * MiB, 1), 8 * MiB / 4096);
    fill(buffer, 8 * MiB, 1);
    cr_assert(intact(buffer, 8 * MiB, 1));
    free(buffer);
}

Test(guest, preferred_cdm_puts_pages_on_node_1)
{
    unsigned char *buffer = placed_buffer(9 * MiB, RULE_PREFERRED);
    cr_assert_eq(policy_of(buffer, NULL), MPOL_PREFERRED);
    cr_assert_eq(pages_on_node(buffer, 9 * MiB, 1), 9 * MiB / 4096, "node 1 has room for all");
    free(buffer);
}

Test(guest, interleave_splits_pages_evenly)
{
    unsigned char *buffer = placed_buffer(10 * MiB, RULE_INTERLEAVED);
    size_t on_0 = pages_on_node(buffer, 10 * MiB, 0), on_1 = pages_on_node(buffer, 10 * MiB, 1);
    cr_assert_eq(on_0 + on_1, 10 * MiB / 4096);
    cr_assert_eq(on_0, on_1, "interleave 0,1: %zu on node 0, %zu on node 1", on_0, on_1);
    free(buffer);
}

Test(guest, weighted_interleave_follows_the_weights_or_says_why_not)
{
    const char *sysfs = "/sys/kernel/mm/mempolicy/weighted_interleave";
    if (access(sysfs, F_OK) != 0) {
        /* Linux 6.1: the kernel refuses the policy; the program keeps its buffer. */
        assert_refused_but_usable(11 * MiB, RULE_WEIGHTED, EINVAL);
        return;
    }
    write_file("/sys/kernel/mm/mempolicy/weighted_interleave/node0", "3");
    write_file("/sys/kernel/mm/mempolicy/weighted_interleave/node1", "1");
    unsigned char *buffer = placed_buffer(11 * MiB, RULE_WEIGHTED);
    size_t pages = 11 * MiB / 4096;
    size_t on_0 = pages_on_node(buffer, 11 * MiB, 0), on_1 = pages_on_node(buffer, 11 * MiB, 1);
    cr_assert_eq(on_0 + on_1, pages);
    cr_assert_eq(on_0, pages * 3 / 4, "weights 3:1: %zu on node 0, %zu on node 1", on_0, on_1);
    free(buffer);
}

Test(guest, caller_rule_places_one_call_site_and_not_another)
{
    unsigned char *weights = fixture_load_weights(2 * MiB);
    unsigned char *scratch = fixture_scratch(2 * MiB);
    struct cdm_buffer_info info;
    cr_assert_eq(query(weights, &info), 0);
    cr_assert_eq(info.rule, RULE_WEIGHTS);
    cr_assert_not(placed(scratch));
    madvise(weights, 2 * MiB, MADV_NOHUGEPAGE);
    cr_assert_eq(pages_on_node(weights, 2 * MiB, 1), 2 * MiB / 4096, "the weights on the CDM node");
    cr_assert_eq(pages_on_node(scratch, 2 * MiB, 1), 0, "the scratch buffer stays local");
    free(weights);
    free(scratch);
}
