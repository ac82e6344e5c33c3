/* SPDX-License-Identifier: MIT */
/* Migration: where each tracked page should live, and the move_pages calls that put it there.
 * Runs on the migrator thread (tracker.c), with the tracker's lock held except around each
 * move_pages call: a buffer may be freed or cut meanwhile, so each range is looked up again
 * by its id and start afterwards. A call moves the pages of many ranges at once.
 *
 * Each epoch reconciles every tracked page with the side its rule wants for it:
 *   follow-cpu  a page touched within `idle` lives on the DRAM node nearest the rule's
 *               nodes; one left alone longer goes back to the rule's nodes.
 *   tier        pages are ranked by their heat, an aging count of their uses in the last
 *               epochs (pages.h); the hottest up to `hot_set` live on DRAM, the rest of
 *               those seen go back to the rule's nodes.
 * A page never seen is left where placement put it, and a page going back that is on one of
 * the rule's nodes already stays there. Because the wanted side is recomputed each epoch
 * from state, a page that could not move (busy, a transparent huge page moving as a whole,
 * mapped by another process) is simply tried again: nothing is lost, and every move is
 * counted by what move_pages reports, page by page. */
#include "internal.h"

#include "decide.h"
#include <errno.h>
#include <limits.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>

/* Pages per move_pages call: each call has a fixed cost (28-45 us natively, 5 ms under TCG,
 * bench/RESULTS.md), and faults no longer wait for the migrator, so few large calls. A
 * discard waits for the call in flight on its pages: 4 MiB at most. */
#define BATCH 1024
/* Nodes counted per rule in `epoch` events. */
#define COUNTED_NODES 64
/* move_pages leaves the status of pages it did not try as it was. */
#define NOT_TRIED INT_MIN

enum { LEAVE = -1 };

/* Pages of one rule going one way, from any number of its ranges: a call per BATCH pages,
 * however small the ranges are. */
struct batch {
    int rule;
    bool to_dram;
    const char *reason;
    int n;        /* pages */
    int n_ranges; /* the ranges they are in, in the order they were added */
    struct {
        struct cdm_range_ref ref;
        uint32_t discards;         /* the range's count when its first page was added */
        struct cdm_tracked *range; /* while the lock is held; NULL: gone, or discarded */
    } ranges[BATCH];
    uint16_t in[BATCH]; /* page k is in ranges[in[k]] */
    size_t index[BATCH];
    void *pages[BATCH];
    int nodes[BATCH];
    int status[BATCH];
    int16_t before[BATCH]; /* node[] when the page was added */
};

/* The DRAM node a rule's pages go to when the CPU uses them: the one nearest its nodes. */
static int dram_node(int rule)
{
    static int cached[CDM_MAX_RULES];
    if (cached[rule])
        return cached[rule] - 1;
    const struct cdm_topology *topology = &cdm__rt.topology;
    const cdm_nodemask *nodes = &cdm__rt.config.rules[rule].nodes;
    int from = -1, best = -1, best_distance = INT_MAX;
    for (int node = 0; node <= topology->max_node && from < 0; node++)
        if (cdm__nodemask_has(nodes, node))
            from = node;
    for (int node = 0; node <= topology->max_node; node++) {
        if (!cdm__nodemask_has(&topology->dram, node))
            continue;
        int distance = from >= 0 ? cdm__topology_distance(from, node) : 0;
        if (distance >= 0 && distance < best_distance) {
            best = node;
            best_distance = distance;
        }
    }
    cached[rule] = best + 1;
    return best;
}

/* Where a page goes back to: the rule's nodes, spread by page index. */
static int policy_node(int rule, size_t index)
{
    const cdm_nodemask *nodes = &cdm__rt.config.rules[rule].nodes;
    int count = cdm__nodemask_count(nodes);
    if (count == 0)
        return LEAVE;
    int pick = (int)(index % (size_t)count);
    for (int node = 0; node <= cdm__rt.topology.max_node; node++)
        if (cdm__nodemask_has(nodes, node) && pick-- == 0)
            return node;
    return LEAVE;
}

