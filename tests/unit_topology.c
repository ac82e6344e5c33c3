/* SPDX-License-Identifier: MIT */
/* preload/topology.c against the real sysfs of the machine the tests run on.
 *
 * Each expectation is computed here a second way (stdio, opendir, sysconf, the kernel's
 * has_cpu list), independent of the hand-written parser under test. The single-node checks
 * of the development host (node 0 is DRAM, no CDM node) run only on a single-node machine. */
#include "core.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>

#define NODE_DIR "/sys/devices/system/node"

static struct cdm_topology topology;

static void read_topology(void)
{
    cr_assert_eq(cdm__topology_read(&topology), 0, "cdm__topology_read failed");
}

/* A kernel list file ("0-1,3") into a mask, with sscanf: the test's own parser. */
static bool read_list(const char *path, cdm_nodemask *mask)
{
    char text[8192];
    FILE *file = fopen(path, "r");
    memset(mask, 0, sizeof *mask);
    if (file == NULL)
        return false;
    size_t len = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[len] = '\0';
    for (char *range = strtok(text, ",\n"); range; range = strtok(NULL, ",\n")) {
        int first, last;
        int n = sscanf(range, "%d-%d", &first, &last);
        cr_assert(n >= 1, "%s: cannot parse '%s'", path, range);
        if (n == 1)
            last = first;
        for (int node = first; node <= last && node < CDM_MAX_NODES; node++)
            cdm__nodemask_set(mask, node);
    }
    return true;
}

static int count_list(const char *path)
{
    cdm_nodemask mask; /* CPU ids past CDM_MAX_NODES are not counted: none on test hosts */
    cr_assert(read_list(path, &mask), "cannot read %s", path);
    return cdm__nodemask_count(&mask);
}

static bool masks_equal(const cdm_nodemask *a, const cdm_nodemask *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static uint64_t meminfo_bytes(int node, const char *key)
{
    char path[128], line[256], name[64];
    unsigned long long kib;
    int id;
    snprintf(path, sizeof path, NODE_DIR "/node%d/meminfo", node);
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "cannot open %s", path);
    while (fgets(line, sizeof line, file))
        if (sscanf(line, "Node %d %63s %llu", &id, name, &kib) == 3 && strcmp(name, key) == 0) {
            fclose(file);
            return kib * 1024;
        }
    fclose(file);
    cr_assert_fail("%s has no %s", path, key);
    return 0;
}

static bool node_has_meminfo(int node)
{
    char path[64];
    snprintf(path, sizeof path, NODE_DIR "/node%d/meminfo", node);
    return access(path, R_OK) == 0;
}

Test(topology, online_nodes_match_sysfs)
{
    cdm_nodemask online;
    read_topology();
    cr_assert(read_list(NODE_DIR "/online", &online));
    cr_assert(masks_equal(&topology.online, &online), "online mask differs from %s/online",
              NODE_DIR);
    cr_assert_eq(topology.n_nodes, cdm__nodemask_count(&online));
    int highest = -1;
    for (int node = 0; node < CDM_MAX_NODES; node++) {
        cr_assert_eq(topology.nodes[node].present, cdm__nodemask_has(&online, node),
                     "node %d present flag", node);
        if (cdm__nodemask_has(&online, node))
            highest = node;
    }
    cr_assert_eq(topology.max_node, highest);
    cr_assert(topology.nodes[0].present, "node 0 is online on every Linux machine");
}

Test(topology, cpus_match_cpulist_and_sysconf)
{
    read_topology();
    int total = 0;
    for (int node = 0; node <= topology.max_node; node++) {
        if (!topology.nodes[node].present)
            continue;
        char path[128];
        snprintf(path, sizeof path, NODE_DIR "/node%d/cpulist", node);
        cr_assert_eq(topology.nodes[node].n_cpus, count_list(path), "node %d CPUs", node);
        total += topology.nodes[node].n_cpus;
    }
    /* Every online CPU belongs to exactly one online node. */
    cr_assert_eq(total, (int)sysconf(_SC_NPROCESSORS_ONLN));
}

