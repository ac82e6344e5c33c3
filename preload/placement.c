/* SPDX-License-Identifier: MIT */
/* Placed buffers: deciding, mapping, applying the policy, the address table (budget.c: what
 * they take of their rules' budgets and nodes).
 *
 * A placed heap buffer gets a mapping of its own, so that the policy covers exactly its pages
 * and free gives them back (or keeps them for the next such request, as glibc keeps a freed
 * chunk: "freed buffers kept" below); its address is page aligned, which is what lets free()
 * tell it from the real allocator's pointers with one test. Placed mmap ranges are the program's own
 * mappings with a policy applied. Both are kept in one table (buffer_table.c: by address and
 * by size class, from its own slab; nothing there calls the host's allocator), whose lookups
 * stay a few cache misses however many buffers are live; no lock is held across a call out of
 * the library but raw system calls. A refused policy is recorded with its errno and the
 * program keeps its buffer; a kernel that refuses every policy (EPERM from a container's
 * seccomp filter, ENOSYS) stops placing for the rest of the run. */
#include "internal.h"
#include "buffer_table.h"

#include <errno.h>
#include <numaif.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "cdmplace.h"



int cdm__placed_mappings;
int cdm__placed_buffers;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cdm_buffer_table table = CDM_BUFFER_TABLE_INIT(table);

/* ------------------------------------------------------------------ deciding */

/* What became of a large allocation: the trace's `result`. */
enum outcome {
    UNDECIDED,  /* a rule matched; room, mapping and policy decide */
    UNPLACED,   /* no rule matched */
    DRY_RUN,    /* a rule matched in a dry run: recorded, nothing applied */
    APPLIED,    /* the rule's policy is on the buffer */
    FALLBACK,   /* no room (budget, full nodes): placed with the default policy */
    FULL,       /* no room, on_full = fail: ENOMEM */
    UNMAPPED,   /* no mapping of its own: the real allocator served it */
    NO_NODE,    /* the rule's node set names no node here */
    ERROR,      /* the kernel refused the policy */
    REFUSED,    /* mbind is not permitted here: nothing is placed from the first one on */
};
static const char *const outcome_names[] = {
    [UNDECIDED] = "undecided", [UNPLACED] = "unplaced", [DRY_RUN] = "dry-run",
    [APPLIED] = "applied",     [FALLBACK] = "fallback", [FULL] = "full",
    [UNMAPPED] = "unmapped",   [NO_NODE] = "no-node",   [ERROR] = "error",
    [REFUSED] = "not-permitted",
};

struct decision {
    int rule;                 /* -1: no rule matched */
    enum outcome result;
    int error;
    bool reused; /* a kept buffer serves it ("Freed buffers kept") */
    struct cdm_stack stack;
};

/* The errno of the first mbind refused as a whole (EPERM, ENOSYS), 0 while placing goes on,
 * and what was left unplaced since. Every later mbind would be refused the same way, so once it
 * is set none is tried: a matching heap buffer goes to the program's allocator, a mapping keeps
 * the default policy (design.md, "In a container"). */
static struct {
    int err;
    uint64_t buffers, bytes;
} refusal;

static bool refused_outright(int err)
{
    return err == EPERM || err == ENOSYS;
}

/* EPERM from mbind, which needs no privilege for the caller's own memory: a seccomp filter, as
 * Docker's default profile is without CAP_SYS_NICE (moby/profiles, seccomp/default.json). */
static const char *refusal_text(int err)
{
    if (err == EPERM)
        return "mbind is not permitted here (EPERM): a container's seccomp profile refuses it "
               "without CAP_SYS_NICE; run the container with --cap-add SYS_NICE (docker) or "
               "without a seccomp filter";
    return "mbind is missing here (ENOSYS): the kernel has no NUMA memory policy (CONFIG_NUMA), "
           "or a seccomp filter hides it";
}

static void stop_placing(int err)
{
    int none = 0;
    if (__atomic_compare_exchange_n(&refusal.err, &none, err, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED))
        cdm__warn_once_recorded(CDM_WARN_MBIND_REFUSED, "%s; no buffer is placed from now on, "
                                "and the program goes on", refusal_text(err));
}

const char *cdm__placement_refused(uint64_t *buffers, uint64_t *bytes)
{
    int err = __atomic_load_n(&refusal.err, __ATOMIC_RELAXED);
    *buffers = __atomic_load_n(&refusal.buffers, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&refusal.bytes, __ATOMIC_RELAXED);
    return err ? refusal_text(err) : NULL;
}

/* The program's frames a decision needs first: the trace's, the report's call site, or one
 * for the rules to start with (decide walks further when they need it); 0: none. */
static int frames_wanted(void)
{
    if (cdm__trace_enabled())
        return CDM_TRACE_STACK_DEPTH;
    return cdm__rt.config.settings.report != CDM_REPORT_OFF ||
           cdm__rules_need_stack(&cdm__rt.config);
}

/* `here`: the request is being made on this stack (not one noted before the constructor). */
static void decide(size_t size, enum cdm_kind kind, bool here, struct decision *d)
{
    d->stack.depth = d->stack.n_texts = 0;
    d->stack.cut = false;
    d->reused = false;
    int frames = here ? frames_wanted() : 0;
    if (frames)
        cdm__stack_capture(&d->stack, frames);
    struct cdm_request request = {
        .size = size,
        .kind = kind,
        .program = cdm__rt.program,
        .frames = d->stack.texts,
        .n_frames = d->stack.n_texts,
        .frames_cut = d->stack.cut,
    };
    d->rule = cdm__rules_match(&cdm__rt.config, &request);
    if (d->rule == CDM_RULES_DEEPER) { /* a caller glob may match a frame not walked */
        cdm__stack_capture(&d->stack, CDM_STACK_DEPTH);
        request.n_frames = d->stack.n_texts;
        request.frames_cut = false;
        d->rule = cdm__rules_match(&cdm__rt.config, &request);
    }
    d->error = d->rule < 0 ? 0 : __atomic_load_n(&refusal.err, __ATOMIC_RELAXED);
    if (d->rule < 0)
        d->result = UNPLACED;
    else if (cdm__rt.config.settings.dry_run)
        d->result = DRY_RUN;
    else if (d->error)
        d->result = REFUSED;
    else
        d->result = UNDECIDED;
}

