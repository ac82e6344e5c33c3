/* SPDX-License-Identifier: MIT */
/* Migration: where each tracked page should live, and the move_pages calls that put it there.
 * tracker.c's migrator thread drives it (track.h): with the tracker's lock held, the pages of
 * a rule that should move one way go into a batch (cdm__migrate_plan), from as many ranges as
 * it takes; with the lock released, the batch is asked where its pages are and moved
 * (cdm__migrate_query, cdm__migrate_move: system calls, nothing else); with the lock held
 * again, and the ranges looked up anew (a buffer may be freed or cut meanwhile), what the
 * kernel reported goes back into the pages' state (cdm__migrate_settle). This file never takes
 * or releases the lock, and calls nothing of the tracker's.
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
 * counted by what move_pages reports, page by page. A move_pages refused as a whole (a
 * container's seccomp filter) would be refused every epoch: the first refusal stops moves. */
#include "track.h"

#include "decide.h"
#include <errno.h>
#include <limits.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>

/* Nodes counted per rule in `epoch` events. */
#define COUNTED_NODES CDM_EPOCH_NODES
/* move_pages leaves the status of pages it did not try as it was. */
#define NOT_TRIED INT_MIN

enum { LEAVE = -1 };

/* Epochs a rule's pages wait, after its target node refused them for want of room (ENOMEM),
 * before that way is tried again: a full node stays full a while, and every refused page costs
 * the call the work of copying it. */
#define FULL_WAIT_EPOCHS 10
static struct {
    bool refused;
    uint32_t until; /* the epoch the wait ends */
} full[CDM_MAX_RULES][2]; /* [rule][to_dram]; the migrator thread's */

static bool waiting_for_room(int rule, bool to_dram, uint32_t epoch)
{
    return full[rule][to_dram].refused && (int32_t)(full[rule][to_dram].until - epoch) > 0;
}

/* A range whose pages were refused as shared waits 4, 8, ... up to SHARED_WAIT_MAX epochs
 * before its moves are tried again: a child that keeps the pages shares them for its life,
 * and each try copies nothing but costs the call. */
#define SHARED_WAIT_MAX 128

static void refused_as_shared(struct cdm_tracked *range, uint32_t epoch)
{
    if ((int32_t)(range->moves_wait_until - epoch) > 0)
        return; /* counted once a batch */
    uint32_t wait = 4u << range->shared_refusals;
    if (wait < SHARED_WAIT_MAX)
        range->shared_refusals++;
    range->moves_wait_until = epoch + (wait < SHARED_WAIT_MAX ? wait : SHARED_WAIT_MAX);
}

/* Memory blocks taken offline (hot-remove): the kernel moves their pages to other nodes,
 * whatever their policy (mm/memory_hotplug.c, do_migrate_range), and what the tracker
 * believes of them goes stale. A node's MemTotal, read every NODE_LOOK_EPOCHS, says so when it
 * falls: its rules' tracked pages are then asked where they are before they move again
 * (doc/design.md, "When a move fails"). */
#define NODE_LOOK_EPOCHS 10
static struct {
    uint64_t total;  /* MemTotal at the last look */
    uint32_t looked; /* the epoch of the last look */
    bool shrank;     /* at that look */
} node_memory[CDM_MAX_NODES]; /* the migrator thread's */

static bool node_shrank(int node, uint32_t epoch)
{
    if (node_memory[node].looked == epoch)
        return node_memory[node].shrank;
    uint64_t total = cdm__topology_node_total(node), before = node_memory[node].total;
    node_memory[node].shrank = total && before && total < before;
    node_memory[node].looked = epoch;
    if (total)
        node_memory[node].total = total;
    if (node_memory[node].shrank)
        cdm__warn_once_recorded(CDM_WARN_NODE_SHRANK,
                                "node %d lost %llu MiB of memory (blocks taken offline): the "
                                "kernel moved their pages to other nodes, whatever their policy; "
                                "tracked pages are found and go back where their rule's nodes "
                                "have room, others stay where they are (`cdmplace report` shows "
                                "where)",
                                node, (unsigned long long)((before - total) >> 20));
    return node_memory[node].shrank;
}

