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
