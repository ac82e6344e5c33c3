/* SPDX-License-Identifier: MIT */
/* DAMON through its sysfs interface (preload/damon.c), as root in the guest, where nobody
 * else has a kdamond. Not a preloaded test: it compiles preload/damon.c with the platform,
 * log and env files and calls it directly.
 *
 * What it shows: reads, which the userfaultfd trackers cannot see, make DAMON's regions
 * over the read part of a buffer hot while the untouched part stays cold; the monitored
 * ranges change while the kdamond runs; stop leaves the machine's interface as it found it;
 * a kdamond someone else configured makes the probe and start refuse. On a kernel without
 * DAMON (Debian's 6.1) the probe names what is missing, and the tests that need DAMON skip.
 *
 * DAMON's interface is one per machine: run one test at a time (-j1). The guest emulates
 * every instruction, so waits have deadlines instead of expected durations. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define MiB (1024ul * 1024)
/* The kernel's ABI, spelt out here so the test checks it independently of damon.c. */
#define ADMIN "/sys/kernel/mm/damon/admin"
#define NR_KDAMONDS ADMIN "/kdamonds/nr_kdamonds"
#define KDAMOND_PID ADMIN "/kdamonds/0/pid"
#define KDAMOND_STATE ADMIN "/kdamonds/0/state"
/* tracefs, mounted by the guest's init as systemd mounts it on a real machine. */
#define TRACE_INSTANCES "/sys/kernel/tracing/instances"

#define SAMPLE_US 5000
#define AGGR_US 100000
/* Hot and cold in samples per aggregation (at most AGGR_US / SAMPLE_US = 20). */
#define HOT_AT_LEAST 5.0
#define COLD_AT_MOST 1.0
#define DEADLINE_S 120.0 /* for a state the host reaches in about a second */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static bool damon_present(void)
{
    return access(ADMIN, F_OK) == 0;
}

static void need_damon(void)
{
    if (!damon_present())
        cr_skip_test("this kernel has no DAMON sysfs interface (CONFIG_DAMON_SYSFS is off)");
}

static bool read_line(const char *path, char *buf, size_t size)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return false;
    bool ok = fgets(buf, (int)size, file) != NULL;
    fclose(file);
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

static long read_long(const char *path)
{
    char line[64];
    cr_assert(read_line(path, line, sizeof line), "cannot read %s: %s", path, strerror(errno));
    return strtol(line, NULL, 10);
}

static int write_line(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    if (!file)
        return errno;
    fputs(text, file);
    return fclose(file) == 0 ? 0 : errno;
}

/* Kernel threads named kdamond.* (DAMON's workers) anywhere on the machine. */
static int kdamond_threads(void)
{
    DIR *proc = opendir("/proc");
    cr_assert_not_null(proc);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(proc)) != NULL;) {
        char path[300], comm[32];
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/comm", entry->d_name);
        count += read_line(path, comm, sizeof comm) && strncmp(comm, "kdamond", 7) == 0;
    }
    closedir(proc);
    return count;
}

static void *map_touched(size_t size)
{
    unsigned char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(buffer, MAP_FAILED);
    /* Base pages: DAMON checks one page's accessed bit per region and sample. */
    cr_assert_eq(madvise(buffer, size, MADV_NOHUGEPAGE), 0);
    memset(buffer, 1, size); /* every page present; afterwards only reads */
    return buffer;
}

/* ------------------------------------------------------------------ a reader thread */

/* Reads one word per cache line of `span` over and over; the span can change under it.
 *
 * DAMON sees an access when the CPU's page walk sets a page's accessed bit, which DAMON
 * clears at each sample without flushing the TLB: a page whose translation stays cached is
 * read unseen. A real CPU's TLB covers a few MiB of 4 KiB pages, so reading 16 MiB walks the
 * page tables again and again; the emulated CPU of the guest caches every translation until
 * a flush. After each pass the reader therefore discards a scratch area of more pages than
 * Linux flushes one by one (33 on x86), which flushes this process's whole TLB, as a real
 * CPU's smaller TLB would have forgotten. */
#define SCRATCH_PAGES 64
static struct {
    const unsigned char *spans[2];
    size_t sizes[2];
    int current; /* index into spans */
    bool stop;
    uint64_t passes;
    pthread_t thread;
    unsigned char *scratch;
} reader;

static void forget_translations(void)
{
    size_t size = SCRATCH_PAGES * 4096;
    memset(reader.scratch, 1, size);
    madvise(reader.scratch, size, MADV_DONTNEED);
}

