/* Access tracking: which pages of the migrating rules' buffers the program touches, epoch
 * by epoch, seen by one thread of ours.
 *
 * A buffer whose rule has `migrate = follow-cpu | tier` is registered with a userfaultfd
 * when it is placed. The tracker thread wakes every `epoch` (or on a fault, a hint, a stop)
 * and collects what the backend saw:
 *   wp-async  PAGEMAP_SCAN returns the pages written since the last scan and protects them
 *             again in the same call (Linux 6.7); no fault ever waits for us.
 *   wp        a write to a protected page stops the writer until we mark the page and
 *             unprotect it; each epoch protects the buffers again.
 *   missing   the first touch of a page stops the toucher until we map it.
 * then hands the epoch to migrate.c, which moves pages with move_pages.
 *
 * Rules for the thread (as the kernel's selftests/mm/uffd-common.c): it blocks every signal,
 * polls the userfaultfd and an eventfd, and loops on EINTR. A program thread stopped on a
 * fault may hold the malloc lock or any of the program's: the thread never allocates, never
 * uses stdio, and takes only `lock`, which no thread holds while touching tracked memory.
 * Faults are resolved even when their buffer is gone (EEXIST and ENOENT mean: wake and go
 * on). No userfaultfd event is asked for: our own hooks see munmap, mremap and madvise, and
 * an event would stop the caller of those until this thread reads it.
 *
 * fork: a child's mappings lose their registration (no UFFD_FEATURE_EVENT_FORK), so the
 * child closes the inherited descriptors, forgets the ranges and starts its own thread at its
 * next tracked buffer. exit: the thread is stopped and joined, then closing the userfaultfd
 * releases every range and wakes any fault still waiting. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define MAX_TRACKED 256

static struct {
    pthread_mutex_t lock; /* ranges, n_ranges */
    struct cdm_tracked ranges[MAX_TRACKED];
    int n_ranges;
    enum cdm_track backend; /* chosen at startup; OFF: nothing is tracked */
    int uffd, pagemap_fd, wake_fd;
    pthread_t thread;
    bool started, failed, stopping;
    uint32_t epoch; /* the last epoch collected */
} tracker = {.lock = PTHREAD_MUTEX_INITIALIZER, .uffd = -1, .pagemap_fd = -1, .wake_fd = -1,
             .epoch = CDM_EPOCH_FIRST - 1};

/* Serialises starting the thread (first tracked buffer) with stopping it (exit). */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;

static bool rule_tracks(int rule)
{
    enum cdm_migrate migrate = cdm__rt.config.rules[rule].migrate;
    return migrate == CDM_MIGRATE_FOLLOW_CPU || migrate == CDM_MIGRATE_TIER;
}

void cdm__tracker_setup(void)
{
    const struct cdm_config *config = &cdm__rt.config;
    tracker.backend = CDM_TRACK_OFF;
    bool needed = false;
    for (int i = 0; i < config->n_rules; i++)
        needed |= rule_tracks(i);
    if (!needed || config->settings.track == CDM_TRACK_OFF || config->settings.dry_run)
        return;
    struct cdm_backend_probe probe;
    cdm__backends_probe(&probe);
    char why[256];
    tracker.backend = cdm__backend_choose(&probe, config->settings.track, why, sizeof why);
    if (tracker.backend == CDM_TRACK_OFF)
        cdm__warn_once(CDM_WARN_TRACKER,
                       "no access tracker is allowed here (%s): buffers are placed but no page "
                       "is migrated",
                       why);
    else if (why[0])
        cdm__warn_once(CDM_WARN_TRACKER, "track = %s: %s; tracking with %s (sees %s)",
                       cdm__track_name(config->settings.track), why,
                       cdm__track_name(tracker.backend), cdm__backend_sees(tracker.backend));
}

enum cdm_track cdm__tracker_backend(void)
{
    return tracker.backend;
}

/* ------------------------------------------------------------------ ranges */

static void range_free(struct cdm_tracked *range)
{
    if (range->state)
        cdm__arena_unmap(range->state, range->state_size);
    *range = (struct cdm_tracked){0};
}

static void range_remove_at(int i)
{
    range_free(&tracker.ranges[i]);
    tracker.ranges[i] = tracker.ranges[--tracker.n_ranges];
    tracker.ranges[tracker.n_ranges] = (struct cdm_tracked){0};
}

