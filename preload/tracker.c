/* SPDX-License-Identifier: MIT */
/* Access tracking: which pages of the migrating rules' buffers the program touches, epoch
 * by epoch, seen by two threads of ours.
 *
 * A buffer whose rule has `migrate = follow-cpu | tier` is registered with a userfaultfd (or
 * given to DAMON) when it is placed; in a profiling run every buffer recorded is (profile.c),
 * and the migrator leaves it alone. This file owns the tracked ranges (an address-ordered
 * registry), their lock, the epoch clock, the userfaultfd and the threads. The tracker thread
 * serves faults as they come and, every `epoch`, collects what the backend saw, each in a
 * file of its own behind one table (track.h):
 *   wp-async  write-protected pages lose their protection when written, in the kernel,
 *             and PAGEMAP_SCAN (Linux 6.7) reads back which did (track_wp_async.c); no
 *             fault ever waits for us.
 *   wp        a write to a protected page stops the writer until we mark the page and
 *             unprotect it; pages are protected again when their next write matters.
 *   missing   the first touch of a page stops the toucher until we map it (both
 *             track_wp.c; their faults are served here).
 *   damon     the kernel's DAMON samples reads and writes (track_damon.c, damon.c); nothing
 *             waits for us. Where its aggregations are traced, each one ends an epoch.
 * Huge ranges: an asynchronous write-protect fault is served on 4 KiB pages, so wp-async
 * would split every huge page the program writes. A range it finds written in huge pages
 * moves to a second, synchronous userfaultfd, where a fault releases the whole aligned 2 MiB
 * block around it and blocks are protected again whole (the backends' `huge` operations):
 * a huge page stays one. wp, which has no PAGEMAP_SCAN before 6.7, finds such ranges in
 * /proc/self/smaps (cdm__track_find_huge).
 * What is known of each page is a byte (pages.c). The tracker thread then wakes the
 * migrator thread, which moves pages (migrate.c). Two threads, so that no
 * fault ever waits behind a migration: move_pages of a few hundred pages takes milliseconds.
 *
 * Rules for the threads (as the kernel's selftests/mm/uffd-common.c): they block every
 * signal, poll eventfds (and the userfaultfd), loop on EINTR. A program thread stopped on a
 * fault may hold the malloc lock or any of the program's: neither thread allocates or uses
 * stdio, and serving a fault never waits for `lock` (a fork's prepare handler holds it): when
 * the lock is busy the fault is resolved at once and its page marked later (`pending`).
 * A fault is always resolved or woken, even when its buffer is gone or the kernel refuses the
 * first way. No userfaultfd event is asked for: our own hooks see munmap, mremap and madvise,
 * and an event would stop the caller of those until we read it.
 *
 * fork: a child's mappings lose their registration (no UFFD_FEATURE_EVENT_FORK), so the
 * child closes the inherited descriptors, forgets the ranges and starts its own threads at
 * its next tracked buffer. exit: the threads are stopped and joined, then closing the
 * userfaultfd releases every range and wakes any fault still waiting. */
#include "track.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PENDING 1024 /* faults served while the lock was busy, marked by its next holder */
/* A range's state beyond its byte a page (its backend's own, by the range and by the span,
 * and a last user a span on several sockets) is at most a page's worth: its spans grow with
 * it (doc/design.md, "Page state"). */
#define SPAN_STATE_MAX 4096u
/* A write-protect fault releases this many bytes around it (aligned): one round trip per
 * block instead of per page, for a sequential writer 16 times fewer. The block counts as
 * written, or made (mark_fault): finer than the epoch's idea of time needs. */
#define WP_BLOCK (64u << 10)
static struct {
    pthread_mutex_t lock; /* everything below but the descriptors and `pending` */
    /* The tracked ranges, by address (none overlap), each from `range_slab`; the array is
     * ours too (`capacity` slots, grown twice as large when full). */
    struct cdm_tracked **ranges;
    int n_ranges, capacity;
    struct cdm_slab range_slab;
    uint64_t next_id;
    enum cdm_track backend; /* chosen at startup; OFF: nothing is tracked */
    int uffd, pagemap_fd, wake_fd, migrate_fd;
    int huge_uffd;   /* huge ranges' (synchronous write-protect), opened with the first */
    bool huge_failed; /* it could not be opened: huge ranges stay with wp-async */
    pthread_t tracker_thread, migrator_thread;
    bool opened;   /* the descriptors are open: ranges can be added */
    bool spawning; /* a thread is starting the threads, no lock held (start_threads) */
    bool started, failed, stopping;
    int unregistered; /* ranges added before the threads ran (register_waiting) */
    uint32_t epoch;          /* the last epoch collected */
    uint32_t migrated_epoch; /* the last epoch reconciled */
    const struct cdm_track_ops *ops; /* the backend's (track.h) */
    /* DAMON beside wp-async for the reads it cannot see (track = auto; NULL: none). Its
     * aggregations pace the epochs then. */
    const struct cdm_track_ops *reads;
    bool changed; /* ranges came or went since cdm__track_spans */
    bool sees_creation; /* the backend sees the write that makes a page (see is_creation) */
    size_t state_bytes, state_peak; /* what the ranges' pages and spans take, now and at most */
    /* Several sockets: pages go to the DRAM of the CPU that used them (users.c). The node the
     * program's threads ran on in the epoch being collected, for backends that see no thread
     * (-1: not known, or several); the threads of ours, which are not users. */
    bool sockets;
    int epoch_user;
    pid_t tracker_tid, migrator_tid;
    /* One producer (the tracker thread), consumed by whoever holds `lock`. */
    uintptr_t pending[PENDING];
    int16_t pending_user[PENDING];
    unsigned pending_head, pending_tail;
    uint32_t releases_lost; /* faults resolved with the ring full: their ranges are not known */
} tracker = {.lock = PTHREAD_MUTEX_INITIALIZER,
             .range_slab = {.object_size = sizeof(struct cdm_tracked)},
             .uffd = -1, .huge_uffd = -1, .pagemap_fd = -1, .wake_fd = -1, .migrate_fd = -1,
             .epoch_user = -1,
             .epoch = CDM_EPOCH_FIRST - 1, .migrated_epoch = CDM_EPOCH_FIRST - 1};

/* Signalled when a move_pages call in flight on a range ends (a discard waits for it). */
static pthread_cond_t moved = PTHREAD_COND_INITIALIZER;

/* Serialises opening the descriptors and starting the threads (first tracked buffer) with
 * stopping them (exit); never held across pthread_create (see cdm__tracker_start_threads). */
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t spawned = PTHREAD_COND_INITIALIZER; /* `spawning` went false */
/* Set when the threads should start and the hook that asked could not start them. */
static int threads_wanted;

static bool rule_tracks(int rule)
{
    enum cdm_migrate migrate = cdm__rt.config.rules[rule].migrate;
    return migrate == CDM_MIGRATE_FOLLOW_CPU || migrate == CDM_MIGRATE_TIER;
}

static bool synchronous(void)
{
    return tracker.backend == CDM_TRACK_WP || tracker.backend == CDM_TRACK_MISSING;
}

void cdm__tracker_setup(void)
{
    const struct cdm_config *config = &cdm__rt.config;
    tracker.backend = CDM_TRACK_OFF;
    bool migrating = false;
    for (int i = 0; i < config->n_rules; i++)
        migrating |= rule_tracks(i);
    if (!(migrating || cdm__profiling()) || config->settings.track == CDM_TRACK_OFF)
        return;
    tracker.sockets = cdm__nodemask_count(&cdm__rt.topology.dram) > 1;
    struct cdm_backend_probe probe;
    cdm__backends_probe(&probe);
    char why[512];
    tracker.backend = cdm__backend_choose(&probe, config->settings.track, why, sizeof why);
    static const struct cdm_track_ops *const ops[] = {
        [CDM_TRACK_WP_ASYNC] = &cdm__track_wp_async, [CDM_TRACK_WP] = &cdm__track_wp,
        [CDM_TRACK_MISSING] = &cdm__track_missing, [CDM_TRACK_DAMON] = &cdm__track_damon};
    tracker.ops = tracker.backend < sizeof ops / sizeof ops[0] && ops[tracker.backend]
                      ? ops[tracker.backend]
                      : &cdm__track_missing;
    /* Scans and DAMON name no thread: sampled faults tell whose a block is (users.c). */
    if (tracker.sockets && migrating && !synchronous())
        cdm__users_sample_faults();
    /* Reads move pages only for migrating rules: a profile alone does not take the machine's
     * one DAMON interface. */
    if (migrating && cdm__backend_reads_too(&probe, config->settings.track, tracker.backend))
        tracker.reads = &cdm__track_damon;
    if (tracker.backend == CDM_TRACK_OFF)
        cdm__warn_once(CDM_WARN_TRACKER, "no access tracker is allowed here (%s): %s", why,
                       cdm__profiling() ? "the profile records no accesses"
                                        : "buffers are placed but no page is migrated");
    else if (why[0])
        cdm__warn_once(CDM_WARN_TRACKER, "track = %s: %s; tracking with %s (sees %s)",
                       cdm__track_name(config->settings.track), why,
                       cdm__track_name(tracker.backend), cdm__tracker_sees());
}

