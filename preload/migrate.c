/* Migration: where each tracked page should live, and the move_pages calls that put it there.
 * Runs only on the tracker thread (tracker.c), with the tracker's lock held.
 *
 * Each epoch reconciles every tracked page with the side its rule wants for it:
 *   follow-cpu  a page touched within `idle` lives on the DRAM node nearest the rule's
 *               nodes; one left alone longer goes back to the rule's nodes.
 *   tier        pages are ranked by an aging byte (top bit: touched this epoch, shifted
 *               right every epoch); the hottest up to `hot_set` live on DRAM, the rest of
 *               those seen go back to the rule's nodes.
 * A page never seen is left where placement put it. Because the wanted side is recomputed
 * each epoch from state, a page that could not move (busy, a transparent huge page moving as
 * a whole, mapped by another process) is simply tried again: nothing is lost, and every move
 * is counted by what move_pages reports, page by page. */
#include "internal.h"

#include <errno.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>

/* Small enough that faults waiting on the tracker thread are served between batches soon. */
#define BATCH 256
/* Nodes counted per rule in `epoch` events. */
#define COUNTED_NODES 64

enum side { LEAVE = -1 };

struct batch {
    struct cdm_tracked *range;
    int to;                  /* target node */
    const char *reason;
    int n;
    size_t index[BATCH];
    void *pages[BATCH];
    int nodes[BATCH];
    int status[BATCH];
};

/* The DRAM node a rule's pages go to when the CPU uses them: the one nearest its nodes. */
static int dram_node(int rule)
{
    static int cached[CDM_MAX_RULES];
    if (cached[rule])
        return cached[rule] - 1;
    const struct cdm_topology *topology = &cdm__rt.topology;
    const cdm_nodemask *nodes = &cdm__rt.config.rules[rule].nodes;
    int from = -1, best = -1, best_distance = 1 << 30;
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

/* ------------------------------------------------------------------ moving */

static void forget_page(struct cdm_tracked *range, size_t i)
{
    range->node[i] = -1;
    range->last_touch[i] = 0;
    range->heat[i] = 0;
}

/* Pages whose node is not known yet are asked first: a page already where it should be is
 * not a migration, and must not be counted as one. */
static void drop_already_there(struct batch *b)
{
    int kept = 0;
    bool unknown = false;
    for (int i = 0; i < b->n; i++)
        unknown |= b->range->node[b->index[i]] < 0;
    if (unknown && plat_move_pages((unsigned long)b->n, b->pages, NULL, b->status, 0) == 0) {
        for (int i = 0; i < b->n; i++) {
            size_t page = b->index[i];
            if (b->status[i] == -ENOENT || b->status[i] == -EFAULT) {
                forget_page(b->range, page); /* gone, or never written */
                continue;
            }
            if (b->status[i] >= 0)
                b->range->node[page] = (int16_t)b->status[i];
            if (b->status[i] == b->to)
                continue;
            b->index[kept] = page;
            b->pages[kept] = b->pages[i];
            kept++;
        }
        b->n = kept;
    }
}

static void flush(struct batch *b)
{
    drop_already_there(b);
    if (b->n == 0)
        return;
    struct cdm_tracked *range = b->range;
    int from = range->node[b->index[0]];
    for (int i = 0; i < b->n; i++) {
        b->nodes[i] = b->to;
        if (range->node[b->index[i]] != from)
            from = -1; /* several */
    }
    uint64_t begin = cdm__now_ns();
    int err = plat_move_pages((unsigned long)b->n, b->pages, b->nodes, b->status, MPOL_MF_MOVE);
    uint64_t spent = cdm__now_ns() - begin;
    cdm__tracker_serve_waiting();
    unsigned moved = 0, busy = 0, failed = 0;
    for (int i = 0; i < b->n && !err; i++) {
        size_t page = b->index[i];
        int status = b->status[i];
        if (status == b->to) {
            moved++;
            range->node[page] = (int16_t)status;
        } else if (status == -ENOENT || status == -EFAULT) {
            forget_page(range, page);
        } else if (status == -EBUSY) {
            busy++; /* tried again next epoch; its node is asked then (a huge page may have
                     * moved as a whole meanwhile) */
            range->node[page] = -1;
        } else {
            failed++; /* -EACCES: shared with another process; -ENOMEM: target full */
            if (status >= 0)
                range->node[page] = (int16_t)status;
        }
    }
    if (err)
        failed = (unsigned)b->n;
    struct cdm_rule_stats *stats = &cdm__rule_stats[range->rule];
    bool to_dram = b->to == dram_node(range->rule);
    __atomic_fetch_add(to_dram ? &stats->pages_to_dram : &stats->pages_to_policy, moved,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&cdm__time_in_library_ns, spent, __ATOMIC_RELAXED);
    cdm__trace_event("migrate",
                     "\"addr\":\"%p\",\"end\":\"%p\",\"from\":%d,\"to\":%d,\"pages\":%u,"
                     "\"busy\":%u,\"failed\":%u,\"errno\":%d,\"ns\":%llu,\"reason\":\"%s\","
                     "\"rule\":\"%s\"",
                     b->pages[0], (char *)b->pages[b->n - 1] + plat_page_size(), from, b->to,
                     moved, busy, failed, err, (unsigned long long)spent, b->reason,
                     cdm__rt.config.rules[range->rule].name);
    b->n = 0;
}

static void add(struct batch *b, size_t index)
{
    b->index[b->n] = index;
    b->pages[b->n] = (void *)(b->range->start + index * plat_page_size());
    if (++b->n == BATCH)
        flush(b);
}

/* ------------------------------------------------------------------ deciding */

struct rule_epoch {
    int threshold;     /* tier: heat above this goes to DRAM */
    uint64_t quota;    /* tier: pages at exactly `threshold` that still fit */
    uint64_t hot, cold; /* pages wanted on DRAM, on the rule's nodes */
    uint64_t unknown;  /* seen, but where they are is not known */
    uint64_t per_node[COUNTED_NODES];
};

/* tier: the heat a page needs to be among the hottest `hot_set` bytes of its rule. */
static void rank(int rule, struct cdm_tracked *ranges, int n_ranges, struct rule_epoch *r)
{
    uint64_t histogram[256] = {0};
    for (int k = 0; k < n_ranges; k++)
        if (ranges[k].rule == rule)
            for (size_t i = 0; i < ranges[k].n_pages; i++)
                histogram[ranges[k].heat[i]]++;
    uint64_t cap = cdm__rt.config.rules[rule].hot_set / plat_page_size();
    r->threshold = 0; /* without hot_set: every page seen lately */
    r->quota = 0;
    if (cap == 0)
        return;
    uint64_t above = 0;
    for (int heat = 255; heat > 0; heat--) {
        if (above + histogram[heat] > cap) {
            r->threshold = heat;
            r->quota = cap - above;
            return;
        }
        above += histogram[heat];
    }
}

uint32_t cdm__migrate_idle_epochs(int rule_index)
{
    const struct cdm_rule *rule = &cdm__rt.config.rules[rule_index];
    uint64_t epoch_ns = cdm__rt.config.settings.epoch_ns;
    uint64_t epochs = (rule->idle_ns + epoch_ns - 1) / epoch_ns;
    if (rule->migrate != CDM_MIGRATE_FOLLOW_CPU || epochs < 1)
        return 1;
    return epochs > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)epochs;
}