/* Whether a buffer recorded and not placed is watched all the same: in a profiling run with a
 * tracker (profile.c). A heap one then gets a mapping of its own, as glibc's malloc gives
 * one anyway to a request past its mmap threshold (128K, rising to 32M at most), so that its
 * pages are the buffer's alone. */
static bool watch_unplaced(void)
{
    return cdm__profiling() && cdm__tracker_backend() != CDM_TRACK_OFF;
}

static bool drop_kept(void);

/* Budget and free memory on the rule's nodes: APPLIED when the policy may go on, else
 * on_full decides between FALLBACK (placed, default policy) and FULL (ENOMEM). */
static enum outcome check_room(int rule_index, size_t mapped)
{
    const struct cdm_rule *rule = &cdm__rt.config.rules[rule_index];
    bool over_budget = cdm__budget_over(rule_index, mapped);
    bool full = !over_budget && rule->policy == CDM_POLICY_BIND &&
                !cdm__nodemask_empty(&rule->nodes) && !cdm__budget_take_room(rule_index, mapped);
    if (full && drop_kept()) /* freed buffers kept may hold what it lacks */
        full = !cdm__budget_take_room(rule_index, mapped);
    if (!over_budget && !full)
        return APPLIED;
    cdm__warn_once(CDM_WARN_FULL,
                   "rule '%s': %s; on_full = %s applied (counted in the report; raise the "
                   "budget or free memory on nodes to place more)",
                   rule->name, over_budget ? "budget reached" : "its nodes are full",
                   rule->on_full == CDM_ON_FULL_FAIL ? "fail" : "fallback");
    return rule->on_full == CDM_ON_FULL_FAIL ? FULL : FALLBACK;
}

/* ------------------------------------------------------------------ applying */

static const char *errno_hint(int rule_index, int err)
{
    const struct cdm_rule *rule = &cdm__rt.config.rules[rule_index];
    if (err == EINVAL && rule->policy == CDM_POLICY_WEIGHTED_INTERLEAVE &&
        !cdm__rt.topology.weighted_interleave)
        return "weighted-interleave needs Linux 6.9";
    if (err == EINVAL && rule->migrate == CDM_MIGRATE_KERNEL)
        return "migrate = kernel needs policy = bind: MPOL_F_NUMA_BALANCING, Linux 5.15";
    return cdm__errno_text(err);
}

/* mbind the rule's policy onto [start, start + len). Returns 0 or an errno. */
static int apply_policy(int rule_index, void *start, size_t len, unsigned flags)
{
    const struct cdm_rule *rule = &cdm__rt.config.rules[rule_index];
    const cdm_nodemask *nodes = &rule->nodes;
    int mode;
    switch (rule->policy) {
    case CDM_POLICY_BIND: mode = MPOL_BIND; break;
    case CDM_POLICY_PREFERRED:
        mode = cdm__nodemask_count(nodes) > 1 ? MPOL_PREFERRED_MANY : MPOL_PREFERRED;
        break;
    case CDM_POLICY_INTERLEAVE: mode = MPOL_INTERLEAVE; break;
    case CDM_POLICY_WEIGHTED_INTERLEAVE: mode = MPOL_WEIGHTED_INTERLEAVE; break;
    case CDM_POLICY_LOCAL: mode = MPOL_LOCAL; nodes = NULL; break;
    default: mode = MPOL_DEFAULT; nodes = NULL; break;
    }
    if (nodes && cdm__nodemask_empty(nodes))
        return ENODEV; /* the node set names no node here: warned at startup */
    if (rule->migrate == CDM_MIGRATE_KERNEL)
        mode |= MPOL_F_NUMA_BALANCING;
    int err = plat_mbind(start, len, mode, nodes, flags);
    if (refused_outright(err)) {
        stop_placing(err);
    } else if (err) {
        char set[128];
        cdm__warn_once(CDM_WARN_POLICY,
                       "rule '%s': the kernel refused %s %s (%s); its buffers keep the "
                       "default policy and the program goes on",
                       rule->name, cdm__policy_name(rule->policy),
                       nodes ? cdm__nodemask_format(nodes, set, sizeof set) : "",
                       errno_hint(rule_index, err));
    }
    return err;
}

/* What a policy's errno makes of a buffer. */
static enum outcome outcome_of_error(int err)
{
    return err == ENODEV ? NO_NODE : refused_outright(err) ? REFUSED : ERROR;
}

/* ------------------------------------------------------------------ recording */

static enum cdm_allocation_end allocation_end(enum outcome result)
{
    switch (result) {
    case FALLBACK:
        return CDM_ALLOCATION_FALLBACK;
    case FULL:
        return CDM_ALLOCATION_FAILED;
    case ERROR:
    case NO_NODE:
    case REFUSED:
        return CDM_ALLOCATION_ERROR;
    default:
        return CDM_ALLOCATION_COUNTED;
    }
}

static void record_place(const struct decision *d, void *addr, size_t size, size_t mapped,
                         enum cdm_kind kind)
{
    cdm__rule_stats_allocation(d->rule, size, allocation_end(d->result));
    if (d->result == REFUSED) {
        __atomic_fetch_add(&refusal.buffers, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&refusal.bytes, size, __ATOMIC_RELAXED);
    }
    struct cdm_callsite *caller = cdm__stack_caller(&d->stack);
    cdm__callsite_account(caller, size);
    if (!cdm__trace_enabled())
        return;

