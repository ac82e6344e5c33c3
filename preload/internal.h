/* SPDX-License-Identifier: MIT */
/* The preload library's own internals, above core.h (what the CLI links too) and platform.h,
 * one section a file:
 *   bootstrap.c  a static pool for allocations made before the real allocator is known
 *   arena.c      memory for the library's own tables, from raw mmap
 *   interpose.c  the exported hooks (malloc family, mmap, munmap, mremap, madvise)
 *   init.c       constructor, destructor, fork, the preloading state
 *   callsite.c   the allocating stack and its names
 *   symtab.c     names of code addresses, without the allocator or the loader's lock
 *   placement.c  placed buffers: their mappings, policies, budgets (buffer_table.h: their table)
 *   tracker.c    which pages of migrating buffers are touched: the tracker's threads, its
 *                ranges and epochs (track.h: its backends; users.c: which socket uses them)
 *   migrate.c    where tracked pages should live, and the move_pages calls
 *   profile.c    a profiling run: it watches what it records, moves nothing, says how much
 *                each buffer was used
 *   trace.c      the JSON-lines decision trace (trace_schema.h: its events and fields)
 *   report.c     the end-of-run summary
 */
#ifndef CDMPLACE_INTERNAL_H
#define CDMPLACE_INTERNAL_H

#include "core.h"
#include "pages.h"
#include "trace_schema.h"

/* ---------------------------------------------------------------- bootstrap.c */
#define CDM_BOOTSTRAP_POOL_SIZE (64 * 1024)
CDM_HIDDEN extern unsigned char cdm__bootstrap_pool[CDM_BOOTSTRAP_POOL_SIZE];
/* Inline: every free() the program makes asks it. */
static inline bool cdm__bootstrap_owns(const void *ptr)
{
    return (uintptr_t)ptr - (uintptr_t)cdm__bootstrap_pool < CDM_BOOTSTRAP_POOL_SIZE;
}
CDM_HIDDEN void *cdm__bootstrap_alloc(size_t size, size_t alignment);
CDM_HIDDEN size_t cdm__bootstrap_size(const void *ptr);

/* ---------------------------------------------------------------- arena.c */
struct cdm_slab {
    size_t object_size;
    void *free_list;
};
CDM_HIDDEN void *cdm__arena_map(size_t size);
CDM_HIDDEN void cdm__arena_unmap(void *mem, size_t size);
/* A block of new_size holding the first `used` bytes of mem (of size bytes, which goes back);
 * NULL, mem kept, without memory. mem NULL: a new block. */
CDM_HIDDEN void *cdm__arena_grow(void *mem, size_t size, size_t used, size_t new_size);
/* The caller holds the lock that guards the slab. Objects come back zeroed. */
CDM_HIDDEN void *cdm__slab_alloc(struct cdm_slab *slab);
CDM_HIDDEN void cdm__slab_free(struct cdm_slab *slab, void *ptr);

/* ---------------------------------------------------------------- interpose.c */
/* The one hook list: name, return type, parameters. It declares the real functions' table
 * (cdm__real) and drives their resolution. reallocarray and mmap64 are built on these. */
#define CDM_HOOKS(X)                                                                         \
    X(malloc, void *, (size_t))                                                              \
    X(free, void, (void *))                                                                  \
    X(calloc, void *, (size_t, size_t))                                                      \
    X(realloc, void *, (void *, size_t))                                                     \
    X(posix_memalign, int, (void **, size_t, size_t))                                        \
    X(aligned_alloc, void *, (size_t, size_t))                                               \
    X(memalign, void *, (size_t, size_t))                                                    \
    X(valloc, void *, (size_t))                                                              \
    X(pvalloc, void *, (size_t))                                                             \
    X(malloc_usable_size, size_t, (void *))                                                  \
    X(mmap, void *, (void *, size_t, int, int, int, off_t))                                  \
    X(munmap, int, (void *, size_t))                                                         \
    X(mremap, void *, (void *, size_t, size_t, int, ...))                                    \
    X(madvise, int, (void *, size_t, int))                                                   \
    X(ioctl, int, (int, unsigned long, ...))                                                 \
    X(__register_atfork, int, (void (*)(void), void (*)(void), void (*)(void), void *))
