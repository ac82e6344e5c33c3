/* SPDX-License-Identifier: MIT */
/* cdmplace report --diff A B: two runs side by side, rule by rule, with what changed.
 *
 * A run is one trace (a job's traces are one run when catenated, `<(cat a.*.jsonl)`): each
 * figure of the table is summed over its processes, so that a run of twice the ranks shows
 * twice the bytes; PEAK is then the sum of the processes' peaks. A rule in one run only is
 * shown with its figures and "only in A" or "only in B".
 *
 * The rows are gathered first, then printed as the table or, with --json, as one object for
 * scripts: the same rows, the figures as plain numbers. */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a row of the diff sums: a figure of the table, or the pages on a node. */
struct measure {
    const struct report_figure *figure; /* NULL: pages on `node` */
    int node;
    bool at_exit;
};

static uint64_t measure_of(const struct measure *measure, const struct trace_rule *rule)
{
    if (measure->figure)
        return measure->figure->of(rule);
    const struct trace_node_count *counts;
    size_t n = measure->at_exit ? report_pages_at_exit(rule, &counts)
                                : report_pages_at_peak(rule, &counts);
    return n ? report_pages_on(counts, n, measure->node) : 0;
}

/* Does the table show the rule? Allocations no rule matched only when there are some. */
static bool shown(const struct trace_rule *rule) { return !rule->no_rule || rule->allocations; }

static bool has_rule(const struct trace_set *run, const char *name)
{
    for (size_t i = 0; i < run->n_processes; i++) {
        const struct trace_rule *rule = trace_process_rule(run->processes[i], name);
        if (rule && shown(rule))
            return true;
    }
    return false;
}

/* The measure summed over the run's processes that have the rule; false when none has. */
static bool total(const struct trace_set *run, const char *name, const struct measure *measure,
                  uint64_t *sum)
{
    bool found = false;
    *sum = 0;
    for (size_t i = 0; i < run->n_processes; i++) {
        const struct trace_rule *rule = trace_process_rule(run->processes[i], name);
        if (rule && shown(rule)) {
            found = true;
            *sum += measure_of(measure, rule);
        }
    }
    return found;
}

/* A row of the diff: a measure of a rule (or of all processes) in each run. */
struct row {
    const char *rule;       /* as the table names it; NULL: all processes */
    bool no_rule;           /* the allocations no rule matched */
    char label[48];         /* as the table names it: "bytes", "pages on node 1 at exit" */
    const char *key;        /* as --json names it: "bytes", "pages_at_exit" */
    int node;               /* of pages_at_peak and pages_at_exit rows; -1: none */
    bool bytes;             /* printed as a size */
    bool in[2];             /* the run has the rule (has exited processes) */
    uint64_t value[2];
};

struct rows {
    struct row *rows;
    size_t n, allocated;
};

static struct row *row_add(struct rows *rows)
{
    if (rows->n == rows->allocated) {
        rows->allocated = rows->allocated ? 2 * rows->allocated : 32;
        rows->rows = cli_checked(realloc(rows->rows, sizeof *rows->rows * rows->allocated));
    }
    struct row *row = &rows->rows[rows->n++];
    *row = (struct row){.node = -1};
    return row;
}

/* The row of one measure, when it is not zero in both runs (or always shown). */
static void measure_row(struct rows *rows, const struct trace_set *const runs[2],
                        const char *name, bool no_rule, const struct measure *measure)
{
    uint64_t a, b;
    bool in_a = total(runs[0], name, measure, &a), in_b = total(runs[1], name, measure, &b);
    bool always = measure->figure && measure->figure->always;
    if (!always && !a && !b)
        return;
    struct row *row = row_add(rows);
    row->rule = name;
    row->no_rule = no_rule;
    row->in[0] = in_a, row->in[1] = in_b;
    row->value[0] = a, row->value[1] = b;
    if (measure->figure) {
        report_figure_row_label(measure->figure, row->label, sizeof row->label);
        row->key = measure->figure->key;
        row->bytes = measure->figure->bytes;
    } else {
        snprintf(row->label, sizeof row->label, "pages on node %d at %s", measure->node,
                 measure->at_exit ? "exit" : "peak");
        row->key = measure->at_exit ? "pages_at_exit" : "pages_at_peak";
        row->node = measure->node;
    }
}

/* Is `name` the allocations no rule matched, in the run that has it? */
static bool names_no_rule(const struct trace_set *const runs[2], const char *name)
{
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < runs[r]->n_processes; i++) {
            const struct trace_rule *rule = trace_process_rule(runs[r]->processes[i], name);
            if (rule)
                return rule->no_rule;
        }
    return false;
}