/* The per-page arrays of a new range, in one mapping of our own. */
static bool range_init(struct cdm_tracked *range, uintptr_t start, size_t n_pages, int rule)
{
    size_t size = n_pages * (sizeof *range->node + sizeof *range->last_touch + sizeof *range->heat);
    void *state = cdm__arena_map(size);
    if (!state)
        return false;
    *range = (struct cdm_tracked){.start = start, .n_pages = n_pages, .rule = rule,
                                  .state = state, .state_size = size};
    range->last_touch = state;
    range->node = (int16_t *)(range->last_touch + n_pages);
    range->heat = (uint8_t *)(range->node + n_pages);
    memset(range->node, 0xff, n_pages * sizeof *range->node); /* -1: not seen yet */
    return true;
}

static struct cdm_tracked *range_holding(uintptr_t address)
{
    size_t page = plat_page_size();
    for (int i = 0; i < tracker.n_ranges; i++) {
        struct cdm_tracked *range = &tracker.ranges[i];
        if (address >= range->start && address < range->start + range->n_pages * page)
            return range;
    }
    return NULL;
}

/* ------------------------------------------------------------------ collecting */

/* The first write the write-protect backends see of a page is the one that made it: the
 * page is where placement put it, and stays there (a buffer being filled is not yet a
 * buffer in use). It counts as touched long ago; later writes count as use. With `missing`
 * the first touch is all there is, and it counts. */
static void mark_touched(struct cdm_tracked *range, size_t first, size_t count, uint32_t epoch)
{
    bool first_counts = tracker.backend == CDM_TRACK_MISSING;
    for (size_t i = first; i < first + count && i < range->n_pages; i++) {
        if (!range->last_touch[i] && !first_counts) {
            range->last_touch[i] = CDM_EPOCH_ANCIENT;
            continue;
        }
        range->last_touch[i] = epoch;
        range->heat[i] |= 0x80; /* aging byte: the top bit is "this epoch" */
    }
}

/* wp-async: what was written since the last scan, protected again by the same call. */
static void collect_written(struct cdm_tracked *range, uint32_t epoch)
{
    struct plat_page_region regions[256];
    size_t page = plat_page_size();
    uintptr_t at = range->start, end = range->start + range->n_pages * page;
    while (at < end) {
        size_t n = 0;
        uintptr_t walk_end = end;
        int err = plat_pagemap_scan(tracker.pagemap_fd, at, end, PLAT_PAGE_IS_WRITTEN,
                                    PLAT_PAGE_IS_PFNZERO, true, regions,
                                    sizeof regions / sizeof regions[0], &n, &walk_end);
        if (err) {
            cdm__warn_once(CDM_WARN_TRACKER, "PAGEMAP_SCAN failed (errno %d): pages written "
                                             "from now on are not seen", err);
            return;
        }
        for (size_t i = 0; i < n; i++)
            mark_touched(range, (regions[i].start - range->start) / page,
                         (regions[i].end - regions[i].start) / page, epoch);
        if (walk_end <= at)
            break;
        at = walk_end;
    }
}

/* wp: protect again the pages whose next write matters. A page written lately needs no
 * fault before it could become idle: it is protected again half `idle` after its last
 * write, so a page in use costs one fault per half `idle`, not one per epoch, and a loop
 * over the buffer has the other half to come back to it. */
static void protect_due(struct cdm_tracked *range, uint32_t epoch)
{
    size_t page = plat_page_size();
    uint32_t probe_after = cdm__migrate_idle_epochs(range->rule) / 2;
    size_t run = 0;
    for (size_t i = 0; i <= range->n_pages; i++) {
        if (i < range->n_pages && epoch - range->last_touch[i] >= probe_after)
            continue;
        if (i > run)
            plat_uffd_writeprotect(tracker.uffd, range->start + run * page, (i - run) * page, true);
        run = i + 1;
    }
}

static void collect_epoch(uint32_t epoch)
{
    for (int i = 0; i < tracker.n_ranges; i++) {
        struct cdm_tracked *range = &tracker.ranges[i];
        if (tracker.backend == CDM_TRACK_WP_ASYNC)
            collect_written(range, epoch);
        else if (tracker.backend == CDM_TRACK_WP)
            protect_due(range, epoch);
    }
}

/* A write-protect fault releases this many bytes around it (aligned): one round trip per
 * block instead of per page, for a sequential writer 16 times fewer. The block counts as
 * written: finer than the epoch's idea of time needs. */
