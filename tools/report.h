/* SPDX-License-Identifier: MIT */
/* `cdmplace report` and what its outputs share: traces read into a set (trace.h), figures
 * per rule, call sites named at report time. */
#ifndef CDMPLACE_REPORT_H
#define CDMPLACE_REPORT_H

#include "cli.h"
#include "trace.h"

/* symbols.c: the function (demangled), the return address's offset into it and "file.c:42"
 * (empty without line info) of a frame given as its object's path and offset there. False
 * when the object is not here or no symbol of it holds the address. */
bool symbols_lookup(const char *object, uint64_t offset, char *function, size_t function_size,
                    uint64_t *function_offset, char *where, size_t where_size);
/* A C++ name as written in the source; any other name as it is. */
void symbols_demangle(const char *name, char *out, size_t size);
void symbols_free(void);

/* report.c: a figure of a rule, as the table shows it (a column for one process, a row for
 * many, a row of --diff) and as --json names it. */
struct report_figure {
    const char *label; /* "BYTES" */
    const char *key;   /* "bytes" */
    bool bytes;        /* printed as a size */
    bool always;       /* a row even when zero everywhere */
    uint64_t (*of)(const struct trace_rule *rule);
};
extern const struct report_figure report_figures[];
extern const size_t report_n_figures;
/* The value as its column prints it ("112M", "3"); returns buf. */
char *report_format_figure(const struct report_figure *figure, uint64_t value, char *buf,
                           size_t size);
/* The label in lower case, as rows name figures ("bytes"); returns buf. */
char *report_figure_row_label(const struct report_figure *figure, char *buf, size_t size);

/* report.c: reads the traces at paths into set (read with `flags`, trace.h), processes in
 * rank order. Returns how many of them could not be read (said on stderr). */
int report_read(struct trace_set *set, unsigned flags, char *const *paths, int n_paths);

/* report_filter.c: what --rule, --pid and --rank keep; each may be given more than once
 * (any of the names or numbers given), and they combine (all of them). */
struct report_filter {
    const char **rules;
    size_t n_rules;
    int *pids, *ranks;
    size_t n_pids, n_ranks;
};
enum report_filter_option { REPORT_FILTER_RULE, REPORT_FILTER_PID, REPORT_FILTER_RANK };
/* Adds the option's value; false when a pid or rank is not a number. */
bool report_filter_add(struct report_filter *filter, enum report_filter_option option,
                       const char *value);
/* Keeps in each set (named in messages by names[]) only what the filter selects: every
 * pid and rank given must name a process of every set, every rule a rule of some set.
 * Returns CLI_OK, or CLI_USAGE when one does not (said, with what the sets do hold). */
int report_filter_apply(const struct report_filter *filter, struct trace_set *const *sets,
                        const char *const *names, size_t n_sets);
void report_filter_free(struct report_filter *filter);

/* report_folded.c: placed bytes per stack, one "outer;...;inner BYTES" line each, the `top`
 * heaviest (0: all) to standard output. The set must have been read with
 * TRACE_KEEP_STACKS. */
void report_folded(const struct trace_set *set, size_t top);

/* report_diff.c: two runs, A and B, each read from one trace and filtered, rule by rule: the
 * table's figures of each (summed over its processes) and the change, as a table or as one
 * JSON object (`json`). Returns an exit status. */
int report_diff(char *const paths[2], const struct report_filter *filter, bool json);

/* report.c: a rule's pages per node at its peak (the epoch with the most pages) and at exit
 * (the `totals` event; the last epoch when the process was killed). Return the number of
 * counts set in *counts (pointing into the rule), 0 when the trace does not say. */
size_t report_pages_at_peak(const struct trace_rule *rule, const struct trace_node_count **counts);
size_t report_pages_at_exit(const struct trace_rule *rule, const struct trace_node_count **counts);
/* report.c: a call site as the report names it, "function (file.c:42)" where line
 * information is here, else "function+0x1a2b" (its offset in the object). Returns buf. */
char *report_callsite_name(const struct trace_callsite *callsite, char *buf, size_t size);

/* report_perfetto.c: the set (read with TRACE_KEEP_EVENTS) as Chrome trace-event JSON in
 * `path`. Returns 0 or an errno. */
int report_perfetto(const struct trace_set *set, const char *path);

/* report.c: the pages on `node` among n counts (0 when it is not listed). */
uint64_t report_pages_on(const struct trace_node_count *counts, size_t n, int node);
/* report.c: rule names in the order processes first name them, in *names (to free); their
 * number. */
int report_rule_names(const struct trace_set *set, const char ***names);

/* report_svg.c: pages per node over time, one panel per rule, migrations marked, as an SVG
 * at path. The set must have been read with TRACE_KEEP_EVENTS. Returns 0 or an errno. */
int report_svg(const struct trace_set *set, const char *path);

#endif
