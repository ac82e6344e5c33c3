/* SPDX-License-Identifier: MIT */
/* The DAMON backend's platform layer: one kdamond of ours, driven through DAMON's sysfs
 * interface (Documentation/admin-guide/mm/damon/usage.rst), that samples which parts of the
 * tracked buffers are accessed, reads and writes alike.
 *
 * Contract (as platform.c): every function returns 0 or a positive errno; no allocation and
 * no stdio, only open/read/write/close of sysfs files with stack buffers, because the tracker
 * thread calls this while a program thread may hold the malloc lock. One caller at a time.
 *
 * What each kernel has, and what this uses of it:
 *   5.18  /sys/kernel/mm/damon/admin (CONFIG_DAMON_SYSFS): kdamonds, contexts, targets,
 *         initial regions, schemes with their access pattern, state "on" / "off".
 *   5.19  operations "fvaddr" (fixed virtual ranges) and state "commit" (new inputs for a
 *         running kdamond). With "vaddr" the kdamond replaces the given regions, every
 *         update_us, with three regions spanning the whole address space; "fvaddr" keeps to
 *         the buffers, so every region it reports is one of ours.
 *   6.2   schemes/N/tried_regions/ and state "update_schemes_tried_regions": the regions a
 *         scheme was tried on, with nr_accesses and age. Nothing before 6.2 reads regions
 *         back through sysfs (5.18's scheme stats are sums), so this is the minimum.
 * Later kernels add files (apply_interval_us 6.7, quota goals, filters...) whose defaults
 * leave this setup unchanged. From 6.7 to 6.13 the update gives up after two aggregations of
 * wall time; a kdamond running late then reports no region at all (EAGAIN below).
 *
 * That read-back is slow: until 6.14 the writer of "state" sleeps 100 ms at a time until the
 * kdamond has answered, and the snapshot it gets was taken at the first aggregation's end
 * after the request, up to 100 ms before the write returns. Where tracefs is mounted
 * (/sys/kernel/tracing; systemd mounts it), the kdamond's damon_aggregated trace event
 * (5.15) delivers every region at the end of every aggregation instead, into a tracefs
 * instance of ours (its own ring buffer, enabled for that event only), read from its
 * trace_pipe as it comes. The stat scheme stays, for the read-back when the events are
 * not there.
 *
 * What DAMON sees: a page is accessed when a page walk set its accessed bit, which DAMON
 * clears at each sample without flushing the TLB. A buffer larger than the TLB's reach (a few
 * MiB of 4 KiB pages) is walked again and again and seen well; a page whose translation stays
 * cached is seen again only once the TLB forgets it (an emulated CPU, as in QEMU's TCG, may
 * never forget it).
 *
 * The interface is one per machine: nr_kdamonds cannot change while any kdamond runs, and
 * changing it throws away every kdamond's settings. So this uses DAMON only when nobody has a
 * kdamond configured, creates kdamonds/0 for itself and removes it at stop. A process that
 * forks keeps it in the parent: the child never stops what it did not start. */
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ the sysfs files */