static void rule_rows(struct rows *rows, const struct trace_set *const runs[2], const char *name)
{
    bool no_rule = names_no_rule(runs, name);
    for (size_t f = 0; f < report_n_figures; f++) {
        const struct measure measure = {.figure = &report_figures[f]};
        measure_row(rows, runs, name, no_rule, &measure);
    }
    for (int at_exit = 0; at_exit < 2; at_exit++)
        for (int node = 0; node < 1024; node++) {
            const struct measure measure = {.node = node, .at_exit = at_exit};
            measure_row(rows, runs, name, no_rule, &measure);
        }
}

/* The run's longest process, in ns. */
static uint64_t longest_of(const struct trace_set *run)
{
    uint64_t longest = 0;
    for (size_t i = 0; i < run->n_processes; i++)
        if (run->processes[i]->last_t > longest)
            longest = run->processes[i]->last_t;
    return longest;
}

/* The rules of both runs, A's first, each once, shown by the table. */
static int rule_names(const struct trace_set *const runs[2], const char ***names)
{
    int n = 0;
    *names = NULL;
    for (int r = 0; r < 2; r++) {
        const char **more;
        int n_more = report_rule_names(runs[r], &more);
        *names = cli_checked(realloc(*names, sizeof **names * (size_t)(n + n_more + 1)));
        for (int m = 0; m < n_more; m++) {
            bool known = false;
            for (int k = 0; k < n && !known; k++)
                known = !strcmp((*names)[k], more[m]);
            if (!known && has_rule(runs[r], more[m]))
                (*names)[n++] = more[m];
        }
        free(more);
    }
    return n;
}

static void library_row(struct rows *rows, const struct trace_set *const runs[2])
{
    bool in[2] = {false, false};
    uint64_t us[2] = {0, 0};
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < runs[r]->n_processes; i++)
            if (runs[r]->processes[i]->exited) {
                in[r] = true;
                us[r] += runs[r]->processes[i]->library_ns / 1000;
            }
    if (!in[0] && !in[1])
        return;
    struct row *row = row_add(rows);
    snprintf(row->label, sizeof row->label, "time in library (us)");
    row->key = "library_us";
    for (int r = 0; r < 2; r++)
        row->in[r] = in[r], row->value[r] = us[r];
}

/* ---------------------------------------------------------------- the table */

/* "+4M", "-12", "0". */
static char *format_change(bool bytes, uint64_t a, uint64_t b, char *buf, size_t size)
{
    uint64_t change = b > a ? b - a : a - b;
    char value[32];
    const struct report_figure as = {.bytes = bytes};
    report_format_figure(&as, change, value, sizeof value);
    snprintf(buf, size, "%s%s", change == 0 ? "" : b > a ? "+" : "-", change ? value : "0");
    return buf;
}

static void print_row(struct cli_table *table, const char *rule, const struct row *row)
{
    char values[2][32] = {"-", "-"}, change[40], ratio[32] = "-";
    const struct report_figure as = {.bytes = row->bytes};
    for (int r = 0; r < 2; r++)
        if (row->in[r])
            report_format_figure(&as, row->value[r], values[r], sizeof values[r]);
    if (!row->in[0] || !row->in[1])
        snprintf(change, sizeof change, "only in %s", row->in[0] ? "A" : "B");
    else
        format_change(row->bytes, row->value[0], row->value[1], change, sizeof change);
    if (row->in[0] && row->in[1] && row->value[0]) /* a ratio to nothing says nothing */
        snprintf(ratio, sizeof ratio, "%.2f", (double)row->value[1] / (double)row->value[0]);
    cli_table_row(table, (const char *const[]){rule, row->label, values[0], values[1], change,
                                               ratio});
}

/* "A  a.jsonl: 2 processes, hot_cold, longest 0.105 s" */
static void print_run(const char *letter, const char *path, const struct trace_set *run)
{
    uint64_t longest = longest_of(run);
    const char *program = run->processes[0]->program;
    printf("%s  %s: %zu process%s, %s, %s%llu.%03llu s\n", letter, path, run->n_processes,
           run->n_processes == 1 ? "" : "es", program ? program : "?",
           run->n_processes == 1 ? "" : "longest ", (unsigned long long)(longest / 1000000000),
           (unsigned long long)(longest / 1000000 % 1000));
}