static void *read_loop(void *unused)
{
    uint64_t sum = 0;
    while (!__atomic_load_n(&reader.stop, __ATOMIC_RELAXED)) {
        int i = __atomic_load_n(&reader.current, __ATOMIC_ACQUIRE);
        const volatile unsigned char *span = reader.spans[i];
        for (size_t off = 0; off < reader.sizes[i]; off += 64)
            sum += span[off];
        forget_translations();
        __atomic_fetch_add(&reader.passes, 1, __ATOMIC_RELAXED);
    }
    return (void *)(uintptr_t)sum;
}

static void reader_start(const void *span, size_t size)
{
    reader.spans[0] = span;
    reader.sizes[0] = size;
    reader.current = 0;
    reader.stop = false;
    reader.scratch = mmap(NULL, SCRATCH_PAGES * 4096, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(reader.scratch, MAP_FAILED);
    cr_assert_eq(pthread_create(&reader.thread, NULL, read_loop, NULL), 0);
}

static void reader_switch(const void *span, size_t size)
{
    reader.spans[1] = span;
    reader.sizes[1] = size;
    __atomic_store_n(&reader.current, 1, __ATOMIC_RELEASE);
}

static void reader_stop(void)
{
    __atomic_store_n(&reader.stop, true, __ATOMIC_RELAXED);
    pthread_join(reader.thread, NULL);
    munmap(reader.scratch, SCRATCH_PAGES * 4096);
}

/* ------------------------------------------------------------------ snapshots */

struct region {
    uintptr_t start, end;
    unsigned nr_accesses, age;
};
static struct {
    struct region regions[4096];
    int n;
    bool overflow;
} snap;

static void keep(uintptr_t start, uintptr_t end, unsigned nr_accesses, unsigned age, void *arg)
{
    if (snap.n == (int)(sizeof snap.regions / sizeof snap.regions[0])) {
        snap.overflow = true;
        return;
    }
    snap.regions[snap.n++] = (struct region){start, end, nr_accesses, age};
}

/* Collections that came back empty (EAGAIN: the kernel's wait for the kdamond timed out). */
static int empty_collections;

/* One collection, asked again while the kernel answers EAGAIN; returns how long it took. */
static double collect(void)
{
    double started = now_s();
    int err;
    do {
        snap.n = 0;
        snap.overflow = false;
        err = cdm__damon_collect(keep, NULL);
        if (err == EAGAIN) {
            cr_assert_eq(snap.n, 0, "EAGAIN after reporting regions");
            empty_collections++;
        }
    } while (err == EAGAIN && now_s() - started < DEADLINE_S);
    cr_assert_eq(err, 0, "collect: %s", strerror(err));
    cr_assert(!snap.overflow);
    return now_s() - started;
}

/* nr_accesses over [from, to), weighted by how much of each region lies there; -1 when no
 * region covers any of it. */
static double mean_accesses(uintptr_t from, uintptr_t to)
{
    double weighted = 0, bytes = 0;
    for (int i = 0; i < snap.n; i++) {
        uintptr_t lo = snap.regions[i].start > from ? snap.regions[i].start : from;
        uintptr_t hi = snap.regions[i].end < to ? snap.regions[i].end : to;
        if (lo < hi) {
            weighted += (double)snap.regions[i].nr_accesses * (double)(hi - lo);
            bytes += (double)(hi - lo);
        }
    }
    return bytes ? weighted / bytes : -1;
}

/* Regions outside [from, to): none when DAMON keeps to the ranges it was given. */
static int regions_outside(uintptr_t from, uintptr_t to)
{
    int outside = 0;
    for (int i = 0; i < snap.n; i++)
        outside += snap.regions[i].start < from || snap.regions[i].end > to ||
                   snap.regions[i].start >= snap.regions[i].end;
    return outside;
}

static void log_snapshot(const char *what, uintptr_t base)
{
    for (int i = 0; i < snap.n; i++)
        cr_log_info("%s: [%+8.2f MiB, %+8.2f MiB) nr_accesses %2u age %u", what,
                    (double)(snap.regions[i].start - base) / MiB,
                    (double)(snap.regions[i].end - base) / MiB, snap.regions[i].nr_accesses,
                    snap.regions[i].age);
}

/* ------------------------------------------------------------------ tests */

static void stop_ours(void)
{
    cdm__damon_stop();
}

TestSuite(damon, .timeout = 600);

Test(damon, reads_are_seen_ranges_change_stop_cleans_up, .fini = stop_ours)
{
    need_damon();
    char why[256];
    int err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, 0, "probe: %s (%s)", why, strerror(err));

    /* 64 MiB: the first 16 read, the last 32 untouched after the fill. */
    size_t size = 64 * MiB;
    unsigned char *buffer = map_touched(size);
    uintptr_t start = (uintptr_t)buffer, end = start + size;
    err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
    cr_assert_eq(err, 0, "start: %s", strerror(err));
    cr_assert_eq(read_long(NR_KDAMONDS), 1);
    char state[16];
    cr_assert(read_line(KDAMOND_STATE, state, sizeof state));
    cr_assert_str_eq(state, "on");
    reader_start(buffer, 16 * MiB);
    double began = now_s(), hot = -1, cold = -1, slowest = 0;
    int collections = 0;
    for (;;) {
        sleep_ms(200);
        double took = collect();
        slowest = took > slowest ? took : slowest;
        collections++;
        cr_assert_gt(snap.n, 0, "no region reported");
        cr_assert_eq(regions_outside(start, end), 0,
                     "a region outside the monitored buffer: the kdamond did not keep to it");
        hot = mean_accesses(start, start + 16 * MiB);
        cold = mean_accesses(start + 32 * MiB, end);
        cr_log_info("%5.1f s: %d regions, read part %.1f, untouched part %.1f (collect %.2f s)",
                    now_s() - began, snap.n, hot, cold, took);
        if (now_s() - began >= 3 && hot >= HOT_AT_LEAST && cold >= 0 && cold <= COLD_AT_MOST)
            break;
        cr_assert_lt(now_s() - began, DEADLINE_S,
                     "after %d collections the read part shows %.1f accesses per aggregation "
                     "and the untouched part %.1f",
                     collections, hot, cold);
    }
    log_snapshot("64 MiB buffer", start);
    cr_log_info("%d collections, the slowest %.2f s, %d answered EAGAIN first; reader passes "
                "%llu",
                collections, slowest, empty_collections,
                (unsigned long long)__atomic_load_n(&reader.passes, __ATOMIC_RELAXED));

    /* No range at all (every buffer freed): the kdamond is off, still ours, and reports
     * nothing. */
    err = cdm__damon_set_ranges(NULL, NULL, 0);
    cr_assert_eq(err, 0, "set_ranges to none: %s", strerror(err));
    cr_assert(read_line(KDAMOND_STATE, state, sizeof state));
    cr_assert_str_eq(state, "off");
    cr_assert_eq(read_long(NR_KDAMONDS), 1);
    collect();
    cr_assert_eq(snap.n, 0, "%d regions reported with no range monitored", snap.n);

    /* A second buffer replaces the first, and is read. */
    size_t size2 = 16 * MiB;
    unsigned char *buffer2 = map_touched(size2);
    uintptr_t start2 = (uintptr_t)buffer2, end2 = start2 + size2;
    reader_switch(buffer2, size2);
    err = cdm__damon_set_ranges(&start2, &end2, 1);
    cr_assert_eq(err, 0, "set_ranges: %s", strerror(err));
    cr_assert(read_line(KDAMOND_STATE, state, sizeof state));
    cr_assert_str_eq(state, "on");
    began = now_s();
    for (;;) {
        sleep_ms(200);
        collect();
        cr_assert_eq(regions_outside(start2, end2), 0,
                     "a region outside the second buffer after set_ranges");
        hot = mean_accesses(start2, end2);
        cr_log_info("%5.1f s: %d regions, second buffer %.1f", now_s() - began, snap.n, hot);
        if (snap.n > 0 && hot >= HOT_AT_LEAST)
            break;
        cr_assert_lt(now_s() - began, DEADLINE_S,
                     "the second buffer, read all along, shows %.1f accesses per aggregation "
                     "in %d regions",
                     hot, snap.n);
    }
    log_snapshot("second buffer", start2);
    reader_stop();

    long kdamond = read_long(KDAMOND_PID);
    char comm[32], path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", kdamond);
    cr_assert(read_line(path, comm, sizeof comm) && strncmp(comm, "kdamond", 7) == 0,
              "kdamonds/0/pid %ld is not a kdamond thread", kdamond);
    cdm__damon_stop();
    cr_assert_eq(read_long(NR_KDAMONDS), 0, "our kdamond was not removed");
    /* kthread_stop returns once the thread has exited; its /proc entry goes a little
     * later, when the task is released. */
    double stopped = now_s();
    while (kdamond_threads() > 0 && now_s() - stopped < 10)
        sleep_ms(50);
    cr_assert_eq(kdamond_threads(), 0, "a kdamond thread still runs 10 s after stop");
    cdm__damon_stop(); /* again: nothing to do */
    cr_assert_eq(read_long(NR_KDAMONDS), 0);
    cr_assert_eq(cdm__damon_collect(keep, NULL), EINVAL, "collect after stop");
    err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, 0, "after stop the probe says: %s", why);
    munmap(buffer, size);
    munmap(buffer2, size2);
}