static int wanted_node(struct cdm_tracked *range, size_t i, uint32_t epoch, struct rule_epoch *r)
{
    const struct cdm_rule *rule = &cdm__rt.config.rules[range->rule];
    bool hot;
    if (rule->migrate == CDM_MIGRATE_FOLLOW_CPU) {
        if (range->last_touch[i] == 0)
            return LEAVE;
        hot = epoch - range->last_touch[i] < cdm__migrate_idle_epochs(range->rule);
    } else {
        if (range->heat[i] == 0 && range->node[i] < 0)
            return LEAVE;
        hot = range->heat[i] > r->threshold || (range->heat[i] == r->threshold &&
                                                range->heat[i] && r->quota && r->quota--);
    }
    if (hot)
        r->hot++;
    else
        r->cold++;
    return hot ? dram_node(range->rule) : policy_node(range->rule, i);
}

static void reconcile_range(struct cdm_tracked *range, uint32_t epoch, struct rule_epoch *r,
                            const char *why_dram, const char *why_policy)
{
    static struct batch to_dram, to_policy; /* one tracker thread: no need for its stack */
    to_dram = (struct batch){.range = range, .to = dram_node(range->rule), .reason = why_dram};
    to_policy = (struct batch){.range = range, .reason = why_policy};
    for (size_t i = 0; i < range->n_pages; i++) {
        int want = wanted_node(range, i, epoch, r);
        if (want == LEAVE || want == range->node[i])
            continue;
        if (want == to_dram.to) {
            add(&to_dram, i);
        } else {
            if (to_policy.n && to_policy.to != want)
                flush(&to_policy);
            to_policy.to = want;
            add(&to_policy, i);
        }
    }
    flush(&to_dram);
    flush(&to_policy);
}

static void count_range(const struct cdm_tracked *range, struct rule_epoch *r)
{
    for (size_t i = 0; i < range->n_pages; i++) {
        int node = range->node[i];
        if (node >= 0 && node < COUNTED_NODES)
            r->per_node[node]++;
        else if (range->last_touch[i] || range->heat[i])
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

void cdm__migrate_reconcile(struct cdm_tracked *ranges, int n_ranges, uint32_t epoch,
                            bool epoch_end)
{
    static uint64_t last_signature[CDM_MAX_RULES];
    for (int rule = 0; rule < cdm__rt.config.n_rules; rule++) {
        struct rule_epoch r = {0};
        bool has_ranges = false;
        for (int k = 0; k < n_ranges && !has_ranges; k++)
            has_ranges = ranges[k].rule == rule;
        if (!has_ranges)
            continue;
        bool tier = cdm__rt.config.rules[rule].migrate == CDM_MIGRATE_TIER;
        if (tier)
            rank(rule, ranges, n_ranges, &r);
        for (int k = 0; k < n_ranges; k++) {
            if (ranges[k].rule != rule)
                continue;
            if (!epoch_end)
                reconcile_range(&ranges[k], epoch, &r, "advice", "advice");
            else
                reconcile_range(&ranges[k], epoch, &r, tier ? "hot" : "touched",
                                tier ? "cold" : "idle");
            if (epoch_end)
                count_range(&ranges[k], &r);
        }
        if (!epoch_end)
            continue;
        for (int k = 0; k < n_ranges; k++)
            if (ranges[k].rule == rule)
                for (size_t i = 0; i < ranges[k].n_pages; i++)
                    ranges[k].heat[i] >>= 1;
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