#define WP_BLOCK (64u << 10)

/* A fault of the synchronous backends: mark what it releases, then let the program go on.
 * `locked`: the thread already holds the lock (between migration batches). */
static void serve_fault(const struct plat_fault *fault, uint32_t epoch, bool locked)
{
    size_t page = plat_page_size();
    uintptr_t at = fault->address & ~(uintptr_t)(page - 1), end = at + page;
    if (!locked)
        pthread_mutex_lock(&tracker.lock);
    struct cdm_tracked *range = range_holding(at);
    if (range && fault->write_protect) {
        uintptr_t range_end = range->start + range->n_pages * page;
        at = fault->address & ~(uintptr_t)(WP_BLOCK - 1);
        end = at + WP_BLOCK;
        at = at < range->start ? range->start : at;
        end = end > range_end ? range_end : end;
    }
    if (range) {
        mark_touched(range, (at - range->start) / page, (end - at) / page, epoch);
        __atomic_fetch_add(&cdm__rule_stats[range->rule].faults, 1, __ATOMIC_RELAXED);
    }
    if (!locked)
        pthread_mutex_unlock(&tracker.lock);
    int err = fault->write_protect ? plat_uffd_writeprotect(tracker.uffd, at, end - at, false)
                                   : plat_uffd_zeropage(tracker.uffd, at, page);
    if (err == EEXIST || err == ENOENT) /* another thread won, or the range went: wake it */
        plat_uffd_wake(tracker.uffd, at, end - at);
}

static void serve_faults(uint32_t epoch, bool locked)
{
    struct plat_fault faults[16];
    int n;
    while (plat_uffd_read(tracker.uffd, faults, 16, &n) == 0) /* until EAGAIN */
        for (int i = 0; i < n; i++)
            serve_fault(&faults[i], epoch, locked);
}

void cdm__tracker_serve_waiting(void)
{
    if (tracker.backend == CDM_TRACK_WP || tracker.backend == CDM_TRACK_MISSING)
        serve_faults(tracker.epoch + 1, true);
}

/* ------------------------------------------------------------------ the thread */

static void drain_wake_fd(void)
{
    uint64_t count;
    while (read(tracker.wake_fd, &count, sizeof count) > 0)
        ;
}

static void *tracker_main(void *unused)
{
    cdm__guard = 1; /* everything this thread calls goes straight to the real functions */
    uint64_t epoch_ns = cdm__rt.config.settings.epoch_ns;
    uint64_t next = cdm__now_ns() + epoch_ns;
    bool sync = tracker.backend != CDM_TRACK_WP_ASYNC;
    for (;;) {
        uint64_t now = cdm__now_ns();
        int timeout_ms = now >= next ? 0 : (int)((next - now + 999999) / 1000000);
        struct pollfd fds[2] = {{.fd = tracker.wake_fd, .events = POLLIN},
                                {.fd = sync ? tracker.uffd : -1, .events = POLLIN}};
        int ready = poll(fds, 2, timeout_ms);
        if (ready < 0 && errno != EINTR)
            break;
        if (__atomic_load_n(&tracker.stopping, __ATOMIC_ACQUIRE))
            break;
        uint32_t epoch = tracker.epoch + 1; /* the epoch being observed */
        if (ready > 0 && (fds[1].revents & POLLIN))
            serve_faults(epoch, false);
        bool hinted = ready > 0 && (fds[0].revents & POLLIN);
        if (hinted)
            drain_wake_fd();
        bool epoch_end = cdm__now_ns() >= next;
        if (!epoch_end && !hinted)
            continue;
        pthread_mutex_lock(&tracker.lock);
        if (epoch_end) {
            collect_epoch(epoch);
            __atomic_store_n(&tracker.epoch, epoch, __ATOMIC_RELAXED);
            next += epoch_ns;
            if (next < cdm__now_ns()) /* an epoch ran late: skip, do not catch up */
                next = cdm__now_ns() + epoch_ns;
        }
        cdm__migrate_reconcile(tracker.ranges, tracker.n_ranges, epoch, epoch_end);
        pthread_mutex_unlock(&tracker.lock);
    }
    return NULL;
}