uint32_t cdm__migrate_idle_epochs(int rule_index)
{
    if (rule_index < 0 || cdm__profiling()) /* each epoch's use counts (profile.c) */
        return 1;
    const struct cdm_rule *rule = &cdm__rt.config.rules[rule_index];
    uint64_t epoch_ns = cdm__rt.config.settings.epoch_ns;
    uint64_t epochs = (rule->idle_ns + epoch_ns - 1) / epoch_ns;
    if (rule->migrate != CDM_MIGRATE_FOLLOW_CPU || epochs < 1)
        return 1;
    return epochs > INT32_MAX ? INT32_MAX : (uint32_t)epochs; /* compared signed */
}

/* ------------------------------------------------------------------ moving */

/* Keeps the pages whose range is still there, in order. */
/* Page `from` of the batch becomes page `to` (to <= from: the batch is compacted in order). */
static void keep_page(struct batch *b, int to, int from)
{
    b->in[to] = b->in[from];
    b->index[to] = b->index[from];
    b->pages[to] = b->pages[from];
    b->nodes[to] = b->nodes[from];
    b->status[to] = b->status[from];
    b->before[to] = b->before[from];
}

static void keep_live(struct batch *b)
{
    int kept = 0;
    for (int k = 0; k < b->n; k++)
        if (b->ranges[b->in[k]].range)
            keep_page(b, kept++, k);
    b->n = kept;
}

/* One move_pages call with the lock released, the batch's ranges marked as moving meanwhile
 * (a discard on them waits). Afterwards each range is looked up again: the pages of one that
 * went leave the batch, and so do those of one whose pages were discarded meanwhile (the call
 * may have moved their new pages: nothing is known of where they are, and the next epoch
 * asks). False when the threads are stopping (then nothing of the results is kept). */
static bool call_unlocked(struct batch *b, bool query, int *err)
{
    for (int k = 0; k < b->n; k++)
        b->status[k] = NOT_TRIED;
    for (int r = 0; r < b->n_ranges; r++)
        if (b->ranges[r].range)
            b->ranges[r].range->moving = true;
    cdm__tracker_unlock();
    *err = plat_move_pages((unsigned long)b->n, b->pages, query ? NULL : b->nodes, b->status,
                           query ? 0 : MPOL_MF_MOVE);
    cdm__tracker_relock();
    for (int r = 0; r < b->n_ranges; r++) {
        struct cdm_tracked *range = b->ranges[r].range ? cdm__tracker_find(b->ranges[r].ref) : NULL;
        if (range)
            range->moving = false;
        if (range && range->discards != b->ranges[r].discards) {
            for (int k = 0; k < b->n; k++)
                if (b->in[k] == r)
                    cdm_pages_set_node(&range->pages, b->index[k], -1);
            range = NULL;
        }
        b->ranges[r].range = range;
    }
    keep_live(b);
    return !cdm__tracker_stopping();
}

/* Pages whose node is not known yet are asked first: a page already where it should be is
 * not a migration, and must not be counted as one. */
static bool drop_already_there(struct batch *b)
{
    bool unknown = false;
    for (int k = 0; k < b->n; k++)
        unknown |= b->before[k] < 0;
    if (!unknown)
        return true;
    int err;
    if (!call_unlocked(b, true, &err))
        return false;
    if (err)
        return true;
    int kept = 0;
    for (int k = 0; k < b->n; k++) {
        struct cdm_tracked *range = b->ranges[b->in[k]].range;
        size_t page = b->index[k];
        int status = b->status[k];
        if (status == -ENOENT) { /* gone (discarded, or never there) */
            cdm_pages_forget(&range->pages, page);
            continue;
        }
        if (status == -EFAULT) /* the zero page: it moves once written */
            continue;
        if (status >= 0)
            cdm_pages_set_node(&range->pages, page, status);
        if (status == b->nodes[k] ||
            (!b->to_dram && status >= 0 &&
             cdm__nodemask_has(&cdm__rt.config.rules[b->rule].nodes, status)))
            continue; /* there already, or on one of the rule's nodes */
        b->before[k] = status >= 0 ? (int16_t)status : -1;
        keep_page(b, kept++, k);
    }
    b->n = kept;
    return true;
}