bool cdm__migrate_nodes_shrank(int rule, uint32_t epoch)
{
    static uint32_t look_epoch; /* every rule looks in the same epoch */
    if (epoch != look_epoch) {
        if ((int32_t)(epoch - look_epoch) < NODE_LOOK_EPOCHS)
            return false;
        look_epoch = epoch;
    }
    const cdm_nodemask *nodes = &cdm__rt.config.rules[rule].nodes;
    bool shrank = false;
    for (int node = 0; node < CDM_MAX_NODES; node++)
        if (cdm__nodemask_has(nodes, node))
            shrank |= node_shrank(node, epoch);
    return shrank;
}

void cdm__migrate_forget_nodes(struct cdm_tracked *range)
{
    for (size_t i = 0; i < range->n_pages; i++) {
        /* Never seen used: it was where placement put it, and goes back there (follow-cpu;
         * tier leaves a page of no heat where it is). */
        if (!cdm_pages_seen(&range->pages, i))
            cdm_pages_cool(&range->pages, i);
        cdm_pages_set_node(&range->pages, i, -1);
    }
}

/* The errno of the first move_pages refused as a whole (EPERM: a seccomp filter, as Docker's
 * default profile refuses move_pages whatever the capabilities; ENOSYS), 0 while moves go on.
 * Every later call would be refused the same way: from then on no page is moved. */
static int moves_refused;

static const char *moves_refused_text(int err)
{
    if (err == EPERM)
        return "move_pages is not permitted here (EPERM): a container's seccomp profile refuses "
               "it (Docker's default does, even with --cap-add SYS_NICE); run the container with "
               "--security-opt seccomp=unconfined or a profile that allows move_pages";
    return "move_pages is missing here (ENOSYS): the kernel has no page migration "
           "(CONFIG_MIGRATION), or a seccomp filter hides it";
}

const char *cdm__migrate_refused(void)
{
    int err = __atomic_load_n(&moves_refused, __ATOMIC_RELAXED);
    return err ? moves_refused_text(err) : NULL;
}

static void stop_moving(int err)
{
    __atomic_store_n(&moves_refused, err, __ATOMIC_RELAXED);
    cdm__warn_once_recorded(CDM_WARN_MOVE_REFUSED, "%s; pages stay where they are from now on, "
                            "and the program goes on", moves_refused_text(err));
}

/* The DRAM node a rule's pages go to when the CPU uses them: the one nearest its nodes. */
static int dram_node(int rule)
{
    static int cached[CDM_MAX_RULES];
    if (cached[rule])
        return cached[rule] - 1;
    const struct cdm_topology *topology = &cdm__rt.topology;
    const cdm_nodemask *nodes = &cdm__rt.config.rules[rule].nodes;
    int from = -1;
    for (int node = 0; node <= topology->max_node && from < 0; node++)
        if (cdm__nodemask_has(nodes, node))
            from = node;
    int best = cdm__topology_nearest(from, &topology->dram, topology->max_node);
    cached[rule] = best + 1;
    return best;
}

/* Where a page last used from node `user` goes back to: the rule's node nearest it. */
static int policy_node_near(int rule, int user)
{
    return cdm__topology_nearest(user, &cdm__rt.config.rules[rule].nodes,
                                 cdm__rt.topology.max_node);
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

/* ------------------------------------------------------------------ batches */

void cdm__migrate_batch_start(struct cdm_move_batch *b, int rule, bool to_dram, uint32_t epoch,
                              bool epoch_end)
{
    bool tier = cdm__rt.config.rules[rule].migrate == CDM_MIGRATE_TIER;
    b->rule = rule;
    b->to_dram = to_dram;
    b->epoch = epoch;
    b->reason = !epoch_end ? "advice" : tier ? (to_dram ? "hot" : "cold")
                                             : (to_dram ? "touched" : "idle");
    b->n = b->n_ranges = 0;
}

/* Adds page i of `range` going to `node`; false when the batch is full after it. */
static bool add(struct cdm_move_batch *b, struct cdm_tracked *range, struct cdm_range_ref ref,
                size_t i, int node)
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
    return ++b->n < CDM_MOVE_BATCH;
}