/* ------------------------------------------------------------------ traced aggregations */

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void instance_of(pid_t pid, char *path, size_t size)
{
    snprintf(path, size, TRACE_INSTANCES "/cdmplace.%d", (int)pid);
}

/* A pid that no process has: a child's, reaped. */
static pid_t gone_pid(void)
{
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0)
        _exit(0);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    return child;
}

/* Waits for aggregations on the event descriptor and keeps the last complete one in `snap`;
 * returns how many came. */
static int next_aggregations(int fd)
{
    double began = now_s();
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1000);
        snap.n = 0;
        snap.overflow = false;
        int complete = cdm__damon_read_events(keep, NULL);
        cr_assert(!snap.overflow);
        if (complete > 0) {
            /* Several at once: each covers the buffer, one region after another from its
             * start (DAMON splits and merges regions between aggregations, so their counts
             * differ); keep the last one's regions. */
            int first = 0, runs = 1;
            for (int k = 1; k < snap.n; k++)
                if (snap.regions[k].start < snap.regions[k - 1].end) {
                    first = k;
                    runs++;
                }
            cr_assert_eq(runs, complete, "%d aggregations reported, %d runs of regions in "
                         "address order", complete, runs);
            snap.n -= first;
            memmove(snap.regions, snap.regions + first, (size_t)snap.n * sizeof snap.regions[0]);
            return complete;
        }
        cr_assert_eq(snap.n, 0, "regions reported without a complete aggregation");
        cr_assert_lt(now_s() - began, DEADLINE_S, "no aggregation traced in %.0f s", DEADLINE_S);
    }
}