#define DAMON_ADMIN "/sys/kernel/mm/damon/admin"
#define DAMON_NR_KDAMONDS DAMON_ADMIN "/kdamonds/nr_kdamonds"
#define DAMON_KDAMOND DAMON_ADMIN "/kdamonds/0" /* ours: created when there was none */
#define DAMON_STATE DAMON_KDAMOND "/state"
#define DAMON_NR_CONTEXTS DAMON_KDAMOND "/contexts/nr_contexts"
#define DAMON_CONTEXT DAMON_KDAMOND "/contexts/0"
#define DAMON_OPERATIONS DAMON_CONTEXT "/operations"
#define DAMON_SAMPLE_US DAMON_CONTEXT "/monitoring_attrs/intervals/sample_us"
#define DAMON_AGGR_US DAMON_CONTEXT "/monitoring_attrs/intervals/aggr_us"
#define DAMON_UPDATE_US DAMON_CONTEXT "/monitoring_attrs/intervals/update_us"
#define DAMON_MIN_NR_REGIONS DAMON_CONTEXT "/monitoring_attrs/nr_regions/min"
#define DAMON_MAX_NR_REGIONS DAMON_CONTEXT "/monitoring_attrs/nr_regions/max"
#define DAMON_NR_TARGETS DAMON_CONTEXT "/targets/nr_targets"
#define DAMON_TARGET DAMON_CONTEXT "/targets/0"
#define DAMON_PID_TARGET DAMON_TARGET "/pid_target"
#define DAMON_NR_REGIONS DAMON_TARGET "/regions/nr_regions"
#define DAMON_REGION DAMON_TARGET "/regions/%d/%s" /* index, DAMON_START or DAMON_END */
#define DAMON_NR_SCHEMES DAMON_CONTEXT "/schemes/nr_schemes"
#define DAMON_SCHEME DAMON_CONTEXT "/schemes/0"
#define DAMON_ACTION DAMON_SCHEME "/action"
#define DAMON_PATTERN DAMON_SCHEME "/access_pattern/%s/%s" /* DAMON_PATTERN_*, DAMON_MIN/MAX */
#define DAMON_TRIED_REGIONS DAMON_SCHEME "/tried_regions"          /* Linux 6.2 */
#define DAMON_TRIED_REGION DAMON_TRIED_REGIONS "/%d/%s" /* index, DAMON_START... DAMON_AGE */

#define DAMON_START "start"
#define DAMON_END "end"
#define DAMON_NR_ACCESSES "nr_accesses"
#define DAMON_AGE "age"
#define DAMON_PATTERN_SIZE "sz"
#define DAMON_MIN "min"
#define DAMON_MAX "max"

/* Words written to the files above. */
#define DAMON_OPS_FIXED_RANGES "fvaddr"
#define DAMON_ACTION_STAT "stat"
#define DAMON_STATE_ON "on"
#define DAMON_STATE_OFF "off"
#define DAMON_STATE_COMMIT "commit"
#define DAMON_STATE_UPDATE_TRIED "update_schemes_tried_regions"

/* At least 100 regions (the interface's default is 10): regions start finer, so a hot set
 * that moves is told apart within an epoch or two instead of after several rounds of
 * splitting; at most 1000 (the default) so that a sample round stays cheap. */
#define DAMON_MIN_REGIONS 100
#define DAMON_MAX_REGIONS 1000
/* update_us only drives "vaddr"'s re-reading of the memory map, which "fvaddr" has none of;
 * ten aggregations, as in usage.rst's examples (5 ms, 100 ms, 1 s). */
#define DAMON_UPDATE_AGGREGATIONS 10

/* tracefs: an instance per process, named with its pid, so that one left behind by a process
 * that was killed can be told from a live one's. */
#define TRACEFS_INSTANCES "/sys/kernel/tracing/instances"
#define TRACE_INSTANCE_PREFIX "cdmplace."
#define TRACE_EVENT_ENABLE "events/damon/damon_aggregated/enable"
#define TRACE_EVENT_FORMAT "/sys/kernel/tracing/events/damon/damon_aggregated/format"
/* Per CPU: an aggregation of 1000 regions is some 50 KiB of events; the tracker reads each
 * as it comes. */
#define TRACE_BUFFER_KB 256

/* Each sysfs store takes DAMON's lock with a trylock and answers EBUSY when someone else
 * holds it, which the kdamond itself does while it fills tried_regions for a reader. */
#define DAMON_BUSY_RETRIES 100
#define DAMON_BUSY_WAIT_NS 10000000L /* 10 ms: 1 s in all */

static struct {
    pid_t owner;  /* the process that created kdamonds/0; 0: none */
    bool running; /* its state is "on": off while no range is monitored */
    int events;   /* our instance's trace_pipe; -1: no events, regions are read back */
} damon = {.events = -1};