enum cdm_track cdm__tracker_backend(void)
{
    return tracker.backend;
}

const char *cdm__tracker_sees(void)
{
    return cdm__backend_sees(tracker.backend, tracker.reads != NULL);
}

/* The backend whose timing ends epochs: DAMON's aggregations where it runs. */
static const struct cdm_track_ops *pacer(void)
{
    return tracker.reads ? tracker.reads : tracker.ops;
}

/* ------------------------------------------------------------------ ranges (lock held) */

static void range_free(struct cdm_tracked *range)
{
    if (range->state)
        cdm__arena_unmap(range->state, range->state_size);
    tracker.state_bytes -= range->state_size;
    cdm__slab_free(&tracker.range_slab, range);
}

static uintptr_t range_end(const struct cdm_tracked *range)
{
    return range->start + range->n_pages * plat_page_size();
}

/* The index of the first range that ends after `address`: the one holding it, if any, else
 * where a range starting there goes. */
static int range_index(uintptr_t address)
{
    int low = 0, high = tracker.n_ranges;
    while (low < high) {
        int middle = low + (high - low) / 2;
        if (range_end(tracker.ranges[middle]) <= address)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

static struct cdm_tracked *range_holding(uintptr_t address)
{
    int i = range_index(address);
    return i < tracker.n_ranges && tracker.ranges[i]->start <= address ? tracker.ranges[i]
                                                                       : NULL;
}

/* Puts `range` in its place by address; false when the array could not grow. */
static bool range_insert(struct cdm_tracked *range)
{
    if (tracker.n_ranges == tracker.capacity) {
        int capacity = tracker.capacity ? 2 * tracker.capacity : 64;
        size_t slot = sizeof *tracker.ranges;
        struct cdm_tracked **grown =
            cdm__arena_grow(tracker.ranges, (size_t)tracker.capacity * slot,
                            (size_t)tracker.n_ranges * slot, (size_t)capacity * slot);
        if (!grown)
            return false;
        tracker.ranges = grown;
        tracker.capacity = capacity;
    }
    int i = range_index(range->start);
    memmove(&tracker.ranges[i + 1], &tracker.ranges[i],
            (size_t)(tracker.n_ranges - i) * sizeof *tracker.ranges);
    tracker.ranges[i] = range;
    /* Stored atomically: cdm__tracker_tracking reads it without the lock. */
    __atomic_store_n(&tracker.n_ranges, tracker.n_ranges + 1, __ATOMIC_RELAXED);
    tracker.changed = true;
    return true;
}

static void drain_pending(void);

/* Takes range i out of the registry and returns it. The faults served in it while the lock
 * was busy are marked first: marked later, a fault in a buffer freed would land in the one
 * mapped next at its address, as a write to pages that buffer's fill had made (a use, where
 * there was none). */
static struct cdm_tracked *range_unlink(int i)
{
    drain_pending();
    struct cdm_tracked *range = tracker.ranges[i];
    __atomic_store_n(&tracker.n_ranges, tracker.n_ranges - 1, __ATOMIC_RELAXED);
    memmove(&tracker.ranges[i], &tracker.ranges[i + 1],
            (size_t)(tracker.n_ranges - i) * sizeof *tracker.ranges);
    tracker.changed = true;
    return range;
}

static void range_remove_at(int i)
{
    range_free(range_unlink(i));
}

/* The range's buffer is gone, or the process exits: a profiling run says how it was used. */
static void range_leave(int i)
{
    if (cdm__profiling())
        cdm__profile_record(tracker.ranges[i], tracker.epoch, tracker.backend,
                            tracker.reads != NULL);
    range_remove_at(i);
}

/* A new range, with its per-page and per-span arrays in one mapping of our own; NULL
 * without memory. */
static struct cdm_tracked *range_new(uintptr_t start, size_t n_pages, int rule)
{
    struct cdm_tracked *range = cdm__slab_alloc(&tracker.range_slab);
    if (!range)
        return NULL;
    /* The backend's state first (aligned), then a byte a page, then the users' spans. */
    uint32_t span_pages;
    size_t per_span = tracker.ops->span_state_bytes + tracker.sockets;
    size_t room = SPAN_STATE_MAX - tracker.ops->range_state_bytes;
    size_t n_spans = cdm_pages_spans(start, n_pages, plat_page_size(), CDM_HUGE_BLOCK,
                                     per_span ? room / per_span : room, &span_pages);
    size_t own = tracker.ops->range_state_bytes + n_spans * tracker.ops->span_state_bytes;
    own = (own + 7) & ~(size_t)7;
    size_t users = tracker.sockets ? n_spans : 0;
    size_t size = own + n_pages + users;
    void *state = cdm__arena_map(size);
    if (!state) {
        cdm__slab_free(&tracker.range_slab, range);
        return NULL;
    }
    *range = (struct cdm_tracked){.id = ++tracker.next_id, .start = start, .n_pages = n_pages,
                                  .rule = rule, .added_epoch = tracker.epoch,
                                  .span_pages = span_pages, .n_spans = (uint32_t)n_spans,
                                  .state = state, .state_size = size};
    range->backend_state = own ? state : NULL;
    range->users = users ? (uint8_t *)state + own + n_pages : NULL;
    bool tier = rule >= 0 && cdm__rt.config.rules[rule].migrate == CDM_MIGRATE_TIER;
    cdm_pages_init(&range->pages, (uint8_t *)state + own, n_pages, tracker.epoch,
                   cdm_pages_quantum(cdm__migrate_idle_epochs(rule)), tier);
    tracker.state_bytes += size;
    if (tracker.state_bytes > tracker.state_peak)
        __atomic_store_n(&tracker.state_peak, tracker.state_bytes, __ATOMIC_RELAXED);
    if (tracker.ops->state_init)
        tracker.ops->state_init(range);
    return range;
}

/* A page's creation is not a use: a buffer being filled is not yet a buffer in use, and one
 * freed soon after costs no migration. When the backend sees the write that makes a page
 * (wp-async; wp with WP_UNPOPULATED, 6.4), the first write seen is that one: the page stays
 * where placement put it, counted as touched long ago, and later writes count as use. `missing`
 * sees nothing but the first touch: for a migrating rule it never counts (a profile records
 * it). DAMON and wp before 6.4 cannot tell the making write from a use: what they see in a
 * range's first CREATION_GRACE epochs (its filling) does not count. */
#define CREATION_GRACE 2

static bool is_creation(const struct cdm_tracked *range, size_t i, uint32_t epoch)
{
    bool seen = cdm_pages_seen(&range->pages, i);
    if (tracker.sees_creation)
        return !seen;
    if (range->rule < 0) /* a profile's: every sighting is an access */
        return false;
    if (tracker.backend == CDM_TRACK_MISSING)
        return !seen;
    return epoch - range->added_epoch <= CREATION_GRACE;
}

/* DAMON beside wp-async (tracker.reads): whether its sightings of `range` can count. wp-async
 * sees the making write and DAMON cannot tell it from a use: a range's filling is left to
 * wp-async, and so are the epochs after DAMON began watching it, after pages of it were made
 * and after pages of it moved (reads_from). */
static bool reads_count(const struct cdm_tracked *range, uint32_t epoch)
{
    return range->reads_from && (int32_t)(epoch - range->reads_from) >= 0 &&
           (range->rule < 0 || epoch - range->added_epoch > CREATION_GRACE);
}

/* DAMON beside wp-async: its sightings of `range` count from `epoch` on, if that is later
 * than they did (its next accessed bits are of writes, or moves, already accounted for). */
static void defer_reads(struct cdm_tracked *range, uint32_t epoch)
{
    if (range->reads_from && (int32_t)(epoch - range->reads_from) > 0)
        range->reads_from = epoch;
}

/* As cdm__track_mark, the pages used by a thread on node `user` (-1: not known); `read`: seen
 * by DAMON beside wp-async. */
static size_t mark_used(struct cdm_tracked *range, uintptr_t from, uintptr_t to, uint32_t epoch,
                        int user, bool read)
{
    size_t page = plat_page_size(), used = 0;
    bool made = false;
    uintptr_t sampled_block = 0;
    int sampled_user = -1;
    from = from > range->start ? from : range->start;
    to = to < range_end(range) ? to : range_end(range);
    for (uintptr_t at = from & ~(uintptr_t)(page - 1); at < to; at += page) {
        size_t i = (at - range->start) / page;
        if (read && !cdm_pages_seen(&range->pages, i)) {
            /* Made since the scan: the next scan's to judge. A huge range's blocks are
             * protected only once there, so a page made in one later is never seen made:
             * DAMON's first sighting of it is taken for its making. */
            if (range->huge) {
                cdm_pages_cool(&range->pages, i);
                made = true;
            }
            continue;
        }
        if (!read && is_creation(range, i, epoch)) {
            cdm_pages_cool(&range->pages, i);
            made = true;
            continue;
        }
        range->page_epochs += cdm_pages_touch(&range->pages, i, epoch);
        /* DAMON's sighting may be of an aggregation that began before the epoch's threads
         * ran: it names a user only where none is known. */
        uint8_t *known = range->users ? &range->users[cdm__track_user_slot(range, i)] : NULL;
        if (known && (at >> CDM_USER_BLOCK_SHIFT) + 1 != sampled_block) {
            sampled_block = (at >> CDM_USER_BLOCK_SHIFT) + 1;
            sampled_user = cdm__users_block_node(at);
        }
        /* A fault sampled in the page's block names its CPU; else the epoch's one user. */
        int who = sampled_user >= 0 ? sampled_user : user;
        if (known && who >= 0 && !(read && *known))
            *known = (uint8_t)(who + 1);
        used++;
    }
    /* DAMON's next aggregation may hold the making write: its sampled accessed bit is the
     * fill's, not a use. */
    if (made)
        defer_reads(range, epoch + 2);
    return used; /* the pages counted as used */
}

size_t cdm__track_mark(struct cdm_tracked *range, uintptr_t from, uintptr_t to, uint32_t epoch)
{
    return mark_used(range, from, to, epoch, tracker.epoch_user, false);
}

size_t cdm__track_mark_inferred(struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                                uint32_t epoch)
{
    return mark_used(range, from, to, epoch, -1, false);
}

size_t cdm__track_user_slot(const struct cdm_tracked *range, size_t i)
{
    if (!range->huge)
        return i / range->span_pages;
    uintptr_t base = range->start & ~(uintptr_t)(CDM_HUGE_BLOCK - 1);
    return (range->start - base + i * plat_page_size()) / (range->span_pages * plat_page_size());
}

bool cdm__track_same_writer(const struct cdm_tracked *range, size_t i, size_t j)
{
    if (!range->users)
        return true;
    uint8_t a = range->users[cdm__track_user_slot(range, i)];
    return a && a == range->users[cdm__track_user_slot(range, j)];
}

/* The DRAM node of the CPU a faulting thread runs on, remembered for the epoch (a fault
 * costs a read of /proc otherwise); -1 with one socket or when not known. */
static int fault_user(pid_t tid)
{
    static struct {
        pid_t tid;
        uint32_t epoch;
        int node;
    } seen[64];
    if (!tracker.sockets || tid <= 0)
        return -1;
    unsigned slot = (unsigned)tid % 64;
    uint32_t epoch = __atomic_load_n(&tracker.epoch, __ATOMIC_RELAXED);
    if (seen[slot].tid != tid || seen[slot].epoch != epoch) {
        int node = cdm__users_thread_node(tid);
        seen[slot].tid = tid;
        seen[slot].epoch = epoch;
        seen[slot].node = node >= 0 && cdm__nodemask_has(&cdm__rt.topology.dram, node) ? node : -1;
    }
    return seen[slot].node;
}

static void fault_span(const struct plat_fault *fault, bool huge, uintptr_t *at, uintptr_t *end);

/* What a fault at `address` on `range` released, [at, end), marked as used in the epoch under
 * way by the thread on node `user`. A write-protect fault releases a block of 4 KiB pages.
 * When it is its page's making (sees_creation), it is no use of the block's other pages, and
 * those not seen yet count made with it: the writes making them next are no faults. What the
 * collection needs to tell which were made is kept (track_wp.c). */
static void mark_fault(struct cdm_tracked *range, uintptr_t address, uintptr_t at, uintptr_t end,
                       int user)
{
    size_t page = plat_page_size();
    uint32_t epoch = tracker.epoch + 1;
    at = at > range->start ? at : range->start;
    end = end < range_end(range) ? end : range_end(range);
    range->releases++;
    bool making = tracker.sees_creation && !range->huge && end - at > page &&
                  !cdm_pages_seen(&range->pages, (address - range->start) / page);
    if (!making) {
        mark_used(range, at, end, epoch, user, false);
        return;
    }
    for (uintptr_t p = at; p < end; p += page)
        if (!cdm_pages_seen(&range->pages, (p - range->start) / page))
            mark_used(range, p, p + page, epoch, user, false);
    if (range->making_from == range->making_to) {
        range->making_from = at;
        range->making_to = end;
    }
    range->making_from = at < range->making_from ? at : range->making_from;
    range->making_to = end > range->making_to ? end : range->making_to;
    range->making_page = address & ~(uintptr_t)(page - 1);
}

/* Marks the faults served while someone else held the lock. */
static void drain_pending(void)
{
    unsigned tail = __atomic_load_n(&tracker.pending_tail, __ATOMIC_ACQUIRE);
    for (unsigned head = tracker.pending_head; head != tail; head++) {
        uintptr_t address = tracker.pending[head % PENDING];
        struct cdm_tracked *range = range_holding(address);
        if (!range)
            continue;
        struct plat_fault fault = {.address = address,
                                   .write_protect = tracker.backend == CDM_TRACK_WP || range->huge};
        uintptr_t at, end;
        fault_span(&fault, range->huge, &at, &end);
        mark_fault(range, address, at, end, tracker.pending_user[head % PENDING]);
    }
    __atomic_store_n(&tracker.pending_head, tail, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------------ for the backends */

/* The operations of a range's own: a huge range's are its backend's `huge` ones (in
 * synchronous blocks; wp-async's keep the blocks' state in the range's span table). */
static const struct cdm_track_ops *range_ops(const struct cdm_tracked *range)
{
    return range->huge ? tracker.ops->huge : tracker.ops;
}

int cdm__track_uffd(const struct cdm_tracked *range)
{
    return range->huge ? tracker.huge_uffd : tracker.uffd;
}

/* What a write-protect fault on the userfaultfd costs a thread here: FAULT_PROBE_PAGES pages
 * of our own, made, protected and written a byte each, less the same writes unprotected; the
 * least of three rounds (what else runs only adds to it). Tracker thread, once. 0: not known.
 * The pages come from our arena and go back to it, which hands them on under its lock: given
 * back with munmap, the next thread to map them would race our writes as ThreadSanitizer
 * sees it (it does not see raw mmap). */
#define FAULT_PROBE_PAGES 32
uint64_t cdm__track_fault_ns(void)
{
    size_t page = plat_page_size(), len = FAULT_PROBE_PAGES * page;
    void *mem = tracker.uffd < 0 ? NULL : cdm__arena_map(len);
    if (!mem)
        return 0;
    volatile unsigned char *bytes = mem;
    uint64_t least = 0;
    plat_madvise(mem, len, MADV_NOHUGEPAGE);
    for (size_t at = 0; at < len; at += page)
        bytes[at] = 1; /* made first: a making write is no write-protect fault */
    if (plat_uffd_register(tracker.uffd, (uintptr_t)mem, len, UFFDIO_REGISTER_MODE_WP) == 0) {
        for (int round = 0; round < 3; round++) {
            if (plat_uffd_writeprotect(tracker.uffd, (uintptr_t)mem, len, true))
                break;
            uint64_t begin = cdm__now_ns();
            for (size_t at = 0; at < len; at += page)
                bytes[at + 64] = 2;
            uint64_t faulting = cdm__now_ns() - begin;
            begin = cdm__now_ns();
            for (size_t at = 0; at < len; at += page)
                bytes[at + 128] = 3;
            uint64_t plain = cdm__now_ns() - begin;
            uint64_t each = faulting > plain ? (faulting - plain) / FAULT_PROBE_PAGES : 1;
            least = least && least < each ? least : each;
        }
        plat_uffd_unregister(tracker.uffd, (uintptr_t)mem, len);
    }
    cdm__arena_unmap(mem, len);
    return least;
}

uint32_t cdm__track_releases_lost(void)
{
    return __atomic_load_n(&tracker.releases_lost, __ATOMIC_RELAXED);
}

int cdm__track_pagemap(void)
{
    return tracker.pagemap_fd;
}

/* DAMON beside wp-async: whether wp-async saw pages of `range` near [from, to) written
 * lately (its `written_lately`), which a sighting of the region may be. */
static bool written_lately(const struct cdm_tracked *range, uintptr_t from, uintptr_t to,
                           uint32_t epoch)
{
    const struct cdm_track_ops *ops = range_ops(range);
    from = from > range->start ? from : range->start;
    to = to < range_end(range) ? to : range_end(range);
    return from < to && ops->written_lately && ops->written_lately(range, from, to, epoch);
}

void cdm__track_mark_regions(const uintptr_t *from, const uintptr_t *to, int n, uint32_t epoch)
{
    bool read = tracker.reads != NULL;
    pthread_mutex_lock(&tracker.lock);
    for (int r = 0; r < n; r++) {
        int first = range_index(from[r]), past = first;
        bool counts = true;
        for (; past < tracker.n_ranges && tracker.ranges[past]->start < to[r]; past++)
            counts &= !read || (reads_count(tracker.ranges[past], epoch) &&
                                !written_lately(tracker.ranges[past], from[r], to[r], epoch));
        /* A region's accesses may be any of its pages': one range whose sightings cannot
         * count (the one being filled), or pages of it wp-async saw written lately, void the
         * region's, its neighbours' included. */
        for (int i = first; counts && i < past; i++)
            mark_used(tracker.ranges[i], from[r], to[r], epoch, tracker.epoch_user, read);
    }
    pthread_mutex_unlock(&tracker.lock);
}

int cdm__track_spans(uintptr_t *starts, uintptr_t *ends, int max, bool *changed)
{
    pthread_mutex_lock(&tracker.lock);
    *changed = tracker.changed;
    tracker.changed = false;
    /* Past `max`, neighbours are given as one (what lies between them is unmapped or
     * untracked, and shows no access). */
    int per = (tracker.n_ranges + max - 1) / max, n = 0;
    /* DAMON watches a range given now from the next epoch on: its sightings count after one
     * aggregation of it (reads_count). */
    for (int i = 0; i < tracker.n_ranges; i++)
        if (!tracker.ranges[i]->reads_from)
            tracker.ranges[i]->reads_from = tracker.epoch + 3;
    for (int i = 0; i < tracker.n_ranges; i += per, n++) {
        int last = i + per < tracker.n_ranges ? i + per - 1 : tracker.n_ranges - 1;
        starts[n] = tracker.ranges[i]->start;
        ends[n] = range_end(tracker.ranges[last]);
    }
    pthread_mutex_unlock(&tracker.lock);
    return n;
}

/* ------------------------------------------------------------------ collecting */

/* Register a range with the userfaultfd (caller holds `lock`); once the threads run, since a
 * fault on a registered page waits for them. */
static int register_range(struct cdm_tracked *range)
{
    if (tracker.backend != CDM_TRACK_DAMON) {
        uint64_t modes = tracker.backend == CDM_TRACK_MISSING ? UFFDIO_REGISTER_MODE_MISSING
                                                              : UFFDIO_REGISTER_MODE_WP;
        size_t len = range_end(range) - range->start;
        int err = plat_uffd_register(cdm__track_uffd(range), range->start, len, modes);
        if (err)
            return err;
        /* wp-async needs no protection here: a page written later is reported as written
         * anyway, and protecting empty entries would build page tables for the whole
         * buffer. A huge range's blocks are protected by the next epoch. */
        if (range_ops(range)->registered)
            range_ops(range)->registered(range);
    }
    range->registered = true;
    tracker.changed = true;
    return 0;
}

/* On the tracker thread, `lock` held: the ranges added before the threads ran. */
static void register_waiting(void)
{
    for (int i = tracker.n_ranges - 1; i >= 0 && tracker.unregistered; i--)
        if (!tracker.ranges[i]->registered && register_range(tracker.ranges[i]))
            range_remove_at(i); /* unmapped meanwhile: nothing to watch */
    tracker.unregistered = 0;
}

static void collect_epoch(uint32_t epoch, bool aggregated)
{
    int user = tracker.sockets && !synchronous()
                   ? cdm__users_epoch_node(tracker.tracker_tid, tracker.migrator_tid)
                   : -1;
    if (tracker.sockets && !synchronous())
        cdm__users_read_samples();
    pthread_mutex_lock(&tracker.lock);
    register_waiting();
    tracker.epoch_user = user >= 0 && cdm__nodemask_has(&cdm__rt.topology.dram, user) ? user : -1;
    pthread_mutex_unlock(&tracker.lock);
    if (tracker.ops->collect)
        tracker.ops->collect(epoch, aggregated);
    pthread_mutex_lock(&tracker.lock);
    drain_pending();
    for (int i = 0; i < tracker.n_ranges; i++) {
        struct cdm_tracked *range = tracker.ranges[i];
        /* Added since register_waiting, or a move over it in flight (the migrator released
         * the lock): next time. Protected while the kernel migrated a huge page of it, pages
         * of a range came out unprotected, and its next scan took them for written (wp-async:
         * a hinted half pulled back from the CDM node it was sent to). What is written
         * meanwhile is seen at the next look. */
        if (!range->registered || range->moving)
            continue;
        if (range_ops(range)->collect_range)
            range_ops(range)->collect_range(range, epoch);
    }
    pthread_mutex_unlock(&tracker.lock);
    /* DAMON's reads after the ranges' scans: what DAMON saw was aggregated before them, so
     * every write in it, a making write included, is known to the scans by now, and a region
     * where they found writes lately is not taken for a read (doc/design.md, "Reads beside
     * writes"). A page made since the last scan is seen now: its range's sightings wait. */
    if (tracker.reads)
        tracker.reads->collect(epoch, aggregated);
    pthread_mutex_lock(&tracker.lock);
    __atomic_store_n(&tracker.epoch, epoch, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&tracker.lock);
}

/* ------------------------------------------------------------------ faults */

/* The source of the page a missing write fault gets: zeros. */
static const unsigned char zeros[64 << 10] __attribute__((aligned(64 << 10)));

static int resolve(int uffd, const struct plat_fault *fault, uintptr_t at, size_t len)
{
    if (fault->write_protect)
        return plat_uffd_writeprotect(uffd, at, len, false);
    if (fault->write && len <= sizeof zeros) /* a page of its own, not the zero page */
        return plat_uffd_copy(uffd, at, zeros, len);
    return plat_uffd_zeropage(uffd, at, len);
}

/* What a fault releases: for write-protect the aligned block around it (a huge page's in a
 * huge range), else its page. */
static void fault_span(const struct plat_fault *fault, bool huge, uintptr_t *at, uintptr_t *end)
{
    uintptr_t span = huge ? CDM_HUGE_BLOCK : fault->write_protect ? WP_BLOCK : plat_page_size();
    *at = fault->address & ~(span - 1);
    *end = *at + span;
}

/* Mark what a fault on `uffd` releases, then let the program go on. When the lock is busy
 * the fault is resolved all the same and marked by the lock's next holder. */
static void serve_fault(int uffd, const struct plat_fault *fault)
{
    size_t page = plat_page_size();
    uintptr_t at, end;
    fault_span(fault, uffd == tracker.huge_uffd, &at, &end);
    int user = fault_user(fault->tid);
    if (pthread_mutex_trylock(&tracker.lock) == 0) {
        struct cdm_tracked *range = range_holding(fault->address);
        if (range) {
            at = at > range->start ? at : range->start; /* clipped: one registered range */
            end = end < range_end(range) ? end : range_end(range);
            mark_fault(range, fault->address, at, end, user);
            cdm__rule_stats_fault(range->rule);
        }
        pthread_mutex_unlock(&tracker.lock);
    } else {
        unsigned tail = tracker.pending_tail;
        if (tail - __atomic_load_n(&tracker.pending_head, __ATOMIC_ACQUIRE) < PENDING) {
            tracker.pending[tail % PENDING] = fault->address;
            tracker.pending_user[tail % PENDING] = (int16_t)user;
            __atomic_store_n(&tracker.pending_tail, tail + 1, __ATOMIC_RELEASE);
        } else {
            __atomic_add_fetch(&tracker.releases_lost, 1, __ATOMIC_RELAXED);
        }
    }
    int err = resolve(uffd, fault, at, end - at);
    if (err && err != EEXIST && end - at > page) { /* past the range, or several mappings
                                                    * before Linux 6.4: its page alone */
        at = fault->address & ~(uintptr_t)(page - 1);
        end = at + page;
        err = resolve(uffd, fault, at, page);
    }
    if (err && err != EEXIST && err != ENOENT) {
        /* The kernel will not resolve it: the page leaves the userfaultfd, which lets the
         * program go on, untracked there. */
        plat_uffd_unregister(uffd, at, page);
        cdm__warn_once(CDM_WARN_TRACKER, "a fault could not be resolved (%s): that page is no "
                                         "longer tracked",
                       strerrorname_np(err));
    }
    if (err)
        plat_uffd_wake(uffd, at, end - at);
}

static void serve_faults(int uffd)
{
    struct plat_fault faults[16];
    int n;
    while (plat_uffd_read(uffd, faults, 16, &n) == 0) /* until EAGAIN */
        for (int i = 0; i < n; i++)
            serve_fault(uffd, &faults[i]);
}

/* ------------------------------------------------------------------ the threads */

static void drain(int fd)
{
    uint64_t count;
    while (read(fd, &count, sizeof count) > 0)
        ;
}

static void kick(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full, the thread has plenty of wake-ups */
    }
}

static bool stopping(void)
{
    return __atomic_load_n(&tracker.stopping, __ATOMIC_ACQUIRE);
}

static void *tracker_main(void *unused)
{
    cdm__guard = 1; /* everything this thread calls goes straight to the real functions */
    tracker.tracker_tid = gettid();
    pthread_mutex_lock(&tracker.lock);
    register_waiting();
    pthread_mutex_unlock(&tracker.lock);
    uint64_t epoch_ns = cdm__rt.config.settings.epoch_ns;
    uint64_t next = cdm__now_ns() + epoch_ns;
    while (!stopping()) {
        int traced = pacer()->event_fd ? pacer()->event_fd() : -1;
        uint64_t now = cdm__now_ns();
        int timeout_ms = now >= next ? 0 : (int)((next - now + 999999) / 1000000);
        struct pollfd fds[4] = {{.fd = tracker.wake_fd, .events = POLLIN},
                                {.fd = synchronous() ? tracker.uffd : -1, .events = POLLIN},
                                {.fd = traced, .events = POLLIN},
                                {.fd = tracker.huge_uffd, .events = POLLIN}};
        if (poll(fds, 4, timeout_ms) > 0) { /* an error is a timeout: faults are read anyway */
            if (fds[0].revents & POLLIN)
                drain(tracker.wake_fd);
        }
        if (synchronous())
            serve_faults(tracker.uffd);
        if (tracker.huge_uffd >= 0)
            serve_faults(tracker.huge_uffd);
        /* damon, traced: the end of an aggregation is the end of an epoch. */
        bool aggregated = traced >= 0 && pacer()->epoch_ended();
        if (stopping() || (!aggregated && cdm__now_ns() < next))
            continue;
        uint64_t began = cdm__now_ns();
        collect_epoch(tracker.epoch + 1, aggregated);
        kick(tracker.migrate_fd);
        if (pacer()->next_epoch) {
            next = pacer()->next_epoch(began, epoch_ns);
        } else {
            next += epoch_ns;
            if (next < cdm__now_ns()) /* an epoch ran late: skip, do not catch up */
                next = cdm__now_ns() + epoch_ns;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ migrating */

/* The range a reference names, if it is still there. */
static struct cdm_tracked *range_named(struct cdm_range_ref ref)
{
    struct cdm_tracked *range = range_holding(ref.start);
    return range && range->id == ref.id ? range : NULL;
}

/* DAMON beside wp-async sights the pages a move went over in the aggregation the move falls
 * in, used or not (doc/design.md, "Reads beside writes"): the range's sightings count from the
 * epoch after the one under way, whose aggregation begins after the move. Before the move as
 * well as after it: the tracker thread may collect while it is in flight. */
static void defer_reads_past_now(struct cdm_tracked *range)
{
    defer_reads(range, tracker.epoch + 2);
}

/* One system call on the batch (query: where its pages are; else move them) with the lock
 * released, its ranges marked as moving meanwhile
 * (a discard on them waits); then each range is looked up again, and the pages of one that
 * went or was discarded leave the batch. False when the threads are stopping (nothing of the
 * call is kept then). */
static bool batch_call(struct cdm_move_batch *b, bool query, int *err, uint64_t *spent)
{
    for (int r = 0; r < b->n_ranges; r++)
        if (b->ranges[r].range) {
            b->ranges[r].range->moving = true;
            if (!query)
                defer_reads_past_now(b->ranges[r].range);
        }
    pthread_mutex_unlock(&tracker.lock);
    uint64_t begin = cdm__now_ns();
    *err = query ? cdm__migrate_query(b) : cdm__migrate_move(b);
    *spent = cdm__now_ns() - begin;
    pthread_mutex_lock(&tracker.lock);
    drain_pending();
    for (int r = 0; r < b->n_ranges; r++) {
        struct cdm_tracked *range = b->ranges[r].range ? range_named(b->ranges[r].ref) : NULL;
        if (range) {
            range->moving = false;
            if (!query) /* an epoch may have been collected meanwhile */
                defer_reads_past_now(range);
        }
        b->ranges[r].range = range;
    }
    /* `moving` is clear before the lock goes: a discard waiting for it checks again then,
     * also for a range that went meanwhile. */
    pthread_cond_broadcast(&moved);
    cdm__migrate_keep_live(b);
    return !stopping();
}

/* Moves the batch: pages whose node is not known are asked first (one already where it
 * should be is no migration), then moved; empties it. */
static void batch_flush(struct cdm_move_batch *b)
{
    int err = 0;
    uint64_t spent;
    bool going_on = b->n > 0;
    if (going_on && cdm__migrate_unknown(b)) {
        going_on = batch_call(b, true, &err, &spent);
        if (going_on && !err)
            cdm__migrate_drop_there(b);
    }
    if (going_on && b->n > 0 && batch_call(b, false, &err, &spent))
        cdm__migrate_settle(b, err, spent);
    b->n = b->n_ranges = 0;
}

/* The rule's ranges, named so that they can be found again after the lock was released, and
 * as they are now; false without memory for them. The arrays are the migrator thread's. */
static bool ranges_of(int rule, struct cdm_range_ref **refs, struct cdm_tracked ***ranges,
                      int *n)
{
    static struct cdm_range_ref *ref_array;
    static struct cdm_tracked **range_array;
    static size_t capacity;
    if ((size_t)tracker.n_ranges > capacity) {
        size_t wanted = (size_t)tracker.n_ranges * 2;
        struct cdm_range_ref *more_refs = cdm__arena_grow(
            ref_array, capacity * sizeof *ref_array, 0, wanted * sizeof *ref_array);
        if (!more_refs)
            return false;
        ref_array = more_refs;
        struct cdm_tracked **more_ranges = cdm__arena_grow(
            range_array, capacity * sizeof *range_array, 0, wanted * sizeof *range_array);
        if (!more_ranges)
            return false; /* the refs grew: capacity stays, and they grow again next time */
        range_array = more_ranges;
        capacity = wanted;
    }
    *n = 0;
    for (int k = 0; k < tracker.n_ranges; k++) {
        if (tracker.ranges[k]->rule != rule)
            continue;
        ref_array[*n] = (struct cdm_range_ref){.id = tracker.ranges[k]->id,
                                               .start = tracker.ranges[k]->start};
        range_array[(*n)++] = tracker.ranges[k];
    }
    *refs = ref_array;
    *ranges = range_array;
    return true;
}

/* The lock held: every tracked page to where its rule wants it, promotions first (what is
 * hot is on DRAM before what cooled leaves it). epoch_end: a collected epoch (its counts,
 * aging and `epoch` event); else a hint's run. Each pass decides from the same ranking (a
 * copy: tier's quota is used up page by page); the counts are the first pass's. */
static void migrate_epoch(uint32_t epoch, bool epoch_end)
{
    static struct cdm_move_batch batch; /* one migrator thread */
    if (cdm__profiling()) /* its buffers are watched, never moved */
        return;
    drain_pending();
    for (int rule = 0; rule < cdm__rt.config.n_rules && !stopping(); rule++) {
        struct cdm_range_ref *refs;
        struct cdm_tracked **ranges;
        int n_refs;
        if (!ranges_of(rule, &refs, &ranges, &n_refs) || !n_refs)
            continue;
        if (epoch_end && cdm__migrate_nodes_shrank(rule, epoch))
            for (int k = 0; k < n_refs; k++)
                cdm__migrate_forget_nodes(ranges[k]);
        struct cdm_rule_epoch decided;
        cdm__migrate_rule_start(&decided, rule, ranges, n_refs);
        struct cdm_rule_epoch demoting = decided; /* before the first pass uses up the quota */
        for (int pass = 0; pass < 2; pass++) {
            struct cdm_rule_epoch *r = pass == 0 ? &decided : &demoting;
            cdm__migrate_batch_start(&batch, rule, pass == 0, epoch, epoch_end);
            for (int k = 0; k < n_refs && !stopping(); k++) {
                struct cdm_tracked *range = range_named(refs[k]);
                for (size_t next = 0; range && next < range->n_pages;) {
                    next = cdm__migrate_plan(&batch, range, refs[k], next, epoch, r);
                    if (batch.n < CDM_MOVE_BATCH)
                        continue; /* the range is done */
                    batch_flush(&batch);
                    range = range_named(refs[k]);
                }
            }
            batch_flush(&batch);
        }
        if (!epoch_end || stopping())
            continue;
        for (int k = 0; k < n_refs; k++) {
            struct cdm_tracked *range = range_named(refs[k]);
            if (range)
                cdm__migrate_count(&decided, range, epoch);
        }
        cdm__migrate_rule_end(&decided, rule, epoch);
    }
}

static void *migrator_main(void *unused)
{
    cdm__guard = 1;
    tracker.migrator_tid = gettid();
    for (;;) {
        struct pollfd fd = {.fd = tracker.migrate_fd, .events = POLLIN};
        poll(&fd, 1, -1);
        if (stopping())
            break;
        drain(tracker.migrate_fd);
        pthread_mutex_lock(&tracker.lock);
        uint32_t epoch = __atomic_load_n(&tracker.epoch, __ATOMIC_ACQUIRE);
        bool epoch_end = epoch != tracker.migrated_epoch;
        tracker.migrated_epoch = epoch;
        migrate_epoch(epoch, epoch_end);
        pthread_mutex_unlock(&tracker.lock);
    }
    return NULL;
}

/* A userfaultfd in *out with the features `wanted` picks from those offered (one UFFDIO_API
 * per descriptor: a first one only asks). */
static int open_uffd_with(bool async, uint64_t (*wanted)(uint64_t offered), int *out)
{
    int fd, err = plat_uffd_open(async, &fd);
    uint64_t offered = 0;
    if (err)
        return err;
    err = plat_uffd_api(fd, 0, &offered);
    close(fd);
    if (err || (err = plat_uffd_open(async, &fd)) != 0)
        return err;
    if ((err = plat_uffd_api(fd, wanted(offered), NULL)) != 0) {
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

/* Which socket a synchronous fault came from (users.c). */
static uint64_t thread_id(uint64_t offered)
{
    return tracker.sockets ? offered & UFFD_FEATURE_THREAD_ID : 0;
}

static uint64_t backend_features(uint64_t offered)
{
    switch (tracker.backend) {
    case CDM_TRACK_WP_ASYNC:
        tracker.sees_creation = true; /* a page made since the last scan reads as written */
        return UFFD_FEATURE_PAGEFAULT_FLAG_WP | PLAT_UFFD_WP_ASYNC;
    case CDM_TRACK_WP:
        /* Without WP_UNPOPULATED (6.4) the first write to a fresh page is not seen. */
        tracker.sees_creation = (offered & PLAT_UFFD_WP_UNPOPULATED) != 0;
        return UFFD_FEATURE_PAGEFAULT_FLAG_WP | (offered & PLAT_UFFD_WP_UNPOPULATED) |
               thread_id(offered);
    default: return thread_id(offered);
    }
}

/* No WP_UNPOPULATED: protecting an empty block would fill it with markers of 4 KiB pages,
 * and the huge page the program's write would make there would never be. */
static uint64_t huge_features(uint64_t offered)
{
    return UFFD_FEATURE_PAGEFAULT_FLAG_WP | thread_id(offered);
}

static int open_uffd(void)
{
    return open_uffd_with(tracker.backend == CDM_TRACK_WP_ASYNC, backend_features, &tracker.uffd);
}

bool cdm__track_go_huge(struct cdm_tracked *range)
{
    size_t len = range_end(range) - range->start;
    if (tracker.huge_uffd < 0 && !tracker.huge_failed) {
        int err = open_uffd_with(false, huge_features, &tracker.huge_uffd);
        tracker.huge_failed = err != 0;
        /* Not allowed (a user without full userfaultfd): they split, as the man page says. */
        if (err && err != EPERM && err != EACCES) {
            cdm__warn_once(CDM_WARN_TRACKER, "a synchronous userfaultfd could not be opened "
                                             "(%s): writes to tracked huge pages split them",
                           strerrorname_np(err));
        }
    }
    if (tracker.huge_uffd < 0)
        return false;
    plat_uffd_unregister(tracker.uffd, range->start, len);
    if (plat_uffd_register(tracker.huge_uffd, range->start, len, UFFDIO_REGISTER_MODE_WP)) {
        plat_uffd_register(tracker.uffd, range->start, len, UFFDIO_REGISTER_MODE_WP);
        return false;
    }
    /* Its writers from now on by block: each keeps the writer of the span its first page was in
     * (slots only move up: block k's first page is in span k or k - 1). */
    size_t offset = (range->start & (CDM_HUGE_BLOCK - 1)) / plat_page_size();
    for (size_t k = range->n_spans; range->users && k-- > 0;) {
        size_t first = k * range->span_pages > offset ? k * range->span_pages - offset : 0;
        range->users[k] = first < range->n_pages ? range->users[first / range->span_pages] : 0;
    }
    range->huge = true;
    return true;
}

/* A range wp may find in huge pages: a huge page's worth or more, in its first
 * HUGE_LOOK_EPOCHS (when it is filled; a range wp protects and releases in parts splits its
 * huge pages at the first fault, so it must be found before). */
#define HUGE_LOOK_EPOCHS 10

static bool huge_candidate(const struct cdm_tracked *range, uint32_t epoch)
{
    return !range->huge && range->registered &&
           range->n_pages * plat_page_size() >= CDM_HUGE_BLOCK &&
           epoch - range->added_epoch <= HUGE_LOOK_EPOCHS;
}

/* The mappings smaps found with huge pages. Tracker thread only. */
static struct huge_mappings {
    int n;
    uintptr_t start[512], end[512];
} huge_mappings;

static bool note_huge_mapping(uintptr_t start, uintptr_t end, size_t huge_kib, void *arg)
{
    struct huge_mappings *found = arg;
    if (huge_kib) {
        found->start[found->n] = start;
        found->end[found->n++] = end;
    }
    return found->n < (int)(sizeof found->start / sizeof found->start[0]);
}

void cdm__track_find_huge(uint32_t epoch)
{
    if (!cdm__rt.topology.thp)
        return;
    bool wanted = false;
    pthread_mutex_lock(&tracker.lock);
    for (int i = 0; i < tracker.n_ranges && !wanted; i++)
        wanted = huge_candidate(tracker.ranges[i], epoch);
    pthread_mutex_unlock(&tracker.lock);
    huge_mappings.n = 0;
    if (!wanted || plat_smaps_huge(note_huge_mapping, &huge_mappings) != 0)
        return;
    pthread_mutex_lock(&tracker.lock);
    for (int m = 0; m < huge_mappings.n; m++)
        for (int i = range_index(huge_mappings.start[m]);
             i < tracker.n_ranges && tracker.ranges[i]->start < huge_mappings.end[m]; i++)
            if (huge_candidate(tracker.ranges[i], epoch))
                cdm__track_go_huge(tracker.ranges[i]);
    pthread_mutex_unlock(&tracker.lock);
}

/* Every descriptor closed; the caller holds `lock` or is alone (a fork's child). */
static void close_descriptors(void)
{
    int fds[] = {tracker.uffd, tracker.huge_uffd, tracker.pagemap_fd, tracker.wake_fd,
                 tracker.migrate_fd};
    tracker.uffd = tracker.huge_uffd = tracker.pagemap_fd = tracker.wake_fd = -1;
    tracker.migrate_fd = -1;
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void tracker_failed(int err)
{
    tracker.failed = true;
    cdm__warn_once(CDM_WARN_TRACKER, "the %s tracker could not start (%s): buffers are "
                                     "placed but no page is migrated",
                   cdm__track_name(tracker.backend), strerrorname_np(err));
}

static int start_threads(void)
{
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved); /* the threads inherit: no signal for them */
    int err = pthread_create(&tracker.tracker_thread, NULL, tracker_main, NULL);
    if (!err && (err = pthread_create(&tracker.migrator_thread, NULL, migrator_main, NULL))) {
        __atomic_store_n(&tracker.stopping, true, __ATOMIC_RELEASE);
        kick(tracker.wake_fd);
        pthread_join(tracker.tracker_thread, NULL);
        tracker.stopping = false;
    }
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return err;
}

/* The descriptors, opened with the first tracked buffer; called with start_lock held. */
static bool open_locked(void)
{
    if (tracker.opened || tracker.failed)
        return tracker.opened;
    int err = tracker.backend == CDM_TRACK_DAMON ? 0 : open_uffd();
    /* wp-async scans and protects through it; wp only asks it which pages are there
     * (track_wp.c) and goes on without it, as it did before it asked. */
    if (!err && (tracker.backend == CDM_TRACK_WP_ASYNC || tracker.backend == CDM_TRACK_WP)) {
        int pagemap_err =
            plat_open_above_stdio("/proc/self/pagemap", O_RDONLY, 0, &tracker.pagemap_fd);
        if (tracker.backend == CDM_TRACK_WP_ASYNC)
            err = pagemap_err;
    }
    if (!err)
        err = plat_eventfd(&tracker.wake_fd);
    if (!err)
        err = plat_eventfd(&tracker.migrate_fd);
    if (err)
        tracker_failed(err);
    tracker.opened = !err;
    return tracker.opened;
}

/* pthread_create calls calloc (the new thread's TLS vector). A hook may run inside the
 * program's allocator with its lock held (jemalloc, tcmalloc and mimalloc call mmap and
 * madvise so), where that calloc would wait for the lock forever: with such an allocator the
 * threads start at the program's next malloc-family call instead (cdm__hooks_want_call), and
 * until they run the ranges wait unregistered, so no fault can block on a thread that is not
 * there. glibc's malloc never calls our hooks; under it any hook may start them. No lock of
 * ours is held across pthread_create: a thread inside the allocator may be waiting for it. */
void cdm__tracker_start_threads(void)
{
    if (!__atomic_exchange_n(&threads_wanted, 0, __ATOMIC_ACQ_REL))
        return;
    cdm__guard++;
    pthread_mutex_lock(&start_lock);
    bool go = tracker.opened && !tracker.started && !tracker.spawning && !tracker.failed;
    if (go) /* another caller may be spawning them now: only the one that starts them clears it */
        tracker.spawning = true;
    pthread_mutex_unlock(&start_lock);
    if (go) {
        int err = start_threads();
        pthread_mutex_lock(&start_lock);
        tracker.spawning = false;
        if (err) {
            pthread_mutex_lock(&tracker.lock);
            close_descriptors();
            pthread_mutex_unlock(&tracker.lock);
            tracker_failed(err);
        }
        __atomic_store_n(&tracker.started, err == 0, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&spawned);
        pthread_mutex_unlock(&start_lock);
    }
    cdm__guard--;
}

/* The constructor runs where no allocator lock is held. When the program's malloc-family
 * calls never reach our hooks (an allocator ahead of us in the global scope), none would start
 * the threads later: they start here, whether a buffer will be tracked or not. */
void cdm__tracker_start_early(void)
{
    if (tracker.backend == CDM_TRACK_OFF || cdm__hooks_see_malloc())
        return;
    pthread_mutex_lock(&start_lock);
    bool opened = open_locked();
    pthread_mutex_unlock(&start_lock);
    if (opened) {
        __atomic_store_n(&threads_wanted, 1, __ATOMIC_RELEASE);
        cdm__tracker_start_threads();
    }
}

/* The threads are wanted: started here when no allocator but glibc's can be on the stack. */
static void want_threads(void)
{
    if (__atomic_load_n(&tracker.started, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&threads_wanted, 1, __ATOMIC_RELEASE);
    if (cdm__hooks_allocator_is_glibc())
        cdm__tracker_start_threads();
    else
        cdm__hooks_want_call();
}

/* ------------------------------------------------------------------ from the hooks */

static void warn_untracked(int rule, int err)
{
    char who[CDM_NAME_MAX + 16] = "";
    if (rule >= 0)
        snprintf(who, sizeof who, "rule '%s': ", cdm__rt.config.rules[rule].name);
    cdm__warn_once(CDM_WARN_TRACKER, "%sa buffer could not be tracked (%s); %s", who,
                   strerrorname_np(err),
                   cdm__profiling() ? "the profile has no access figures for it"
                                    : "it stays where it was placed");
}

bool cdm__tracker_wants(int rule)
{
    return tracker.backend != CDM_TRACK_OFF && (cdm__profiling() || rule_tracks(rule));
}

void cdm__tracker_add(uintptr_t start, size_t len, int rule)
{
    if (!cdm__tracker_wants(rule) || cdm__state != CDM_STATE_READY)
        return;
    pthread_mutex_lock(&start_lock);
    bool opened = open_locked();
    pthread_mutex_unlock(&start_lock);
    if (!opened)
        return;
    size_t page = plat_page_size();
    pthread_mutex_lock(&tracker.lock);
    struct cdm_tracked *range = range_new(start, len / page, rule);
    int err = range ? 0 : ENOMEM;
    bool running = __atomic_load_n(&tracker.started, __ATOMIC_ACQUIRE);
    if (!err && running)
        err = register_range(range);
    if (!err && !range_insert(range))
        err = ENOMEM;
    if (err && range)
        range_free(range);
    if (!err)
        tracker.unregistered += !running;
    pthread_mutex_unlock(&tracker.lock);
    if (err)
        warn_untracked(rule, err);
    else if (!running)
        want_threads();
}

/* Page i of `to` had its writer as page j of `from`. */
static void copy_user(struct cdm_tracked *to, size_t i, const struct cdm_tracked *from, size_t j)
{
    to->users[cdm__track_user_slot(to, i)] = from->users[cdm__track_user_slot(from, j)];
}

/* A new range at `start` of `n_pages` whose first pages have the history of `from`'s pages
 * from `first` on; NULL without memory. */
static struct cdm_tracked *range_from(const struct cdm_tracked *from, size_t first,
                                      uintptr_t start, size_t n_pages)
{
    struct cdm_tracked *range = range_new(start, n_pages, from->rule);
    if (!range)
        return NULL;
    size_t kept = n_pages < from->n_pages - first ? n_pages : from->n_pages - first;
    cdm_pages_copy(&range->pages, &from->pages, first, kept);
    range->huge = from->huge;
    /* Page k * span_pages is in slot k; the last page may be in one more (a huge range's
     * blocks start at a huge page's boundary). */
    for (size_t i = 0; range->users && i < kept; i += range->span_pages)
        copy_user(range, i, from, first + i);
    if (range->users && kept)
        copy_user(range, kept - 1, from, first + kept - 1);
    range->added_epoch = from->added_epoch;
    range->made_epoch = from->made_epoch;
    range->discards = from->discards;
    /* A profile's sum over epochs, shared by pages: a page's own share is not kept. */
    range->page_epochs = from->page_epochs * kept / from->n_pages;
    return range;
}

/* A range made by range_from into the registry: registered with the userfaultfd once the
 * threads run, unless its pages still are (`registered`: what is left of a registered
 * mapping keeps it); wp-async protects it whole, so that its spans start again from what is
 * known (written pages left unprotected would read as written at the next scan). */
static void range_adopt(struct cdm_tracked *range, bool registered)
{
    int err = 0;
    if (registered)
        range->registered = true;
    else if (__atomic_load_n(&tracker.started, __ATOMIC_ACQUIRE))
        err = register_range(range);
    if (!err && range_ops(range)->adopted)
        range_ops(range)->adopted(range);
    if (!err && !range_insert(range))
        err = ENOMEM;
    if (err) {
        warn_untracked(range->rule, err);
        range_free(range);
        return;
    }
    tracker.unregistered += !range->registered;
}

/* What survives of range i when [start, end) leaves it: the parts before and after, each a
 * range of its own (new ids) with its pages' history. */
static void range_cut(int i, uintptr_t start, uintptr_t end)
{
    struct cdm_tracked *range = range_unlink(i);
    uintptr_t bounds[2][2] = {{range->start, start}, {end, range_end(range)}};
    size_t page = plat_page_size();
    for (int k = 0; k < 2; k++) {
        if (bounds[k][0] >= bounds[k][1])
            continue;
        struct cdm_tracked *part = range_from(range, (bounds[k][0] - range->start) / page,
                                              bounds[k][0], (bounds[k][1] - bounds[k][0]) / page);
        if (part)
            range_adopt(part, range->registered);
        else
            warn_untracked(range->rule, ENOMEM);
    }
    range_free(range);
}

bool cdm__tracker_tracking(void)
{
    return __atomic_load_n(&tracker.n_ranges, __ATOMIC_RELAXED) != 0;
}

bool cdm__tracker_forget(uintptr_t start, size_t len)
{
    if (!cdm__tracker_tracking())
        return false;
    bool any = false;
    size_t page = plat_page_size();
    uintptr_t end = plat_page_round(start + len);
    start &= ~(uintptr_t)(page - 1);
    pthread_mutex_lock(&tracker.lock);
    for (int i = range_index(start); i < tracker.n_ranges && tracker.ranges[i]->start < end;) {
        struct cdm_tracked *range = tracker.ranges[i];
        uintptr_t from = start > range->start ? start : range->start;
        uintptr_t to = end < range_end(range) ? end : range_end(range);
        any = true;
        /* The part leaving is unregistered here (the kernel drops it with an unmapped
         * mapping, but not before an mremap moves it). */
        if (cdm__track_uffd(range) >= 0 && range->registered)
            plat_uffd_unregister(cdm__track_uffd(range), from, to - from);
        if (from == range->start && to == range_end(range)) {
            range_leave(i);
            continue;
        }
        range_cut(i, from, to);
        i = range_index(to); /* past what was cut out: the part after it starts at `to` */
    }
    pthread_mutex_unlock(&tracker.lock);
    return any;
}

struct cdm_tracked *cdm__tracker_detach(uintptr_t start, size_t len)
{
    if (!cdm__tracker_tracking())
        return NULL;
    pthread_mutex_lock(&tracker.lock);
    int i = range_index(start);
    struct cdm_tracked *range = i < tracker.n_ranges ? tracker.ranges[i] : NULL;
    if (range && (range->start != start || range_end(range) > start + len))
        range = NULL; /* not the whole of one range */
    if (range) {
        if (cdm__track_uffd(range) >= 0 && range->registered)
            plat_uffd_unregister(cdm__track_uffd(range), range->start,
                                 range_end(range) - range->start);
        range_unlink(i);
    }
    pthread_mutex_unlock(&tracker.lock);
    if (!range)
        cdm__tracker_forget(start, len);
    return range;
}

void cdm__tracker_attach(struct cdm_tracked *detached, uintptr_t start, size_t len)
{
    if (!detached)
        return;
    size_t n_pages = len / plat_page_size();
    pthread_mutex_lock(&tracker.lock);
    struct cdm_tracked *range = n_pages ? range_from(detached, 0, start, n_pages) : NULL;
    if (range)
        range_adopt(range, false); /* a move dropped the registration */
    else if (n_pages)
        warn_untracked(detached->rule, ENOMEM);
    range_free(detached);
    pthread_mutex_unlock(&tracker.lock);
}


/* Whether a range overlapping [start, end) has a move_pages call in flight. */
static bool moving_over(uintptr_t start, uintptr_t end)
{
    for (int i = range_index(start); i < tracker.n_ranges && tracker.ranges[i]->start < end; i++)
        if (tracker.ranges[i]->moving)
            return true;
    return false;
}

/* What advice does to the tracked pages it covers. */
enum advice { DISCARD, HOT, COLD };

/* Applies `advice` to the pages of every range inside [start, start + len); false when no
 * tracked page is there. */
static bool advise_pages(uintptr_t start, size_t len, enum advice advice)
{
    if (!cdm__tracker_tracking())
        return false;
    size_t page = plat_page_size();
    uintptr_t end = start + len;
    bool any = false;
    pthread_mutex_lock(&tracker.lock);
    /* A discard waits for a move in flight on its pages (one batch: milliseconds), in the
     * same hold of the lock as the reset, so that every later move is decided after it. */
    while (advice == DISCARD && moving_over(start, end))
        pthread_cond_wait(&moved, &tracker.lock);
    drain_pending(); /* faults from before the advice come before it */
    uint32_t now = tracker.epoch + 1;
    for (int r = range_index(start); r < tracker.n_ranges && tracker.ranges[r]->start < end; r++) {
        struct cdm_tracked *range = tracker.ranges[r];
        uintptr_t from = start > range->start ? start : range->start;
        uintptr_t to = end < range_end(range) ? end : range_end(range);
        if (from < to && advice == DISCARD)
            range->discards++;
        for (uintptr_t at = from & ~(uintptr_t)(page - 1); at < to; at += page) {
            size_t i = (at - range->start) / page;
            any = true;
            /* A hint is as if the page were touched now, or untouched since long ago: the
             * migrator moves it at once, and later epochs keep it there until the program's
             * use says otherwise. */
            switch (advice) {
            case DISCARD: cdm_pages_forget(&range->pages, i); break;
            case HOT: cdm_pages_heat_up(&range->pages, i, now); break;
            case COLD:
                cdm_pages_cool(&range->pages, i);
                if (range_ops(range)->cooled)
                    range_ops(range)->cooled(range, i);
                break;
            }
        }
    }
    pthread_mutex_unlock(&tracker.lock);
    return any;
}

void cdm__tracker_yield(int fd, uintptr_t start, size_t len)
{
    /* Our own registration, or the program's over a tracked range: that range leaves. */
    if (fd == tracker.uffd || fd == tracker.huge_uffd || !cdm__tracker_forget(start, len))
        return;
    cdm__warn_once(CDM_WARN_TRACKER, "the program registers a userfaultfd of its own over a "
                                     "tracked buffer (at %p): it leaves tracking there, and its "
                                     "pages stay where they are",
                   (void *)start);
}

void cdm__tracker_discard(uintptr_t start, size_t len)
{
    advise_pages(start, len, DISCARD);
}

bool cdm__tracker_hint(uintptr_t start, size_t len, bool to_dram)
{
    bool hinted = advise_pages(start, len, to_dram ? HOT : COLD);
    if (hinted && __atomic_load_n(&tracker.started, __ATOMIC_ACQUIRE))
        kick(tracker.migrate_fd);
    return hinted;
}

void cdm__tracker_stop(void)
{
    pthread_mutex_lock(&start_lock);
    while (tracker.spawning)
        pthread_cond_wait(&spawned, &start_lock);
    if (tracker.started) {
        __atomic_store_n(&tracker.stopping, true, __ATOMIC_RELEASE);
        kick(tracker.wake_fd);
        kick(tracker.migrate_fd);
        pthread_join(tracker.tracker_thread, NULL);
        pthread_join(tracker.migrator_thread, NULL);
        tracker.started = false;
    }
    tracker.failed = true; /* nothing is tracked after exit */
    if (tracker.ops && tracker.ops->stop)
        tracker.ops->stop();
    if (tracker.reads)
        tracker.reads->stop();
    pthread_mutex_lock(&tracker.lock);
    while (tracker.n_ranges)
        range_leave(tracker.n_ranges - 1);
    close_descriptors(); /* releases every range and wakes any fault still waiting */
    pthread_mutex_unlock(&tracker.lock);
    pthread_mutex_unlock(&start_lock);
}

bool cdm__tracker_watches(uintptr_t address)
{
    pthread_mutex_lock(&tracker.lock);
    bool watched = range_holding(address) != NULL;
    pthread_mutex_unlock(&tracker.lock);
    return watched;
}

size_t cdm__tracker_state_peak(void)
{
    return __atomic_load_n(&tracker.state_peak, __ATOMIC_RELAXED);
}

unsigned cdm__tracker_epochs(void)
{
    return __atomic_load_n(&tracker.epoch, __ATOMIC_ACQUIRE) - (CDM_EPOCH_FIRST - 1);
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
        pthread_cond_init(&moved, NULL);
        pthread_cond_init(&spawned, NULL);
        /* The threads are not in this process, the mappings lost their registration, and
         * DAMON watches the parent (damon.c leaves it to the parent). */
        close_descriptors();
        cdm__users_after_fork_child();
        if (tracker.ops && tracker.ops->forget)
            tracker.ops->forget();
        if (tracker.reads)
            tracker.reads->forget();
        while (tracker.n_ranges)
            range_remove_at(tracker.n_ranges - 1);
        tracker.started = tracker.stopping = false;
        tracker.opened = tracker.spawning = false;
        tracker.unregistered = 0;
        tracker.state_peak = 0;
        tracker.huge_failed = false;
        threads_wanted = 0;
        tracker.epoch = tracker.migrated_epoch = CDM_EPOCH_FIRST - 1;
        tracker.pending_head = tracker.pending_tail = 0;
        return;
    }
    pthread_mutex_unlock(&tracker.lock);
    pthread_mutex_unlock(&start_lock);
}
