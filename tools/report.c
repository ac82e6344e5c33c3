/* SPDX-License-Identifier: MIT */
/* cdmplace report LOG...: the end-of-run report again, from traces (design.md "The end-of-run
 * report"), for one process or for the ranks of a job.
 *
 * One process: the library's table, per rule. Many: the same figures once, as rows of
 * min / mean / max across processes and the process that holds the max, so that a job of a
 * thousand ranks still fits on a screen. Call sites are merged across processes by object
 * and offset and named here, with file:line where debug info exists. --perfetto also
 * writes the traces for a timeline viewer (report_perfetto.c). --rule, --pid and --rank cut
 * the set before any output (report_filter.c); --folded (report_folded.c) and --diff
 * (report_diff.c) are other views of it. */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* Call sites the table shows without --top: a screen's worth. */
#define TOP_CALL_SITES 5

/* ---------------------------------------------------------------- figures */

static uint64_t allocations_of(const struct trace_rule *r) { return r->allocations; }
static uint64_t bytes_of(const struct trace_rule *r) { return r->bytes; }
static uint64_t peak_of(const struct trace_rule *r) { return r->peak_bytes; }
static uint64_t to_dram_of(const struct trace_rule *r) { return r->to_dram; }
static uint64_t to_policy_of(const struct trace_rule *r) { return r->to_policy; }
static uint64_t faults_of(const struct trace_rule *r) { return r->faults; }
static uint64_t fallbacks_of(const struct trace_rule *r) { return r->fallbacks; }
static uint64_t failed_of(const struct trace_rule *r) { return r->failures + r->errors; }

const struct report_figure report_figures[] = {
    {"ALLOCS", "allocations", false, true, allocations_of},
    {"BYTES", "bytes", true, true, bytes_of},
    {"PEAK", "peak_bytes", true, true, peak_of},
    {"TO-DRAM", "to_dram", false, false, to_dram_of},
    {"TO-CDM", "to_policy", false, false, to_policy_of},
    {"FAULTS", "faults", false, false, faults_of},
    {"FALLBACKS", "fallbacks", false, false, fallbacks_of},
    {"FAILED", "failed", false, false, failed_of},
};
#define N_FIGURES (sizeof report_figures / sizeof report_figures[0])
const size_t report_n_figures = N_FIGURES;

char *report_format_figure(const struct report_figure *figure, uint64_t value, char *buf,
                           size_t size)
{
    if (figure->bytes)
        return cli_format_bytes(value, buf, size);
    snprintf(buf, size, "%llu", (unsigned long long)value);
    return buf;
}

char *report_figure_row_label(const struct report_figure *figure, char *buf, size_t size)
{
    snprintf(buf, size, "%s", figure->label);
    for (char *c = buf; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    return buf;
}

size_t report_pages_at_peak(const struct trace_rule *rule, const struct trace_node_count **counts)
{
    const struct trace_sample *peak = NULL;
    uint64_t most = 0;
    for (size_t i = 0; i < rule->n_samples; i++) {
        const struct trace_sample *sample = &rule->samples[i];
        uint64_t total = 0;
        for (size_t k = 0; k < sample->n; k++)
            total += rule->counts[sample->first + k].pages;
        if (!peak || total > most)
            peak = sample, most = total;
    }
    if (!peak || !most)
        return 0;
    *counts = &rule->counts[peak->first];
    return peak->n;
}

size_t report_pages_at_exit(const struct trace_rule *rule, const struct trace_node_count **counts)
{
    if (rule->have_totals) {
        *counts = rule->exit_counts;
        return rule->n_exit_counts;
    }
    if (!rule->n_samples)
        return 0;
    const struct trace_sample *last = &rule->samples[rule->n_samples - 1];
    *counts = &rule->counts[last->first];
    return last->n;
}

/* "0:12 1:40", or "-". */
static char *format_counts(const struct trace_node_count *counts, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%d:%llu", used ? " " : "",
                                 counts[i].node, (unsigned long long)counts[i].pages);
    if (!used)
        snprintf(buf, size, "-");
    return buf;
}

