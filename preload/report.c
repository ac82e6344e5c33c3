/* SPDX-License-Identifier: MIT */
/* The end-of-run report (design.md "The end-of-run report"): per rule, allocations, bytes,
 * peak live bytes, pages per node of the live buffers at exit, migrations, fallbacks; the
 * top call sites by bytes; the tracker; the time spent in the library. Plain text, aligned
 * columns, every line prefixed "cdmplace: " so it can be told from the program's output.
 * Written with write(2) from stack buffers: it runs in our destructor. A process that made
 * no allocation of min_size or more prints nothing. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOP_CALL_SITES 5

struct output {
    int fd;
};

static void emit(struct output *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct output *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cdm__vlog_to(out->fd, fmt, ap);
    va_end(ap);
}

/* 1536 -> "1.5K": powers of 1024, as the config writes sizes. */
static const char *human(uint64_t bytes, char *buf, size_t size)
{
    static const char units[] = "BKMGTP";
    int unit = 0;
    double value = (double)bytes;
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        unit++;
    }
    /* Integer arithmetic keeps vsnprintf away from floating point formatting. */
    unsigned tenths = (unsigned)(value * 10 + 0.5);
    if (unit == 0)
        snprintf(buf, size, "%lluB", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%u.%u%c", tenths / 10, tenths % 10, units[unit]);
    return buf;
}

static void pages_per_node(int rule, char *buf, size_t size)
{
    static uint64_t per_node[CDM_MAX_NODES];
    int max_node = cdm__rt.topology.max_node;
    uint64_t absent = 0;
    memset(per_node, 0, sizeof per_node);
    cdm__placement_pages(rule, per_node, max_node, &absent);
    size_t used = 0;
    buf[0] = '\0';
    for (int node = 0; node <= max_node && used < size; node++)
        if (per_node[node])
            used += (size_t)snprintf(buf + used, size - used, "%s%d:%llu", used ? " " : "", node,
                                     (unsigned long long)per_node[node]);
    if (absent && used < size)
        used += (size_t)snprintf(buf + used, size - used, "%sabsent:%llu", used ? " " : "",
                                 (unsigned long long)absent);
    if (!used)
        snprintf(buf, size, "-");
}

static void write_report(struct output *out)
{
    const struct cdm_config *config = &cdm__rt.config;
    uint64_t elapsed = cdm__now_ns() - cdm__rt.start_ns;
    char a[32], b[32], c[32], pages[256];
    emit(out, "report for %s (pid %d), %llu.%03llu s, config %s%s", cdm__rt.program,
         (int)cdm__rt.pid, (unsigned long long)(elapsed / 1000000000),
         (unsigned long long)(elapsed / 1000000 % 1000), config->path[0] ? config->path : "built-in (profile only)",
         config->settings.dry_run ? ", dry run" : "");
    enum cdm_track tracker = cdm__tracker_backend();
    emit(out, "tracker: %s (sees %s)", cdm__track_name(tracker), cdm__tracker_sees());
    emit(out, "%-16s %7s %9s %9s %9s %9s %7s %9s %6s  %s", "rule", "allocs", "bytes", "peak",
         "to-dram", "to-cdm", "faults", "fallbacks", "failed", "pages per node at exit");
    for (int i = 0; i <= config->n_rules; i++) {
        int index = i < config->n_rules ? i : CDM_MAX_RULES;
        const struct cdm_rule_stats *stats = &cdm__rule_stats[index];
        if (index == CDM_MAX_RULES && !stats->allocations)
            continue;
        if (index < CDM_MAX_RULES)
            pages_per_node(index, pages, sizeof pages);
        else
            snprintf(pages, sizeof pages, "(not placed)");
        emit(out, "%-16.16s %7llu %9s %9s %9llu %9llu %7llu %9llu %6llu  %s",
             index < CDM_MAX_RULES ? config->rules[index].name : "(no rule)",
             (unsigned long long)stats->allocations, human(stats->bytes, a, sizeof a),
             /* frees of unplaced buffers are not seen: no peak for them */
             index < CDM_MAX_RULES ? human(stats->peak_bytes, b, sizeof b) : "-",
             (unsigned long long)stats->pages_to_dram,
             (unsigned long long)stats->pages_to_policy, (unsigned long long)stats->faults,
             (unsigned long long)stats->fallbacks,
             /* refused (full), not applied (error, no node, not permitted): as `cdmplace report` */
             (unsigned long long)(stats->failures + stats->errors), pages);
    }
    uint64_t refused_buffers, refused_bytes;
    const char *refused = cdm__placement_refused(&refused_buffers, &refused_bytes);
    if (refused)
        emit(out, "not placed: %llu buffers, %s (counted as failed): %s",
             (unsigned long long)refused_buffers, human(refused_bytes, a, sizeof a), refused);
    const char *unmoved = cdm__migrate_refused();
    if (unmoved)
        emit(out, "not migrated: %s", unmoved);
    struct cdm_kept_totals kept;
    cdm__placement_kept(&kept);
    if (kept.frees)
        emit(out, "freed buffers kept for reuse: %llu, %llu allocations served from them, %s "
             "still kept at exit", (unsigned long long)kept.frees,
             (unsigned long long)kept.reuses, human(kept.bytes, a, sizeof a));
    struct cdm_callsite *top[TOP_CALL_SITES];
    int n_top = cdm__callsites_top(top, TOP_CALL_SITES);
    if (n_top)
        emit(out, "top call sites by bytes:");
    for (int i = 0; i < n_top; i++)
        emit(out, "  %9s %7llu  %s+0x%lx", human(top[i]->bytes, c, sizeof c),
             (unsigned long long)top[i]->allocations, top[i]->short_text,
             (unsigned long)top[i]->offset);
    uint64_t library_ns = __atomic_load_n(&cdm__time_in_library_ns, __ATOMIC_RELAXED);
    emit(out, "time in library: %llu.%03llu ms", (unsigned long long)(library_ns / 1000000),
         (unsigned long long)(library_ns / 1000 % 1000));
}

void cdm__report_write(void)
{
    const struct cdm_settings *settings = &cdm__rt.config.settings;
    struct cdm_rule_stats sum;
    cdm__rule_stats_sum(&sum);
    if (settings->report == CDM_REPORT_OFF || sum.allocations == 0)
        return;
    struct output out = {.fd = STDERR_FILENO};
    if (settings->report == CDM_REPORT_STDERR && !cdm__stderr_usable())
        return; /* a child of the run, or fd 2 is no longer stderr: the trace has it all */
    if (settings->report == CDM_REPORT_PATH) {
        char path[CDM_PATH_MAX];
        int err = ENAMETOOLONG;
        if (!cdm__expand_template(settings->report_path, path, sizeof path) ||
            (err = plat_open_above_stdio(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &out.fd))) {
            cdm__warn_once(CDM_WARN_REPORT, "cannot write the report to %s (%s): choose a "
                                            "writable path with CDMPLACE_REPORT or `report =`",
                           settings->report_path, cdm__errno_text(err));
            return;
        }
    }
    write_report(&out);
    if (out.fd != STDERR_FILENO)
        close(out.fd);
}