static bool started_here(void)
{
    return damon.owner != 0 && damon.owner == getpid();
}

/* ------------------------------------------------------------------ file access */

static void pause_busy(void)
{
    struct timespec wait = {.tv_sec = 0, .tv_nsec = DAMON_BUSY_WAIT_NS};
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR)
        ;
}

/* One write(2) of `text`: a sysfs store sees the whole value or nothing. */
static int write_text(const char *path, const char *text)
{
    int err = 0;
    for (int attempt = 0; attempt < DAMON_BUSY_RETRIES; attempt++) {
        int fd;
        if ((err = plat_open_above_stdio(path, O_WRONLY, 0, &fd)) != 0)
            return err;
        err = plat_write_all(fd, text, strlen(text));
        close(fd);
        if (err != EBUSY)
            return err;
        pause_busy();
    }
    return err;
}

static int write_number(const char *path, uint64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    return write_text(path, text);
}

/* The file's first line, newline removed. */
static int read_text(const char *path, char *buf, size_t size)
{
    int err = cdm__sysfs_read(path, buf, size);
    if (!err)
        buf[strcspn(buf, "\n")] = '\0';
    return err;
}

/* The decimal number at *at, which moves past it; 0 when there is none. */
static uint64_t parse_number(const char **at)
{
    uint64_t number = 0;
    cdm__parse_number(at, &number);
    return number;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------ probe */

static void explain(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void explain(char *why, size_t why_size, const char *fmt, ...)
{
    if (!why || !why_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
}

/* Whether the running kernel is at least major.minor, from uname's release. */
static bool kernel_at_least(int major, int minor)
{
    struct utsname name;
    if (uname(&name) != 0)
        return false;
    const char *at = name.release;
    uint64_t have_major = parse_number(&at), have_minor = 0;
    if (*at == '.')
        at++, have_minor = parse_number(&at);
    return have_major > (uint64_t)major ||
           (have_major == (uint64_t)major && have_minor >= (uint64_t)minor);
}

/* The pid of the process a left-over kdamond of ours watched, or 0: the one kdamond there
 * is off and has our shape (fixed virtual ranges, a "stat" scheme) and its target is gone. A
 * process of ours killed before it could remove its kdamond leaves one, which nobody uses
 * and which would keep DAMON from anyone else. */
static pid_t left_over(void)
{
    char state[32], operations[32], action[32];
    uint64_t kdamonds = 0, pid = 0;
    if (cdm__sysfs_number(DAMON_NR_KDAMONDS, &kdamonds) || kdamonds != 1 ||
        read_text(DAMON_STATE, state, sizeof state) || strcmp(state, DAMON_STATE_OFF) ||
        read_text(DAMON_OPERATIONS, operations, sizeof operations) ||
        strcmp(operations, DAMON_OPS_FIXED_RANGES) ||
        read_text(DAMON_ACTION, action, sizeof action) ||
        strcmp(action, DAMON_ACTION_STAT) || cdm__sysfs_number(DAMON_PID_TARGET, &pid) ||
        pid == 0 || pid > INT32_MAX || (pid_t)pid == getpid())
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH ? (pid_t)pid : 0;
}

int cdm__damon_probe(char *why, size_t why_size)
{
    explain(why, why_size, "%s", "");
    if (!exists(DAMON_ADMIN)) {
        explain(why, why_size, "the kernel has no DAMON sysfs interface (needs a kernel built "
                               "with CONFIG_DAMON_SYSFS and CONFIG_DAMON_VADDR, Linux 6.2 or "
                               "later for reading regions back)");
        return EOPNOTSUPP;
    }
    /* The files of 6.2 appear only inside a scheme, which a probe must not create. */
    if (!kernel_at_least(6, 2)) {
        explain(why, why_size, "DAMON cannot report regions on this kernel (schemes' "
                               "tried_regions needs Linux 6.2)");
        return EOPNOTSUPP;
    }
    if (faccessat(AT_FDCWD, DAMON_NR_KDAMONDS, W_OK, AT_EACCESS) != 0) {
        int err = errno;
        if (err == EROFS)
            explain(why, why_size, "/sys is mounted read-only here (a container?): DAMON needs "
                                   "a writable /sys/kernel/mm/damon");
        else
            explain(why, why_size, "DAMON needs root (its sysfs files are root's, mode 0600)");
        return err;
    }
    uint64_t kdamonds = 0;
    int err = cdm__sysfs_number(DAMON_NR_KDAMONDS, &kdamonds);
    if (err) {
        explain(why, why_size, "cannot read %s (errno %d)", DAMON_NR_KDAMONDS, err);
        return err;
    }
    if (kdamonds > 0 && !started_here() && left_over())
        return 0; /* taken over at start */
    if (kdamonds > 0) {
        /* One interface per machine: creating ours would discard the other user's. */
        if (started_here())
            explain(why, why_size, "DAMON is in use by this process already");
        else
            explain(why, why_size, "DAMON is in use by another user: %llu kdamond(s) "
                                   "configured (%s); DAMON serves one user at a time (when "
                                   "that user is gone, writing off to %s and 0 to %s frees it)",
                    (unsigned long long)kdamonds, DAMON_NR_KDAMONDS, DAMON_STATE,
                    DAMON_NR_KDAMONDS);
        return EBUSY;
    }
    return 0;
}

/* ------------------------------------------------------------------ ranges */

/* Every range non-empty, no two overlapping. */
static int check_ranges(const uintptr_t *starts, const uintptr_t *ends, int n_ranges)
{
    if (n_ranges < 0 || n_ranges > CDM_DAMON_MAX_RANGES || (n_ranges && (!starts || !ends)))
        return EINVAL;
    for (int i = 0; i < n_ranges; i++) {
        if (starts[i] >= ends[i])
            return EINVAL;
        for (int j = i + 1; j < n_ranges; j++)
            if (starts[i] < ends[j] && starts[j] < ends[i])
                return EINVAL;
    }
    return 0;
}

/* The kernel wants the regions in address order (region N ends at or before N+1 starts).
 * The caller's ranges come in any order: pick the next one by its start, without a copy. */
static int next_range(const uintptr_t *starts, int n_ranges, int previous)
{
    int next = -1;
    for (int i = 0; i < n_ranges; i++)
        if ((previous < 0 || starts[i] > starts[previous]) &&
            (next < 0 || starts[i] < starts[next]))
            next = i;
    return next;
}

/* The target's regions, in the sysfs files: the kdamond reads them at "on" or "commit". */
static int write_ranges(const uintptr_t *starts, const uintptr_t *ends, int n_ranges)
{
    int err = write_number(DAMON_NR_REGIONS, (uint64_t)n_ranges);
    char path[256];
    for (int n = 0, i = -1; !err && n < n_ranges; n++) {
        i = next_range(starts, n_ranges, i);
        snprintf(path, sizeof path, DAMON_REGION, n, DAMON_START);
        err = write_number(path, starts[i]);
        snprintf(path, sizeof path, DAMON_REGION, n, DAMON_END);
        if (!err)
            err = write_number(path, ends[i]);
    }
    return err;
}

/* ------------------------------------------------------------------ events */

/* The regions of the aggregation being read, until its last one has come. */
static struct {
    char line[256]; /* a line that a read cut */
    size_t used;
    uint64_t at_us;     /* the time stamp of its first region */
    unsigned expected;  /* its nr_regions */
    unsigned n;
    struct {
        uintptr_t start, end;
        unsigned nr_accesses, age;
    } regions[DAMON_MAX_REGIONS];
} incoming;

/* Aggregations closer than this belong to one: the kdamond traces all of an aggregation's
 * regions in one loop, and the next aggregation is an aggregation interval later. */
static uint64_t same_aggregation_us;

/* TRACEFS_INSTANCES/cdmplace.PID[/file]. */
static void instance_path(char *path, size_t size, pid_t pid, const char *file)
{
    snprintf(path, size, "%s/%s%d%s%s", TRACEFS_INSTANCES, TRACE_INSTANCE_PREFIX, (int)pid,
             file ? "/" : "", file ? file : "");
}

/* The event off first: a process still reading cannot be there, ours is closed. */
static void remove_instance(pid_t pid)
{
    char path[PATH_MAX];
    instance_path(path, sizeof path, pid, TRACE_EVENT_ENABLE);
    write_text(path, "0");
    instance_path(path, sizeof path, pid, NULL);
    rmdir(path);
}

/* Instances whose process is gone (killed before it could remove its own): each holds a
 * ring buffer per CPU. getdents64 and not opendir, which allocates. */
static void remove_stale_instances(void)
{
    int fd;
    if (plat_open_above_stdio(TRACEFS_INSTANCES, O_RDONLY | O_DIRECTORY, 0, &fd) != 0)
        return;
    char entries[4096];
    ssize_t n;
    size_t prefix = strlen(TRACE_INSTANCE_PREFIX);
    while ((n = getdents64(fd, entries, sizeof entries)) > 0) {
        for (ssize_t at = 0; at < n;) {
            const struct dirent64 *entry = (const struct dirent64 *)(entries + at);
            at += entry->d_reclen;
            if (strncmp(entry->d_name, TRACE_INSTANCE_PREFIX, prefix) != 0)
                continue;
            const char *digits = entry->d_name + prefix;
            uint64_t pid = strlen(digits) < 10 ? parse_number(&digits) : 0; /* pids: 7 digits */
            if (!*digits && pid > 0 && (pid_t)pid != getpid() && kill((pid_t)pid, 0) != 0 &&
                errno == ESRCH)
                remove_instance((pid_t)pid);
        }
    }
    close(fd);
}

bool cdm__damon_events_possible(void)
{
    return faccessat(AT_FDCWD, TRACE_EVENT_FORMAT, R_OK, AT_EACCESS) == 0 &&
           faccessat(AT_FDCWD, TRACEFS_INSTANCES, W_OK, AT_EACCESS) == 0;
}

/* Our instance, its event on, its trace_pipe open; without, damon.events stays -1. */
static void open_events(uint64_t aggr_us)
{
    if (!cdm__damon_events_possible())
        return;
    remove_stale_instances();
    char path[PATH_MAX];
    instance_path(path, sizeof path, getpid(), NULL);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) /* EEXIST: a killed process had our pid */
        return;
    instance_path(path, sizeof path, getpid(), "buffer_size_kb");
    write_number(path, TRACE_BUFFER_KB); /* the default (1.4 MiB a CPU) works too */
    instance_path(path, sizeof path, getpid(), TRACE_EVENT_ENABLE);
    int err = write_text(path, "1");
    instance_path(path, sizeof path, getpid(), "trace_pipe");
    if (err || plat_open_above_stdio(path, O_RDONLY | O_NONBLOCK, 0, &damon.events) != 0) {
        damon.events = -1;
        remove_instance(getpid());
        return;
    }
    incoming.used = incoming.n = 0;
    same_aggregation_us = aggr_us / 2;
}

static void close_events(void)
{
    if (damon.events < 0)
        return;
    close(damon.events);
    damon.events = -1;
    remove_instance(getpid());
}

int cdm__damon_events_fd(void)
{
    return started_here() ? damon.events : -1;
}

/* `prefix` then a number at *at, past both; false when the text is not that. */
static bool field(const char **at, const char *prefix, uint64_t *value)
{
    size_t len = strlen(prefix);
    if (strncmp(*at, prefix, len) != 0 || (*at)[len] < '0' || (*at)[len] > '9')
        return false;
    *at += len;
    *value = parse_number(at);
    return true;
}

#define EVENT_TAG ": damon_aggregated: "

/* One line of trace_pipe: the common fields, then the event's format, "start-end:
 * nr_accesses age" last (one line here):
 *   kdamond.0-95 [001] ..... 123.456789: damon_aggregated: target_id=0 nr_regions=120
 *       140737488355328-140737488617472: 5 3
 * Anything else ("CPU:1 [LOST 12 EVENTS]") loses the aggregation being read. Returns 1
 * when the line completed an aggregation, whose regions went to `seen`. */
static int take_line(const char *line, damon_seen_fn *seen, void *arg)
{
    const char *event = strstr(line, EVENT_TAG), *at = event;
    if (!event) {
        incoming.n = 0;
        return 0;
    }
    while (at > line && at[-1] != ' ')
        at--;
    uint64_t seconds = parse_number(&at), micros = 0;
    uint64_t target, expected, start, end, nr_accesses, age;
    if (*at == '.')
        at++, micros = parse_number(&at);
    uint64_t at_us = seconds * 1000000 + micros;
    at = event + strlen(EVENT_TAG);
    if (!field(&at, "target_id=", &target) || !field(&at, " nr_regions=", &expected) ||
        !field(&at, " ", &start) || !field(&at, "-", &end) || !field(&at, ": ", &nr_accesses) ||
        !field(&at, " ", &age)) {
        incoming.n = 0;
        return 0;
    }
    /* A region of another aggregation than the one being read: that one lost regions. */
    if (incoming.n &&
        (expected != incoming.expected || at_us > incoming.at_us + same_aggregation_us))
        incoming.n = 0;
    if (incoming.n == 0) {
        incoming.at_us = at_us;
        incoming.expected = (unsigned)expected;
    }
    if (incoming.expected > DAMON_MAX_REGIONS || incoming.expected == 0) {
        incoming.n = 0;
        return 0;
    }
    incoming.regions[incoming.n].start = (uintptr_t)start;
    incoming.regions[incoming.n].end = (uintptr_t)end;
    incoming.regions[incoming.n].nr_accesses = (unsigned)nr_accesses;
    incoming.regions[incoming.n].age = (unsigned)age;
    if (++incoming.n < incoming.expected)
        return 0;
    for (unsigned i = 0; i < incoming.n; i++)
        seen(incoming.regions[i].start, incoming.regions[i].end, incoming.regions[i].nr_accesses,
             incoming.regions[i].age, arg);
    incoming.n = 0;
    return 1;
}

int cdm__damon_read_events(damon_seen_fn *seen, void *arg)
{
    if (cdm__damon_events_fd() < 0)
        return 0;
    int complete = 0;
    char chunk[4096];
    for (;;) {
        ssize_t got = read(damon.events, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) /* EAGAIN: all read */
            return complete;
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] != '\n') {
                if (incoming.used < sizeof incoming.line - 1)
                    incoming.line[incoming.used++] = chunk[i];
                continue;
            }
            incoming.line[incoming.used] = '\0';
            incoming.used = 0;
            complete += take_line(incoming.line, seen, arg);
        }
    }
}