uint64_t report_pages_on(const struct trace_node_count *counts, size_t n, int node)
{
    for (size_t i = 0; i < n; i++)
        if (counts[i].node == node)
            return counts[i].pages;
    return 0;
}

/* ---------------------------------------------------------------- the header */

static char *format_seconds(uint64_t ns, char *buf, size_t size)
{
    snprintf(buf, size, "%llu.%03llu s", (unsigned long long)(ns / 1000000000),
             (unsigned long long)(ns / 1000000 % 1000));
    return buf;
}

static void print_process_header(const struct trace_process *process)
{
    char name[128], seconds[32];
    printf("%s %s, %s, config %s%s\n", trace_process_name(process, name, sizeof name),
           process->program ? process->program : "(program unknown: no start event)",
           format_seconds(process->last_t, seconds, sizeof seconds),
           process->config ? process->config : "?", process->dry_run ? ", dry run" : "");
    printf("tracker: %s (sees %s)\n", process->tracker ? process->tracker : "?",
           process->sees ? process->sees : "?");
    if (!process->exited)
        printf("no exit event: the process was killed or is still running; figures up to its "
               "last whole line (%s)\n", process->file);
}

/* The distinct values of a text field across processes, with counts: "wp-async (3), off (1)". */
static void print_distinct(const struct trace_set *set, const char *label,
                           const char *(*field)(const struct trace_process *))
{
    printf("%s:", label);
    for (size_t i = 0; i < set->n_processes; i++) {
        const char *value = field(set->processes[i]);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = !strcmp(field(set->processes[k]), value);
        if (seen)
            continue;
        size_t count = 0;
        for (size_t k = i; k < set->n_processes; k++)
            count += !strcmp(field(set->processes[k]), value);
        printf("%s %s (%zu)", i ? "," : "", value, count);
    }
    printf("\n");
}

static const char *program_of(const struct trace_process *p) { return p->program ? p->program : "?"; }
static const char *config_of(const struct trace_process *p) { return p->config ? p->config : "?"; }
static const char *tracker_of(const struct trace_process *p) { return p->tracker ? p->tracker : "?"; }
static const char *host_of(const struct trace_process *p) { return p->host ? p->host : "?"; }

static const char *job_of(const struct trace_process *p) { return p->job ? p->job : "(none)"; }

static void print_job_header(const struct trace_set *set)
{
    uint64_t longest = 0;
    size_t killed = 0;
    const char *job = set->processes[0]->job;
    bool one_job = true; /* named in the first line; traces of several jobs get a line */
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        if (process->last_t > longest)
            longest = process->last_t;
        killed += !process->exited;
        one_job &= !strcmp(job_of(process), job_of(set->processes[0]));
    }
    char seconds[32];
    printf("%zu processes from %zu traces%s%s, longest %s\n", set->n_processes, set->n_files,
           one_job && job ? ", job " : "", one_job && job ? job : "",
           format_seconds(longest, seconds, sizeof seconds));
    if (!one_job)
        print_distinct(set, "jobs", job_of);
    print_distinct(set, "programs", program_of);
    print_distinct(set, "hosts", host_of);
    print_distinct(set, "configs", config_of);
    print_distinct(set, "trackers", tracker_of);
    if (killed)
        printf("%zu processes have no exit event (killed?): figures up to their last whole "
               "line\n", killed);
}

/* ---------------------------------------------------------------- rules */

int report_rule_names(const struct trace_set *set, const char ***names)
{
    int n = 0;
    *names = NULL;
    for (size_t i = 0; i < set->n_processes; i++)
        for (int r = 0; r < set->processes[i]->n_rules; r++) {
            const char *name = set->processes[i]->rules[r].name;
            bool known = false;
            for (int k = 0; k < n && !known; k++)
                known = !strcmp((*names)[k], name);
            if (known)
                continue;
            *names = realloc(*names, sizeof **names * (size_t)(n + 1));
            if (!*names) {
                cli_error("out of memory");
                exit(CLI_FAILED);
            }
            (*names)[n++] = name;
        }
    return n;
}

