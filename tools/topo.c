/* SPDX-License-Identifier: MIT */
/* cdmplace topo: this machine as the library sees it (preload/topology.c), and what the
 * kernel allows for placement and access tracking. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *node_kind(const struct cdm_node *node)
{
    if (node->is_cdm)
        return "cdm";
    return node->has_memory ? "dram" : "no memory";
}

static bool has_hmat(const struct cdm_topology *topology)
{
    for (int id = 0; id <= topology->max_node; id++) {
        const struct cdm_node *node = &topology->nodes[id];
        if (node->present && (node->read_latency_ns || node->write_latency_ns ||
                              node->read_bandwidth_mbs || node->write_bandwidth_mbs))
            return true;
    }
    return false;
}

static char *hmat_value(unsigned value, const char *unit, char *buf, size_t size)
{
    if (value)
        snprintf(buf, size, "%u%s", value, unit);
    else
        snprintf(buf, size, "-");
    return buf;
}

static void print_nodes(const struct cdm_topology *topology)
{
    bool hmat = has_hmat(topology);
    struct cli_table table;
    cli_table_init(&table, hmat ? 11 : 7);
    cli_table_row(&table, (const char *const[]){"NODE", "CPUS", "CPU LIST", "MEMORY", "FREE",
                                                "KIND", "TIER", "READ LAT", "WRITE LAT",
                                                "READ BW", "WRITE BW"});
    for (int id = 0; id <= topology->max_node; id++) {
        const struct cdm_node *node = &topology->nodes[id];
        if (!node->present)
            continue;
        char number[16], cpus[16], cpulist[8192], total[32], free_text[32], tier[16];
        char read_latency[32], write_latency[32], read_bandwidth[32], write_bandwidth[32];
        snprintf(number, sizeof number, "%d", id);
        snprintf(cpus, sizeof cpus, "%d", node->n_cpus);
        if (cdm__topology_cpulist(id, cpulist, sizeof cpulist) != 0)
            snprintf(cpulist, sizeof cpulist, "?");
        else if (cpulist[0] == '\0')
            snprintf(cpulist, sizeof cpulist, "-");
        if (node->memory_tier >= 0)
            snprintf(tier, sizeof tier, "%d", node->memory_tier);
        else
            snprintf(tier, sizeof tier, "-");
        const char *cells[] = {
            number,
            cpus,
            cpulist,
            cli_format_bytes(node->mem_total, total, sizeof total),
            cli_format_bytes(node->mem_free, free_text, sizeof free_text),
            node_kind(node),
            tier,
            hmat_value(node->read_latency_ns, "ns", read_latency, sizeof read_latency),
            hmat_value(node->write_latency_ns, "ns", write_latency, sizeof write_latency),
            hmat_value(node->read_bandwidth_mbs, "MiB/s", read_bandwidth, sizeof read_bandwidth),
            hmat_value(node->write_bandwidth_mbs, "MiB/s", write_bandwidth,
                       sizeof write_bandwidth),
        };
        cli_table_row(&table, cells);
    }
    printf("nodes: %d online\n", topology->n_nodes);
    cli_table_print(&table);
    cli_table_free(&table);
}

static void print_distances(const struct cdm_topology *topology)
{
    int n = topology->n_nodes + 1;
    if (n > CLI_TABLE_COLUMNS) {
        /* Too wide for a matrix: one line per pair instead. */
        printf("distances (from to distance)\n");
        for (int from = 0; from <= topology->max_node; from++)
            for (int to = 0; to <= topology->max_node; to++)
                if (topology->nodes[from].present && topology->nodes[to].present)
                    printf("  %d %d %d\n", from, to, cdm__topology_distance(from, to));
        return;
    }
    struct cli_table table;
    char cells[CLI_TABLE_COLUMNS][16];
    const char *row[CLI_TABLE_COLUMNS];
    cli_table_init(&table, n);
    int column = 0;
    snprintf(cells[column++], sizeof cells[0], "FROM\\TO");
    for (int to = 0; to <= topology->max_node; to++)
        if (topology->nodes[to].present)
            snprintf(cells[column++], sizeof cells[0], "%d", to);
    for (int i = 0; i < n; i++)
        row[i] = cells[i];
    cli_table_row(&table, row);
    for (int from = 0; from <= topology->max_node; from++) {
        if (!topology->nodes[from].present)
            continue;
        column = 0;
        snprintf(cells[column++], sizeof cells[0], "%d", from);
        for (int to = 0; to <= topology->max_node; to++) {
            if (!topology->nodes[to].present)
                continue;
            int distance = cdm__topology_distance(from, to);
            if (distance < 0)
                snprintf(cells[column++], sizeof cells[0], "?");
            else
                snprintf(cells[column++], sizeof cells[0], "%d", distance);
        }
        cli_table_row(&table, row);
    }
    printf("distances\n");
    cli_table_print(&table);
    cli_table_free(&table);
}