void cdm__damon_after_fork_child(void)
{
    /* The parent's: its instance stays, and is the parent's to remove. */
    if (damon.events >= 0)
        close(damon.events);
    damon.events = -1;
}

/* ------------------------------------------------------------------ start, stop */

/* A "stat" scheme does nothing to the memory; it is there because DAMON reports regions
 * only as a scheme's tried regions. Its access pattern starts at 0..0 on every axis, which
 * matches nothing: open it to every size, access count and age. */
static int write_scheme(void)
{
    static const char *const axes[] = {DAMON_PATTERN_SIZE, DAMON_NR_ACCESSES, DAMON_AGE};
    /* sz is an unsigned long, nr_accesses and age unsigned ints in the kernel. */
    static const uint64_t maxima[] = {UINT64_MAX, UINT32_MAX, UINT32_MAX};
    int err = write_number(DAMON_NR_SCHEMES, 1);
    if (!err)
        err = write_text(DAMON_ACTION, DAMON_ACTION_STAT);
    char path[256];
    for (size_t i = 0; !err && i < sizeof axes / sizeof axes[0]; i++) {
        snprintf(path, sizeof path, DAMON_PATTERN, axes[i], DAMON_MIN);
        err = write_number(path, 0);
        snprintf(path, sizeof path, DAMON_PATTERN, axes[i], DAMON_MAX);
        if (!err)
            err = write_number(path, maxima[i]);
    }
    if (!err && !exists(DAMON_TRIED_REGIONS))
        err = EOPNOTSUPP; /* before 6.2 */
    return err;
}