/* Freed buffers kept for reuse, as the end-of-run report says it. */
static void print_kept(const struct trace_process *process)
{
    printf("freed buffers kept for reuse: %llu, %llu allocations served from them",
           (unsigned long long)process->kept_frees, (unsigned long long)process->reuses);
    char bytes[32];
    if (process->exited)
        printf(", %s still kept at exit",
               cli_format_bytes(process->kept_bytes, bytes, sizeof bytes));
    putchar('\n');
}

static void print_one_process(const struct trace_process *process)
{
    print_process_header(process);
    struct cli_table table;
    cli_table_init(&table, (int)N_FIGURES + 3);
    const char *header[N_FIGURES + 3] = {"RULE"};
    for (size_t f = 0; f < N_FIGURES; f++)
        header[f + 1] = report_figures[f].label;
    header[N_FIGURES + 1] = "PAGES PER NODE AT PEAK";
    header[N_FIGURES + 2] = "AT EXIT";
    cli_table_row(&table, header);
    for (int r = 0; r < process->n_rules; r++) {
        const struct trace_rule *rule = &process->rules[r];
        if (rule->no_rule && !rule->allocations)
            continue;
        char cells[N_FIGURES + 3][256];
        const char *row[N_FIGURES + 3];
        snprintf(cells[0], sizeof cells[0], "%s", rule->name);
        for (size_t f = 0; f < N_FIGURES; f++)
            report_format_figure(&report_figures[f], report_figures[f].of(rule), cells[f + 1],
                                 sizeof cells[f + 1]);
        const struct trace_node_count *counts;
        size_t n = report_pages_at_peak(rule, &counts);
        format_counts(counts, n, cells[N_FIGURES + 1], sizeof cells[0]);
        n = report_pages_at_exit(rule, &counts);
        format_counts(counts, n, cells[N_FIGURES + 2], sizeof cells[0]);
        for (size_t c = 0; c < N_FIGURES + 3; c++)
            row[c] = cells[c];
        cli_table_row(&table, row);
    }
    cli_table_print(&table);
    cli_table_free(&table);
}

/* Min, mean and max of one figure across the processes that have the rule. */
struct spread {
    uint64_t min, max, sum;
    size_t n;
    const struct trace_process *max_in;
};

static void spread_add(struct spread *s, uint64_t value, const struct trace_process *process)
{
    if (!s->n || value < s->min)
        s->min = value;
    if (!s->n || value > s->max)
        s->max = value, s->max_in = process;
    s->sum += value;
    s->n++;
}

static void spread_row(struct cli_table *table, const char *rule, const char *label, bool bytes,
                       const struct spread *s)
{
    char min[32], mean[32], max[32], where[128];
    const struct report_figure as = {.bytes = bytes};
    report_format_figure(&as, s->min, min, sizeof min);
    report_format_figure(&as, s->max, max, sizeof max);
    double average = s->n ? (double)s->sum / (double)s->n : 0;
    if (bytes)
        cli_format_bytes((uint64_t)(average + 0.5), mean, sizeof mean);
    else
        snprintf(mean, sizeof mean, "%.1f", average);
    if (s->n > 1 && s->min == s->max) /* no process stands out: naming one would mislead */
        snprintf(where, sizeof where, "same in all %zu", s->n);
    else
        trace_process_name(s->max_in, where, sizeof where);
    cli_table_row(table, (const char *const[]){rule, label, min, mean, max, where});
}

/* Rows "pages on node N at peak|exit" for every node some process had pages on. */
static void node_rows(struct cli_table *table, const struct trace_set *set, const char *name,
                      bool *first, bool at_exit)
{
    for (int node = 0; node < 1024; node++) {
        struct spread s = {0};
        bool any = false;
        for (size_t i = 0; i < set->n_processes; i++) {
            const struct trace_rule *rule = trace_process_rule(set->processes[i], name);
            if (!rule)
                continue;
            const struct trace_node_count *counts;
            size_t n = at_exit ? report_pages_at_exit(rule, &counts)
                               : report_pages_at_peak(rule, &counts);
            uint64_t pages = n ? report_pages_on(counts, n, node) : 0;
            any |= pages != 0;
            spread_add(&s, pages, set->processes[i]);
        }
        if (!any)
            continue;
        char label[64];
        snprintf(label, sizeof label, "pages on node %d at %s", node, at_exit ? "exit" : "peak");
        spread_row(table, *first ? name : "", label, false, &s);
        *first = false;
    }
}

