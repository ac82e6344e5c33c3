/* SPDX-License-Identifier: MIT */
/* The decision trace: JSON lines, one event per line (design.md "The trace").
 *
 * Each event is formatted into a stack buffer and written with one system call: no
 * allocation and no lock on the program's threads, and lines from threads never interleave.
 * Events are rare (allocations of min_size or more), so per-thread buffers drained by a
 * writer thread would buy nothing here.
 *
 * A killed process leaves only whole lines. A write to a file stops between page-sized
 * chunks when SIGKILL arrives (mm/filemap.c generic_perform_write checks
 * fatal_signal_pending), so a line must not cross a 4 KiB boundary of the file. In a file
 * of our own (the path names %p) lines go in order under `own_lock` (a thread killed between
 * choosing an offset and writing would leave a hole) and, where a line would cross a
 * boundary, an empty object "{   }" first fills the page (a pad line; readers skip objects
 * without "ev"). The lock is taken only on the placement path, never on the fast path. A
 * file that several processes share is written with O_APPEND, where the kernel picks the
 * offsets: there a kill can cut the last line. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#define TRACE_PAGE 4096

static int trace_fd = -1;
static bool own_file;          /* the path names %p: offsets are ours to reserve */
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t next_offset;   /* own_file: where the next line goes, under own_lock */
static const char spaces[TRACE_PAGE] = {[0 ... TRACE_PAGE - 1] = ' '};
static int reopen_in_child; /* set by the fork handler; the child's next event reopens */

static bool append(char *out, size_t size, size_t *used, const char *text)
{
    size_t len = strlen(text);
    if (*used + len >= size)
        return false;
    memcpy(out + *used, text, len);
    *used += len;
    out[*used] = '\0';
    return true;
}

/* The first of a NULL-terminated list of variables that is set: launchers name the same
 * thing differently (Slurm, PBS, LSF, Flux, Open MPI, MPICH, PMIx). */
static const char *first_env(const char *const *names)
{
    for (; *names; names++) {
        const char *value = cdm__env(*names);
        if (value)
            return value;
    }
    return NULL;
}

/* The job, rank and node-local rank of the process, as %j, %r and %l expand them; NULL when
 * no launcher set one. */
static const char *job_id(void)
{
    static const char *const names[] = {"SLURM_JOB_ID", "PBS_JOBID", "FLUX_JOB_ID", "LSB_JOBID",
                                        NULL};
    return first_env(names);
}

static const char *rank_id(void)
{
    static const char *const names[] = {"SLURM_PROCID",   "OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                        "FLUX_TASK_RANK", "PMIX_RANK",            NULL};
    return first_env(names);
}

static const char *local_rank_id(void)
{
    static const char *const names[] = {"SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK",
                                        "MPI_LOCALRANKID", "FLUX_TASK_LOCAL_ID", NULL};
    return first_env(names);
}

bool cdm__expand_template(const char *tpl, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *c = tpl; *c; c++) {
        char piece[256] = {c[0], 0};
        if (c[0] == '%' && c[1]) {
            switch (*++c) {
            case 'p': snprintf(piece, sizeof piece, "%d", (int)cdm__rt.pid); break;
            case 'h': {
                struct utsname name;
                snprintf(piece, sizeof piece, "%s", uname(&name) == 0 ? name.nodename : "host");
                break;
            }
            case 'e': snprintf(piece, sizeof piece, "%s", cdm__rt.program ? cdm__rt.program : "program"); break;
            case 'j': {
                const char *job = job_id();
                snprintf(piece, sizeof piece, "%s", job ? job : "local");
                break;
            }
            case 'r':
            case 'l': {
                const char *rank = *c == 'r' ? rank_id() : local_rank_id();
                snprintf(piece, sizeof piece, "%s", rank ? rank : "0");
                break;
            }
            case '%': break;
            default: piece[0] = '%', piece[1] = *c, piece[2] = '\0'; break;
            }
        }
        if (!append(out, size, &used, piece))
            return false;
    }
    return true;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF), 0 when the byte there starts none. */