/* Everything below kdamonds/0 but its state. */
static int configure(pid_t pid, uint64_t sample_us, uint64_t aggr_us, const uintptr_t *starts,
                     const uintptr_t *ends, int n_ranges)
{
    int err = write_number(DAMON_NR_CONTEXTS, 1);
    if (!err && (err = write_text(DAMON_OPERATIONS, DAMON_OPS_FIXED_RANGES)) == EINVAL)
        err = EOPNOTSUPP; /* before 5.19, or no CONFIG_DAMON_VADDR */
    if (!err)
        err = write_number(DAMON_SAMPLE_US, sample_us);
    if (!err)
        err = write_number(DAMON_AGGR_US, aggr_us);
    if (!err)
        err = write_number(DAMON_UPDATE_US, aggr_us * DAMON_UPDATE_AGGREGATIONS);
    if (!err)
        err = write_number(DAMON_MIN_NR_REGIONS, DAMON_MIN_REGIONS);
    if (!err)
        err = write_number(DAMON_MAX_NR_REGIONS, DAMON_MAX_REGIONS);
    if (!err)
        err = write_number(DAMON_NR_TARGETS, 1);
    if (!err)
        err = write_number(DAMON_PID_TARGET, (uint64_t)pid);
    if (!err)
        err = write_ranges(starts, ends, n_ranges);
    if (!err)
        err = write_scheme();
    return err;
}

