/* SPDX-License-Identifier: MIT */
/* NUMA topology from sysfs: nodes, their CPUs and memory, memory tiers, HMAT attributes,
 * distances, and which nodes are CDM (memory, no CPUs).
 *
 * This runs in the preload library's constructor, before the program's allocator may be
 * used: no malloc, no stdio, no getenv, no opendir (it allocates). Files are read with
 * open/read into fixed buffers on the stack and parsed by hand; directories are listed with
 * getdents64. libnuma reads the same files but allocates its bitmasks, so it is not used here.
 *
 * Files (Documentation/ABI/stable/sysfs-devices-node, .../testing/sysfs-kernel-mm-memory-tiers):
 *   /sys/devices/system/node/online, has_memory        node lists ("0-1,3")
 *   /sys/devices/system/node/nodeN/cpumap              the node's online CPUs, hex mask
 *   /sys/devices/system/node/nodeN/meminfo             "Node N MemTotal:  X kB"
 *   /sys/devices/system/node/nodeN/distance            one distance per online node
 *   /sys/devices/system/node/nodeN/access0/initiators/ HMAT latency (ns), bandwidth (MiB/s)
 *   /sys/devices/virtual/memory_tiering/memory_tierN/nodelist   (Linux 6.1)
 *   /sys/kernel/mm/mempolicy/weighted_interleave        (Linux 6.9)
 *   /proc/sys/kernel/numa_balancing                     1 normal, 2 memory tiering, 3 both
 */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define NODE_DIR "/sys/devices/system/node"
#define TIER_DIR "/sys/devices/virtual/memory_tiering"
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_PMD_SIZE "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
#define NUMA_BALANCING "/proc/sys/kernel/numa_balancing"

/* Node lists hold at most CDM_MAX_NODES ids: "0,2,...,1022" fits in 4 KiB. */
#define LIST_BUF 4096
/* A node's meminfo is about 40 short lines. */
#define MEMINFO_BUF 4096
/* cpumap is bounded by the kernel's CPU count: 8192 CPUs are 2048 hex digits and 256 commas.
 * (cpulist has no such bound: a scattered list of thousands of CPUs runs to tens of KiB.) */
#define CPUMAP_BUF 4096
/* One distance of up to 3 digits and a space per online node. */
#define DISTANCE_BUF (4 * CDM_MAX_NODES + 64)

/* ---------------------------------------------------------------- paths and files */

struct path {
    char text[256];
    size_t len;
};

static void path_add(struct path *path, const char *part)
{
    size_t n = strlen(part);
    if (path->len + n >= sizeof path->text)
        n = sizeof path->text - 1 - path->len;
    memcpy(path->text + path->len, part, n);
    path->len += n;
    path->text[path->len] = '\0';
}

static void path_add_number(struct path *path, unsigned number)
{
    char digits[16];
    size_t n = sizeof digits;
    digits[--n] = '\0';
    do {
        digits[--n] = (char)('0' + number % 10);
        number /= 10;
    } while (number && n > 0);
    path_add(path, digits + n);
}

/* "/sys/devices/system/node/nodeN/" + leaf */
static void node_path(struct path *path, int node, const char *leaf)
{
    path->len = 0;
    path_add(path, NODE_DIR "/node");
    path_add_number(path, (unsigned)node);
    path_add(path, "/");
    path_add(path, leaf);
}

static bool path_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---------------------------------------------------------------- parsing */

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n')
        p++;
    return p;
}

/* A kernel list ("0-1,3\n", or "\n" when empty) into mask; ids past the mask are ignored. */
static bool parse_node_list(const char *text, cdm_nodemask *mask)
{
    const char *p = skip_blanks(text);
    *mask = (cdm_nodemask){{0}};
    while (*p) {
        uint64_t first, last;
        if (!cdm__parse_number(&p, &first))
            return false;
        last = first;
        if (*p == '-') {
            p++;
            if (!cdm__parse_number(&p, &last) || last < first)
                return false;
        }
        for (uint64_t node = first; node <= last && node < CDM_MAX_NODES; node++)
            cdm__nodemask_set(mask, (int)node);
        if (*p == ',')
            p++;
        else if (*skip_blanks(p) != '\0')
            return false;
        else
            break;
    }
    return true;
}

static int read_node_list(const char *path, cdm_nodemask *mask)
{
    char buf[LIST_BUF];
    int err = cdm__sysfs_read(path, buf, sizeof buf);
    if (err)
        return err;
    return parse_node_list(buf, mask) ? 0 : EINVAL;
}

/* Set bits in a hex mask as the kernel prints it: "00000000,0000000f\n". */
static int count_mask_bits(const char *text)
{
    int count = 0;
    for (const char *p = text; *p; p++) {
        int digit;
        if (*p >= '0' && *p <= '9')
            digit = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            digit = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            digit = *p - 'A' + 10;
        else
            continue;
        count += "\0\1\1\2\1\2\2\3\1\2\2\3\2\3\3\4"[digit]; /* bits in a nibble */
    }
    return count;
}