Test(damon, aggregations_are_traced_as_they_end_and_the_instance_goes_at_stop,
     .fini = stop_ours)
{
    need_damon();
    cr_assert(cdm__damon_events_possible(),
              "tracefs is not mounted writable at /sys/kernel/tracing (the guest's init mounts it)");
    /* An instance left by a process that was killed: the next start removes it. */
    char stale[128], ours[128], enable[192];
    instance_of(gone_pid(), stale, sizeof stale);
    cr_assert_eq(mkdir(stale, 0700), 0, "mkdir %s: %s", stale, strerror(errno));
    instance_of(getpid(), ours, sizeof ours);
    snprintf(enable, sizeof enable, "%s/events/damon/damon_aggregated/enable", ours);

    size_t size = 64 * MiB;
    unsigned char *buffer = map_touched(size);
    uintptr_t start = (uintptr_t)buffer, end = start + size;
    int err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
    cr_assert_eq(err, 0, "start: %s", strerror(err));
    cr_assert_not(is_dir(stale), "the stale instance %s is still there", stale);
    cr_assert(is_dir(ours), "no instance %s", ours);
    cr_assert_eq(read_long(enable), 1, "damon_aggregated is not enabled in our instance");
    int fd = cdm__damon_events_fd();
    cr_assert_geq(fd, 0, "start did not open the instance's trace_pipe");

    /* Every traced aggregation covers the buffer exactly, region after region: nothing lost
     * or mixed from two aggregations. The read part turns hot, the untouched part stays
     * cold. */
    reader_start(buffer, 16 * MiB);
    double began = now_s(), hot = -1, cold = -1;
    int aggregations = 0;
    for (;;) {
        aggregations += next_aggregations(fd);
        uintptr_t covered = start;
        for (int i = 0; i < snap.n; i++) {
            cr_assert_eq(snap.regions[i].start, covered, "region %d of %d starts at %+ld bytes",
                         i, snap.n, (long)(snap.regions[i].start - covered));
            cr_assert_leq(snap.regions[i].nr_accesses, AGGR_US / SAMPLE_US);
            covered = snap.regions[i].end;
        }
        cr_assert_eq(covered, end, "the regions end %+ld bytes from the buffer's end",
                     (long)(covered - end));
        hot = mean_accesses(start, start + 16 * MiB);
        cold = mean_accesses(start + 32 * MiB, end);
        if (now_s() - began >= 3 && hot >= HOT_AT_LEAST && cold <= COLD_AT_MOST)
            break;
        cr_assert_lt(now_s() - began, DEADLINE_S,
                     "after %d aggregations the read part shows %.1f accesses and the "
                     "untouched part %.1f", aggregations, hot, cold);
    }
    cr_log_info("%d aggregations in %.1f s: read part %.1f, untouched part %.1f, %d regions",
                aggregations, now_s() - began, hot, cold, snap.n);
    log_snapshot("traced", start);

    /* A forked child has no events and stops nothing: the parent's keep coming. */
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        cdm__damon_after_fork_child();
        int own = cdm__damon_events_fd();
        cdm__damon_stop();
        _exit(own == -1 ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw the parent's events");
    cr_assert(is_dir(ours), "the child's exit removed the parent's instance");
    next_aggregations(fd);
    reader_stop();

    /* Turned off from outside: no aggregation comes, and the check says why. */
    cr_assert_eq(cdm__damon_check(), 0);
    cr_assert_eq(write_line(KDAMOND_STATE, "off"), 0);
    cr_assert_eq(cdm__damon_check(), ESRCH);

    cdm__damon_stop();
    cr_assert_eq(cdm__damon_events_fd(), -1);
    cr_assert_not(is_dir(ours), "stop left the instance %s", ours);
    cr_assert_eq(read_long(NR_KDAMONDS), 0);
    cr_assert_eq(cdm__damon_read_events(keep, NULL), 0, "events after stop");
    munmap(buffer, size);
}

/* Set once the test created the "foreign" kdamond: only then may its cleanup remove one. */
static bool created_foreign;

static void remove_foreign_kdamond(void)
{
    if (created_foreign)
        write_line(NR_KDAMONDS, "0");
}

Test(damon, probe_and_start_refuse_a_kdamond_of_someone_else, .fini = remove_foreign_kdamond)
{
    need_damon();
    char why[256];
    int err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, 0, "before: %s", why);

    /* Someone else's kdamond, configured but not running. */
    cr_assert_eq(write_line(NR_KDAMONDS, "1"), 0);
    created_foreign = true;
    err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, EBUSY, "probe with another kdamond: %s (%s)", strerror(err), why);
    cr_assert(strstr(why, "in use by another user: 1 kdamond(s) configured"), "why: %s", why);

    uintptr_t start = 1ul << 30, end = start + 2 * MiB;
    cr_assert_eq(cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1), EBUSY);
    cdm__damon_stop(); /* not ours: left alone */
    cr_assert_eq(read_long(NR_KDAMONDS), 1, "start or stop touched another user's kdamond");
    char state[16];
    cr_assert(read_line(KDAMOND_STATE, state, sizeof state));
    cr_assert_str_eq(state, "off");

    cr_assert_eq(write_line(NR_KDAMONDS, "0"), 0);
    created_foreign = false;
    err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, 0, "after: %s", why);
}