/* Turn kdamonds/0 off and remove it. */
static int remove_kdamond(void)
{
    /* "off" fails when it is off already (never started, or its target exited). */
    write_text(DAMON_STATE, DAMON_STATE_OFF);
    return write_number(DAMON_NR_KDAMONDS, 0);
}

int cdm__damon_start(pid_t pid, uint64_t sample_us, uint64_t aggr_us, const uintptr_t *starts,
                     const uintptr_t *ends, int n_ranges)
{
    if (started_here())
        return EBUSY;
    if (pid <= 0 || sample_us == 0 || aggr_us < sample_us)
        return EINVAL;
    int err = check_ranges(starts, ends, n_ranges);
    if (err)
        return err;
    uint64_t kdamonds = 0;
    if ((err = cdm__sysfs_number(DAMON_NR_KDAMONDS, &kdamonds)) != 0)
        return err == ENOENT ? EOPNOTSUPP : err;
    pid_t gone = kdamonds > 0 ? left_over() : 0;
    if (kdamonds > 0 && !gone)
        return EBUSY; /* someone else's: changing nr_kdamonds would discard theirs */
    if (gone) {
        cdm__debug(1, "DAMON: taking over the kdamond left by process %d, which is gone",
                   (int)gone);
        if ((err = remove_kdamond()) != 0)
            return err;
    }
    if ((err = write_number(DAMON_NR_KDAMONDS, 1)) != 0)
        return err;
    damon.owner = getpid();
    err = configure(pid, sample_us, aggr_us, starts, ends, n_ranges);
    if (!err)
        open_events(aggr_us);
    if (!err && n_ranges > 0)
        err = write_text(DAMON_STATE, DAMON_STATE_ON);
    damon.running = !err && n_ranges > 0;
    if (err)
        close_events();
    if (err && remove_kdamond() == 0)
        damon.owner = 0;
    return err;
}