/* Moves the batch and empties it. */
static void flush(struct batch *b)
{
    if (b->n == 0 || !drop_already_there(b) || b->n == 0) {
        b->n = b->n_ranges = 0;
        return;
    }
    int from = b->before[0], to = b->nodes[0];
    for (int k = 0; k < b->n; k++) {
        from = b->before[k] == from ? from : -1; /* -1: several */
        to = b->nodes[k] == to ? to : -1;
    }
    void *first = b->pages[0], *last = b->pages[b->n - 1];
    uint64_t begin = cdm__now_ns();
    int err;
    bool going_on = call_unlocked(b, false, &err);
    uint64_t spent = cdm__now_ns() - begin;
    unsigned moved = 0, busy = 0, failed = 0;
    for (int k = 0; k < b->n && going_on; k++) {
        struct cdm_tracked *range = b->ranges[b->in[k]].range;
        size_t page = b->index[k];
        int status = b->status[k];
        if (status >= 0 && status == b->nodes[k]) {
            moved++;
            cdm_pages_set_node(&range->pages, page, status);
        } else if (status == -ENOENT) {
            cdm_pages_forget(&range->pages, page);
        } else if (status == -EBUSY || status == NOT_TRIED || status == -EFAULT) {
            busy++; /* tried again next epoch; its node is asked then (a huge page may have
                     * moved as a whole meanwhile) */
            cdm_pages_set_node(&range->pages, page, -1);
        } else {
            failed++; /* -EACCES: shared with another process; -ENOMEM: target full */
            cdm_pages_set_node(&range->pages, page, status >= 0 ? status : -1);
        }
    }
    if (err && going_on) /* the call failed as a whole: no status was written */
        failed = (unsigned)b->n - busy;
    int done = b->n;
    b->n = b->n_ranges = 0;
    if (!going_on || !done)
        return; /* stopping, or every page's range went or was discarded meanwhile */
    int rule = b->rule;
    struct cdm_rule_stats *stats = &cdm__rule_stats[rule];
    __atomic_fetch_add(b->to_dram ? &stats->pages_to_dram : &stats->pages_to_policy, moved,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&cdm__time_in_library_ns, spent, __ATOMIC_RELAXED);
    cdm__trace_event("migrate",
                     "\"addr\":\"%p\",\"end\":\"%p\",\"from\":%d,\"to\":%d,\"pages\":%u,"
                     "\"busy\":%u,\"failed\":%u,\"errno\":%d,\"ns\":%llu,\"reason\":\"%s\","
                     "\"rule\":\"%s\"",
                     first, (char *)last + plat_page_size(), from, to, moved, busy, failed, err,
                     (unsigned long long)spent, b->reason, cdm__rt.config.rules[rule].name);
}

/* Adds page i of `range` going to `node`; flushes a full batch. Returns the range again
 * (NULL: it went while the batch moved). */
static struct cdm_tracked *add(struct batch *b, struct cdm_tracked *range,
                               struct cdm_range_ref ref, size_t i, int node)
{
    if (b->n_ranges == 0 || b->ranges[b->n_ranges - 1].ref.id != ref.id) {
        b->ranges[b->n_ranges].ref = ref;
        b->ranges[b->n_ranges].discards = range->discards;
        b->ranges[b->n_ranges].range = range;
        b->n_ranges++;
    }
    b->in[b->n] = (uint16_t)(b->n_ranges - 1);
    b->index[b->n] = i;
    b->pages[b->n] = (void *)(range->start + i * plat_page_size());
    b->nodes[b->n] = node;
    b->before[b->n] = (int16_t)cdm_pages_node(&range->pages, i);
    if (++b->n < BATCH)
        return range;
    flush(b);
    return cdm__tracker_find(ref);
}