static size_t utf8_length(const unsigned char *s)
{
    unsigned char lead = s[0];
    size_t n = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3
             : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    unsigned char low = lead == 0xe0 ? 0xa0 : lead == 0xf0 ? 0x90 : 0x80;
    unsigned char high = lead == 0xed ? 0x9f : lead == 0xf4 ? 0x8f : 0xbf;
    if (n && (s[1] < low || s[1] > high))
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return n;
}

/* Paths are bytes, JSON is UTF-8: a byte that starts no well-formed sequence is written as
 * the character of the same number (\u00XX), so that every line stays valid JSON and the
 * name reads back as its Latin-1 reading. */
char *cdm__json_escape(const char *s, char *buf, size_t size)
{
    size_t used = 0;
    for (const unsigned char *at = (const unsigned char *)s; *at && used + 7 < size;) {
        unsigned char c = *at;
        size_t n = c >= 0x80 ? utf8_length(at) : 1;
        if (c == '"' || c == '\\') {
            buf[used++] = '\\';
            buf[used++] = (char)c;
        } else if (c < 0x20 || n == 0) {
            used += (size_t)snprintf(buf + used, size - used, "\\u%04x", c);
        } else if (used + n + 1 < size) {
            memcpy(buf + used, at, n);
            used += n;
        } else {
            break;
        }
        at += n ? n : 1;
    }
    buf[used] = '\0';
    return buf;
}

char *cdm__rule_json(int rule, char *buf, size_t size)
{
    if (rule < 0 || rule >= cdm__rt.config.n_rules)
        snprintf(buf, size, "null");
    else
        snprintf(buf, size, "\"%s\"", cdm__rt.config.rules[rule].name);
    return buf;
}

/* Where the trace goes, for the message when writing it fails. */
static char trace_path[CDM_PATH_MAX];

/* A full disk, a quota, an I/O error: the program goes on, with one message. */
static void write_failed(int err)
{
    cdm__warn_once(CDM_WARN_TRACE_WRITE, "writing the trace to %s failed (%s): events from now "
                                         "on may be lost, and the program goes on; free space "
                                         "there or point `log =` elsewhere",
                   trace_path, cdm__errno_text(err));
}

/* "{" and the fields, each followed by a comma (trace_schema.h): the last comma becomes the
 * closing brace, and room is left for the newline. */
static void write_event(const char *ev, const char *fields, va_list ap)
{
    char line[4096];
    int head = snprintf(line, sizeof line, "{" CDM_TRACE_FORMAT(common),
                        (unsigned long long)(cdm__now_ns() - cdm__rt.start_ns), (int)cdm__rt.pid,
                        (int)cdm__tid(), ev);
    int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fields, ap);
    if (body < 0 || (size_t)(head + body) >= sizeof line - 1)
        body = snprintf(line + head, sizeof line - (size_t)head - 1,
                        "\"" CDM_TRACE_TRUNCATED "\":true,");
    size_t len = (size_t)(head + body);
    line[len - 1] = '}';
    if (!own_file) {
        line[len++] = '\n';
        int err = plat_write_all(trace_fd, line, len);
        if (err)
            write_failed(err);
        return;
    }
    /* [pad][line][tail]"\n": the pad fills the page when the line would cross it; the tail
     * keeps the next line from starting 1 or 2 bytes before a boundary, where no pad fits. */
    pthread_mutex_lock(&own_lock);
    uint64_t offset = next_offset;
    size_t room = TRACE_PAGE - offset % TRACE_PAGE;
    size_t pad = len + 1 > room ? room : 0;
    size_t left = TRACE_PAGE - (offset + pad + len + 1) % TRACE_PAGE;
    size_t tail = left < 3 ? left : 0;
    next_offset = offset + pad + len + tail + 1;
    struct iovec parts[6];
    int n = 0;
    if (pad >= 3) {
        parts[n++] = (struct iovec){(void *)"{", 1};
        parts[n++] = (struct iovec){(void *)spaces, pad - 3};
        parts[n++] = (struct iovec){(void *)"}\n", 2};
    } else if (pad) { /* only where an older file ended 1 or 2 bytes before a boundary */
        parts[n++] = (struct iovec){(void *)spaces, pad - 1};
        parts[n++] = (struct iovec){(void *)"\n", 1};
    }
    parts[n++] = (struct iovec){line, len};
    parts[n++] = (struct iovec){(void *)spaces, tail};
    parts[n++] = (struct iovec){(void *)"\n", 1};
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += parts[k].iov_len;
    ssize_t written;
    while ((written = pwritev(trace_fd, parts, n, (off_t)offset)) < 0 && errno == EINTR)
        ;
    int err = written < 0 ? errno : (size_t)written < total ? ENOSPC : 0;
    pthread_mutex_unlock(&own_lock);
    if (err)
        write_failed(err);
}