/* Page `from` of the batch becomes page `to` (to <= from: the batch is compacted in order). */
static void keep_page(struct cdm_move_batch *b, int to, int from)
{
    b->in[to] = b->in[from];
    b->index[to] = b->index[from];
    b->pages[to] = b->pages[from];
    b->nodes[to] = b->nodes[from];
    b->status[to] = b->status[from];
    b->before[to] = b->before[from];
}

void cdm__migrate_keep_live(struct cdm_move_batch *b)
{
    for (int r = 0; r < b->n_ranges; r++) {
        struct cdm_tracked *range = b->ranges[r].range;
        if (range && range->discards != b->ranges[r].discards) {
            /* Its pages were discarded meanwhile: the call may have moved their new pages, and
             * nothing is known of where they are; the next epoch asks. */
            for (int k = 0; k < b->n; k++)
                if (b->in[k] == r)
                    cdm_pages_set_node(&range->pages, b->index[k], -1);
            b->ranges[r].range = NULL;
        }
    }
    int kept = 0;
    for (int k = 0; k < b->n; k++)
        if (b->ranges[b->in[k]].range)
            keep_page(b, kept++, k);
    b->n = kept;
}

bool cdm__migrate_unknown(const struct cdm_move_batch *b)
{
    for (int k = 0; k < b->n; k++)
        if (b->before[k] < 0)
            return true;
    return false;
}

int cdm__migrate_query(struct cdm_move_batch *b)
{
    for (int k = 0; k < b->n; k++)
        b->status[k] = NOT_TRIED;
    return plat_move_pages((unsigned long)b->n, b->pages, NULL, b->status, 0);
}

/* Pages whose node was not known were asked first (cdm__migrate_query): a page already where
 * it should be is not a migration, and must not be counted as one. */
void cdm__migrate_drop_there(struct cdm_move_batch *b)
{
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
}

int cdm__migrate_move(struct cdm_move_batch *b)
{
    for (int k = 0; k < b->n; k++)
        b->status[k] = NOT_TRIED;
    return plat_move_pages((unsigned long)b->n, b->pages, b->nodes, b->status, MPOL_MF_MOVE);
}

/* A page of a transparent huge page moves with the other 511: after a call, where the pages
 * of each 2 MiB block it touched are is not known any more, and is asked before they are moved
 * again (cdm__migrate_unknown). The pages it moved are set again by the caller. */
static void forget_huge_neighbours(const struct cdm_move_batch *b)
{
    const uintptr_t huge = 2u << 20;
    size_t page = plat_page_size();
    for (int k = 0; k < b->n; k++) {
        struct cdm_tracked *range = b->ranges[b->in[k]].range;
        uintptr_t block = (uintptr_t)b->pages[k] & ~(huge - 1);
        bool same = k > 0 && b->in[k - 1] == b->in[k] &&
                    ((uintptr_t)b->pages[k - 1] & ~(huge - 1)) == block;
        if (same)
            continue;
        size_t first = block > range->start ? (block - range->start) / page : 0;
        size_t last = (block + huge - range->start) / page;
        for (size_t i = first; i < last && i < range->n_pages; i++)
            cdm_pages_set_node(&range->pages, i, -1);
    }
}