/* The value after "key" in a meminfo text ("Node 0 MemTotal:  4155168 kB"), in bytes. */
static bool meminfo_field(const char *text, const char *key, uint64_t *bytes)
{
    const char *at = strstr(text, key);
    uint64_t kib;
    if (!at)
        return false;
    const char *p = skip_blanks(at + strlen(key));
    if (!cdm__parse_number(&p, &kib))
        return false;
    *bytes = kib * 1024;
    return true;
}

/* ---------------------------------------------------------------- per node */

static void read_cpus(struct cdm_node *node, int id)
{
    char buf[CPUMAP_BUF];
    struct path path;
    node_path(&path, id, "cpumap");
    if (cdm__sysfs_read(path.text, buf, sizeof buf) == 0)
        node->n_cpus = count_mask_bits(buf);
}

/* Which CPUs are the node's: a thread's CPU tells the node it runs on. */
static void read_cpu_nodes(struct cdm_topology *topology, int id)
{
    char buf[LIST_BUF];
    cdm_nodemask cpus;
    if (cdm__topology_cpulist(id, buf, sizeof buf) != 0 || !parse_node_list(buf, &cpus))
        return;
    for (int cpu = 0; cpu < CDM_MAX_CPUS; cpu++)
        if (cdm__nodemask_has(&cpus, cpu))
            topology->cpu_node[cpu] = (int16_t)id;
}

static void read_memory(struct cdm_node *node, int id)
{
    char buf[MEMINFO_BUF];
    struct path path;
    node_path(&path, id, "meminfo");
    /* The fields wanted are the first lines; a truncated tail does not matter. */
    int err = cdm__sysfs_read(path.text, buf, sizeof buf);
    if (err && err != EFBIG)
        return;
    meminfo_field(buf, "MemTotal:", &node->mem_total);
    meminfo_field(buf, "MemFree:", &node->mem_free);
}

/* HMAT attributes of the node's best initiators (access class 0), when firmware has them. */
static void read_hmat(struct cdm_node *node, int id)
{
    static const char *const leaves[] = {
        "access0/initiators/read_latency",
        "access0/initiators/write_latency",
        "access0/initiators/read_bandwidth",
        "access0/initiators/write_bandwidth",
    };
    unsigned *fields[] = {
        &node->read_latency_ns,
        &node->write_latency_ns,
        &node->read_bandwidth_mbs,
        &node->write_bandwidth_mbs,
    };
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        struct path path;
        uint64_t value;
        node_path(&path, id, leaves[i]);
        if (cdm__sysfs_number(path.text, &value) == 0)
            *fields[i] = value > UINT32_MAX ? UINT32_MAX : (unsigned)value;
    }
}

/* memory_tierN/nodelist for every tier directory (Linux 6.1). */
static void read_memory_tiers(struct cdm_topology *topology)
{
    char entries[4096] __attribute__((aligned(8)));
    int fd;
    if (plat_open_above_stdio(TIER_DIR, O_RDONLY | O_DIRECTORY, 0, &fd) != 0)
        return;
    ssize_t n;
    while ((n = getdents64(fd, entries, sizeof entries)) > 0) {
        for (ssize_t at = 0; at < n;) {
            const struct dirent64 *entry = (const struct dirent64 *)(entries + at);
            at += entry->d_reclen;
            const char *name = entry->d_name;
            uint64_t tier;
            if (strncmp(name, "memory_tier", 11) != 0)
                continue;
            name += 11;
            if (!cdm__parse_number(&name, &tier) || *name != '\0')
                continue;
            struct path path = {.len = 0};
            cdm_nodemask nodes;
            path_add(&path, TIER_DIR "/");
            path_add(&path, entry->d_name);
            path_add(&path, "/nodelist");
            if (read_node_list(path.text, &nodes))
                continue;
            for (int node = 0; node <= topology->max_node; node++)
                if (cdm__nodemask_has(&nodes, node))
                    topology->nodes[node].memory_tier = (int)tier;
        }
    }
    close(fd);
}

/* ---------------------------------------------------------------- the interface */