/* glibc's registration of fork handlers (pthread_atfork calls it), hooked so that ours come
 * first (cdm__fork_handlers_register). */
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                             void *dso_handle);
#define CDM_REAL_FIELD(name, ret, params) ret(*name) params;
struct cdm_real {
    CDM_HOOKS(CDM_REAL_FIELD)
};
CDM_HIDDEN extern struct cdm_real cdm__real;
/* Find the next definition of every hooked function; safe to call more than once. */
CDM_HIDDEN void cdm__hooks_resolve(void);
/* Whether the calloc that glibc's own code calls (the loader, pthread_create) is glibc's:
 * then no allocator lock can be held where our hooks run. */
CDM_HIDDEN bool cdm__hooks_allocator_is_glibc(void);
/* Whether the program's malloc-family calls reach our hooks: not when an allocator comes
 * before us in the global scope (preloaded ahead of us, or linked into the program). */
CDM_HIDDEN bool cdm__hooks_see_malloc(void);
/* Send the program's next malloc-family call through the slow path, which then starts the
 * tracker's threads (cdm__tracker_start_threads). */
CDM_HIDDEN void cdm__hooks_want_call(void);

/* ---------------------------------------------------------------- early.c
 * The mapping hooks while PRELOADING, outside our own calls: false once the constructor has
 * taken the noted mappings over (cdm__early_adopt), and the caller goes on as usual. */
CDM_HIDDEN bool cdm__early_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off,
                                void **out);
CDM_HIDDEN bool cdm__early_munmap(void *addr, size_t len, int *out);
CDM_HIDDEN bool cdm__early_mremap(void *old, size_t old_len, size_t new_len, int flags,
                                  void *new_addr, void **out);
/* The constructor's last step before READY: each noted mapping to placement. */
CDM_HIDDEN void cdm__early_adopt(void);

/* ---------------------------------------------------------------- init.c */
enum cdm_state {
    CDM_STATE_PRELOADING, /* before our constructor finished: hooks only forward */
    CDM_STATE_READY,
    CDM_STATE_EXITED,     /* after our destructor: hooks still work, nothing is recorded */
};
CDM_HIDDEN extern enum cdm_state cdm__state;
/* Registers the library's fork handlers, once, before any other's that reaches the hooks:
 * handlers registered first run last before fork (doc/design.md, "Fork and exit"). */
CDM_HIDDEN void cdm__fork_handlers_register(void);
/* The fast paths' threshold: requests below it go straight to the real functions. A page
 * until READY (early.c notes mappings), then the configured min_size (cdm__rt.min_size, what the slow paths place
 * from); 0 while the program's next malloc-family call is wanted (cdm__hooks_want_call). */
CDM_HIDDEN extern size_t cdm__min_size;
/* Set while the library itself runs on this thread: every hook then only forwards. */
CDM_HIDDEN extern __thread int cdm__guard;
struct cdm_runtime {
    struct cdm_config config;
    struct cdm_topology topology;
    const char *program;      /* argv[0]'s base name */
    char exe[CDM_PATH_MAX];   /* /proc/self/exe */
    size_t min_size;          /* min_size, at least a page: smaller requests are not placed */
    uint64_t start_ns;
    pid_t pid;
};
CDM_HIDDEN extern struct cdm_runtime cdm__rt;
CDM_HIDDEN uint64_t cdm__now_ns(void);
CDM_HIDDEN pid_t cdm__tid(void);
/* Nanoseconds spent in the library's slow paths, all threads. */
CDM_HIDDEN extern uint64_t cdm__time_in_library_ns;

/* ---------------------------------------------------------------- callsite.c */
/* The program's frames kept of an allocating stack (for `caller` rules and the call-site
 * table), and those of them a `place` event names, innermost first. */
#define CDM_STACK_DEPTH 24
#define CDM_TRACE_STACK_DEPTH 8
struct cdm_callsite {
    uintptr_t ip;             /* return address */
    uintptr_t offset;         /* ip relative to the object's load address */
    char text[384];           /* "/path/object:function" (function "?" when unknown) */
    const char *short_text;   /* "object:function": points into text */
    const char *function;     /* points into text */
    bool in_library;          /* a frame of libcdmplace.so itself */
    uint64_t bytes, allocations; /* placed or recorded from here, for the report */
};
struct cdm_stack {
    int depth;
    struct cdm_callsite *frames[CDM_STACK_DEPTH]; /* innermost first, our own frames skipped */
    const char *texts[2 * CDM_STACK_DEPTH];       /* full and short forms, for rule globs */
    int n_texts;
    bool cut; /* the walk stopped short of the stack's end: deeper frames were not walked */
};
/* Unwind the calling thread (libunwind) for at least `frames` of the program's frames (up to
 * CDM_STACK_DEPTH: the whole stack as far as rules look), and name each frame, once per
 * return address. */