Test(topology, memory_matches_meminfo)
{
    uint64_t before[CDM_MAX_NODES];
    for (int node = 0; node < CDM_MAX_NODES; node++)
        before[node] = node_has_meminfo(node) ? meminfo_bytes(node, "MemTotal:") : 0;
    read_topology();
    for (int node = 0; node <= topology.max_node; node++) {
        const struct cdm_node *info = &topology.nodes[node];
        if (!info->present)
            continue;
        /* MemTotal moves only with memory hotplug (a VM's balloon or virtio-mem), so it must
         * lie between the values read before and after; MemFree moves all the time. */
        uint64_t after = meminfo_bytes(node, "MemTotal:");
        uint64_t low = before[node] < after ? before[node] : after;
        uint64_t high = before[node] < after ? after : before[node];
        cr_assert(info->mem_total >= low && info->mem_total <= high,
                  "node %d MemTotal %llu, meminfo says %llu then %llu", node,
                  (unsigned long long)info->mem_total, (unsigned long long)before[node],
                  (unsigned long long)after);
        cr_assert_leq(info->mem_free, info->mem_total, "node %d", node);
        if (info->has_memory)
            cr_assert_gt(info->mem_total, 0, "node %d has memory", node);
    }
    cr_assert(topology.nodes[0].has_memory);
    cr_assert_gt(topology.nodes[0].mem_free, 0);
}

Test(topology, cdm_and_dram_masks_follow_has_memory_and_has_cpu)
{
    cdm_nodemask memory, cpus, cdm = {{0}}, dram = {{0}};
    read_topology();
    cr_assert(read_list(NODE_DIR "/has_memory", &memory));
    cr_assert(read_list(NODE_DIR "/has_cpu", &cpus));
    for (int node = 0; node < CDM_MAX_NODES; node++) {
        if (!cdm__nodemask_has(&memory, node))
            continue;
        if (cdm__nodemask_has(&cpus, node))
            cdm__nodemask_set(&dram, node);
        else
            cdm__nodemask_set(&cdm, node);
    }
    cr_assert(masks_equal(&topology.cdm, &cdm), "cdm mask: memory and no CPUs");
    cr_assert(masks_equal(&topology.dram, &dram), "dram mask: memory and CPUs");
    for (int node = 0; node <= topology.max_node; node++) {
        const struct cdm_node *info = &topology.nodes[node];
        cr_assert_eq(info->has_memory, cdm__nodemask_has(&memory, node), "node %d", node);
        cr_assert_eq(info->is_cdm, cdm__nodemask_has(&cdm, node), "node %d", node);
    }
}

Test(topology, single_node_host_is_dram_without_cdm)
{
    read_topology();
    if (topology.n_nodes != 1)
        cr_skip_test("this machine has %d nodes; the single-node expectations do not apply",
                     topology.n_nodes);
    cdm_nodemask only_zero = {{0}};
    cdm__nodemask_set(&only_zero, 0);
    cr_assert(cdm__nodemask_empty(&topology.cdm), "no CDM node on a single-node machine");
    cr_assert(masks_equal(&topology.dram, &only_zero), "dram is {0}");
    cr_assert_gt(topology.nodes[0].n_cpus, 0);
    cr_assert_not(topology.nodes[0].is_cdm);
}

Test(topology, distances)
{
    read_topology();
    for (int node = 0; node <= topology.max_node; node++)
        if (topology.nodes[node].present)
            cr_assert_eq(cdm__topology_distance(node, node), 10, "node %d to itself", node);
    cr_assert_eq(cdm__topology_distance(0, 0), 10);
    /* Remote distances are above local ones (ACPI SLIT: 10 local, more remote). */
    for (int from = 0; from <= topology.max_node; from++)
        for (int to = 0; to <= topology.max_node; to++)
            if (from != to && topology.nodes[from].present && topology.nodes[to].present)
                cr_assert_gt(cdm__topology_distance(from, to), 10, "%d to %d", from, to);
    cr_assert_eq(cdm__topology_distance(0, topology.max_node + 1), -1, "an offline node");
    cr_assert_eq(cdm__topology_distance(-1, 0), -1);
    cr_assert_eq(cdm__topology_distance(0, CDM_MAX_NODES), -1);
}

Test(topology, node_free_reads_meminfo)
{
    read_topology();
    uint64_t free_now = cdm__topology_node_free(0);
    cr_assert_gt(free_now, 0);
    cr_assert_leq(free_now, topology.nodes[0].mem_total);
    cr_assert_eq(cdm__topology_node_free(topology.max_node + 1), 0, "an offline node");
    cr_assert_eq(cdm__topology_node_free(-1), 0);
    cr_assert_eq(cdm__topology_node_free(CDM_MAX_NODES), 0);
}