static int open_uffd(void)
{
    bool async = tracker.backend == CDM_TRACK_WP_ASYNC;
    int err = plat_uffd_open(async, &tracker.uffd);
    if (err)
        return err;
    uint64_t offered = 0, wanted;
    if ((err = plat_uffd_api(tracker.uffd, 0, &offered)) != 0)
        return err;
    close(tracker.uffd); /* one UFFDIO_API per descriptor: the first only asked */
    if ((err = plat_uffd_open(async, &tracker.uffd)) != 0)
        return err;
    switch (tracker.backend) {
    case CDM_TRACK_WP_ASYNC: wanted = UFFD_FEATURE_PAGEFAULT_FLAG_WP | PLAT_UFFD_WP_ASYNC; break;
    case CDM_TRACK_WP:
        /* Without WP_UNPOPULATED (6.4) the first write to a fresh page is not seen. */
        wanted = UFFD_FEATURE_PAGEFAULT_FLAG_WP | (offered & PLAT_UFFD_WP_UNPOPULATED);
        break;
    default: wanted = 0; break;
    }
    return plat_uffd_api(tracker.uffd, wanted, NULL);
}

static void close_descriptors(void)
{
    int *fds[] = {&tracker.uffd, &tracker.pagemap_fd, &tracker.wake_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

/* Called with start_lock held. */
static bool start_locked(void)
{
    if (tracker.started || tracker.failed)
        return tracker.started;
    int err = open_uffd();
    if (!err && tracker.backend == CDM_TRACK_WP_ASYNC)
        err = plat_open_above_stdio("/proc/self/pagemap", O_RDONLY, 0, &tracker.pagemap_fd);
    if (!err)
        err = plat_eventfd(&tracker.wake_fd);
    if (!err) {
        sigset_t all, saved;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &saved); /* the thread inherits: no signal for it */
        err = pthread_create(&tracker.thread, NULL, tracker_main, NULL);
        pthread_sigmask(SIG_SETMASK, &saved, NULL);
    }
    if (err) {
        close_descriptors();
        tracker.failed = true;
        cdm__warn_once(CDM_WARN_TRACKER, "the %s tracker could not start (%s): buffers are "
                                         "placed but no page is migrated",
                       cdm__track_name(tracker.backend), strerror(err));
        return false;
    }
    tracker.started = true;
    return true;
}

/* ------------------------------------------------------------------ from the hooks */

void cdm__tracker_add(uintptr_t start, size_t len, int rule)
{
    if (tracker.backend == CDM_TRACK_OFF || !rule_tracks(rule) ||
        cdm__state != CDM_STATE_READY)
        return;
    pthread_mutex_lock(&start_lock);
    bool running = start_locked();
    pthread_mutex_unlock(&start_lock);
    if (!running)
        return;
    size_t page = plat_page_size();
    uint64_t modes = tracker.backend == CDM_TRACK_MISSING ? UFFDIO_REGISTER_MODE_MISSING
                                                          : UFFDIO_REGISTER_MODE_WP;
    pthread_mutex_lock(&tracker.lock);
    struct cdm_tracked *range = &tracker.ranges[tracker.n_ranges];
    int err = tracker.n_ranges == MAX_TRACKED ? ENOSPC
              : !range_init(range, start, len / page, rule) ? ENOMEM
                                                             : 0;
    if (!err && (err = plat_uffd_register(tracker.uffd, start, len, modes)) != 0)
        range_free(range);
    /* Pages already there (MAP_POPULATE, a grown buffer) were not written since now. */
    if (!err && modes == UFFDIO_REGISTER_MODE_WP)
        plat_uffd_writeprotect(tracker.uffd, start, len, true);
    if (!err)
        tracker.n_ranges++;
    pthread_mutex_unlock(&tracker.lock);
    if (err)
        cdm__warn_once(CDM_WARN_TRACKER, "rule '%s': a buffer could not be tracked (%s%s); it "
                                         "stays where it was placed",
                       cdm__rt.config.rules[rule].name, strerror(err),
                       err == ENOSPC ? ": more than 256 tracked buffers" : "");
}

/* Pages [first, first + count) of a range no longer exist: forget what was seen of them. */
static void reset_pages(struct cdm_tracked *range, size_t first, size_t count)
{
    for (size_t i = first; i < first + count; i++) {
        range->node[i] = -1;
        range->last_touch[i] = 0;
        range->heat[i] = 0;
    }
}

void cdm__tracker_forget(uintptr_t start, size_t len)
{
    if (!__atomic_load_n(&tracker.n_ranges, __ATOMIC_RELAXED))
        return;
    size_t page = plat_page_size();
    uintptr_t end = start + len;
    pthread_mutex_lock(&tracker.lock);
    for (int i = tracker.n_ranges - 1; i >= 0; i--) {
        struct cdm_tracked *range = &tracker.ranges[i];
        uintptr_t range_end = range->start + range->n_pages * page;
        if (range_end <= start || range->start >= end)
            continue;
        /* The kernel drops the registration with the mapping; what stays is unregistered
         * here, since the table no longer describes it. */
        plat_uffd_unregister(tracker.uffd, range->start, range_end - range->start);
        range_remove_at(i);
    }
    pthread_mutex_unlock(&tracker.lock);
}

void cdm__tracker_discard(uintptr_t start, size_t len)
{
    if (!__atomic_load_n(&tracker.n_ranges, __ATOMIC_RELAXED))
        return;
    size_t page = plat_page_size();
    uintptr_t end = start + len;
    pthread_mutex_lock(&tracker.lock);
    for (int i = 0; i < tracker.n_ranges; i++) {
        struct cdm_tracked *range = &tracker.ranges[i];
        uintptr_t range_end = range->start + range->n_pages * page;
        uintptr_t from = start > range->start ? start : range->start;
        uintptr_t to = end < range_end ? end : range_end;
        if (from < to)
            reset_pages(range, (from - range->start) / page, (to - from + page - 1) / page);
    }
    pthread_mutex_unlock(&tracker.lock);
}

bool cdm__tracker_hint(uintptr_t start, size_t len, bool to_dram)
{
    if (!__atomic_load_n(&tracker.n_ranges, __ATOMIC_RELAXED))
        return false;
    size_t page = plat_page_size();
    uintptr_t end = start + len;
    bool hinted = false;
    pthread_mutex_lock(&tracker.lock);
    uint32_t now = tracker.epoch + 1;
    for (int i = 0; i < tracker.n_ranges; i++) {
        struct cdm_tracked *range = &tracker.ranges[i];
        uintptr_t range_end = range->start + range->n_pages * page;
        uintptr_t from = start > range->start ? start : range->start;
        uintptr_t to = end < range_end ? end : range_end;
        for (size_t p = (from - range->start) / page; from < to && p < (to - range->start + page - 1) / page; p++) {
            /* As if touched now, or untouched since long ago: the thread moves the pages at
             * once, and later epochs keep them there until the program's use says else. */
            range->last_touch[p] = to_dram ? now : CDM_EPOCH_ANCIENT;
            range->heat[p] = to_dram ? 0xff : 0;
            hinted = true;
        }
    }
    pthread_mutex_unlock(&tracker.lock);
    uint64_t one = 1;
    if (hinted && write(tracker.wake_fd, &one, sizeof one) < 0)
        hinted = false;
    return hinted;
}

void cdm__tracker_stop(void)
{
    pthread_mutex_lock(&start_lock);
    if (tracker.started) {
        __atomic_store_n(&tracker.stopping, true, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(tracker.wake_fd, &one, sizeof one) == sizeof one)
            pthread_join(tracker.thread, NULL);
        tracker.started = false;
    }
    tracker.failed = true; /* nothing is tracked after exit */
    close_descriptors(); /* releases every range and wakes any fault still waiting */
    pthread_mutex_lock(&tracker.lock);
    while (tracker.n_ranges)
        range_remove_at(tracker.n_ranges - 1);
    pthread_mutex_unlock(&tracker.lock);
    pthread_mutex_unlock(&start_lock);
}

/* ------------------------------------------------------------------ fork */

void cdm__tracker_prepare_fork(void)
{
    pthread_mutex_lock(&start_lock);
    pthread_mutex_lock(&tracker.lock);
}

void cdm__tracker_after_fork(bool child)
{
    if (child) {
        pthread_mutex_init(&tracker.lock, NULL);
        pthread_mutex_init(&start_lock, NULL);
        /* The thread is not in this process and the mappings lost their registration. */
        close_descriptors();
        while (tracker.n_ranges)
            range_remove_at(tracker.n_ranges - 1);
        tracker.started = tracker.stopping = false;
        tracker.epoch = CDM_EPOCH_FIRST - 1;
        return;
    }
    pthread_mutex_unlock(&tracker.lock);
    pthread_mutex_unlock(&start_lock);
}