CDM_HIDDEN void cdm__stack_capture(struct cdm_stack *stack, int frames);
/* At start: what unwinding and naming set up once, done before any hook needs it. */
CDM_HIDDEN void cdm__stack_warm_up(void);
/* The frame a buffer is attributed to: the innermost one, or NULL. */
CDM_HIDDEN struct cdm_callsite *cdm__stack_caller(const struct cdm_stack *stack);
CDM_HIDDEN void cdm__callsite_account(struct cdm_callsite *site, uint64_t bytes);
/* Up to n call sites by bytes, largest first; returns how many. */
CDM_HIDDEN int cdm__callsites_top(struct cdm_callsite **out, int n);
CDM_HIDDEN void cdm__callsites_prepare_fork(void);
CDM_HIDDEN void cdm__callsites_after_fork(bool child);

/* ---------------------------------------------------------------- symtab.c */
struct cdm_code_location {
    const char *object;   /* the object's path, "?" when the address is in none */
    const char *function; /* "?" when no symbol holds the address */
    uintptr_t offset;     /* from the start of the object's mapping */
    bool in_library;      /* in libcdmplace.so itself */
};
/* Where libcdmplace.so is: once, at start. */
CDM_HIDDEN void cdm__symtab_setup(void);
/* Name a return address of the calling thread's stack; the strings stay valid while the
 * object stays loaded. Calls no allocator and takes no loader lock. */
CDM_HIDDEN void cdm__symtab_locate(uintptr_t ip, struct cdm_code_location *out);
CDM_HIDDEN void cdm__symtab_prepare_fork(void);
CDM_HIDDEN void cdm__symtab_after_fork(bool child);

/* ---------------------------------------------------------------- rule_stats.c */
struct cdm_rule_stats {
    uint64_t allocations, bytes, live_bytes, peak_bytes;
    uint64_t fallbacks, failures, errors;
    uint64_t pages_to_dram, pages_to_policy; /* moved by migration */
    uint64_t faults;                         /* served by the tracker (wp, missing) */
};
/* Index CDM_MAX_RULES counts allocations no rule matched (the profile); read only here. */
CDM_HIDDEN extern struct cdm_rule_stats cdm__rule_stats[CDM_MAX_RULES + 1];
/* How an allocation counted against its rule (-1: none matched) ended, beyond its count. */
enum cdm_allocation_end {
    CDM_ALLOCATION_COUNTED,  /* placed, unplaced, watched: nothing more */
    CDM_ALLOCATION_FALLBACK, /* no room: the default policy */
    CDM_ALLOCATION_FAILED,   /* no room, on_full = fail */
    CDM_ALLOCATION_ERROR,    /* the kernel refused the policy, or no node of it is here */
};
CDM_HIDDEN void cdm__rule_stats_allocation(int rule, size_t bytes, enum cdm_allocation_end end);
/* Live bytes come and go (negative `bytes`); the peak follows. */
CDM_HIDDEN void cdm__rule_stats_live(int rule, int64_t bytes);
CDM_HIDDEN void cdm__rule_stats_moved(int rule, bool to_dram, uint64_t pages);
CDM_HIDDEN void cdm__rule_stats_fault(int rule);
/* Every rule's and the profile's allocations, bytes, fallbacks, failures and errors. */
CDM_HIDDEN void cdm__rule_stats_sum(struct cdm_rule_stats *sum);
CDM_HIDDEN void cdm__rule_stats_after_fork_child(void);

/* ---------------------------------------------------------------- placement.c */
/* Heap: 1 when the request was handled here (*out is the buffer, or NULL with errno),
 * 0 when it goes to the real allocator. `zeroed`: the buffer must read as zeros (calloc; a
 * fresh mapping does, a kept one is cleared). */
CDM_HIDDEN int cdm__heap_alloc(size_t size, size_t alignment, bool zeroed, void **out);
CDM_HIDDEN int cdm__heap_realloc(void *ptr, size_t size, void **out);
CDM_HIDDEN bool cdm__heap_free(void *ptr);
/* Usable size of a placed heap buffer, 0 if ptr is not one. */
CDM_HIDDEN size_t cdm__heap_usable_size(const void *ptr);
CDM_HIDDEN void *cdm__mmap_slow(void *addr, size_t len, int prot, int flags, int fd, off_t off);
CDM_HIDDEN int cdm__munmap_slow(void *addr, size_t len);
CDM_HIDDEN void *cdm__mremap_slow(void *old, size_t old_len, size_t new_len, int flags,
                                  void *new_addr);