void cdm__damon_stop(void)
{
    if (!started_here())
        return;
    close_events();
    int err = remove_kdamond();
    if (err) {
        /* errno as a number: strerror may translate, and a catalog loads with malloc. */
        cdm__debug(1, "DAMON: our kdamond could not be removed (errno %d); writing 0 to %s "
                      "as root frees the interface",
                   err, DAMON_NR_KDAMONDS);
        return; /* still ours: a later stop tries again */
    }
    damon.owner = 0;
    damon.running = false;
}

/* ------------------------------------------------------------------ running */

int cdm__damon_set_ranges(const uintptr_t *starts, const uintptr_t *ends, int n_ranges)
{
    if (!started_here())
        return EINVAL;
    int err = check_ranges(starts, ends, n_ranges);
    if (err)
        return err;
    /* A commit without regions keeps the old ones (damon_commit_target_regions: "If @src
     * has no region, @dst keeps current regions"; seen on 6.12). With nothing to monitor
     * the kdamond is turned off instead, and stays ours, configured, until ranges return. */
    if (n_ranges == 0) {
        if (damon.running && (err = write_text(DAMON_STATE, DAMON_STATE_OFF)) != 0)
            return err;
        damon.running = false;
        return 0;
    }
    if ((err = write_ranges(starts, ends, n_ranges)) != 0)
        return err;
    /* start needed fvaddr (5.19), so "commit" (5.19) is there. "on" builds the kdamond's
     * inputs anew from the files, as start did. */
    err = write_text(DAMON_STATE, damon.running ? DAMON_STATE_COMMIT : DAMON_STATE_ON);
    damon.running = damon.running || !err;
    return err;
}