Test(damon, bad_requests_are_refused_before_touching_sysfs, .fini = stop_ours)
{
    uintptr_t starts[] = {1ul << 30, (1ul << 30) + 4 * MiB};
    uintptr_t ends[] = {(1ul << 30) + 8 * MiB, (1ul << 30) + 12 * MiB};
    pid_t self = getpid();
    cr_assert_eq(cdm__damon_start(self, SAMPLE_US, AGGR_US, starts, ends, 2), EINVAL,
                 "overlapping ranges");
    uintptr_t empty = 1ul << 30;
    cr_assert_eq(cdm__damon_start(self, SAMPLE_US, AGGR_US, &empty, &empty, 1), EINVAL,
                 "an empty range");
    cr_assert_eq(cdm__damon_start(self, AGGR_US, SAMPLE_US, starts, ends, 1), EINVAL,
                 "aggregation shorter than sampling");
    cr_assert_eq(cdm__damon_start(self, SAMPLE_US, AGGR_US, starts, ends,
                                  CDM_DAMON_MAX_RANGES + 1),
                 EINVAL, "too many ranges");
    cr_assert_eq(cdm__damon_set_ranges(starts, ends, 1), EINVAL, "set_ranges before start");
    cr_assert_eq(cdm__damon_collect(keep, NULL), EINVAL, "collect before start");
    if (damon_present())
        cr_assert_eq(read_long(NR_KDAMONDS), 0, "a refused start left a kdamond");
}