static __attribute__((format(printf, 2, 3))) void event(const char *ev, const char *fields, ...)
{
    va_list ap;
    va_start(ap, fields);
    write_event(ev, fields, ap);
    va_end(ap);
}

static void write_start(void)
{
    const struct cdm_config *config = &cdm__rt.config;
    char cdm[128], dram[128], path[CDM_PATH_MAX + 64], exe[CDM_PATH_MAX + 64], rules[1024];
    char program[512], job[128] = "null", rank[32] = "null", quoted_job[96], host[256];
    struct utsname name;
    size_t used = 0;
    if (job_id())
        snprintf(job, sizeof job, "\"%s\"", cdm__json_escape(job_id(), quoted_job, sizeof quoted_job));
    char *end;
    long number = rank_id() ? strtol(rank_id(), &end, 10) : -1;
    if (rank_id() && *rank_id() && !*end && number >= 0 && number <= INT32_MAX)
        snprintf(rank, sizeof rank, "%ld", number); /* else null: not a rank */
    rules[0] = '\0';
    for (int i = 0; i < config->n_rules; i++) {
        char quoted[CDM_NAME_MAX + 4];
        snprintf(quoted, sizeof quoted, "%s\"%s\"", i ? "," : "", config->rules[i].name);
        append(rules, sizeof rules, &used, quoted);
    }
    event("start", CDM_TRACE_FORMAT(start),
          CDM_VERSION, cdm__json_escape(cdm__rt.program, program, sizeof program),
          cdm__json_escape(cdm__rt.exe, exe, sizeof exe),
          (int)getppid(), cdm__json_escape(config->path[0] ? config->path : "(built-in)", path, sizeof path),
          (unsigned long long)config->settings.min_size, config->settings.dry_run ? "true" : "false",
          cdm__nodemask_format(&cdm__rt.topology.cdm, cdm, sizeof cdm),
          cdm__nodemask_format(&cdm__rt.topology.dram, dram, sizeof dram),
          cdm__track_name(cdm__tracker_backend()), cdm__tracker_sees(),
          (unsigned long long)config->settings.epoch_ns, rules,
          cdm__json_escape(uname(&name) == 0 ? name.nodename : "", host, sizeof host), job, rank);
}

static void open_trace(void)
{
    const char *tpl = cdm__rt.config.settings.log;
    char path[CDM_PATH_MAX];
    if (!tpl[0])
        return;
    if (!cdm__expand_template(tpl, path, sizeof path)) {
        cdm__warn_once(CDM_WARN_TRACE, "log path '%s' is too long once expanded: no trace is "
                                       "written; shorten it", tpl);
        return;
    }
    own_file = strstr(tpl, "%p") != NULL;
    memcpy(trace_path, path, sizeof trace_path);
    int err = plat_open_above_stdio(path, O_WRONLY | O_CREAT | (own_file ? 0 : O_APPEND), 0644,
                                    &trace_fd);
    if (err) {
        trace_fd = -1;
        cdm__warn_once(CDM_WARN_TRACE, "cannot write the trace to %s (%s): no trace is written; "
                                       "choose a writable path with CDMPLACE_LOG or `log =`",
                       path, cdm__errno_text(err));
        return;
    }
    if (own_file) {
        off_t end = lseek(trace_fd, 0, SEEK_END);
        next_offset = end > 0 ? (uint64_t)end : 0;
    }
    write_start();
}