    char rule[CDM_NAME_MAX + 3], nodes[128] = "", caller_text[400] = "";
    char where[32] = "null";
    char stack[1600];
    size_t used = 0;
    const struct cdm_rule *r = d->rule >= 0 ? &cdm__rt.config.rules[d->rule] : NULL;
    cdm__rule_json(d->rule, rule, sizeof rule);
    if (r)
        cdm__nodemask_format(&r->nodes, nodes, sizeof nodes);
    if (caller)
        cdm__json_escape(caller->text, caller_text, sizeof caller_text);
    if (addr)
        snprintf(where, sizeof where, "\"%p\"", addr);
    stack[used++] = '[';
    for (int i = 0; i < d->stack.depth && i < CDM_TRACE_STACK_DEPTH; i++) {
        char text[400];
        int n = snprintf(stack + used, sizeof stack - used, "%s" CDM_TRACE_FRAME_FORMAT,
                         i ? "," : "", cdm__json_escape(d->stack.frames[i]->text, text, sizeof text),
                         (unsigned long)d->stack.frames[i]->offset);
        if (n < 0 || (size_t)n >= sizeof stack - used - 1)
            break;
        used += (size_t)n;
    }
    stack[used++] = ']';
    stack[used] = '\0';
    cdm__trace(place, where, size, mapped, cdm__kind_name(kind), rule,
               r ? cdm__policy_name(r->policy) : "none", nodes, caller_text, stack,
               outcome_names[d->result], d->error, d->reused ? "true" : "false");
}

/* What `bytes` of a buffer (or its growth) take of its rule's figures (budget.c), and give
 * back. */
static void take_part(const struct cdm_placed *p, size_t bytes)
{
    cdm__budget_take(p->rule, p->applied, bytes);
}

static void release_part(const struct cdm_placed *p, size_t bytes)
{
    cdm__budget_release(p->rule, p->applied, bytes);
}

/* A `free` event (munmap too); the rule may be -1 (a profiling run's buffer). `kept`: its
 * mapping is kept for reuse. */
static void trace_free(const struct cdm_placed *p, bool kept)
{
    if (!cdm__trace_enabled()) /* the rule's name is formatted only for a trace */
        return;
    char rule[CDM_NAME_MAX + 3];
    cdm__trace(free, (unsigned long)p->start, p->mapped, cdm__kind_name(p->kind),
               cdm__rule_json(p->rule, rule, sizeof rule), kept ? "true" : "false");
}

/* A `remap` event: the buffer `before` (old_size bytes) is now `size` bytes at `to`. */
static void trace_remap(const struct cdm_placed *before, size_t old_size, const void *to, size_t size)
{
    if (!cdm__trace_enabled())
        return;
    char rule[CDM_NAME_MAX + 3];
    cdm__trace(remap, (unsigned long)before->start, to, old_size, size,
               cdm__kind_name(before->kind), cdm__rule_json(before->rule, rule, sizeof rule));
}

/* ------------------------------------------------------------------ the table */

/* The entry starting at `start`; the caller holds `lock`. */
static struct cdm_placed *table_at(uintptr_t start)
{
    return cdm__buffers_at(&table, start);
}

/* The first entry, in address order, that overlaps [start, end); the next ones follow it
 * (cdm__buffers_next) while they start before `end`. The caller holds `lock`. */
static struct cdm_placed *table_first_overlapping(uintptr_t start, uintptr_t end)
{
    return cdm__buffers_first_overlapping(&table, start, end);
}

/* Adds a copy of `entry`; the caller holds `lock`. No accounting. */
static struct cdm_placed *table_put_locked(const struct cdm_placed *entry)
{
    struct cdm_placed *p = cdm__buffers_put(&table, entry); /* NULL: never for live ranges */
    if (!p)
        return NULL;
    if (p->kind != CDM_KIND_HEAP)
        __atomic_fetch_add(&cdm__placed_mappings, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&cdm__placed_buffers, 1, __ATOMIC_RELAXED);
    return p;
}

/* Removes and frees an entry; the caller holds `lock`. */
static void table_del_locked(struct cdm_placed *p)
{
    if (p->kind != CDM_KIND_HEAP)
        __atomic_fetch_sub(&cdm__placed_mappings, 1, __ATOMIC_RELAXED);
    __atomic_fetch_sub(&cdm__placed_buffers, 1, __ATOMIC_RELAXED);
    cdm__buffers_del(&table, p);
}

static struct cdm_placed *table_put(const struct cdm_placed *entry)
{
    pthread_mutex_lock(&lock);
    struct cdm_placed *p = table_put_locked(entry);
    pthread_mutex_unlock(&lock);
    return p;
}

/* Hands a placed buffer to the tracker: its rule may migrate its pages, or a profiling run
 * watches it. */
static void track(const struct cdm_placed *p)
{
    if ((p->applied || p->watched) && !p->huge_tlb)
        cdm__tracker_add(p->start, p->mapped, p->rule);
}

/* A buffer back in the table after an mremap: its tracking history follows it (detached
 * before the call), or it is tracked afresh when it had none. */
static void track_again(const struct cdm_placed *p, struct cdm_tracked *history)
{
    if (history)
        cdm__tracker_attach(history, p->start, p->mapped);
    else
        track(p);
}

/* A new entry, accounted and handed to the tracker. */
static bool table_insert(const struct cdm_placed *entry)
{
    if (!table_put(entry))
        return false;
    take_part(entry, entry->mapped);
    track(entry);
    return true;
}