void cdm__migrate_settle(struct cdm_move_batch *b, int err, uint64_t spent)
{
    int from = b->n ? b->before[0] : -1, to = b->n ? b->nodes[0] : -1;
    for (int k = 0; k < b->n; k++) {
        from = b->before[k] == from ? from : -1; /* -1: several */
        to = b->nodes[k] == to ? to : -1;
    }
    unsigned moved = 0, busy = 0, failed = 0, no_room = 0;
    int full_node = -1;
    if (cdm__rt.topology.thp)
        forget_huge_neighbours(b);
    for (int k = 0; k < b->n; k++) {
        struct cdm_tracked *range = b->ranges[b->in[k]].range;
        size_t page = b->index[k];
        int status = b->status[k];
        if (status >= 0 && status == b->nodes[k] && !err) {
            moved++;
            range->shared_refusals = 0;
            cdm_pages_set_node(&range->pages, page, status);
        } else if (status == -ENOENT) {
            cdm_pages_forget(&range->pages, page);
        } else if (status == NOT_TRIED && err == ENOMEM) {
            /* The call as a whole: the kernel found no room on the target for a page. */
            failed++;
            cdm_pages_set_node(&range->pages, page, -1);
            if (no_room++ == 0)
                full_node = b->nodes[k];
        } else if (status == -EBUSY || status == NOT_TRIED || status == -EFAULT || err) {
            /* Tried again next epoch; its node is asked then (a huge page may have moved as a
             * whole meanwhile). A call that failed may have written the target as the status
             * of pages it then gave up on: none of its statuses is trusted. */
            busy++;
            cdm_pages_set_node(&range->pages, page, -1);
        } else {
            failed++; /* -EACCES: shared with another process; -ENOMEM: target full */
            cdm_pages_set_node(&range->pages, page, status >= 0 ? status : -1);
            if (status == -EACCES)
                refused_as_shared(range, b->epoch);
            if (status == -ENOMEM && no_room++ == 0)
                full_node = b->nodes[k];
        }
    }
    if (err) /* the call failed as a whole: no status was written */
        failed = (unsigned)b->n - busy;
    if (!b->n)
        return; /* every page's range went or was discarded meanwhile */
    if (err == EPERM || err == ENOSYS)
        stop_moving(err);
    if (no_room) {
        full[b->rule][b->to_dram].refused = true;
        full[b->rule][b->to_dram].until = b->epoch + FULL_WAIT_EPOCHS;
        cdm__warn_once(CDM_WARN_MIGRATE_FULL,
                       "rule '%s': node %d is full: %u pages could not move there and stay where "
                       "they are, tried again every %d epochs (free memory on node %d, or place "
                       "less there: a budget, a smaller hot_set)",
                       cdm__rt.config.rules[b->rule].name, full_node, no_room, FULL_WAIT_EPOCHS,
                       full_node);
    }
    cdm__rule_stats_moved(b->rule, b->to_dram, moved);
    __atomic_fetch_add(&cdm__time_in_library_ns, spent, __ATOMIC_RELAXED);
    cdm__trace(migrate, b->pages[0], (char *)b->pages[b->n - 1] + plat_page_size(), from, to, moved,
               busy, failed, err, (unsigned long long)spent, b->reason,
               cdm__rt.config.rules[b->rule].name);
}

/* ------------------------------------------------------------------ deciding */

/* tier: the heat a page needs to be among the hottest `hot_set` bytes of its rule. */
void cdm__migrate_rule_start(struct cdm_rule_epoch *r, int rule, struct cdm_tracked *const *ranges,
                             int n_ranges)
{
    *r = (struct cdm_rule_epoch){
        .tier = cdm__rt.config.rules[rule].migrate == CDM_MIGRATE_TIER,
        .idle = (int32_t)cdm__migrate_idle_epochs(rule)};
    if (!r->tier)
        return;
    uint64_t histogram[CDM_PAGE_HEAT_MAX + 1] = {0};
    for (int k = 0; k < n_ranges; k++)
        for (size_t i = 0; i < ranges[k]->n_pages; i++)
            histogram[cdm_pages_heat(&ranges[k]->pages, i)]++;
    uint64_t hot_set = cdm__rt.config.rules[rule].hot_set, page = plat_page_size();
    r->cut = cdm_decide_tier_cut(histogram, (hot_set + page - 1) / page);
}