void cdm__trace_open(void)
{
    open_trace();
}

bool cdm__trace_enabled(void)
{
    return trace_fd >= 0;
}

void cdm__trace_event(const char *ev, const char *fields, ...)
{
    if (__atomic_exchange_n(&reopen_in_child, 0, __ATOMIC_ACQ_REL)) {
        /* A template naming the pid gives the child a file of its own. */
        if (strstr(cdm__rt.config.settings.log, "%p")) {
            close(trace_fd);
            trace_fd = -1;
            open_trace();
        } else {
            write_start();
        }
    }
    if (trace_fd < 0)
        return;
    va_list ap;
    va_start(ap, fields);
    write_event(ev, fields, ap);
    va_end(ap);
}

void cdm__trace_message(const char *message)
{
    char text[600];
    cdm__trace(error, cdm__json_escape(message, text, sizeof text));
}

/* One rule's totals at exit (what the end-of-run report prints for it), so that
 * `cdmplace report` has the faults and the pages per node at exit, which no other event
 * carries. `rule` CDM_MAX_RULES is the allocations no rule matched. */
static void write_totals(int rule)
{
    static uint64_t per_node[CDM_MAX_NODES];
    const struct cdm_rule_stats *stats = &cdm__rule_stats[rule];
    char nodes[1024] = "";
    uint64_t absent = 0;
    size_t used = 0;
    if (rule < CDM_MAX_RULES) {
        int max_node = cdm__rt.topology.max_node;
        memset(per_node, 0, sizeof per_node);
        cdm__placement_pages(rule, per_node, max_node, &absent);
        for (int node = 0; node <= max_node; node++) {
            if (!per_node[node])
                continue;
            int n = snprintf(nodes + used, sizeof nodes - used, "%s\"%d\":%llu", used ? "," : "",
                             node, (unsigned long long)per_node[node]);
            if (n < 0 || (size_t)n >= sizeof nodes - used)
                break;
            used += (size_t)n;
        }
    }
    char name[CDM_NAME_MAX + 3];
    cdm__rule_json(rule, name, sizeof name);
    cdm__trace(totals, name, (unsigned long long)stats->allocations,
               (unsigned long long)stats->bytes, (unsigned long long)stats->peak_bytes,
               (unsigned long long)stats->live_bytes, (unsigned long long)stats->fallbacks,
               (unsigned long long)stats->failures, (unsigned long long)stats->errors,
               (unsigned long long)stats->pages_to_dram,
               (unsigned long long)stats->pages_to_policy, (unsigned long long)stats->faults,
               nodes, (unsigned long long)absent);
}

void cdm__trace_close(void)
{
    if (trace_fd < 0)
        return;
    for (int i = 0; i < cdm__rt.config.n_rules; i++)
        write_totals(i);
    if (cdm__rule_stats[CDM_MAX_RULES].allocations)
        write_totals(CDM_MAX_RULES);
    struct cdm_rule_stats sum;
    cdm__rule_stats_sum(&sum);
    struct cdm_kept_totals kept;
    cdm__placement_kept(&kept);
    cdm__trace(exit, (unsigned long long)sum.allocations, (unsigned long long)sum.bytes,
               (unsigned long long)sum.fallbacks, (unsigned long long)sum.failures,
               (unsigned long long)sum.errors,
               (unsigned long long)__atomic_load_n(&cdm__time_in_library_ns, __ATOMIC_RELAXED),
               cdm__tracker_state_peak(), kept.bytes);
    close(trace_fd);
    trace_fd = -1;
}

void cdm__trace_prepare_fork(void)
{
    pthread_mutex_lock(&own_lock);
}

void cdm__trace_after_fork(bool child)
{
    if (!child) {
        pthread_mutex_unlock(&own_lock);
        return;
    }
    pthread_mutex_init(&own_lock, NULL);
    if (trace_fd >= 0)
        __atomic_store_n(&reopen_in_child, 1, __ATOMIC_RELEASE);
}