static void print_many_processes(const struct trace_set *set)
{
    print_job_header(set);
    const char **names;
    int n_names = report_rule_names(set, &names);
    struct cli_table table;
    cli_table_init(&table, 6);
    cli_table_row(&table, (const char *const[]){"RULE", "FIGURE", "MIN", "MEAN", "MAX", "MAX IN"});
    for (int r = 0; r < n_names; r++) {
        bool first = true;
        for (size_t f = 0; f < N_FIGURES; f++) {
            struct spread s = {0};
            for (size_t i = 0; i < set->n_processes; i++) {
                const struct trace_rule *rule = trace_process_rule(set->processes[i], names[r]);
                if (rule)
                    spread_add(&s, report_figures[f].of(rule), set->processes[i]);
            }
            if (!s.max && !report_figures[f].always)
                continue;
            char label[32];
            report_figure_row_label(&report_figures[f], label, sizeof label);
            spread_row(&table, first ? names[r] : "", label, report_figures[f].bytes, &s);
            first = false;
        }
        node_rows(&table, set, names[r], &first, false);
        node_rows(&table, set, names[r], &first, true);
    }
    struct spread library = {0};
    for (size_t i = 0; i < set->n_processes; i++)
        if (set->processes[i]->exited)
            spread_add(&library, set->processes[i]->library_ns / 1000, set->processes[i]);
    if (library.n)
        spread_row(&table, "(all)", "time in library (us)", false, &library);
    cli_table_print(&table);
    cli_table_free(&table);
    free(names);
}

/* ---------------------------------------------------------------- call sites */

/* As perf and heaptrack name frames: the function and its line; else the function and the
 * offset into it; else, with no symbol that holds the address, the object and the offset into
 * it. The name the library gave at run time serves when the object is not here any more. */
char *report_callsite_name(const struct trace_callsite *callsite, char *buf, size_t size)
{
    char function[256], where[256];
    uint64_t into = 0;
    const char *object = strrchr(callsite->object, '/');
    object = object ? object + 1 : callsite->object;
    if (symbols_lookup(callsite->object, callsite->offset, function, sizeof function, &into,
                       where, sizeof where)) {
        if (where[0])
            snprintf(buf, size, "%s (%s)", function, where);
        else
            snprintf(buf, size, "%s+0x%llx", function, (unsigned long long)into);
    } else if (strcmp(callsite->function, "?") != 0) {
        symbols_demangle(callsite->function, function, sizeof function);
        snprintf(buf, size, "%s (%s+0x%llx)", function, object,
                 (unsigned long long)callsite->offset);
    } else {
        snprintf(buf, size, "%s+0x%llx", object, (unsigned long long)callsite->offset);
    }
    return buf;
}

struct merged_site {
    const struct trace_callsite *site; /* the first seen */
    const char *rule;
    uint64_t allocations, bytes, to_dram, to_policy;
    size_t processes;
    const struct trace_process *last; /* counts each process once */
    UT_hash_handle hh;
    char key[];
};