CDM_HIDDEN int cdm__madvise_slow(void *addr, size_t len, int advice);
/* Placed mappings (munmap/mremap fast path) and placed buffers of any kind (madvise). */
CDM_HIDDEN extern int cdm__placed_mappings;
CDM_HIDDEN extern int cdm__placed_buffers;
/* Pages per node of the rule's live buffers (move_pages query); returns pages counted,
 * with not-yet-touched pages in *absent. */
CDM_HIDDEN uint64_t cdm__placement_pages(int rule, uint64_t *per_node, int max_node,
                                         uint64_t *absent);
/* Why placing stopped (the kernel refused mbind outright; design.md, "In a container"), with
 * the buffers and bytes left unplaced since; NULL while placing goes on. */
CDM_HIDDEN const char *cdm__placement_refused(uint64_t *buffers, uint64_t *bytes);
/* Freed buffers kept for reuse (design.md, "Freed buffers kept"): frees that kept their
 * mapping, allocations served from one, and what is kept now. */
struct cdm_kept_totals {
    uint64_t frees, reuses;
    size_t bytes;
};
CDM_HIDDEN void cdm__placement_kept(struct cdm_kept_totals *totals);
/* The placed buffer holding addr (not a profiling run's watched one): its placement's
 * figures in *info (query.c adds tracking's), or false. */
struct cdm_buffer_info;
CDM_HIDDEN bool cdm__placement_lookup(const void *addr, struct cdm_buffer_info *info);
/* A private anonymous mapping made before the constructor (early.c): decided now, and placed
 * as a new one would be, its pages already there moved; no call site is known. */
CDM_HIDDEN void cdm__placement_adopt(void *start, size_t len);
CDM_HIDDEN void cdm__placement_prepare_fork(void);
CDM_HIDDEN void cdm__placement_after_fork(bool child);

/* ---------------------------------------------------------------- budget.c */
/* Whether `mapped` more bytes would take the rule past its budget. */
CDM_HIDDEN bool cdm__budget_over(int rule, size_t mapped);
/* Whether `mapped` bytes fit on the rule's nodes, past a headroom; when they do, they are
 * counted as taken until the free memory is read again. */
CDM_HIDDEN bool cdm__budget_take_room(int rule, size_t mapped);
/* A buffer's bytes (or its growth) taken and given back: the rule's live and peak bytes (-1:
 * none matched), and with its policy applied its budget and room. */
CDM_HIDDEN void cdm__budget_take(int rule, bool applied, size_t bytes);
CDM_HIDDEN void cdm__budget_release(int rule, bool applied, size_t bytes);
/* The same in two halves for a freed buffer whose pages are kept (placement.c, "freed buffers
 * kept"): it leaves the live bytes and the budget when freed, and gives its room back only
 * once unmapped, since its pages take their node's memory until then. */
CDM_HIDDEN void cdm__budget_release_kept(int rule, size_t bytes);
CDM_HIDDEN void cdm__budget_room_back(int rule, size_t bytes);

/* ---------------------------------------------------------------- tracker.c */
/* A placed buffer whose rule migrates, or a buffer a profiling run watches, and what is
 * known of each of its pages. */