/* Removes the entry starting at ptr; *out gets a copy. Caller needs no lock. */
static bool table_take(uintptr_t start, enum cdm_kind kind, struct cdm_placed *out)
{
    pthread_mutex_lock(&lock);
    struct cdm_placed *p = table_at(start);
    if (p && (kind == CDM_KIND_ANY || (p->kind == CDM_KIND_HEAP) == (kind == CDM_KIND_HEAP))) {
        *out = *p;
        table_del_locked(p);
    } else {
        p = NULL;
    }
    pthread_mutex_unlock(&lock);
    return p != NULL;
}

static bool table_find_heap(const void *ptr, struct cdm_placed *out)
{
    pthread_mutex_lock(&lock);
    struct cdm_placed *p = table_at((uintptr_t)ptr);
    if (p && p->kind == CDM_KIND_HEAP)
        *out = *p;
    else
        p = NULL;
    pthread_mutex_unlock(&lock);
    return p != NULL;
}

/* ------------------------------------------------------------------ a slow path's frame */

/* Each slow path runs in a frame: the guard, the program's errno, the time in the library
 * (design.md, "What a hook may call"). */
struct frame {
    int program_errno; /* errno as the program left it */
    bool outermost;
    uint64_t begin;
};

static struct frame enter(void)
{
    struct frame f = {.program_errno = errno, .outermost = cdm__guard++ == 0};
    if (f.outermost)
        f.begin = cdm__now_ns();
    return f;
}

/* Leaves with errno `err`: the program's own (f->program_errno), or what the call failed with. */
static void leave(const struct frame *f, int err)
{
    if (f->outermost)
        __atomic_fetch_add(&cdm__time_in_library_ns, cdm__now_ns() - f->begin,
                           __ATOMIC_RELAXED);
    errno = err;
    cdm__guard--;
}

/* ------------------------------------------------------------------ heap buffers' mappings */

/* A placed heap buffer's mapping ends in spare bytes, never touched, outside the table's range
 * (design.md, "A placed heap buffer's mapping"): equal power-of-two buffers must not lie a
 * power of two apart. One page, or one PMD for at least SPARE_PMD_MIN whole PMDs, which keeps
 * the mapping whole PMDs: the kernel then aligns it to a PMD. */
#define SPARE_PMD_MIN 16

static size_t heap_spare(size_t mapped)
{
    size_t pmd = cdm__rt.topology.pmd_size;
    if (pmd && mapped % pmd == 0 && mapped / pmd >= SPARE_PMD_MIN)
        return pmd;
    return plat_page_size();
}

/* The whole pages of a heap buffer of `size` bytes; 0 when they and the spare do not fit. */
static size_t heap_pages(size_t size)
{
    size_t mapped = plat_page_round(size);
    return mapped < size || mapped + heap_spare(mapped) < mapped ? 0 : mapped;
}

/* A mapping of `mapped` bytes whose start is aligned to `alignment` (beyond a page). */
static void *map_aligned(size_t mapped, size_t alignment)
{
    size_t page = plat_page_size();
    size_t slack = alignment > page ? alignment - page : 0;
    void *raw;
    if (mapped + slack < mapped ||
        plat_mmap(NULL, mapped + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  -1, 0, &raw))
        return NULL;
    uintptr_t start = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
    if (alignment <= page)
        return raw;
    if (start > (uintptr_t)raw)
        plat_munmap(raw, start - (uintptr_t)raw);
    uintptr_t end = (uintptr_t)raw + mapped + slack;
    if (end > start + mapped)
        plat_munmap((void *)(start + mapped), end - (start + mapped));
    return (void *)start;
}

/* ------------------------------------------------------------------ freed buffers kept */

/* A freed placed heap buffer's mapping is kept for a later request of its rule and about its
 * size, as glibc keeps a freed chunk: its pages are made and its policy is on. A program that
 * frees and allocates the same sizes over and over (numpy's temporaries; tcmalloc's and
 * mimalloc's large requests, which come here) made every page afresh each time otherwise
 * (design.md, "Freed buffers kept"). Only buffers no tracker watches (a tracked one's history
 * ends with it), of KEPT_BUFFER_MAX at most, KEPT_BYTES_MAX in all, the oldest given back
 * first; all are given back when a rule finds no room (its nodes are full). */
#define KEPT_MAX 16
#define KEPT_BUFFER_MAX (32ul << 20) /* glibc maps a request past 32 MiB afresh each time too */
#define KEPT_BYTES_MAX (64ul << 20)

struct kept_buffer {
    uintptr_t start;
    size_t mapped; /* its pages; the spare follows */
    int rule;
};

/* Under `lock`, the oldest first; n and bytes are also read without it (take_kept, the
 * report), so stored whole, as are the counts. */
static struct {
    struct kept_buffer buffers[KEPT_MAX];
    int n;
    size_t bytes;
    uint64_t frees, reuses; /* frees that kept their buffer; allocations that took one */
} kept;

static void kept_remove_locked(int i)
{
    __atomic_store_n(&kept.bytes, kept.bytes - kept.buffers[i].mapped, __ATOMIC_RELAXED);
    memmove(&kept.buffers[i], &kept.buffers[i + 1],
            (size_t)(kept.n - i - 1) * sizeof kept.buffers[0]);
    __atomic_store_n(&kept.n, kept.n - 1, __ATOMIC_RELAXED);
}

static void unmap_kept(const struct kept_buffer *gone, int n)
{
    for (int i = 0; i < n; i++) {
        plat_munmap((void *)gone[i].start, gone[i].mapped + heap_spare(gone[i].mapped));
        cdm__budget_room_back(gone[i].rule, gone[i].mapped);
    }
}