Test(damon, probe_names_what_a_kernel_without_damon_lacks)
{
    if (damon_present())
        cr_skip_test("this kernel has DAMON's sysfs interface (the refusal is for 6.1)");
    char why[256];
    int err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, EOPNOTSUPP, "probe: %s (%s)", strerror(err), why);
    cr_log_info("probe: %s", why);
    cr_assert(strstr(why, "CONFIG_DAMON_SYSFS") && strstr(why, "Linux 6.2"), "why: %s", why);
    uintptr_t start = 1ul << 30, end = start + 2 * MiB;
    err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
    cr_assert_eq(err, EOPNOTSUPP, "start: %s", strerror(err));
}

/* A process of ours killed with its kdamond still configured leaves it behind, off once its
 * target is gone: the next start takes it over. Anyone else's kdamond is left alone, and the
 * refusal names the files that free it. */
/* Whatever the test left: the next test needs DAMON's interface free. */
static void free_interface(void)
{
    cdm__damon_stop();
    write_line(KDAMOND_STATE, "off");
    write_line(NR_KDAMONDS, "0");
}

Test(damon, a_kdamond_left_by_a_killed_process_is_taken_over, .fini = free_interface)
{
    need_damon();
    size_t size = 16 * MiB;
    int ready[2];
    cr_assert_eq(pipe(ready), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        unsigned char *buffer = map_touched(size);
        uintptr_t start = (uintptr_t)buffer, end = start + size;
        int err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
        if (write(ready[1], &err, sizeof err) != sizeof err)
            _exit(1);
        pause();
        _exit(0);
    }
    int err = -1;
    cr_assert_eq(read(ready[0], &err, sizeof err), (ssize_t)sizeof err);
    cr_assert_eq(err, 0, "the child's start: %s", strerror(err));
    kill(child, SIGKILL);
    cr_assert_eq(waitpid(child, NULL, 0), child);
    char state[16] = "";
    for (double began = now_s(); now_s() - began < 10; sleep_ms(50))
        if (read_line(KDAMOND_STATE, state, sizeof state) && !strcmp(state, "off"))
            break;
    cr_assert_str_eq(state, "off", "the killed process's kdamond did not stop");
    cr_assert_eq(read_long(NR_KDAMONDS), 1, "the killed process's kdamond is gone already");

    char why[512], operations[32] = "", action[32] = "";
    read_line(ADMIN "/kdamonds/0/contexts/0/operations", operations, sizeof operations);
    read_line(ADMIN "/kdamonds/0/contexts/0/schemes/0/action", action, sizeof action);
    long target = read_long(ADMIN "/kdamonds/0/contexts/0/targets/0/pid_target");
    err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, 0, "probe with the left-over kdamond (%s, %s, target %ld, child %d): %s",
                 operations, action, target, (int)child, why);
    unsigned char *buffer = map_touched(size);
    uintptr_t start = (uintptr_t)buffer, end = start + size;
    err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
    cr_assert_eq(err, 0, "start over the left-over kdamond: %s", strerror(err));
    cr_assert(read_line(KDAMOND_STATE, state, sizeof state));
    cr_assert_str_eq(state, "on");
    cdm__damon_stop();
    cr_assert_eq(read_long(NR_KDAMONDS), 0);

    /* Someone else's (not our shape: no context): refused, and the message says how to free
     * it. */
    cr_assert_eq(write_line(NR_KDAMONDS, "1"), 0);
    err = cdm__damon_probe(why, sizeof why);
    cr_assert_eq(err, EBUSY, "probe with another user's kdamond: %s", why);
    cr_assert(strstr(why, "writing off to " ADMIN "/kdamonds/0/state and 0 to " NR_KDAMONDS
                          " frees it"),
              "%s", why);
    err = cdm__damon_start(getpid(), SAMPLE_US, AGGR_US, &start, &end, 1);
    cr_assert_eq(err, EBUSY, "start over another user's kdamond: %s", strerror(err));
    cr_assert_eq(read_long(NR_KDAMONDS), 1, "another user's kdamond was discarded");
    cr_assert_eq(write_line(NR_KDAMONDS, "0"), 0);
    munmap(buffer, size);
}