struct cdm_tracked {
    uint64_t id;          /* never reused: finds the range again after the lock was released */
    uint32_t discards;    /* counts MADV_DONTNEED and kin: a move decided before one is void */
    bool moving;          /* a move_pages call on it is in flight (the lock released) */
    bool registered;      /* with the userfaultfd: done once the threads run */
    bool huge;            /* found in huge pages: watched in blocks of whole huge pages
                           * through the synchronous userfaultfd instead (tracker.c, "huge
                           * ranges") */
    uintptr_t start;
    size_t n_pages;
    int rule;             /* -1: a profiling run's buffer that no rule matched */
    uint32_t added_epoch; /* the last epoch collected when it was registered */
    uint32_t made_epoch;  /* the last epoch a page of it was seen made (wp-async) */
    /* DAMON beside wp-async: its sightings of the range count from this epoch on (0: it does
     * not watch the range yet). The first accessed bits DAMON reads of a page were set before
     * it watched, or before the page moved (a move keeps them). */
    uint32_t reads_from;
    uint64_t page_epochs; /* pages seen touched in an epoch, summed over the epochs */
    uint32_t releases;    /* faults resolved on it, each unprotecting a block (track_wp.c) */
    /* Since the last collection, the bounds of the blocks that faults making a page released,
     * and the page the last of them made (tracker.c, mark_fault); equal bounds: none. */
    uintptr_t making_from, making_to, making_page;
    /* Pages shared with another process (a fork's child) refuse to move (EACCES) until one
     * of the two writes them or exits: the range's moves wait until this epoch, each refusal
     * in a row twice as long (migrate.c). */
    uint32_t moves_wait_until;
    uint8_t shared_refusals;
    struct cdm_pages pages; /* what is known of each page: when used, where (pages.h) */
    uint32_t span_pages;  /* what is kept by the span, not the page (cdm_pages_spans) */
    uint32_t n_spans;
    uint8_t *users;       /* several sockets: per span, node + 1 of the last user seen (0:
                           * not known); NULL with one socket */
    void *backend_state;  /* the tracker backend's own (track.h), or NULL */
    void *state;          /* the mapping of our own holding it and the pages' bytes */
    size_t state_size;
};
/* users.c: the node of the CPU thread `tid` of this process last ran on, and the one node
 * its threads but ours ran on since the last call (-1: none known, or several). */
CDM_HIDDEN int cdm__users_thread_node(pid_t tid);
CDM_HIDDEN int cdm__users_epoch_node(pid_t ours_a, pid_t ours_b);
/* Where the tracker sees no thread (wp-async, DAMON): sample every page fault of the program's
 * threads (a sampler opened for each as cdm__users_epoch_node first sees it), read each epoch
 * after that call; the node of the CPU whose fault the epoch sampled last in the 2 MiB block
 * of `address`, or -1. The child of a fork samples its own threads. */
CDM_HIDDEN void cdm__users_sample_faults(void);
CDM_HIDDEN void cdm__users_read_samples(void);
CDM_HIDDEN int cdm__users_block_node(uintptr_t address);
CDM_HIDDEN void cdm__users_after_fork_child(void);
/* The 2 MiB block a fault is sampled in (several sockets). */
#define CDM_USER_BLOCK_SHIFT 21
/* Epochs count from here (a trace counts from 0). */
#define CDM_EPOCH_FIRST (1u << 20)
/* Choose the backend (at startup; warns once when track's choice is not allowed here). */
CDM_HIDDEN void cdm__tracker_setup(void);
CDM_HIDDEN enum cdm_track cdm__tracker_backend(void);
/* What the running tracker sees (cdm__backend_sees, DAMON's reads included where they are). */
CDM_HIDDEN const char *cdm__tracker_sees(void);
/* A placed buffer (policy applied) of a migrating rule, or in a profiling run any buffer it
 * records (rule -1: none matched): register it; the threads are wanted with the first one.
 * Call without placement's lock. */
CDM_HIDDEN void cdm__tracker_add(uintptr_t start, size_t len, int rule);
/* Whether a buffer of `rule` (-1: none) would be tracked. */
CDM_HIDDEN bool cdm__tracker_wants(int rule);
/* Start the threads if a hook wanted them and could not start them itself; from a
 * malloc-family call of the program's, no lock held. */
CDM_HIDDEN void cdm__tracker_start_threads(void);
/* In the constructor: start the threads now when no malloc-family call of the program's
 * would reach us to start them later (cdm__hooks_see_malloc). */
CDM_HIDDEN void cdm__tracker_start_early(void);
/* Whether any range is tracked (a relaxed read: a range is added before its buffer is handed
 * to the program, so a call on a tracked buffer always sees it). */
CDM_HIDDEN bool cdm__tracker_tracking(void);
/* [start, start + len) is unmapped or replaced: ranges inside it are dropped, and ranges
 * reaching into it keep their other parts, tracked as ranges of their own. False when nothing
 * tracked was there. */
CDM_HIDDEN bool cdm__tracker_forget(uintptr_t start, size_t len);
/* Before an mremap of [start, start + len): the range there, if it is all of one, leaves the
 * tracker with what was seen of its pages (and its registration: a move drops it); else
 * whatever is tracked there is forgotten (cdm__tracker_forget) and it returns NULL. After
 * it, cdm__tracker_attach puts that history on [start, start + len), the new place or the
 * old one when the mremap failed, page i of the old range as page i there (len 0: dropped). */