static void print_table(char *const paths[2], const struct trace_set *const runs[2],
                        const struct rows *rows)
{
    print_run("A", paths[0], runs[0]);
    print_run("B", paths[1], runs[1]);
    struct cli_table table;
    cli_table_init(&table, 6);
    cli_table_row(&table, (const char *const[]){"RULE", "FIGURE", "A", "B", "B-A", "B/A"});
    for (size_t i = 0; i < rows->n; i++) {
        const struct row *row = &rows->rows[i];
        bool first = !i || row->rule != rows->rows[i - 1].rule;
        print_row(&table, !row->rule ? "(all)" : first ? row->rule : "", row);
    }
    cli_table_print(&table);
    cli_table_free(&table);
}

/* ---------------------------------------------------------------- --json */

/* {"figure":..,"node":..,"a":..,"b":..,"change":..,"ratio":..}, each null where the table
 * has "-" or "only in"; node only for pages on a node. */
static void json_row(FILE *out, const struct row *row)
{
    fputs("{\"figure\":", out);
    cli_json_string(out, row->key);
    if (row->node >= 0)
        fprintf(out, ",\"node\":%d", row->node);
    cli_json_number(out, "a", row->value[0], row->in[0]);
    cli_json_number(out, "b", row->value[1], row->in[1]);
    uint64_t a = row->value[0], b = row->value[1];
    if (row->in[0] && row->in[1])
        fprintf(out, ",\"change\":%s%llu", b < a ? "-" : "",
                (unsigned long long)(b < a ? a - b : b - a));
    else
        fputs(",\"change\":null", out);
    if (row->in[0] && row->in[1] && a)
        fprintf(out, ",\"ratio\":%.6g", (double)b / (double)a);
    else
        fputs(",\"ratio\":null", out);
    fputc('}', out);
}

static void json_run(FILE *out, const char *path, const struct trace_set *run)
{
    fputs("{\"trace\":", out);
    cli_json_string(out, path);
    fprintf(out, ",\"processes\":%zu", run->n_processes);
    cli_json_text(out, "program", run->processes[0]->program);
    fprintf(out, ",\"seconds\":%.3f}", (double)longest_of(run) / 1e9);
}

/* One object: each run, then per rule the rows of the table, then the library's time. */
static void print_json(char *const paths[2], const struct trace_set *const runs[2],
                       const struct rows *rows)
{
    FILE *out = stdout;
    fputs("{\"a\":", out);
    json_run(out, paths[0], runs[0]);
    fputs(",\"b\":", out);
    json_run(out, paths[1], runs[1]);
    fputs(",\"rules\":[", out);
    const struct row *library = NULL;
    bool in_rule = false;
    for (size_t i = 0; i < rows->n; i++) {
        const struct row *row = &rows->rows[i];
        if (!row->rule) {
            library = row;
            continue;
        }
        if (!in_rule || row->rule != rows->rows[i - 1].rule) {
            fputs(in_rule ? "]},\n{\"rule\":" : "\n{\"rule\":", out);
            if (row->no_rule)
                fputs("null", out);
            else
                cli_json_string(out, row->rule);
            fprintf(out, ",\"in_a\":%s,\"in_b\":%s,\"figures\":[",
                    row->in[0] ? "true" : "false", row->in[1] ? "true" : "false");
            in_rule = true;
        } else {
            fputc(',', out);
        }
        json_row(out, row);
    }
    fputs(in_rule ? "]}\n]" : "\n]", out);
    fputs(",\"library_us\":", out);
    if (library)
        json_row(out, library);
    else
        fputs("null", out);
    fputs("}\n", out);
}

/* ---------------------------------------------------------------- the command */

int report_diff(char *const paths[2], const struct report_filter *filter, bool json)
{
    const char *run_names[2] = {paths[0], paths[1]};
    struct trace_set sets[2];
    int status = CLI_OK;
    for (int r = 0; r < 2; r++) {
        if (report_read(&sets[r], 0, &paths[r], 1) && status == CLI_OK)
            status = CLI_FAILED;
        else if (!sets[r].n_processes && status == CLI_OK) {
            cli_error("no cdmplace events in %s", paths[r]);
            status = CLI_FAILED;
        }
    }
    if (status == CLI_OK)
        status = report_filter_apply(filter, (struct trace_set *const[]){&sets[0], &sets[1]},
                                     run_names, 2);
    if (status == CLI_OK) {
        const struct trace_set *const runs[2] = {&sets[0], &sets[1]};
        const char **names;
        int n_names = rule_names(runs, &names);
        struct rows rows = {0};
        for (int r = 0; r < n_names; r++)
            rule_rows(&rows, runs, names[r]);
        library_row(&rows, runs);
        if (json)
            print_json(paths, runs, &rows);
        else
            print_table(paths, runs, &rows);
        free(rows.rows);
        free(names);
    }
    trace_set_free(&sets[0]);
    trace_set_free(&sets[1]);
    return status;
}
