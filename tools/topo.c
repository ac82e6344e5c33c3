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
static const enum cdm_track backends[] = {CDM_TRACK_WP_ASYNC, CDM_TRACK_WP, CDM_TRACK_MISSING,
                                          CDM_TRACK_DAMON};
#define N_BACKENDS (sizeof backends / sizeof backends[0])
struct trackers {
    const char *userfaultfd; /* "full", "user-mode only", or NULL: none opens */
    bool allowed[N_BACKENDS];
    char why[N_BACKENDS][256]; /* of those not allowed */
    enum cdm_track chosen;     /* by track = auto */
    bool reads_too;            /* and DAMON beside it, for migrating rules */
};

static void probe_trackers(struct trackers *trackers)
{
    struct cdm_backend_probe probe;
    cdm__backends_probe(&probe);
    trackers->userfaultfd = probe.full ? "full" : probe.user_mode ? "user-mode only" : NULL;
    for (size_t i = 0; i < N_BACKENDS; i++)
        trackers->allowed[i] = cdm__backend_allowed(&probe, backends[i], trackers->why[i],
                                                    sizeof trackers->why[i]);
    char why[256];
    trackers->chosen = cdm__backend_choose(&probe, CDM_TRACK_AUTO, why, sizeof why);
    trackers->reads_too = cdm__backend_reads_too(&probe, CDM_TRACK_AUTO, trackers->chosen);
}

static void print_trackers(const struct trackers *trackers)
{
    if (trackers->userfaultfd)
        printf("userfaultfd: available (%s)\n", trackers->userfaultfd);
    for (size_t i = 0; i < N_BACKENDS; i++) {
        if (trackers->allowed[i])
            printf("tracker %s: available, sees %s\n", cdm__track_name(backends[i]),
                   cdm__backend_sees(backends[i], false));
        else
            printf("tracker %s: not available (%s)\n", cdm__track_name(backends[i]),
                   trackers->why[i]);
    }
    printf("tracker (track = auto): %s, sees %s\n", cdm__track_name(trackers->chosen),
           cdm__backend_sees(trackers->chosen, false));
    if (trackers->reads_too)
        printf("tracker (track = auto, migrating rules): %s with damon, sees %s\n",
               cdm__track_name(trackers->chosen), cdm__backend_sees(trackers->chosen, true));
}

/* The DRAM node a CDM node belongs with (where follow-cpu's pages come back from), or -1. */
static int nearest_dram(const struct cdm_topology *topology, int cdm_node)
{
    return cdm__topology_nearest(cdm_node, &topology->dram, topology->max_node);
}

/* kernel.numa_balancing's mode by name: bit 0 normal, bit 1 memory tiering. */
static const char *balancing_mode(int numa_balancing)
{
    static const char *const modes[] = {"off", "normal", "memory tiering",
                                        "normal and memory tiering"};
    return numa_balancing < 4 ? modes[numa_balancing] : "?";
}

static void print_text(const struct cdm_topology *topology, const struct trackers *trackers)
{
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
    for (int id = 0; id <= topology->max_node; id++)
        if (cdm__nodemask_has(&topology->cdm, id)) {
            int near = nearest_dram(topology, id);
            if (near >= 0)
                printf("cdm node %d: nearest dram node %d (distance %d)\n", id, near,
                       cdm__topology_distance(id, near));
        }
    printf("weighted interleave: %s\n",
           topology->weighted_interleave ? "available" : "not available (Linux 6.9)");
    if (topology->numa_balancing < 0)
        printf("kernel NUMA balancing: not known (no /proc/sys/kernel/numa_balancing)\n");
    else
        printf("kernel NUMA balancing: %d, %s (migrate = kernel needs memory tiering, 2)\n",
               topology->numa_balancing, balancing_mode(topology->numa_balancing));
    print_trackers(trackers);
}

/* ---------------------------------------------------------------- --json */

/* An HMAT attribute: 0 is one the kernel does not give. */
static void json_hmat(FILE *out, const char *key, unsigned value)
{
    cli_json_number(out, key, value, value != 0);
}

/* A node's row of the table, figures as numbers (null where the table shows "-" or "?"),
 * and for a CDM node the DRAM node nearest it. */