/* Keeps a freed buffer's mapping; false when it is not one to keep (the caller unmaps it). */
static bool keep_freed(const struct cdm_placed *p)
{
    if (!p->applied || p->watched || p->mapped > KEPT_BUFFER_MAX || cdm__tracker_wants(p->rule))
        return false;
    struct kept_buffer gone[KEPT_MAX];
    int n_gone = 0;
    pthread_mutex_lock(&lock);
    while (kept.n && (kept.n == KEPT_MAX || kept.bytes + p->mapped > KEPT_BYTES_MAX)) {
        gone[n_gone++] = kept.buffers[0];
        kept_remove_locked(0);
    }
    kept.buffers[kept.n] = (struct kept_buffer){.start = p->start, .mapped = p->mapped,
                                                .rule = p->rule};
    __atomic_store_n(&kept.n, kept.n + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&kept.bytes, kept.bytes + p->mapped, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
    __atomic_fetch_add(&kept.frees, 1, __ATOMIC_RELAXED);
    unmap_kept(gone, n_gone);
    return true;
}

void cdm__placement_kept(struct cdm_kept_totals *totals)
{
    *totals = (struct cdm_kept_totals){
        .frees = __atomic_load_n(&kept.frees, __ATOMIC_RELAXED),
        .reuses = __atomic_load_n(&kept.reuses, __ATOMIC_RELAXED),
        .bytes = __atomic_load_n(&kept.bytes, __ATOMIC_RELAXED),
    };
}

/* Takes a kept buffer of `rule` for `mapped` bytes aligned to `alignment`, at most an eighth
 * larger (its own size stays its usable size), into *out; false when none is kept. The newest
 * first: its pages are likelier in the CPU's caches. */
static bool take_kept(int rule, size_t mapped, size_t alignment, struct kept_buffer *out)
{
    bool found = false;
    if (!__atomic_load_n(&kept.n, __ATOMIC_RELAXED)) /* none kept: no lock on the placed path */
        return false;
    pthread_mutex_lock(&lock);
    for (int i = kept.n - 1; i >= 0 && !found; i--) {
        const struct kept_buffer *b = &kept.buffers[i];
        if (b->rule == rule && b->mapped >= mapped && b->mapped - mapped <= mapped / 8 &&
            (!alignment || b->start % alignment == 0)) {
            *out = *b;
            kept_remove_locked(i);
            found = true;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

/* Every kept buffer given back (a rule found no room); whether there was one. */
static bool drop_kept(void)
{
    struct kept_buffer gone[KEPT_MAX];
    pthread_mutex_lock(&lock);
    int n = kept.n;
    memcpy(gone, kept.buffers, (size_t)n * sizeof gone[0]);
    __atomic_store_n(&kept.n, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&kept.bytes, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&lock);
    unmap_kept(gone, n);
    return n > 0;
}

/* ------------------------------------------------------------------ heap buffers */

int cdm__heap_alloc(size_t size, size_t alignment, bool zeroed, void **out)
{
    struct frame f = enter();
    int err = f.program_errno; /* the program sees errno change only on ENOMEM */
    struct decision d;
    decide(size, CDM_KIND_HEAP, true, &d);
    int handled = 0;
    size_t mapped = heap_pages(size);
    bool watched = d.result != UNDECIDED; /* recorded, not placed */
    if (watched && (!watch_unplaced() || !mapped)) { /* the real allocator serves it */
        record_place(&d, NULL, size, 0, CDM_KIND_HEAP);
        goto out;
    }
    /* A kept buffer's pages are on the rule's nodes already: only its budget is checked. */
    struct kept_buffer reused = {0};
    if (!watched && mapped && take_kept(d.rule, mapped, alignment, &reused) &&
        cdm__budget_over(d.rule, reused.mapped)) {
        unmap_kept(&reused, 1);
        reused.start = 0;
    }
    if (!watched)
        d.result = reused.start ? APPLIED : !mapped ? FULL : check_room(d.rule, mapped);
    if (reused.start) {
        struct cdm_placed entry = {.start = reused.start, .size = size, .mapped = reused.mapped,
                                   .rule = d.rule, .kind = CDM_KIND_HEAP, .applied = true};
        if (table_insert(&entry)) {
            if (zeroed)
                memset((void *)reused.start, 0, reused.mapped);
            d.reused = true;
            __atomic_fetch_add(&kept.reuses, 1, __ATOMIC_RELAXED);
            record_place(&d, (void *)reused.start, size, reused.mapped, CDM_KIND_HEAP);
            *out = (void *)reused.start;
            handled = 1;
            goto out;
        }
        unmap_kept(&reused, 1);
    }
    if (d.result == FULL) {
        record_place(&d, NULL, size, 0, CDM_KIND_HEAP);
        *out = NULL;
        err = ENOMEM;
        handled = 1;
        goto out;
    }
    size_t length = mapped + heap_spare(mapped); /* the mapping: the pages, then the spare */
    void *buffer = map_aligned(length, alignment);
    if (!buffer) { /* no address space for a mapping of its own: the real allocator tries */
        d.result = watched ? d.result : UNMAPPED;
        record_place(&d, NULL, size, 0, CDM_KIND_HEAP);
        goto out;
    }
    bool applied = false;
    if (d.result == APPLIED) {
        /* The spare too: a policy on part of a mapping splits it, and mremap cannot grow a
         * buffer across two mappings. */
        d.error = apply_policy(d.rule, buffer, length, 0);
        applied = d.error == 0;
        if (d.error)
            d.result = outcome_of_error(d.error);
    }
    struct cdm_placed entry = {.start = (uintptr_t)buffer, .size = size, .mapped = mapped,
                           .rule = d.rule, .kind = CDM_KIND_HEAP, .applied = applied,
                           .watched = watched, .error = d.error};
    if (!table_insert(&entry)) {
        plat_munmap(buffer, length);
        d.result = watched ? d.result : UNMAPPED;
        record_place(&d, NULL, size, 0, CDM_KIND_HEAP);
        goto out;
    }
    record_place(&d, buffer, size, mapped, CDM_KIND_HEAP);
    *out = buffer;
    handled = 1;
out:
    leave(&f, err);
    return handled;
}

bool cdm__heap_free(void *ptr)
{
    struct cdm_placed p;
    if (!__atomic_load_n(&cdm__placed_buffers, __ATOMIC_RELAXED) ||
        !table_take((uintptr_t)ptr, CDM_KIND_HEAP, &p))
        return false;
    struct frame f = enter();
    cdm__tracker_forget(p.start, p.mapped);
    bool kept_mapping = keep_freed(&p);
    if (kept_mapping) {
        cdm__budget_release_kept(p.rule, p.mapped);
    } else {
        plat_munmap(ptr, p.mapped + heap_spare(p.mapped));
        release_part(&p, p.mapped);
    }
    trace_free(&p, kept_mapping);
    leave(&f, f.program_errno); /* free never changes errno (glibc 2.33) */
    return true;
}

size_t cdm__heap_usable_size(const void *ptr)
{
    struct cdm_placed p;
    return table_find_heap(ptr, &p) ? p.mapped : 0;
}

/* Moves a placed buffer to a larger mapping with mremap: the policy goes with the VMA. The
 * entry is re-keyed under `lock` together with the raw mremap, so that no other thread's
 * new buffer can take the old address while the table still names it. */
static int grow_placed(const struct cdm_placed *p, size_t size, void **out)
{
    size_t mapped = heap_pages(size);
    *out = NULL;
    if (!mapped) {
        errno = ENOMEM;
        return 1;
    }
    if (p->applied && check_room(p->rule, mapped - p->mapped) == FULL) {
        errno = ENOMEM; /* on_full = fail; with fallback the buffer grows past the cap */
        return 1;
    }
    uintptr_t start = p->start;
    struct cdm_placed *entry, before;
    int err = 0;
    void *moved = NULL;
    /* A moved mapping loses its registration: the history is carried over. */
    struct cdm_tracked *history = cdm__tracker_detach(start, p->mapped);
    pthread_mutex_lock(&lock);
    entry = table_at(start);
    if (!entry) {
        err = EINVAL; /* freed by another thread meanwhile: the program's own race */
    } else if ((err = plat_mremap((void *)start, entry->mapped, mapped + heap_spare(mapped),
                                   MREMAP_MAYMOVE, &moved)) == 0) {
        /* The buffer's pages alone move (a registration with the tracker may have split
         * them from their spare, and mremap takes one mapping); the grown mapping ends in a
         * spare of its own, the old one is unmapped. */
        if ((uintptr_t)moved != start)
            plat_munmap((void *)(start + entry->mapped), heap_spare(entry->mapped));
        before = *entry;
        table_del_locked(entry);
        struct cdm_placed grown = before;
        grown.start = (uintptr_t)moved;
        grown.size = size;
        grown.mapped = mapped;
        if (!table_put_locked(&grown))
            cdm__warn_once(CDM_WARN_HOOK, "no memory for the table of placed buffers: a grown "
                                          "buffer is no longer tracked");
    }
    pthread_mutex_unlock(&lock);
    if (err) {
        if (entry) /* still where it was: tracked again */
            track_again(p, history);
        else
            cdm__tracker_attach(history, 0, 0);
        errno = err;
        return 1;
    }
    take_part(&before, mapped - before.mapped);
    track_again(&(struct cdm_placed){.start = (uintptr_t)moved, .mapped = mapped, .rule = before.rule,
                                 .applied = before.applied, .watched = before.watched},
                history);
    trace_remap(&before, before.mapped, moved, mapped);
    *out = moved;
    return 1;
}

int cdm__heap_realloc(void *ptr, size_t size, void **out)
{
    struct cdm_placed p;
    if (!table_find_heap(ptr, &p)) {
        /* Not ours: a request growing past min_size may be placed, copying the old bytes. */
        if (size < cdm__rt.min_size || cdm__state != CDM_STATE_READY ||
            !cdm__heap_alloc(size, 0, false, out))
            return 0;
        if (*out) {
            size_t old = cdm__real.malloc_usable_size(ptr);
            memcpy(*out, ptr, old < size ? old : size);
            cdm__real.free(ptr);
        }
        return 1;
    }
    struct frame f = enter();
    int handled = 1;
    if (size == 0) { /* glibc: realloc(p, 0) frees p and returns NULL */
        cdm__heap_free(ptr);
        *out = NULL;
    } else if (size < cdm__rt.min_size) { /* no longer large: back to the program's allocator */
        void *small = cdm__real.malloc(size);
        if (small) {
            memcpy(small, ptr, size);
            cdm__heap_free(ptr);
        }
        *out = small;
    } else if (size <= p.mapped) {
        pthread_mutex_lock(&lock);
        struct cdm_placed *entry = table_at(p.start);
        if (entry)
            entry->size = size;
        pthread_mutex_unlock(&lock);
        *out = ptr;
    } else {
        handled = grow_placed(&p, size, out);
    }
    leave(&f, *out ? f.program_errno : errno);
    return handled;
}

/* ------------------------------------------------------------------ mappings */

static enum cdm_kind kind_of_mapping(int flags, int fd)
{
    if (!(flags & MAP_ANONYMOUS) && fd >= 0)
        return CDM_KIND_FILE;
    return (flags & MAP_SHARED) ? CDM_KIND_SHARED : CDM_KIND_ANON;
}

/* Forget what placed mappings had inside [start, end): munmap, or a MAP_FIXED mapping over
 * them. An entry inside is removed, one that straddles is trimmed (split around a hole);
 * the bytes gone leave the budget and live counts. The trace names up to 16 removed. */
static void forget_range(uintptr_t start, uintptr_t end)
{
    struct cdm_placed *next;
    struct cdm_placed gone[16];
    int n_gone = 0;
    pthread_mutex_lock(&lock);
    for (struct cdm_placed *p = table_first_overlapping(start, end); p && p->start < end; p = next) {
        next = cdm__buffers_next(p);
        uintptr_t p_end = p->start + p->mapped;
        if (p->kind == CDM_KIND_HEAP)
            continue;
        if (p->start >= start && p_end <= end) {
            release_part(p, p->mapped);
            if (n_gone < 16)
                gone[n_gone++] = *p;
            table_del_locked(p);
        } else if (p->start < start) { /* keeps its head, and a tail past a hole */
            uintptr_t cut_end = p_end < end ? p_end : end;
            release_part(p, cut_end - start);
            cdm__buffers_move(&table, p, p->start, start - p->start);
            if (p_end > end) {
                struct cdm_placed tail = *p;
                tail.start = end;
                tail.mapped = p_end - end;
                tail.size = tail.mapped;
                if (!table_put_locked(&tail))
                    release_part(&tail, tail.mapped);
            }
        } else { /* keeps its tail: re-keyed at `end`, which no other entry is between */
            release_part(p, end - p->start);
            cdm__buffers_move(&table, p, end, p_end - end);
        }
    }
    pthread_mutex_unlock(&lock);
    cdm__tracker_forget(start, end - start);
    for (int i = 0; i < n_gone; i++)
        trace_free(&gone[i], false);
}

/* A mapping that is no buffer: a reservation (PROT_NONE) or one below min_size. Only a
 * MAP_FIXED one matters here, for the placed ranges it replaces. */
static void *map_unplaced(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (flags & MAP_FIXED) { /* before: the tracker must not move the new mapping's pages */
        struct frame f = enter();
        forget_range((uintptr_t)addr, (uintptr_t)addr + plat_page_round(len));
        leave(&f, f.program_errno);
    }
    return cdm__real.mmap(addr, len, prot, flags, fd, off);
}

/* A mapping that exists: the decided policy on it (mbind_flags: MPOL_MF_MOVE for pages
 * already there), and its entry in the table when it is placed or watched. */
static void enter_mapping(struct decision *d, void *start, size_t len, enum cdm_kind kind,
                          bool watched, bool huge_tlb, unsigned mbind_flags)
{
    size_t mapped = plat_page_round(len);
    bool applied = false;
    if (d->result == APPLIED) {
        d->error = apply_policy(d->rule, start, mapped, mbind_flags);
        applied = d->error == 0;
        if (d->error)
            d->result = outcome_of_error(d->error);
    }
    struct cdm_placed entry = {.start = (uintptr_t)start, .size = len, .mapped = mapped,
                               .rule = d->rule, .kind = kind, .applied = applied,
                               .watched = watched, .error = d->error, .huge_tlb = huge_tlb};
    if (watched || (d->rule >= 0 && d->result != DRY_RUN))
        table_insert(&entry);
}

void cdm__placement_adopt(void *start, size_t len)
{
    if (len < cdm__rt.min_size)
        return;
    struct frame f = enter();
    struct decision d;
    decide(len, CDM_KIND_ANON, false, &d);
    size_t mapped = plat_page_round(len);
    bool watched = d.result != UNDECIDED && watch_unplaced();
    /* The mapping exists: with no room it can only keep the default policy. */
    if (d.result == UNDECIDED && (d.result = check_room(d.rule, mapped)) == FULL)
        d.result = FALLBACK;
    enter_mapping(&d, start, len, CDM_KIND_ANON, watched, false, MPOL_MF_MOVE);
    record_place(&d, start, len, mapped, CDM_KIND_ANON);
    leave(&f, f.program_errno);
}

void *cdm__mmap_slow(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (prot == PROT_NONE || len < cdm__rt.min_size)
        return map_unplaced(addr, len, prot, flags, fd, off);
    struct frame f = enter();
    enum cdm_kind kind = kind_of_mapping(flags, fd);
    struct decision d;
    decide(len, kind, true, &d);
    size_t mapped = plat_page_round(len);
    /* Private anonymous memory only: a shared or file mapping's pages are not ours alone, a
     * huge page moves as a whole. */
    bool watched = d.result != UNDECIDED && kind == CDM_KIND_ANON && !(flags & MAP_HUGETLB) &&
                   watch_unplaced();
    if (d.result == UNDECIDED)
        d.result = check_room(d.rule, mapped);
    void *result = MAP_FAILED;
    int mmap_errno = ENOMEM;
    if (d.result != FULL) {
        if (flags & MAP_FIXED) /* before: the tracker must not move the new mapping's pages */
            forget_range((uintptr_t)addr, (uintptr_t)addr + mapped);
        result = cdm__real.mmap(addr, len, prot, flags, fd, off);
        mmap_errno = errno;
    }
    /* MAP_POPULATE already faulted the pages in: move them too. */
    if (result != MAP_FAILED)
        enter_mapping(&d, result, len, kind, watched, (flags & MAP_HUGETLB) != 0,
                      (flags & MAP_POPULATE) ? MPOL_MF_MOVE : 0);
    record_place(&d, result == MAP_FAILED ? NULL : result, len,
                 result == MAP_FAILED ? 0 : mapped, kind);
    leave(&f, result == MAP_FAILED ? mmap_errno : f.program_errno);
    return result;
}

int cdm__munmap_slow(void *addr, size_t len)
{
    /* The entries go first: once the range is unmapped another thread's mmap may get it. */
    if (((uintptr_t)addr & (plat_page_size() - 1)) || len == 0)
        return cdm__real.munmap(addr, len); /* EINVAL, from the kernel */
    struct frame f = enter();
    forget_range((uintptr_t)addr, (uintptr_t)addr + plat_page_round(len));
    leave(&f, f.program_errno);
    return cdm__real.munmap(addr, len);
}

void *cdm__mremap_slow(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
    /* The entry leaves the table before the move and comes back at the new address (or the
     * old one, if the move fails), so no other thread's mapping can meet a stale key. */
    struct frame f = enter();
    struct cdm_placed p;
    struct cdm_tracked *history = NULL; /* what the tracker saw of its pages, carried along */
    bool tracked = table_take((uintptr_t)old, CDM_KIND_ANY, &p);
    if (tracked)
        history = cdm__tracker_detach(p.start, p.mapped);
    leave(&f, f.program_errno);
    void *moved = cdm__real.mremap(old, old_len, new_len, flags, new_addr);
    if (!tracked)
        return moved;
    f = enter(); /* the program's errno is now mremap's */
    if (moved == MAP_FAILED) {
        if (table_put(&p))
            track_again(&p, history);
        else
            cdm__tracker_attach(history, 0, 0);
    } else {
        struct cdm_placed after = p;
        after.start = (uintptr_t)moved;
        after.size = new_len;
        after.mapped = plat_page_round(new_len);
        if (flags & MREMAP_FIXED) /* whatever was placed at the destination is gone */
            forget_range(after.start, after.start + after.mapped);
        if (table_put(&after)) {
            take_part(&p, after.mapped);
            track_again(&after, history);
        } else {
            cdm__tracker_attach(history, 0, 0);
        }
        release_part(&p, p.mapped);
        trace_remap(&p, p.mapped, moved, after.mapped);
    }
    leave(&f, f.program_errno);
    return moved;
}

/* Whether any placed buffer overlaps [start, end): the ones whose advice is recorded (not a
 * profiling run's: its advice changes nothing of ours). */
static int rule_overlapping(uintptr_t start, uintptr_t end)
{
    int rule = -1;
    pthread_mutex_lock(&lock);
    for (struct cdm_placed *p = table_first_overlapping(start, end); p && p->start < end;
         p = cdm__buffers_next(p))
        if (!p->watched) {
            rule = p->rule;
            break;
        }
    pthread_mutex_unlock(&lock);
    return rule;
}

static bool discards(int advice)
{
    return advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE;
}

int cdm__madvise_slow(void *addr, size_t len, int advice)
{
    /* Advice on placed buffers matters to the trace and the tracker alone: without either,
     * no lookup (design.md, "The table of placed buffers"). */
    if (!cdm__trace_enabled() && !cdm__tracker_tracking())
        return cdm__real.madvise(addr, len, advice);
    uintptr_t start = (uintptr_t)addr;
    struct frame f = enter();
    int rule = rule_overlapping(start, start + len);
    /* Before the kernel discards the pages: no migration decided earlier may then move the
     * pages that the program's next writes make in their place. */
    if (rule >= 0 && discards(advice))
        cdm__tracker_discard(start, plat_page_round(len));
    leave(&f, f.program_errno);
    int rc = cdm__real.madvise(addr, len, advice);
    if (rule < 0)
        return rc;
    f = enter(); /* the program's errno is now madvise's */
    /* Hints move the pages (MADV_COLD, MADV_PAGEOUT to the rule's nodes; MADV_WILLNEED to
     * DRAM) once the kernel took the advice. */
    if (rc == 0 && !discards(advice) &&
        (advice == MADV_COLD || advice == MADV_PAGEOUT || advice == MADV_WILLNEED))
        cdm__tracker_hint(start, plat_page_round(len), advice == MADV_WILLNEED);
    cdm__trace(advise, addr, len, advice, cdm__rt.config.rules[rule].name,
               rc ? f.program_errno : 0);
    leave(&f, f.program_errno);
    return rc;
}

/* ------------------------------------------------------------------ queries */

bool cdm__placement_lookup(const void *addr, struct cdm_buffer_info *info)
{
    uintptr_t at = (uintptr_t)addr;
    pthread_mutex_lock(&lock);
    struct cdm_placed *hit = table_first_overlapping(at, at + 1);
    if (hit && hit->watched) /* a profiling run's: not placed */
        hit = NULL;
    if (hit)
        *info = (struct cdm_buffer_info){.start = (void *)hit->start, .size = hit->size,
                                         .mapped = hit->mapped, .rule = hit->rule,
                                         .kind = hit->kind, .applied = hit->applied,
                                         .error = hit->error};
    pthread_mutex_unlock(&lock);
    return hit != NULL;
}

uint64_t cdm__placement_pages(int rule, uint64_t *per_node, int max_node, uint64_t *absent)
{
    enum { BATCH = 512 };
    void *pages[BATCH];
    int status[BATCH];
    uint64_t counted = 0;
    size_t page = plat_page_size();
    struct cdm_placed *p;
    pthread_mutex_lock(&lock);
    for (p = cdm__buffers_first(&table); p; p = cdm__buffers_next(p)) {
        if (p->rule != rule || p->watched)
            continue;
        /* Large buffers are sampled: at most 64k queried pages each. */
        size_t n_pages = p->mapped / page;
        size_t stride = n_pages > 65536 ? n_pages / 65536 : 1;
        for (size_t first = 0; first < n_pages; first += BATCH * stride) {
            unsigned long n = 0;
            for (size_t i = first; i < n_pages && n < BATCH; i += stride)
                pages[n++] = (void *)(p->start + i * page);
            if (plat_move_pages(n, pages, NULL, status, 0))
                break;
            for (unsigned long i = 0; i < n; i++) {
                if (status[i] >= 0 && status[i] <= max_node)
                    per_node[status[i]] += stride;
                else
                    *absent += stride;
                counted += stride;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return counted;
}

void cdm__placement_prepare_fork(void)
{
    pthread_mutex_lock(&lock);
}

/* The child counts from here on; the buffers it inherited stay live in its table. */
void cdm__placement_after_fork(bool child)
{
    if (!child) {
        pthread_mutex_unlock(&lock);
        return;
    }
    pthread_mutex_init(&lock, NULL);
    cdm__rule_stats_after_fork_child();
    refusal.buffers = refusal.bytes = 0; /* the refusal stands: the filter is inherited */
}