int cdm__damon_check(void)
{
    if (!started_here() || !damon.running)
        return 0;
    char state[16];
    int err = read_text(DAMON_STATE, state, sizeof state);
    if (err)
        return err;
    return strcmp(state, DAMON_STATE_ON) ? ESRCH : 0; /* turned off behind our back */
}

int cdm__damon_collect(damon_seen_fn *seen, void *arg)
{
    if (!started_here())
        return EINVAL;
    if (!damon.running)
        return 0; /* no range monitored: nothing to report */
    /* The store returns once the kdamond has refilled tried_regions: it starts at the end of
     * an aggregation and finishes when the scheme has been applied once more. */
    int err = write_text(DAMON_STATE, DAMON_STATE_UPDATE_TRIED);
    if (err)
        return cdm__damon_check() == ESRCH ? ESRCH : err;
    char path[256];
    for (int n = 0;; n++) {
        uint64_t start, end, nr_accesses, age;
        snprintf(path, sizeof path, DAMON_TRIED_REGION, n, DAMON_START);
        if ((err = cdm__sysfs_number(path, &start)) == ENOENT)
            /* Past the last region. None at all, although the scheme matches every region of
             * a running kdamond, is the update's timeout (6.7 to 6.13: two aggregations of
             * wall time, which a kdamond running late misses): no news, not no accesses. */
            return n == 0 ? EAGAIN : 0;
        if (err)
            return err;
        snprintf(path, sizeof path, DAMON_TRIED_REGION, n, DAMON_END);
        err = cdm__sysfs_number(path, &end);
        snprintf(path, sizeof path, DAMON_TRIED_REGION, n, DAMON_NR_ACCESSES);
        if (!err)
            err = cdm__sysfs_number(path, &nr_accesses);
        snprintf(path, sizeof path, DAMON_TRIED_REGION, n, DAMON_AGE);
        if (!err)
            err = cdm__sysfs_number(path, &age);
        if (err)
            return err;
        seen((uintptr_t)start, (uintptr_t)end, (unsigned)nr_accesses, (unsigned)age, arg);
    }
}
