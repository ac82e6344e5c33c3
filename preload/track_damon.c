/* SPDX-License-Identifier: MIT */
/* The damon tracker (track.h): the kernel's DAMON samples reads and writes of the tracked
 * ranges (damon.c drives it); nothing waits for us. Where its aggregations are traced, each
 * one ends an epoch; elsewhere each epoch reads back what it saw. The same operations run
 * beside wp-async under track = auto, for the reads (tracker.c, `reads`). */
#include "track.h"

#include <errno.h>
#include <string.h>

/* DAMON samples this often; it aggregates over an epoch or half of one (give_ranges). */
#define DAMON_SAMPLE_US 5000
#define DAMON_MAX_REGIONS 1024

/* What it reported since the last epoch. Tracker thread only. */
static struct damon_regions {
    int n;
    unsigned most;
    uintptr_t start[DAMON_MAX_REGIONS], end[DAMON_MAX_REGIONS];
    unsigned accesses[DAMON_MAX_REGIONS];
} regions;
static bool running; /* our kdamond is on */

static void seen(uintptr_t start, uintptr_t end, unsigned nr_accesses, unsigned age, void *arg)
{
    struct damon_regions *r = arg;
    if (nr_accesses && r->n < DAMON_MAX_REGIONS) {
        r->start[r->n] = start;
        r->end[r->n] = end;
        r->accesses[r->n] = nr_accesses;
        r->most = nr_accesses > r->most ? nr_accesses : r->most;
        r->n++;
    }
}

/* Give it the ranges when they changed. Its sysfs calls block for a tenth of a second or
 * more: no lock is held meanwhile. */
static int give_ranges(void)
{
    static uintptr_t starts[CDM_DAMON_MAX_RANGES], ends[CDM_DAMON_MAX_RANGES];
    bool changed;
    int n = cdm__track_spans(starts, ends, CDM_DAMON_MAX_RANGES, &changed);
    if (running)
        return changed ? cdm__damon_set_ranges(starts, ends, n) : 0;
    if (!n)
        return 0;
    /* Traced, an aggregation ends an epoch (epoch_ended). Read back, a collect waits for the
     * next aggregation to end and for the one after it to apply the scheme, one to two
     * aggregations: with aggregations of a whole epoch the epochs ran at two thirds of their
     * rate, so they are half an epoch there. */
    uint64_t epoch_us = cdm__rt.config.settings.epoch_ns / 1000;
    uint64_t aggr_us = cdm__damon_events_possible() ? epoch_us : epoch_us / 2;
    int err = cdm__damon_start(cdm__rt.pid, DAMON_SAMPLE_US,
                               aggr_us > DAMON_SAMPLE_US ? aggr_us : DAMON_SAMPLE_US, starts,
                               ends, n);
    running = err == 0;
    return err;
}

/* The regions seen since the last epoch, traced (`ended`: the epoch ends with an
 * aggregation) or read back now, count as touched. */
static void damon_collect(uint32_t epoch, bool ended)
{
    int err = give_ranges();
    if (!err && running && cdm__damon_events_fd() < 0) {
        regions.n = 0;
        regions.most = 0;
        err = cdm__damon_collect(seen, &regions);
    } else if (!err && running && !ended) {
        err = cdm__damon_check(); /* no aggregation for two epochs: is it still on? */
    }
    /* EAGAIN: DAMON ran late, nothing is known of this epoch. Beside wp-async (track = auto),
     * DAMON taken by another process (a job's other ranks) leaves the writes: no warning. */
    bool beside = cdm__tracker_backend() != CDM_TRACK_DAMON;
    if (err == EBUSY && beside)
        cdm__debug(1, "DAMON is in use by another process: reads are not seen");
    else if (err && err != EAGAIN)
        cdm__warn_once(CDM_WARN_TRACKER, "DAMON failed (%s%s): %s from now on are not seen",
                       strerrorname_np(err),
                       err == ESRCH ? ": our kdamond was turned off from outside" : "",
                       beside ? "reads" : "accesses");
    /* DAMON samples one page per region: a region only partly in use shows fewer accesses.
     * Those at least half as busy as the busiest count as touched; the rest is noise and
     * edges that DAMON's next splits will cut off. */
    int busy = 0;
    for (int r = 0; r < regions.n; r++) {
        if (regions.accesses[r] * 2 < regions.most)
            continue;
        regions.start[busy] = regions.start[r];
        regions.end[busy++] = regions.end[r];
    }
    cdm__track_mark_regions(regions.start, regions.end, busy, epoch);
    regions.n = 0;
    regions.most = 0;
}

static int damon_event_fd(void)
{
    return cdm__damon_events_fd();
}

static bool damon_epoch_ended(void)
{
    return cdm__damon_events_fd() >= 0 && cdm__damon_read_events(seen, &regions) > 0;
}

static uint64_t damon_next_epoch(uint64_t began, uint64_t epoch_ns)
{
    /* Traced, the timer stands in only when no aggregation comes (nothing monitored). Read
     * back, the collect itself waits for DAMON's aggregations: the next epoch is due an epoch
     * after this one began, at once when the wait took longer. */
    return began + (cdm__damon_events_fd() >= 0 ? 2 : 1) * epoch_ns;
}

static void damon_stop(void)
{
    if (running)
        cdm__damon_stop();
    running = false;
}

/* A fork's child: DAMON watches the parent (damon.c leaves it to the parent). */
static void damon_forget(void)
{
    cdm__damon_after_fork_child();
    running = false;
}

const struct cdm_track_ops cdm__track_damon = {
    .event_fd = damon_event_fd,
    .epoch_ended = damon_epoch_ended,
    .next_epoch = damon_next_epoch,
    .collect = damon_collect,
    .stop = damon_stop,
    .forget = damon_forget,
};