/* userfaultfd as the library would open it, each tracker backend with what it needs, and
 * what `track = auto` gets for this user on this kernel (preload/backends.c). */
static void print_trackers(void)
{
    struct cdm_backend_probe probe;
    cdm__backends_probe(&probe);
    if (probe.full)
        printf("userfaultfd: available (full)\n");
    else if (probe.user_mode)
        printf("userfaultfd: available (user-mode only)\n");
    static const enum cdm_track backends[] = {CDM_TRACK_WP_ASYNC, CDM_TRACK_WP, CDM_TRACK_MISSING,
                                              CDM_TRACK_DAMON};
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        char why[256];
        if (cdm__backend_allowed(&probe, backends[i], why, sizeof why))
            printf("tracker %s: available, sees %s\n", cdm__track_name(backends[i]),
                   cdm__backend_sees(backends[i]));
        else
            printf("tracker %s: not available (%s)\n", cdm__track_name(backends[i]), why);
    }
    char why[256];
    enum cdm_track chosen = cdm__backend_choose(&probe, CDM_TRACK_AUTO, why, sizeof why);
    printf("tracker (track = auto): %s, sees %s\n", cdm__track_name(chosen),
           cdm__backend_sees(chosen));
}

int cli_topo(const struct cli_command *command, int argc, char **argv)
{
    int status = cli_parse_help_only(command, argc, argv);
    if (status >= 0)
        return status;
    if (optind < argc)
        return cli_bad_usage(command, "unexpected argument '%s'", argv[optind]);

    struct cdm_topology *topology = calloc(1, sizeof *topology);
    if (topology == NULL) {
        cli_error("out of memory");
        return CLI_FAILED;
    }
    int err = cdm__topology_read(topology);
    if (err) {
        cli_error("cannot read /sys/devices/system/node: %s", strerror(err));
        free(topology);
        return CLI_FAILED;
    }
    char list[512];
    print_nodes(topology);
    printf("\n");
    print_distances(topology);
    printf("\n");
    if (cdm__nodemask_empty(&topology->cdm))
        printf("cdm nodes: none (no node has memory and no CPUs)\n");
    else
        printf("cdm nodes: %s\n", cdm__nodemask_format(&topology->cdm, list, sizeof list));
    printf("dram nodes: %s\n", cli_format_nodes(&topology->dram, list, sizeof list));
    /* Which socket each device node belongs with: where follow-cpu's pages come back from. */
    for (int id = 0; id <= topology->max_node; id++)
        if (cdm__nodemask_has(&topology->cdm, id)) {
            int near = cdm__topology_nearest(id, &topology->dram, topology->max_node);
            if (near >= 0)
                printf("cdm node %d: nearest dram node %d (distance %d)\n", id, near,
                       cdm__topology_distance(id, near));
        }
    printf("weighted interleave: %s\n",
           topology->weighted_interleave ? "available" : "not available (Linux 6.9)");
    static const char *const balancing[] = {"off", "normal", "memory tiering",
                                            "normal and memory tiering"};
    if (topology->numa_balancing < 0)
        printf("kernel NUMA balancing: not known (no /proc/sys/kernel/numa_balancing)\n");
    else
        printf("kernel NUMA balancing: %d, %s (migrate = kernel needs memory tiering, 2)\n",
               topology->numa_balancing,
               topology->numa_balancing < 4 ? balancing[topology->numa_balancing] : "?");
    print_trackers();
    free(topology);
    return CLI_OK;
}