int cdm__topology_read(struct cdm_topology *topology)
{
    cdm_nodemask with_memory;
    memset(topology, 0, sizeof *topology);
    topology->max_node = -1;
    for (int cpu = 0; cpu < CDM_MAX_CPUS; cpu++)
        topology->cpu_node[cpu] = -1;

    int err = read_node_list(NODE_DIR "/online", &topology->online);
    if (err)
        return err;
    /* has_memory exists since Linux 2.6.37; without it, trust the node's MemTotal. */
    bool know_memory = read_node_list(NODE_DIR "/has_memory", &with_memory) == 0;

    for (int id = 0; id < CDM_MAX_NODES; id++) {
        struct cdm_node *node = &topology->nodes[id];
        node->memory_tier = -1;
        if (!cdm__nodemask_has(&topology->online, id))
            continue;
        node->present = true;
        topology->n_nodes++;
        topology->max_node = id;
        read_cpus(node, id);
        if (node->n_cpus)
            read_cpu_nodes(topology, id);
        read_memory(node, id);
        read_hmat(node, id);
        node->has_memory = know_memory ? cdm__nodemask_has(&with_memory, id)
                                       : node->mem_total > 0;
        node->is_cdm = node->has_memory && node->n_cpus == 0;
        if (node->is_cdm)
            cdm__nodemask_set(&topology->cdm, id);
        else if (node->has_memory)
            cdm__nodemask_set(&topology->dram, id);
    }
    read_memory_tiers(topology);
    topology->weighted_interleave = path_exists("/sys/kernel/mm/mempolicy/weighted_interleave");
    char thp[128];
    topology->thp = cdm__sysfs_read(THP_ENABLED, thp, sizeof thp) == 0 && !strstr(thp, "[never]");
    uint64_t pmd_size;
    topology->pmd_size = cdm__sysfs_number(THP_PMD_SIZE, &pmd_size) == 0 && pmd_size <= SIZE_MAX
                             ? (size_t)pmd_size : 0;
    uint64_t balancing;
    bool balancing_read = cdm__sysfs_number(NUMA_BALANCING, &balancing) == 0;
    topology->numa_balancing = balancing_read && balancing <= INT32_MAX ? (int)balancing : -1;
    return 0;
}

/* A field of the node's meminfo right now, in bytes (0: not read). */
static uint64_t node_meminfo(int node, const char *key)
{
    char buf[MEMINFO_BUF];
    struct path path;
    uint64_t bytes = 0;
    if (node < 0 || node >= CDM_MAX_NODES)
        return 0;
    node_path(&path, node, "meminfo");
    int err = cdm__sysfs_read(path.text, buf, sizeof buf);
    if (err && err != EFBIG)
        return 0;
    meminfo_field(buf, key, &bytes);
    return bytes;
}

uint64_t cdm__topology_node_free(int node)
{
    return node_meminfo(node, "MemFree:");
}

uint64_t cdm__topology_node_total(int node)
{
    return node_meminfo(node, "MemTotal:");
}

/* nodeN/distance lists one distance per online node, in node order (drivers/base/node.c
 * node_read_distance), so the column of `to` is its rank among the online nodes. */
int cdm__topology_distance(int from, int to)
{
    char buf[DISTANCE_BUF];
    cdm_nodemask online;
    struct path path;
    if (from < 0 || from >= CDM_MAX_NODES || to < 0 || to >= CDM_MAX_NODES)
        return -1;
    if (read_node_list(NODE_DIR "/online", &online) || !cdm__nodemask_has(&online, to))
        return -1;
    int column = 0;
    for (int node = 0; node < to; node++)
        column += cdm__nodemask_has(&online, node);
    node_path(&path, from, "distance");
    if (cdm__sysfs_read(path.text, buf, sizeof buf))
        return -1;
    const char *p = buf;
    for (int i = 0;; i++) {
        uint64_t distance;
        p = skip_blanks(p);
        if (!cdm__parse_number(&p, &distance))
            return -1;
        if (i == column)
            return (int)distance;
    }
}

int cdm__topology_nearest(int from, const cdm_nodemask *among, int max_node)
{
    int best = -1, best_distance = INT32_MAX;
    for (int node = 0; node <= max_node; node++) {
        if (!cdm__nodemask_has(among, node))
            continue;
        int distance = from >= 0 ? cdm__topology_distance(from, node) : 0;
        if (distance >= 0 && distance < best_distance) {
            best = node;
            best_distance = distance;
        }
    }
    return best;
}

int cdm__topology_cpulist(int node, char *buf, size_t size)
{
    struct path path;
    if (node < 0 || node >= CDM_MAX_NODES || size == 0)
        return EINVAL;
    node_path(&path, node, "cpulist");
    int err = cdm__sysfs_read(path.text, buf, size);
    if (err)
        return err;
    /* cpulist is a binary attribute since Linux 5.15 whose reads come back one byte short
     * (cpumap_print_list_to_buf drops the NUL it counted), so a short buffer reads as an
     * early end of file rather than as more to read. The kernel ends the list with a
     * newline: without one, the list did not fit. */
    size_t len = strlen(buf);
    if (len == 0 || buf[len - 1] != '\n')
        return EFBIG;
    buf[--len] = '\0';
    return 0;
}
