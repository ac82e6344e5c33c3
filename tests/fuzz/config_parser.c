/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a config file, parsed, its node sets resolved against a
 * machine of two DRAM and two CDM nodes, and its rules matched against a few requests. The
 * parser runs inside every program the library is preloaded into, before anything else of
 * ours: it must never crash, hang or read out of bounds on what a file holds (ASan, UBSan).
 * tests/fuzz.sh runs it; it then starts a program under the library with configs the run
 * grew, which must run. */
#include "core.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cdm_topology topology;

static void add_node(int node, int cpus)
{
    struct cdm_node *n = &topology.nodes[node];
    n->present = n->has_memory = true;
    n->n_cpus = cpus;
    n->is_cdm = cpus == 0;
    n->mem_total = 16ull << 30;
    n->mem_free = n->mem_total / 2;
    n->memory_tier = -1;
    cdm__nodemask_set(&topology.online, node);
    cdm__nodemask_set(cpus ? &topology.dram : &topology.cdm, node);
    topology.max_node = node > topology.max_node ? node : topology.max_node;
    topology.n_nodes++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cdm_config config; /* large: not on the stack */
    if (!topology.n_nodes) {
        add_node(0, 8);
        add_node(1, 8);
        add_node(2, 0);
        add_node(3, 0);
    }
    if (cdm__config_parse(&config, "fuzz.conf", (const char *)data, size))
        return 0;
    if (cdm__config_resolve(&config, &topology, NULL))
        return 0;
    static const char *const frames[] = {"prog:main", "libfoo.so:load", "libc.so.6:?"};
    static const enum cdm_kind kinds[] = {CDM_KIND_HEAP, CDM_KIND_ANON, CDM_KIND_FILE};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        struct cdm_request request = {.size = (size_t)1 << (12 + 6 * k), .kind = kinds[k],
                                      .program = "prog", .frames = frames, .n_frames = 3};
        cdm__rules_match(&config, &request);
    }
    return 0;
}