static int by_bytes(const void *a, const void *b)
{
    const struct merged_site *x = *(const struct merged_site *const *)a;
    const struct merged_site *y = *(const struct merged_site *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* The `top` call sites with the most bytes, merged across processes. */
static void print_call_sites(const struct trace_set *set, size_t top)
{
    struct merged_site *table = NULL, *site, *next;
    size_t n = 0;
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        for (int c = 0; c < process->n_callsites; c++) {
            const struct trace_callsite *callsite = &process->callsites[c];
            char key[1024];
            int len = snprintf(key, sizeof key, "%s+%llx", callsite->object,
                               (unsigned long long)callsite->offset);
            HASH_FIND(hh, table, key, (size_t)len, site);
            if (!site) {
                site = calloc(1, sizeof *site + (size_t)len + 1);
                if (!site)
                    break;
                memcpy(site->key, key, (size_t)len + 1);
                site->site = callsite;
                site->rule = callsite->rule >= 0 ? process->rules[callsite->rule].name : "-";
                HASH_ADD_KEYPTR(hh, table, site->key, (size_t)len, site);
                n++;
            }
            site->allocations += callsite->allocations;
            site->bytes += callsite->bytes;
            site->to_dram += callsite->to_dram;
            site->to_policy += callsite->to_policy;
            if (site->last != process)
                site->processes++, site->last = process;
        }
    }
    if (!n)
        return;
    struct merged_site **sorted = malloc(sizeof *sorted * n);
    size_t k = 0;
    HASH_ITER(hh, table, site, next) {
        if (sorted)
            sorted[k++] = site;
    }
    if (sorted) {
        qsort(sorted, n, sizeof *sorted, by_bytes);
        printf("top call sites by bytes:\n");
        struct cli_table out;
        cli_table_init(&out, set->n_processes > 1 ? 8 : 7);
        const char *header[] = {"BYTES",     "ALLOCS", "TO-DRAM", "TO-CDM",
                                "RULE",      "CALL SITE", "OBJECT", "PROCESSES"};
        cli_table_row(&out, header);
        for (size_t i = 0; i < n && i < top; i++) {
            const struct merged_site *merged = sorted[i];
            const struct trace_callsite *callsite = merged->site;
            char bytes[32], allocations[32], to_dram[32], to_policy[32], named[600];
            char processes[32];
            report_callsite_name(callsite, named, sizeof named);
            const char *object = strrchr(callsite->object, '/');
            snprintf(allocations, sizeof allocations, "%llu",
                     (unsigned long long)merged->allocations);
            snprintf(to_dram, sizeof to_dram, "%llu", (unsigned long long)merged->to_dram);
            snprintf(to_policy, sizeof to_policy, "%llu", (unsigned long long)merged->to_policy);
            snprintf(processes, sizeof processes, "%zu", merged->processes);
            const char *row[] = {cli_format_bytes(merged->bytes, bytes, sizeof bytes),
                                 allocations, to_dram, to_policy, merged->rule, named,
                                 object ? object + 1 : callsite->object, processes};
            cli_table_row(&out, row);
        }
        cli_table_print(&out);
        cli_table_free(&out);
    }
    free(sorted);
    HASH_ITER(hh, table, site, next) {
        HASH_DEL(table, site);
        free(site);
    }
    symbols_free();
}

static void print_messages(const struct trace_set *set)
{
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        char name[128];
        for (int m = 0; m < process->n_errors; m++)
            printf("%s said: %s\n", trace_process_name(process, name, sizeof name),
                   process->errors[m]);
    }
}

/* ---------------------------------------------------------------- the command */

/* What the report of one set of traces writes, besides its filter. */
struct report_outputs {
    bool json, folded;
    const char *svg, *perfetto;
    size_t top; /* call sites or stacks shown; 0: the default */
};

struct ranked {
    struct trace_process *process;
    size_t given; /* its place in the order the traces were given */
};

static int by_rank(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    /* Processes without a rank after the ranks; ties (a rank and its forked children, or no
     * rank at all) in the order given. */
    unsigned xr = (unsigned)x->process->rank, yr = (unsigned)y->process->rank;
    if (xr != yr)
        return xr < yr ? -1 : 1;
    return x->given < y->given ? -1 : x->given > y->given;
}

/* Processes in rank order, whatever the order of the files: a shell's trace.*.jsonl puts
 * trace.10 before trace.2, and the first of processes tied for a maximum is the one named. */