/* ------------------------------------------------------------------ deciding */

struct rule_epoch {
    bool tier;
    int32_t idle;      /* follow-cpu: epochs without use before a page goes back */
    struct cdm_tier_cut cut; /* tier: which heat goes to DRAM */
    uint64_t hot, cold; /* pages wanted on DRAM, on the rule's nodes */
    uint64_t unknown;  /* seen, but where they are is not known */
    uint64_t per_node[COUNTED_NODES];
};

/* tier: the heat a page needs to be among the hottest `hot_set` bytes of its rule. */
static void rank(int rule, const struct cdm_range_ref *refs, int n_refs, struct rule_epoch *r)
{
    uint64_t histogram[CDM_PAGE_HEAT_MAX + 1] = {0};
    for (int k = 0; k < n_refs; k++) {
        struct cdm_tracked *range = cdm__tracker_find(refs[k]);
        for (size_t i = 0; range && i < range->n_pages; i++)
            histogram[cdm_pages_heat(&range->pages, i)]++;
    }
    uint64_t hot_set = cdm__rt.config.rules[rule].hot_set, page = plat_page_size();
    r->cut = cdm_decide_tier_cut(histogram, (hot_set + page - 1) / page);
}

/* Reconcile one range in one direction (promotions first, so that what is hot is on DRAM
 * before what cooled leaves it); false when it went while the lock was released. */
static void reconcile_range(struct batch *b, struct cdm_range_ref ref, uint32_t epoch,
                            struct rule_epoch *r)
{
    struct cdm_tracked *range = cdm__tracker_find(ref);
    if (!range)
        return;
    int rule = range->rule, dram = dram_node(rule);
    const cdm_nodemask *rule_nodes = &cdm__rt.config.rules[rule].nodes;
    for (size_t i = 0; range && i < range->n_pages; i++) {
        enum cdm_side side = r->tier ? cdm_decide_tier(&range->pages, i, &r->cut)
                                     : cdm_decide_follow(&range->pages, i, epoch, r->idle);
        if (side == CDM_SIDE_LEAVE)
            continue;
        r->hot += side == CDM_SIDE_DRAM;
        r->cold += side == CDM_SIDE_HOME;
        if (b->to_dram != (side == CDM_SIDE_DRAM))
            continue;
        int node = cdm_pages_node(&range->pages, i);
        bool on_home = node >= 0 && cdm__nodemask_has(rule_nodes, node);
        int home = side == CDM_SIDE_HOME && !on_home ? policy_node(rule, i) : LEAVE;
        int target = cdm_decide_target(side, node, on_home, dram, home);
        if (target >= 0)
            range = add(b, range, ref, i, target);
    }
}

static void count_range(const struct cdm_tracked *range, struct rule_epoch *r)
{
    for (size_t i = 0; i < range->n_pages; i++) {
        int node = cdm_pages_node(&range->pages, i);
        if (node >= 0 && node < COUNTED_NODES)
            r->per_node[node]++;
        else if (cdm_pages_seen(&range->pages, i))
            r->unknown++;
    }
}

static void record_epoch(int rule, uint32_t epoch, const struct rule_epoch *r)
{
    char nodes[COUNTED_NODES * 24] = "";
    size_t used = 0;
    for (int node = 0; node < COUNTED_NODES; node++) {
        if (!r->per_node[node])
            continue;
        int n = snprintf(nodes + used, sizeof nodes - used, "%s\"%d\":%llu", used ? "," : "",
                         node, (unsigned long long)r->per_node[node]);
        if (n < 0 || (size_t)n >= sizeof nodes - used)
            break;
        used += (size_t)n;
    }
    cdm__trace_event("epoch",
                     "\"rule\":\"%s\",\"epoch\":%u,\"nodes\":{%s},\"unknown\":%llu,\"hot\":%llu,"
                     "\"cold\":%llu",
                     cdm__rt.config.rules[rule].name, epoch - CDM_EPOCH_FIRST, nodes,
                     (unsigned long long)r->unknown, (unsigned long long)r->hot,
                     (unsigned long long)r->cold);
}