CDM_HIDDEN struct cdm_tracked *cdm__tracker_detach(uintptr_t start, size_t len);
CDM_HIDDEN void cdm__tracker_attach(struct cdm_tracked *detached, uintptr_t start, size_t len);
/* Its pages are about to be discarded (MADV_DONTNEED, MADV_FREE, MADV_REMOVE): waits for a
 * move_pages call in flight on them, then forgets what was known of them. */
CDM_HIDDEN void cdm__tracker_discard(uintptr_t start, size_t len);
/* MADV_WILLNEED (to_dram) or MADV_COLD / MADV_PAGEOUT on tracked pages: the migrator moves
 * them now. False when no tracked page is in the range. */
CDM_HIDDEN bool cdm__tracker_hint(uintptr_t start, size_t len, bool to_dram);
/* For cdm_query: whether a tracked range holds address; epochs collected so far. */
CDM_HIDDEN bool cdm__tracker_watches(uintptr_t address);
CDM_HIDDEN unsigned cdm__tracker_epochs(void);
/* The most the tracked ranges' state took at once, in bytes (the `exit` event). */
CDM_HIDDEN size_t cdm__tracker_state_peak(void);
/* The program registers a userfaultfd of its own (fd) over [start, start + len): tracked
 * buffers there leave tracking, with one message. From the ioctl hook, the guard held. */
CDM_HIDDEN void cdm__tracker_yield(int fd, uintptr_t start, size_t len);
/* At exit: stop and join the threads, release every range. */
CDM_HIDDEN void cdm__tracker_stop(void);
CDM_HIDDEN void cdm__tracker_prepare_fork(void);
CDM_HIDDEN void cdm__tracker_after_fork(bool child);
/* A range named across a release of the tracker's lock: its id (never reused) and start. */
struct cdm_range_ref {
    uint64_t id;
    uintptr_t start;
};

/* ---------------------------------------------------------------- migrate.c */
/* follow-cpu: epochs without a touch before a page counts as idle (at least 1); 1 for tier. */
CDM_HIDDEN uint32_t cdm__migrate_idle_epochs(int rule);
/* Why no page is moved any more (the kernel refused move_pages outright); NULL while moves go
 * on. */
CDM_HIDDEN const char *cdm__migrate_refused(void);
/* The rest of migrate.c is the tracker's (track.h). */

/* ---------------------------------------------------------------- profile.c */
/* A profiling run (design.md: dry_run, or the built-in default's "profile only", which is
 * any config without rules): every large anonymous buffer it records is watched by the
 * tracker, and nothing moves. */
CDM_HIDDEN bool cdm__profiling(void);
/* The `access` event of a watched buffer leaving the tracker (freed, unmapped, moved, or
 * live at exit); `epoch` is the last one collected. The tracker's lock held. */
CDM_HIDDEN void cdm__profile_record(const struct cdm_tracked *range, uint32_t epoch,
                                    enum cdm_track backend, bool reads_too);

/* ---------------------------------------------------------------- trace.c */
/* Expand %p %h %e %j %r %% of a path template; false if it does not fit. */
CDM_HIDDEN bool cdm__expand_template(const char *tpl, char *out, size_t size);
CDM_HIDDEN void cdm__trace_open(void);
CDM_HIDDEN bool cdm__trace_enabled(void);
/* One event: `fields` is the JSON members after "ev" (printf format), each followed by a
 * comma, without braces. */
CDM_HIDDEN void cdm__trace_event(const char *ev, const char *fields, ...)
    __attribute__((format(printf, 2, 3)));
/* The event `ev` of trace_schema.h with its fields' values, in the schema's order. */
#define cdm__trace(ev, ...)                                                                  \
    cdm__trace_event(#ev, CDM_TRACE_FIELDS_##ev(CDM_TRACE_FIELD_FORMAT), __VA_ARGS__)
/* A rule as a JSON value: its name quoted, or null for -1 (no rule); returns buf. */
CDM_HIDDEN char *cdm__rule_json(int rule, char *buf, size_t size);
/* JSON string contents of s (escaped, no quotes) into buf; returns buf. */
CDM_HIDDEN char *cdm__json_escape(const char *s, char *buf, size_t size);
/* A message the process may not print (see cdm__log_setup), as an "error" event. */
CDM_HIDDEN void cdm__trace_message(const char *message);
CDM_HIDDEN void cdm__trace_close(void);
CDM_HIDDEN void cdm__trace_prepare_fork(void);
CDM_HIDDEN void cdm__trace_after_fork(bool child);

/* ---------------------------------------------------------------- report.c */
CDM_HIDDEN void cdm__report_write(void);

#endif