static void json_node(FILE *out, const struct cdm_topology *topology, int id)
{
    const struct cdm_node *node = &topology->nodes[id];
    char cpulist[8192];
    fprintf(out, "{\"node\":%d,\"cpus\":%d", id, node->n_cpus);
    cli_json_text(out, "cpu_list",
                  cdm__topology_cpulist(id, cpulist, sizeof cpulist) == 0 ? cpulist : NULL);
    fprintf(out, ",\"memory_bytes\":%llu,\"free_bytes\":%llu",
            (unsigned long long)node->mem_total, (unsigned long long)node->mem_free);
    cli_json_text(out, "kind", node_kind(node));
    cli_json_number(out, "memory_tier", (uint64_t)node->memory_tier, node->memory_tier >= 0);
    json_hmat(out, "read_latency_ns", node->read_latency_ns);
    json_hmat(out, "write_latency_ns", node->write_latency_ns);
    json_hmat(out, "read_bandwidth_mib_s", node->read_bandwidth_mbs);
    json_hmat(out, "write_bandwidth_mib_s", node->write_bandwidth_mbs);
    int near = node->is_cdm ? nearest_dram(topology, id) : -1;
    if (near >= 0)
        fprintf(out, ",\"nearest_dram\":{\"node\":%d,\"distance\":%d}}", near,
                cdm__topology_distance(id, near));
    else
        fputs(",\"nearest_dram\":null}", out);
}

/* From each node to each: {"FROM":{"TO":distance}}, null where the kernel does not say. */
static void json_distances(FILE *out, const struct cdm_topology *topology)
{
    fputs(",\"distances\":{", out);
    const char *row_separator = "";
    for (int from = 0; from <= topology->max_node; from++) {
        if (!topology->nodes[from].present)
            continue;
        fprintf(out, "%s\"%d\":{", row_separator, from);
        const char *separator = "";
        for (int to = 0; to <= topology->max_node; to++) {
            if (!topology->nodes[to].present)
                continue;
            int distance = cdm__topology_distance(from, to);
            if (distance < 0)
                fprintf(out, "%s\"%d\":null", separator, to);
            else
                fprintf(out, "%s\"%d\":%d", separator, to, distance);
            separator = ",";
        }
        fputc('}', out);
        row_separator = ",";
    }
    fputc('}', out);
}

static void json_trackers(FILE *out, const struct trackers *trackers)
{
    fputs(",\"tracking\":{\"trackers\":[", out);
    for (size_t i = 0; i < N_BACKENDS; i++) {
        fprintf(out, "%s{\"tracker\":", i ? "," : "");
        cli_json_string(out, cdm__track_name(backends[i]));
        fprintf(out, ",\"available\":%s", trackers->allowed[i] ? "true" : "false");
        cli_json_text(out, "sees", trackers->allowed[i] ? cdm__backend_sees(backends[i], false) : NULL);
        cli_json_text(out, "reason", trackers->allowed[i] ? NULL : trackers->why[i]);
        fputc('}', out);
    }
    fputc(']', out);
    cli_json_text(out, "userfaultfd", trackers->userfaultfd);
    fputs(",\"auto\":{\"tracker\":", out);
    cli_json_string(out, cdm__track_name(trackers->chosen));
    cli_json_text(out, "sees", cdm__backend_sees(trackers->chosen, false));
    /* Migrating rules' (follow-cpu, tier): DAMON beside it for reads, where it runs. */
    fprintf(out, ",\"reads_too\":%s", trackers->reads_too ? "true" : "false");
    cli_json_text(out, "migrating_sees", cdm__backend_sees(trackers->chosen, trackers->reads_too));
    fputs("}}", out);
}

/* What the text shows, as one JSON object on standard output, for scripts. */
static void print_json(const struct cdm_topology *topology, const struct trackers *trackers)
{
    FILE *out = stdout;
    fputs("{\"nodes\":[", out);
    const char *separator = "";
    for (int id = 0; id <= topology->max_node; id++)
        if (topology->nodes[id].present) {
            fputs(separator, out);
            json_node(out, topology, id);
            separator = ",";
        }
    fputc(']', out);
    json_distances(out, topology);
    cli_json_nodes(out, "cdm_nodes", &topology->cdm);
    cli_json_nodes(out, "dram_nodes", &topology->dram);
    fprintf(out, ",\"weighted_interleave\":%s",
            topology->weighted_interleave ? "true" : "false");
    if (topology->numa_balancing < 0) {
        fputs(",\"numa_balancing\":null", out);
    } else {
        fprintf(out, ",\"numa_balancing\":{\"value\":%d", topology->numa_balancing);
        cli_json_text(out, "mode", balancing_mode(topology->numa_balancing));
        fputc('}', out);
    }
    json_trackers(out, trackers);
    fputs("}\n", out);
}

int cli_topo(const struct cli_command *command, int argc, char **argv)
{
    bool json = false;
    int status = cli_parse_options(command, argc, argv, &json);
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
    struct trackers trackers;
    probe_trackers(&trackers);
    if (json)
        print_json(topology, &trackers);
    else
        print_text(topology, &trackers);
    free(topology);
    return CLI_OK;
}