/* The rule's ranges, named so that they can be found again after the lock was released;
 * NULL without memory for them. The array is the migrator thread's, grown as needed. */
static struct cdm_range_ref *refs_of(int rule, int *n_refs)
{
    static struct cdm_range_ref *refs;
    static size_t capacity;
    struct cdm_tracked *const *ranges;
    int n_ranges = cdm__tracker_ranges(&ranges);
    if ((size_t)n_ranges > capacity) {
        size_t wanted = (size_t)n_ranges * 2;
        struct cdm_range_ref *grown = cdm__arena_grow(refs, capacity * sizeof *refs, 0,
                                                      wanted * sizeof *refs);
        if (!grown)
            return NULL;
        refs = grown;
        capacity = wanted;
    }
    *n_refs = 0;
    for (int k = 0; k < n_ranges; k++)
        if (ranges[k]->rule == rule)
            refs[(*n_refs)++] =
                (struct cdm_range_ref){.id = ranges[k]->id, .start = ranges[k]->start};
    return refs;
}

void cdm__migrate_reconcile(uint32_t epoch, bool epoch_end)
{
    static uint64_t last_signature[CDM_MAX_RULES];
    if (cdm__profiling()) /* its buffers are watched, never moved */
        return;
    for (int rule = 0; rule < cdm__rt.config.n_rules; rule++) {
        int n_refs = 0;
        const struct cdm_range_ref *refs = refs_of(rule, &n_refs);
        if (!refs || !n_refs)
            continue;
        bool tier = cdm__rt.config.rules[rule].migrate == CDM_MIGRATE_TIER;
        struct rule_epoch r = {.tier = tier, .idle = (int32_t)cdm__migrate_idle_epochs(rule)};
        if (tier)
            rank(rule, refs, n_refs, &r);
        /* Each pass decides from the same ranking (a copy: tier's quota is used up page by
         * page); the counts are the first pass's. */
        struct rule_epoch demoting = r;
        static struct batch b; /* one migrator thread */
        b = (struct batch){.rule = rule, .to_dram = true,
                           .reason = !epoch_end ? "advice" : tier ? "hot" : "touched"};
        for (int k = 0; k < n_refs && !cdm__tracker_stopping(); k++)
            reconcile_range(&b, refs[k], epoch, &r);
        flush(&b);
        b = (struct batch){.rule = rule, .to_dram = false,
                           .reason = !epoch_end ? "advice" : tier ? "cold" : "idle"};
        for (int k = 0; k < n_refs && !cdm__tracker_stopping(); k++)
            reconcile_range(&b, refs[k], epoch, &demoting);
        flush(&b);
        if (!epoch_end)
            continue;
        for (int k = 0; k < n_refs; k++) {
            struct cdm_tracked *range = cdm__tracker_find(refs[k]);
            if (!range)
                continue;
            count_range(range, &r);
            cdm_pages_age(&range->pages, epoch);
        }
        /* An epoch event when something changed: the trace stays small while nothing does. */
        uint64_t signature = r.hot * 0x9e3779b97f4a7c15ull ^ r.cold * 0xc2b2ae3d27d4eb4full ^
                             r.unknown;
        for (int node = 0; node < COUNTED_NODES; node++)
            signature = signature * 31 + r.per_node[node];
        if (signature != last_signature[rule]) {
            last_signature[rule] = signature;
            record_epoch(rule, epoch, &r);
        }
    }
}
