/* SPDX-License-Identifier: MIT */
/* cdmplace report --diff A B: two runs side by side, rule by rule, with what changed.
 *
 * A run is one trace (a job's traces are one run when catenated, `<(cat a.*.jsonl)`): each
 * figure of the table is summed over its processes, so that a run of twice the ranks shows
 * twice the bytes; PEAK is then the sum of the processes' peaks. A rule in one run only is
 * shown with its figures and "only in A" or "only in B". */
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

static void row(struct cli_table *table, const char *rule, const char *label, bool bytes, bool in_a,
                uint64_t a, bool in_b, uint64_t b)
{
    char a_text[32] = "-", b_text[32] = "-", change[40], ratio[32] = "-";
    const struct report_figure as = {.bytes = bytes};
    if (in_a)
        report_format_figure(&as, a, a_text, sizeof a_text);
    if (in_b)
        report_format_figure(&as, b, b_text, sizeof b_text);
    if (!in_a || !in_b)
        snprintf(change, sizeof change, "only in %s", in_a ? "A" : "B");
    else
        format_change(bytes, a, b, change, sizeof change);
    if (in_a && in_b) /* a ratio to nothing says nothing */
        snprintf(ratio, sizeof ratio, a ? "%.2f" : "-", (double)b / (double)(a ? a : 1));
    cli_table_row(table, (const char *const[]){rule, label, a_text, b_text, change, ratio});
}

/* The rows of one measure, when it is not zero in both runs (or always shown). */
static void measure_row(struct cli_table *table, const struct trace_set *const runs[2],
                        const char *name, const struct measure *measure, const char *label,
                        bool *first)
{
    uint64_t a, b;
    bool in_a = total(runs[0], name, measure, &a), in_b = total(runs[1], name, measure, &b);
    bool always = measure->figure && measure->figure->always;
    if (!always && !a && !b)
        return;
    row(table, *first ? name : "", label, measure->figure && measure->figure->bytes, in_a, a, in_b,
        b);
    *first = false;
}

static void rule_rows(struct cli_table *table, const struct trace_set *const runs[2],
                      const char *name)
{
    bool first = true;
    for (size_t f = 0; f < report_n_figures; f++) {
        char label[32];
        const struct measure measure = {.figure = &report_figures[f]};
        report_figure_row_label(&report_figures[f], label, sizeof label);
        measure_row(table, runs, name, &measure, label, &first);
    }
    for (int at_exit = 0; at_exit < 2; at_exit++)
        for (int node = 0; node < 1024; node++) {
            char label[64];
            const struct measure measure = {.node = node, .at_exit = at_exit};
            snprintf(label, sizeof label, "pages on node %d at %s", node,
                     at_exit ? "exit" : "peak");
            measure_row(table, runs, name, &measure, label, &first);
        }
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

static void library_row(struct cli_table *table, const struct trace_set *const runs[2])
{
    bool in[2] = {false, false};
    uint64_t us[2] = {0, 0};
    for (int r = 0; r < 2; r++)
        for (size_t i = 0; i < runs[r]->n_processes; i++)
            if (runs[r]->processes[i]->exited) {
                in[r] = true;
                us[r] += runs[r]->processes[i]->library_ns / 1000;
            }
    if (in[0] || in[1])
        row(table, "(all)", "time in library (us)", false, in[0], us[0], in[1], us[1]);
}

/* "A  a.jsonl: 2 processes, hot_cold, longest 0.105 s" */
static void print_run(const char *letter, const char *path, const struct trace_set *run)
{
    uint64_t longest = 0;
    for (size_t i = 0; i < run->n_processes; i++)
        if (run->processes[i]->last_t > longest)
            longest = run->processes[i]->last_t;
    const char *program = run->processes[0]->program;
    printf("%s  %s: %zu process%s, %s, %s%llu.%03llu s\n", letter, path, run->n_processes,
           run->n_processes == 1 ? "" : "es", program ? program : "?",
           run->n_processes == 1 ? "" : "longest ", (unsigned long long)(longest / 1000000000),
           (unsigned long long)(longest / 1000000 % 1000));
}

int report_diff(char *const paths[2], const struct report_filter *filter)
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
        print_run("A", paths[0], runs[0]);
        print_run("B", paths[1], runs[1]);
        const char **names;
        int n_names = rule_names(runs, &names);
        struct cli_table table;
        cli_table_init(&table, 6);
        cli_table_row(&table, (const char *const[]){"RULE", "FIGURE", "A", "B", "B-A", "B/A"});
        for (int r = 0; r < n_names; r++)
            rule_rows(&table, runs, names[r]);
        library_row(&table, runs);
        cli_table_print(&table);
        cli_table_free(&table);
        free(names);
    }
    trace_set_free(&sets[0]);
    trace_set_free(&sets[1]);
    return status;
}