static void order_by_rank(struct trace_set *set)
{
    struct ranked *order = malloc(sizeof *order * set->n_processes);
    if (!order)
        return; /* the order given, then */
    for (size_t i = 0; i < set->n_processes; i++)
        order[i] = (struct ranked){set->processes[i], i};
    qsort(order, set->n_processes, sizeof *order, by_rank);
    for (size_t i = 0; i < set->n_processes; i++)
        set->processes[i] = order[i].process;
    free(order);
}

/* ---------------------------------------------------------------- --json */

static void json_counts(FILE *out, const char *key, const struct trace_node_count *counts,
                        size_t n)
{
    fprintf(out, ",\"%s\":{", key);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s\"%d\":%llu", i ? "," : "", counts[i].node,
                (unsigned long long)counts[i].pages);
    fputc('}', out);
}

/* A rule's row: the same figures as the table (report_figures[], pages at peak and at exit). */
static void json_rule(FILE *out, const struct trace_rule *rule)
{
    fputs("{\"rule\":", out);
    if (rule->no_rule)
        fputs("null", out);
    else
        cli_json_string(out, rule->name);
    cli_json_text(out, "policy", rule->policy);
    cli_json_text(out, "nodes", rule->nodes);
    for (size_t f = 0; f < N_FIGURES; f++)
        fprintf(out, ",\"%s\":%llu", report_figures[f].key,
                (unsigned long long)report_figures[f].of(rule));
    const struct trace_node_count *counts;
    size_t n = report_pages_at_peak(rule, &counts);
    json_counts(out, "pages_at_peak", counts, n);
    n = report_pages_at_exit(rule, &counts);
    json_counts(out, "pages_at_exit", counts, n);
    fputc('}', out);
}

static void json_callsite(FILE *out, const struct trace_process *process,
                          const struct trace_callsite *callsite)
{
    char named[600];
    fputs("{\"call_site\":", out);
    cli_json_string(out, report_callsite_name(callsite, named, sizeof named));
    cli_json_text(out, "object", callsite->object);
    cli_json_text(out, "rule", callsite->rule >= 0 ? process->rules[callsite->rule].name : NULL);
    fprintf(out, ",\"offset\":%llu,\"allocations\":%llu,\"bytes\":%llu,\"to_dram\":%llu,"
                 "\"to_policy\":%llu}",
            (unsigned long long)callsite->offset, (unsigned long long)callsite->allocations,
            (unsigned long long)callsite->bytes, (unsigned long long)callsite->to_dram,
            (unsigned long long)callsite->to_policy);
}