size_t cdm__migrate_plan(struct cdm_move_batch *b, struct cdm_tracked *range,
                         struct cdm_range_ref ref, size_t from, uint32_t epoch,
                         struct cdm_rule_epoch *r)
{
    int rule = range->rule, dram = dram_node(rule);
    const cdm_nodemask *rule_nodes = &cdm__rt.config.rules[rule].nodes;
    bool waiting = moves_refused || waiting_for_room(rule, b->to_dram, epoch) ||
                   (int32_t)(range->moves_wait_until - epoch) > 0;
    /* Going back, a page moves only from where it is not known or off the rule's nodes: a
     * range with none such (the rule's node is the DRAM one) is not walked page by page. Its
     * counts are the first pass's; tier's second pass uses its quota up in order, so not there. */
    bool staying[CDM_PAGE_NODES];
    for (int k = 0; k < CDM_PAGE_NODES; k++)
        staying[k] = range->pages.node[k] >= 0 &&
                     cdm__nodemask_has(rule_nodes, range->pages.node[k]);
    if (!b->to_dram && !r->tier && cdm_pages_seen_all_on(&range->pages, staying))
        return range->n_pages;
    for (size_t i = from; i < range->n_pages; i++) {
        enum cdm_side side = r->tier ? cdm_decide_tier(&range->pages, i, &r->cut)
                                     : cdm_decide_follow(&range->pages, i, epoch, r->idle);
        if (side == CDM_SIDE_LEAVE)
            continue;
        r->hot += side == CDM_SIDE_DRAM;
        r->cold += side == CDM_SIDE_HOME;
        if (b->to_dram != (side == CDM_SIDE_DRAM) || waiting)
            continue;
        int node = cdm_pages_node(&range->pages, i);
        bool on_home = node >= 0 && cdm__nodemask_has(rule_nodes, node);
        /* Several sockets: the DRAM of the CPU that used the page, and back to the rule's
         * node nearest it (doc/design.md, "Several sockets"). */
        int user = range->users ? range->users[cdm__track_user_slot(range, i)] - 1 : -1;
        int home = LEAVE;
        if (side == CDM_SIDE_HOME && !on_home) {
            home = user >= 0 ? policy_node_near(rule, user) : LEAVE;
            home = home != LEAVE ? home : policy_node(rule, i);
        }
        int target = cdm_decide_target(side, node, on_home, user >= 0 ? user : dram, home);
        if (target >= 0 && !add(b, range, ref, i, target))
            return i + 1; /* full: the caller moves it, and goes on from the next page */
    }
    return range->n_pages;
}

void cdm__migrate_count(struct cdm_rule_epoch *r, struct cdm_tracked *range, uint32_t epoch)
{
    for (size_t i = 0; i < range->n_pages; i++) {
        int node = cdm_pages_node(&range->pages, i);
        if (node >= 0 && node < COUNTED_NODES)
            r->per_node[node]++;
        else if (cdm_pages_seen(&range->pages, i))
            r->unknown++;
    }
    cdm_pages_age(&range->pages, epoch);
}

void cdm__migrate_rule_end(const struct cdm_rule_epoch *r, int rule, uint32_t epoch)
{
    static uint64_t last_signature[CDM_MAX_RULES];
    /* An epoch event when something changed: the trace stays small while nothing does. */
    uint64_t signature = r->hot * 0x9e3779b97f4a7c15ull ^ r->cold * 0xc2b2ae3d27d4eb4full ^
                         r->unknown;
    for (int node = 0; node < COUNTED_NODES; node++)
        signature = signature * 31 + r->per_node[node];
    if (signature == last_signature[rule])
        return;
    last_signature[rule] = signature;
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
    cdm__trace(epoch, cdm__rt.config.rules[rule].name, epoch - CDM_EPOCH_FIRST, nodes,
               (unsigned long long)r->unknown, (unsigned long long)r->hot,
               (unsigned long long)r->cold);
}