/* memory_tierN/nodelist, read with opendir (Linux 6.1; absent before). */
Test(topology, memory_tiers_match_sysfs)
{
    int expected[CDM_MAX_NODES];
    read_topology();
    for (int node = 0; node < CDM_MAX_NODES; node++)
        expected[node] = -1;
    DIR *dir = opendir("/sys/devices/virtual/memory_tiering");
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            int tier;
            char path[512];
            cdm_nodemask nodes;
            if (sscanf(entry->d_name, "memory_tier%d", &tier) != 1)
                continue;
            snprintf(path, sizeof path, "/sys/devices/virtual/memory_tiering/%s/nodelist",
                     entry->d_name);
            cr_assert(read_list(path, &nodes), "cannot read %s", path);
            for (int node = 0; node < CDM_MAX_NODES; node++)
                if (cdm__nodemask_has(&nodes, node))
                    expected[node] = tier;
        }
        closedir(dir);
    }
    for (int node = 0; node <= topology.max_node; node++)
        if (topology.nodes[node].present)
            cr_assert_eq(topology.nodes[node].memory_tier, expected[node], "node %d", node);
    if (dir && topology.nodes[0].has_memory)
        cr_assert_geq(topology.nodes[0].memory_tier, 0, "node 0 has memory, so it has a tier");
}

Test(topology, hmat_attributes_match_sysfs_or_are_zero)
{
    static const char *const leaves[] = {"read_latency", "write_latency", "read_bandwidth",
                                         "write_bandwidth"};
    read_topology();
    for (int node = 0; node <= topology.max_node; node++) {
        const struct cdm_node *info = &topology.nodes[node];
        if (!info->present)
            continue;
        const unsigned got[] = {info->read_latency_ns, info->write_latency_ns,
                                info->read_bandwidth_mbs, info->write_bandwidth_mbs};
        for (size_t i = 0; i < 4; i++) {
            char path[160];
            unsigned expected = 0;
            snprintf(path, sizeof path, NODE_DIR "/node%d/access0/initiators/%s", node,
                     leaves[i]);
            FILE *file = fopen(path, "r");
            if (file) {
                cr_assert_eq(fscanf(file, "%u", &expected), 1, "%s", path);
                fclose(file);
            }
            cr_assert_eq(got[i], expected, "node %d %s", node, leaves[i]);
        }
    }
}

Test(topology, weighted_interleave_is_the_sysfs_directory)
{
    read_topology();
    bool present = access("/sys/kernel/mm/mempolicy/weighted_interleave", F_OK) == 0;
    cr_assert_eq(topology.weighted_interleave, present);
}

Test(topology, cpulist_and_truncation)
{
    char expected[4096], got[4096], small[2];
    read_topology();
    FILE *file = fopen(NODE_DIR "/node0/cpulist", "r");
    cr_assert_not_null(file);
    cr_assert_not_null(fgets(expected, sizeof expected, file));
    fclose(file);
    expected[strcspn(expected, "\n")] = '\0';
    if (expected[0] == '\0')
        cr_skip_test("node 0 has no CPUs here; the truncation check needs a non-empty list");
    cr_assert_eq(cdm__topology_cpulist(0, got, sizeof got), 0);
    cr_assert_str_eq(got, expected);
    /* Node 0 has CPUs, so its list has at least one digit and a newline: it cannot fit in two
     * bytes. What is kept is a beginning of the list (the kernel may return less). */
    cr_assert_eq(cdm__topology_cpulist(0, small, sizeof small), EFBIG);
    cr_assert_lt(strlen(small), sizeof small);
    cr_assert_eq(strncmp(small, expected, strlen(small)), 0);
    cr_assert_neq(cdm__topology_cpulist(topology.max_node + 1, got, sizeof got), 0);
}

/* The parser must not be fooled by state left behind: reading twice gives the same result. */
Test(topology, read_is_repeatable)
{
    static struct cdm_topology again;
    read_topology();
    memset(&again, 0xa5, sizeof again);
    cr_assert_eq(cdm__topology_read(&again), 0);
    cr_assert(masks_equal(&again.online, &topology.online));
    cr_assert(masks_equal(&again.cdm, &topology.cdm));
    cr_assert(masks_equal(&again.dram, &topology.dram));
    cr_assert_eq(again.n_nodes, topology.n_nodes);
    cr_assert_eq(again.nodes[0].n_cpus, topology.nodes[0].n_cpus);
    cr_assert_eq(again.nodes[0].mem_total, topology.nodes[0].mem_total);
    cr_assert_eq(again.nodes[topology.max_node + 1].present, false);
    cr_assert_eq(again.nodes[topology.max_node + 1].memory_tier, -1);
}