static int callsite_by_bytes(const void *a, const void *b)
{
    const struct trace_callsite *x = *(const struct trace_callsite *const *)a;
    const struct trace_callsite *y = *(const struct trace_callsite *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* The process's call sites, most bytes first, the `top` first of them (0: all). */
static void json_callsites(FILE *out, const struct trace_process *process, size_t top)
{
    size_t n = (size_t)process->n_callsites;
    const struct trace_callsite **sorted = cli_checked(malloc(sizeof *sorted * (n ? n : 1)));
    for (size_t c = 0; c < n; c++)
        sorted[c] = &process->callsites[c];
    qsort(sorted, n, sizeof *sorted, callsite_by_bytes);
    for (size_t c = 0; c < n && (!top || c < top); c++) {
        fputs(c ? "," : "", out);
        json_callsite(out, process, sorted[c]);
    }
    free(sorted);
}

/* The report as one JSON object on standard output: per process what the tables show,
 * figures as plain numbers (bytes, pages), for scripts. */
static void print_json(const struct trace_set *set, size_t top)
{
    FILE *out = stdout;
    fputs("{\"processes\":[", out);
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *p = set->processes[i];
        fprintf(out, "%s\n{\"pid\":%d", i ? "," : "", p->pid);
        if (p->rank >= 0)
            fprintf(out, ",\"rank\":%d", p->rank);
        else
            fputs(",\"rank\":null", out);
        cli_json_text(out, "program", p->program);
        cli_json_text(out, "host", p->host);
        cli_json_text(out, "job", p->job);
        cli_json_text(out, "config", p->config);
        cli_json_text(out, "tracker", p->tracker);
        cli_json_text(out, "trace", p->file);
        fprintf(out, ",\"dry_run\":%s,\"seconds\":%.3f,\"exited\":%s",
                p->dry_run ? "true" : "false", (double)p->last_t / 1e9,
                p->exited ? "true" : "false");
        if (p->exited)
            fprintf(out, ",\"library_ns\":%llu,\"kept_bytes\":%llu",
                    (unsigned long long)p->library_ns, (unsigned long long)p->kept_bytes);
        fprintf(out, ",\"kept_frees\":%llu,\"reuses\":%llu", (unsigned long long)p->kept_frees,
                (unsigned long long)p->reuses);
        fputs(",\"rules\":[", out);
        bool first = true;
        for (int r = 0; r < p->n_rules; r++) {
            if (p->rules[r].no_rule && !p->rules[r].allocations)
                continue;
            fputs(first ? "" : ",", out);
            json_rule(out, &p->rules[r]);
            first = false;
        }
        fputs("],\"call_sites\":[", out);
        json_callsites(out, p, top);
        fputs("],\"messages\":[", out);
        for (int e = 0; e < p->n_errors; e++) {
            fputs(e ? "," : "", out);
            cli_json_string(out, p->errors[e]);
        }
        fputs("]}", out);
    }
    fputs("\n]}\n", out);
    symbols_free();
}

int report_read(struct trace_set *set, unsigned flags, char *const *paths, int n_paths)
{
    *set = (struct trace_set){.flags = flags};
    int unreadable = 0;
    for (int i = 0; i < n_paths; i++)
        unreadable += trace_read_file(set, paths[i]) != 0;
    trace_set_finish(set);
    order_by_rank(set);
    return unreadable;
}

/* The report of one set of traces, as tables, --json or --folded, and its pictures. */
static int report_one(const struct report_filter *filter, const struct report_outputs *outputs,
                      char *const *paths, int n_paths)
{
    /* The picture and the timeline need the events one by one, --folded the stacks. */
    unsigned flags = (outputs->svg || outputs->perfetto ? TRACE_KEEP_EVENTS : 0) |
                     (outputs->folded ? TRACE_KEEP_STACKS : 0);
    struct trace_set set;
    int unreadable = report_read(&set, flags, paths, n_paths);
    if (!set.n_processes) {
        cli_error("no cdmplace events in the traces given");
        trace_set_free(&set);
        return CLI_FAILED;
    }
    struct trace_set *sets[] = {&set};
    int status = report_filter_apply(filter, sets, (const char *const[]){"the traces"}, 1);
    if (status != CLI_OK) {
        trace_set_free(&set);
        return status;
    }
    if (outputs->json) {
        print_json(&set, outputs->top);
    } else if (outputs->folded) {
        report_folded(&set, outputs->top);
    } else {
        if (set.n_processes == 1)
            print_one_process(set.processes[0]);
        else
            print_many_processes(&set);
        print_call_sites(&set, outputs->top ? outputs->top : TOP_CALL_SITES);
        if (set.n_processes == 1 && set.processes[0]->kept_frees)
            print_kept(set.processes[0]);
        if (set.n_processes == 1 && set.processes[0]->exited) {
            uint64_t ns = set.processes[0]->library_ns;
            printf("time in library: %llu.%03llu ms\n", (unsigned long long)(ns / 1000000),
                   (unsigned long long)(ns / 1000 % 1000));
        }
        print_messages(&set);
    }
    const char *failed = NULL;
    int err = 0;
    if (outputs->svg && (err = report_svg(&set, outputs->svg)))
        failed = outputs->svg;
    if (!err && outputs->perfetto && (err = report_perfetto(&set, outputs->perfetto)))
        failed = outputs->perfetto;
    if (err)
        cli_error("cannot write %s: %s", failed, strerror(err));
    trace_set_free(&set);
    return unreadable || err ? CLI_FAILED : CLI_OK;
}

/* --top's N: a whole number from 1. */
static bool parse_top(const char *text, size_t *top)
{
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (*text < '1' || *text > '9' || *end || errno)
        return false;
    *top = (size_t)value;
    return true;
}

/* What --diff leaves out: its table has neither call sites nor pictures, and two runs'
 * pids differ. NULL: nothing. */
static const char *not_with_diff(const struct report_filter *filter,
                                 const struct report_outputs *outputs)
{
    return outputs->folded     ? "--folded"
           : outputs->svg      ? "--svg"
           : outputs->perfetto ? "--perfetto"
           : outputs->top      ? "--top"
           : filter->n_pids    ? "--pid"
                               : NULL;
}

/* The report the options and the traces (or the two runs of --diff) ask for. */
static int report_operands(const struct cli_command *command, const struct report_filter *filter,
                           const struct report_outputs *outputs, bool diff, char *const *paths,
                           int n_paths)
{
    const char *left_out = diff ? not_with_diff(filter, outputs) : NULL;
    if (!n_paths)
        return cli_bad_usage(command, "no trace given");
    if (outputs->json && outputs->folded)
        return cli_bad_usage(command, "--json and --folded both replace the table: one of them");
    if (diff && n_paths != 2)
        return cli_bad_usage(command, "--diff compares two traces, A and B: %d given", n_paths);
    if (left_out)
        return cli_bad_usage(command, "%s does not apply to --diff", left_out);
    if (diff)
        return report_diff(paths, filter, outputs->json);
    return report_one(filter, outputs, paths, n_paths);
}

int cli_report(const struct cli_command *command, int argc, char **argv)
{
    enum {
        OPT_SVG = 256,
        OPT_PERFETTO,
        OPT_JSON,
        OPT_FOLDED,
        OPT_DIFF,
        OPT_TOP,
        OPT_RULE,
        OPT_PID,
        OPT_RANK
    };
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"svg", required_argument, NULL, OPT_SVG},
        {"perfetto", required_argument, NULL, OPT_PERFETTO},
        {"json", no_argument, NULL, OPT_JSON},
        {"folded", no_argument, NULL, OPT_FOLDED},
        {"diff", no_argument, NULL, OPT_DIFF},
        {"top", required_argument, NULL, OPT_TOP},
        {"rule", required_argument, NULL, OPT_RULE},
        {"pid", required_argument, NULL, OPT_PID},
        {"rank", required_argument, NULL, OPT_RANK},
        {NULL, 0, NULL, 0},
    };
    struct report_outputs outputs = {0};
    struct report_filter filter = {0};
    bool diff = false;
    int option, status = CLI_OK;
    while (status == CLI_OK &&
           (option = getopt_long(argc, argv, CLI_OPTSTRING_PREFIX "h", options, NULL)) != -1) {
        switch (option) {
        case 'h':
            report_filter_free(&filter);
            return cli_help(command);
        case OPT_SVG:
            outputs.svg = optarg;
            break;
        case OPT_PERFETTO:
            outputs.perfetto = optarg;
            break;
        case OPT_JSON:
            outputs.json = true;
            break;
        case OPT_FOLDED:
            outputs.folded = true;
            break;
        case OPT_DIFF:
            diff = true;
            break;
        case OPT_TOP:
            if (!parse_top(optarg, &outputs.top))
                status = cli_bad_usage(command, "--top %s: not a number of call sites", optarg);
            break;
        case OPT_RULE:
            report_filter_add(&filter, REPORT_FILTER_RULE, optarg);
            break;
        case OPT_PID:
        case OPT_RANK:
            if (!report_filter_add(
                    &filter, option == OPT_PID ? REPORT_FILTER_PID : REPORT_FILTER_RANK, optarg))
                status = cli_bad_usage(command, "%s %s: not a number",
                                       option == OPT_PID ? "--pid" : "--rank", optarg);
            break;
        default:
            status = cli_bad_option(command, option, argv);
            break;
        }
    }
    if (status == CLI_OK)
        status = report_operands(command, &filter, &outputs, diff, argv + optind, argc - optind);
    report_filter_free(&filter);
    return status;
}
