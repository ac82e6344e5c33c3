/* SPDX-License-Identifier: MIT */
/* cdmplace internals: one header, prototypes grouped by the file that defines them.
 *
 * Layers, bottom up:
 *   platform.c   raw syscalls (mbind, get_mempolicy, move_pages, mmap...), 0 or an errno
 *   log.c        messages to stderr that never allocate, each cause once
 *   env.c        the environment read from `environ`, secure execution
 *   config.c     the INI config language of cdmplace.conf(5), parsed without allocating
 *   topology.c   NUMA nodes, CPUs, memory, tiers, CDM discovery
 *   nodeset.c    node set syntax and resolution against the topology
 *   rules.c      which rule places an allocation
 *   backends.c   which access tracker the kernel and permissions allow
 *   damon.c      DAMON's sysfs interface: one kdamond of ours
 * and, in the preload library only:
 *   bootstrap.c  a static pool for allocations made before the real allocator is known
 *   interpose.c  the exported hooks (malloc family, mmap, munmap, mremap, madvise)
 *   init.c       constructor, destructor, fork, the preloading state
 *   callsite.c   the allocating stack and its names
 *   symtab.c     names of code addresses, without the allocator or the loader's lock
 *   placement.c  placed buffers: their mappings, policies, budgets, the address table
 *   tracker.c    which pages of migrating buffers are touched: the userfaultfd thread
 *   migrate.c    where tracked pages should live, and the move_pages calls
 *   profile.c    a profiling run: it watches what it records, moves nothing, says how much
 *                each buffer was used
 *   trace.c      the JSON-lines decision trace
 *   report.c     the end-of-run summary
 *
 * Names: public `cdm_`, internal `cdm__`, platform `plat_`.
 */
#ifndef CDMPLACE_INTERNAL_H
#define CDMPLACE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pages.h"
#include "trace_schema.h"

#define CDM_HIDDEN __attribute__((visibility("hidden")))
#define CDM_EXPORT __attribute__((visibility("default")))
#define cdm_likely(x) __builtin_expect(!!(x), 1)
#define cdm_unlikely(x) __builtin_expect(!!(x), 0)

/* Linux's MAX_NUMNODES on Debian's amd64 kernels (NODES_SHIFT = 10). */
#define CDM_MAX_NODES 1024
#define CDM_MAX_CPUS 1024
#define CDM_MAX_RULES 64
#define CDM_MAX_NODE_NAMES 32
#define CDM_MAX_ERRORS 32
#define CDM_NAME_MAX 64
#define CDM_GLOB_MAX 256
#define CDM_SPEC_MAX 128
#define CDM_PATH_MAX 1024

/* ---------------------------------------------------------------- node masks */
typedef struct {
    uint64_t bits[CDM_MAX_NODES / 64];
} cdm_nodemask;

static inline void cdm__nodemask_set(cdm_nodemask *mask, int node)
{
    mask->bits[node / 64] |= 1ull << (node % 64);
}
static inline bool cdm__nodemask_has(const cdm_nodemask *mask, int node)
{
    return (mask->bits[node / 64] >> (node % 64)) & 1;
}
CDM_HIDDEN bool cdm__nodemask_empty(const cdm_nodemask *mask);
CDM_HIDDEN int cdm__nodemask_count(const cdm_nodemask *mask);
/* "0-1,3" into buf; returns buf. */
CDM_HIDDEN char *cdm__nodemask_format(const cdm_nodemask *mask, char *buf, size_t size);

/* ---------------------------------------------------------------- platform.c */
/* Every function returns 0 or a positive errno; ENOSYS where the kernel lacks the call. */
#ifndef MPOL_WEIGHTED_INTERLEAVE
#define MPOL_WEIGHTED_INTERLEAVE 6 /* Linux 6.9 */
#endif
#ifndef MPOL_F_NUMA_BALANCING
#define MPOL_F_NUMA_BALANCING (1 << 13) /* Linux 5.15 */
#endif
CDM_HIDDEN int plat_mbind(void *addr, size_t len, int mode, const cdm_nodemask *nodes,
                          unsigned flags);
/* nodes == NULL queries: status[i] gets the node of pages[i] or a negative errno. */
CDM_HIDDEN int plat_move_pages(unsigned long count, void **pages, const int *nodes,
                               int *status, int flags);
/* mmap/munmap that bypass our own hooks. */
CDM_HIDDEN int plat_mmap(void *hint, size_t len, int prot, int flags, int fd, off_t off,
                         void **out);
CDM_HIDDEN int plat_munmap(void *addr, size_t len);
/* mremap without MREMAP_FIXED. */
CDM_HIDDEN int plat_mremap(void *old, size_t old_len, size_t new_len, int flags, void **out);
CDM_HIDDEN size_t plat_page_size(void);
/* size rounded up to whole pages (0 when that overflows). */
CDM_HIDDEN size_t plat_page_round(size_t size);
/* open(2) with O_CLOEXEC, on a descriptor above 2 even when the program closed its stdio. */
CDM_HIDDEN int plat_open_above_stdio(const char *path, int flags, mode_t mode, int *out);
/* write(2) until all of data is written, through EINTR and short writes. */
CDM_HIDDEN int plat_write_all(int fd, const void *data, size_t len);
/* userfaultfd (Linux 4.3): O_CLOEXEC | O_NONBLOCK. user_mode_only (Linux 5.11) is allowed to
 * ordinary users; a full one falls back to /dev/userfaultfd (Linux 6.1) on EPERM. */
#define PLAT_UFFD_WP_UNPOPULATED (1ull << 13) /* Linux 6.4 */
#define PLAT_UFFD_WP_ASYNC (1ull << 15)       /* Linux 6.7 */
CDM_HIDDEN int plat_uffd_open(bool user_mode_only, int *out);
/* UFFDIO_API asking for `features`; *granted (may be NULL) gets what the kernel has. With
 * features 0 it only asks: a descriptor takes one UFFDIO_API. */
CDM_HIDDEN int plat_uffd_api(int fd, uint64_t features, uint64_t *granted);
/* modes: UFFDIO_REGISTER_MODE_MISSING and/or _WP. */
CDM_HIDDEN int plat_uffd_register(int fd, uintptr_t start, size_t len, uint64_t modes);
CDM_HIDDEN int plat_uffd_unregister(int fd, uintptr_t start, size_t len);
/* Write-protect (or release and wake) a range. */
CDM_HIDDEN int plat_uffd_writeprotect(int fd, uintptr_t start, size_t len, bool protect);
/* Resolve missing faults with the zero page, or with a copy of `from` (a write: a page of its
 * own at once); EEXIST when another thread won. */
CDM_HIDDEN int plat_uffd_zeropage(int fd, uintptr_t start, size_t len);
CDM_HIDDEN int plat_uffd_copy(int fd, uintptr_t start, const void *from, size_t len);
CDM_HIDDEN int plat_uffd_wake(int fd, uintptr_t start, size_t len);
struct plat_fault {
    uintptr_t address;
    bool write_protect; /* a write to a write-protected page; else a missing page */
    bool write;         /* the access was a write */
    pid_t tid;          /* the faulting thread (UFFD_FEATURE_THREAD_ID), else 0 */
};
/* Read pending page faults (EAGAIN when none). Other events are dropped. */
CDM_HIDDEN int plat_uffd_read(int fd, struct plat_fault *faults, int max, int *count);
/* PAGEMAP_SCAN (Linux 6.7) over [start, end) of /proc/self/pagemap: the regions whose pages
 * have every `required` category and none of `excluded` (PLAT_PAGE_IS_*); `protect`
 * write-protects what matched again (async userfaultfd write-protect). *walk_end says where
 * the scan stopped when `regions` filled up. EOPNOTSUPP before 6.7. */
#define PLAT_PAGE_IS_WRITTEN (1ull << 1)
#define PLAT_PAGE_IS_PRESENT (1ull << 3)
#define PLAT_PAGE_IS_PFNZERO (1ull << 5)
#define PLAT_PAGE_IS_HUGE (1ull << 6) /* a transparent huge page: always in the regions' categories */
struct plat_page_region {
    uint64_t start, end, categories;
};
CDM_HIDDEN int plat_pagemap_scan(int pagemap_fd, uintptr_t start, uintptr_t end,
                                 uint64_t required, uint64_t excluded, bool protect,
                                 struct plat_page_region *regions, size_t max_regions,
                                 size_t *n_regions, uintptr_t *walk_end);
/* /proc/self/smaps, mapping by mapping in address order: each one's range and its
 * AnonHugePages in KiB, to `seen` until it returns false. Linux 6.7 tells this per page
 * (PAGEMAP_SCAN); before, only smaps does. */
CDM_HIDDEN int plat_smaps_huge(bool (*seen)(uintptr_t start, uintptr_t end, size_t huge_kib,
                                            void *arg),
                               void *arg);
/* eventfd, O_CLOEXEC | O_NONBLOCK: how the tracker thread is told to stop. */
CDM_HIDDEN int plat_eventfd(int *out);

/* ---------------------------------------------------------------- log.c */
/* Debug level from CDMPLACE_DEBUG (0..3); messages above it are dropped. */
CDM_HIDDEN extern int cdm__debug_level;
/* "cdmplace: " + message + "\n" to stderr in one write; formats into a stack buffer. */
CDM_HIDDEN void cdm__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "No such file or directory": glibc's untranslated text (strerror may load a message
 * catalog with malloc); "unknown error" for a number it has none for. */
CDM_HIDDEN const char *cdm__errno_text(int err);
CDM_HIDDEN void cdm__vlog(const char *fmt, va_list ap);
/* The same line to another descriptor (the report's file). */
CDM_HIDDEN void cdm__vlog_to(int fd, const char *fmt, va_list ap);
/* In the library: remember what stderr is; a quiet process (not the one `cdmplace run`
 * started) and one whose fd 2 changed send messages to `divert` instead. */
CDM_HIDDEN void cdm__log_setup(bool quiet, void (*divert)(const char *message));
CDM_HIDDEN void cdm__log_set_quiet(bool quiet);
/* Whether writing to fd 2 reaches the stderr the program started with. */
CDM_HIDDEN bool cdm__stderr_usable(void);
/* Like cdm__log, but only the first time `cause` (a small integer below 64) is seen. */
CDM_HIDDEN void cdm__warn_once(unsigned cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, and the trace records it (an `error` event) whether or not stderr shows it: for a
 * cause that changes the whole run, which `cdmplace report` should name too. */
CDM_HIDDEN void cdm__warn_once_recorded(unsigned cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
CDM_HIDDEN void cdm__debug(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum cdm_warning {
    CDM_WARN_CONFIG,
    CDM_WARN_NODESET,
    CDM_WARN_NO_CDM,
    CDM_WARN_POLICY,
    CDM_WARN_FULL,
    CDM_WARN_TRACE,
    CDM_WARN_TRACE_WRITE,
    CDM_WARN_TRACKER,
    CDM_WARN_REPORT,
    CDM_WARN_HOOK,
    CDM_WARN_LIBNUMA,
    CDM_WARN_MIGRATE_FULL,
    CDM_WARN_MBIND_REFUSED,
    CDM_WARN_MOVE_REFUSED,
};

/* ---------------------------------------------------------------- env.c */
/* Value of NAME in `environ`, or NULL; always NULL under secure execution (AT_SECURE). */
CDM_HIDDEN const char *cdm__env(const char *name);
CDM_HIDDEN bool cdm__secure_execution(void);

/* ---------------------------------------------------------------- sysfs.c */
/* A small kernel file whole into buf as a string: 0, an errno, or EFBIG when it did not fit. */
CDM_HIDDEN int cdm__sysfs_read(const char *path, char *buf, size_t size);
/* The decimal number the file holds (after blanks): 0, an errno, or EINVAL when none. */
CDM_HIDDEN int cdm__sysfs_number(const char *path, uint64_t *value);
/* The decimal number at *at, which moves past it; false (nothing moved) when there is none. */
CDM_HIDDEN bool cdm__parse_number(const char **at, uint64_t *value);

/* ---------------------------------------------------------------- config.c */
enum cdm_kind {
    CDM_KIND_HEAP = 1 << 0,
    CDM_KIND_ANON = 1 << 1,
    CDM_KIND_SHARED = 1 << 2,
    CDM_KIND_FILE = 1 << 3,
    CDM_KIND_ANY = CDM_KIND_HEAP | CDM_KIND_ANON | CDM_KIND_SHARED | CDM_KIND_FILE,
};
enum cdm_policy_mode {
    CDM_POLICY_BIND,
    CDM_POLICY_PREFERRED,
    CDM_POLICY_INTERLEAVE,
    CDM_POLICY_WEIGHTED_INTERLEAVE,
    CDM_POLICY_LOCAL,
    CDM_POLICY_DEFAULT,
};
enum cdm_on_full { CDM_ON_FULL_FALLBACK, CDM_ON_FULL_FAIL };
enum cdm_migrate { CDM_MIGRATE_NONE, CDM_MIGRATE_FOLLOW_CPU, CDM_MIGRATE_TIER, CDM_MIGRATE_KERNEL };
enum cdm_track {
    CDM_TRACK_AUTO,
    CDM_TRACK_WP_ASYNC,
    CDM_TRACK_WP,
    CDM_TRACK_MISSING,
    CDM_TRACK_DAMON,
    CDM_TRACK_OFF,
};
enum cdm_report_target { CDM_REPORT_STDERR, CDM_REPORT_PATH, CDM_REPORT_OFF };

struct cdm_node_name {
    char name[CDM_NAME_MAX];
    char spec[CDM_SPEC_MAX]; /* "auto" or a node list; resolved by nodeset.c */
    int line;
};

struct cdm_rule {
    char name[CDM_NAME_MAX];      /* from [rule NAME] */
    int line;                     /* line of the section header */
    uint64_t size_min, size_max;  /* inclusive; size_max UINT64_MAX when open */
    char caller[CDM_GLOB_MAX];    /* "" matches any stack */
    unsigned kinds;               /* enum cdm_kind bits; default HEAP|ANON */
    char program[CDM_GLOB_MAX];   /* "" matches any program */
    enum cdm_policy_mode policy;
    char policy_nodes[CDM_SPEC_MAX]; /* node set text; "" for local/default */
    int policy_line;                 /* where policy was written, for resolution errors */
    cdm_nodemask nodes;              /* filled by cdm__config_resolve */
    enum cdm_on_full on_full;
    uint64_t budget;                 /* bytes; 0 = no cap */
    enum cdm_migrate migrate;
    uint64_t idle_ns;                /* default 200ms */
    uint64_t hot_set;                /* bytes; 0 = unset */
};

struct cdm_settings {
    uint64_t min_size;               /* default 1M */
    enum cdm_track track;            /* default auto */
    uint64_t epoch_ns;               /* default 100ms */
    char log[CDM_PATH_MAX];          /* path template; "" = off */
    enum cdm_report_target report;   /* default stderr */
    char report_path[CDM_PATH_MAX];  /* template when report is a path */
    bool dry_run;
    bool strict;
};

struct cdm_config_error {
    char file[CDM_PATH_MAX];
    int line;                        /* 0 when the error is about the file as a whole */
    char message[256];               /* what was expected */
};

struct cdm_config {
    char path[CDM_PATH_MAX];         /* "" for the built-in default */
    struct cdm_settings settings;
    struct cdm_node_name node_names[CDM_MAX_NODE_NAMES];
    int n_node_names;
    struct cdm_rule rules[CDM_MAX_RULES];
    int n_rules;
    struct cdm_config_error errors[CDM_MAX_ERRORS];
    int n_errors;                    /* errors past CDM_MAX_ERRORS are counted, not kept */
};

/* The built-in default: no rules, profile only, settings at their defaults. node_names
 * starts with cdm = auto and dram = auto (line 0), which a [nodes] section may redefine. */
CDM_HIDDEN void cdm__config_default(struct cdm_config *config);
/* Parse text (not NUL-terminated) as if read from `path`. Never allocates. Returns the
 * number of errors (also config->n_errors). config is reset first. */
CDM_HIDDEN int cdm__config_parse(struct cdm_config *config, const char *path, const char *text,
                                 size_t len);
/* Read and parse a file with open/read into a bounded stack-free buffer (raw mmap). */
CDM_HIDDEN int cdm__config_load(struct cdm_config *config, const char *path);
/* Which file the environment and the system point at: CDMPLACE_CONFIG, /etc/cdmplace.conf,
 * or NULL for the built-in default. */
CDM_HIDDEN const char *cdm__config_locate(void);
/* Apply CDMPLACE_LOG, CDMPLACE_REPORT, CDMPLACE_DRY_RUN (environment overrides the file).
 * An invalid value is appended to config->errors with the variable's name as file, line 0. */
CDM_HIDDEN void cdm__config_apply_env(struct cdm_config *config);
/* Append an error at `line` of config->path (an identical kept error is not repeated). */
CDM_HIDDEN void cdm__config_error(struct cdm_config *config, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Parse helpers shared with the CLI. Each returns true on success. */
CDM_HIDDEN bool cdm__parse_size(const char *text, uint64_t *bytes);
CDM_HIDDEN bool cdm__parse_duration(const char *text, uint64_t *ns);
CDM_HIDDEN const char *cdm__policy_name(enum cdm_policy_mode policy);
CDM_HIDDEN const char *cdm__kind_name(enum cdm_kind kind);
CDM_HIDDEN const char *cdm__migrate_name(enum cdm_migrate migrate);
CDM_HIDDEN const char *cdm__track_name(enum cdm_track track);
/* "heap,anon" for a kinds mask; returns buf. */
CDM_HIDDEN char *cdm__kinds_format(unsigned kinds, char *buf, size_t size);
/* Shell-style glob (`*`, `?`, `[...]`) with no allocation. */
CDM_HIDDEN bool cdm__glob_match(const char *pattern, const char *text);

/* ---------------------------------------------------------------- topology.c */
struct cdm_node {
    bool present;        /* online */
    bool has_memory;
    bool is_cdm;         /* memory and no CPUs */
    int n_cpus;
    uint64_t mem_total, mem_free;
    int memory_tier;     /* /sys/devices/virtual/memory_tiering, -1 when absent */
    /* HMAT access0 attributes, 0 when absent */
    unsigned read_latency_ns, write_latency_ns, read_bandwidth_mbs, write_bandwidth_mbs;
};
struct cdm_topology {
    int max_node;        /* highest online node id */
    int n_nodes;         /* online nodes */
    struct cdm_node nodes[CDM_MAX_NODES];
    cdm_nodemask online, cdm, dram; /* dram: nodes with memory and CPUs */
    bool weighted_interleave;       /* /sys/kernel/mm/mempolicy/weighted_interleave */
    int numa_balancing;             /* kernel.numa_balancing (bit 2: memory tiering); -1 unknown */
    int16_t cpu_node[CDM_MAX_CPUS]; /* the node of each CPU; -1 unknown */
    bool thp;                       /* transparent huge pages are not `never` */
};
/* Read the topology from sysfs. Never allocates. Returns 0 or an errno. */
CDM_HIDDEN int cdm__topology_read(struct cdm_topology *topology);
/* The node's memory free right now, from its meminfo. */
CDM_HIDDEN uint64_t cdm__topology_node_free(int node);
/* The kernel's distance from one node to another (10 = local), or -1 when unknown. */
CDM_HIDDEN int cdm__topology_distance(int from, int to);
/* The node of `among` nearest `from` (the lowest on a tie; any when `from` is -1), or -1. */
CDM_HIDDEN int cdm__topology_nearest(int from, const cdm_nodemask *among, int max_node);
/* The node's online CPUs as the kernel lists them ("0-3,8"; "" for none), newline removed.
 * Returns 0 or an errno (EFBIG: the list did not fit; buf holds a beginning, maybe empty). */
CDM_HIDDEN int cdm__topology_cpulist(int node, char *buf, size_t size);

/* ---------------------------------------------------------------- backends.c */
struct cdm_backend_probe {
    bool full;              /* a full userfaultfd opens here */
    bool user_mode;         /* only UFFD_USER_MODE_ONLY does */
    int full_error, user_error; /* why each did not */
    uint64_t features;      /* UFFD_FEATURE_* the kernel offers */
};
/* Open and close a userfaultfd to learn what this process may track with. */
CDM_HIDDEN void cdm__backends_probe(struct cdm_backend_probe *probe);
/* Whether `backend` can run here; if not, `why` names the version or permission it needs. */
CDM_HIDDEN bool cdm__backend_allowed(const struct cdm_backend_probe *probe,
                                     enum cdm_track backend, char *why, size_t why_size);
/* The backend `track = wanted` gets: wanted if allowed, else the best allowed of wp-async,
 * wp, missing, else off. `why` is "" when wanted (wp-async for auto) runs, else the reason. */
CDM_HIDDEN enum cdm_track cdm__backend_choose(const struct cdm_backend_probe *probe,
                                              enum cdm_track wanted, char *why, size_t why_size);
/* Whether `track = wanted`, which got `chosen`, also runs DAMON for reads: auto's wp-async
 * where DAMON is allowed (for migrating rules: tracker.c). */
CDM_HIDDEN bool cdm__backend_reads_too(const struct cdm_backend_probe *probe,
                                       enum cdm_track wanted, enum cdm_track chosen);
/* What a backend sees, with DAMON's reads beside it or not: "writes", "first touch", ... */
CDM_HIDDEN const char *cdm__backend_sees(enum cdm_track backend, bool reads_too);

/* ---------------------------------------------------------------- damon.c */
/* DAMON through its sysfs interface: one kdamond of ours. Every function returns 0 or a
 * positive errno, never allocates, never uses stdio; one caller at a time (the tracker
 * thread, or the CLI). */
/* At most this many ranges: a quarter of the kdamond's 1000 regions, so that DAMON can still
 * split each range into a few regions of different heat. */
#define CDM_DAMON_MAX_RANGES 256

/* 0 when this process could start DAMON monitoring now: the sysfs interface is there
 * (CONFIG_DAMON_SYSFS, Linux 5.18; region read-back needs 6.2), this process may write it
 * (root), and nobody has a kdamond configured (the interface is one per machine). Else a
 * positive errno (EOPNOTSUPP, EACCES, EROFS, EBUSY...) and `why` names the cause and the fix. */
CDM_HIDDEN int cdm__damon_probe(char *why, size_t why_size);

/* What DAMON tells of a region: nr_accesses is how many of an aggregation's samples
 * (aggr_us / sample_us of them) found it accessed, age how many aggregations it has kept
 * about that level. */
typedef void damon_seen_fn(uintptr_t start, uintptr_t end, unsigned nr_accesses, unsigned age,
                           void *arg);

/* Create kdamond 0 monitoring [starts[i], ends[i]) of process `pid` (fixed ranges, "fvaddr"):
 * sample every sample_us, aggregate accesses over aggr_us, and a "stat" scheme that matches
 * every region so that cdm__damon_collect can read them back. The ranges may come in any
 * order; they must not be empty or overlap (EINVAL); with none, the kdamond is configured
 * but off until cdm__damon_set_ranges gives some. EBUSY when a kdamond exists already;
 * EOPNOTSUPP on a kernel without what this needs (the sysfs interface, fvaddr: 5.19,
 * tried_regions: 6.2). On failure nothing of ours is left configured. */
CDM_HIDDEN int cdm__damon_start(pid_t pid, uint64_t sample_us, uint64_t aggr_us,
                                const uintptr_t *starts, const uintptr_t *ends, int n_ranges);

/* Replace the monitored ranges of the running kdamond (state "commit", Linux 5.19): for
 * buffers that come and go. Regions that overlap the new ranges keep what DAMON learnt of
 * them. n_ranges 0 turns the kdamond off (collect then reports nothing) and keeps it ours;
 * the next ranges turn it on again. EINVAL when not started here. */
CDM_HIDDEN int cdm__damon_set_ranges(const uintptr_t *starts, const uintptr_t *ends,
                                     int n_ranges);

/* Ask the kdamond for a snapshot of its regions (state "update_schemes_tried_regions",
 * Linux 6.2) and call `seen` for each, in address order, as of the last aggregation. Blocks
 * until the kdamond has answered: one to two aggregation intervals, which the kernel polls
 * every 100 ms (0.1 to 0.3 s with 100 ms aggregations in the 6.12 guest). EAGAIN when the
 * kdamond answered with no region at all (it ran late and the kernel's wait timed out):
 * nothing is known of this epoch, which is not the same as nothing accessed. ESRCH when the
 * kdamond stopped (turned off by someone else). 0 without any call to `seen` while no range
 * is monitored. */
CDM_HIDDEN int cdm__damon_collect(damon_seen_fn *seen, void *arg);

/* Where tracefs is mounted and writable (/sys/kernel/tracing, root), start also has DAMON
 * trace the regions at the end of every aggregation (event damon_aggregated, Linux 5.15) into
 * a tracefs instance of its own, which cdm__damon_read_events reads as they come: no wait,
 * where collect answers 0.1 s late or more (see damon.c). Whether that is possible here. */
CDM_HIDDEN bool cdm__damon_events_possible(void);
/* The descriptor to poll for aggregations; -1 when start could not have them traced (then
 * only collect reads regions) or this process did not start DAMON. */
CDM_HIDDEN int cdm__damon_events_fd(void);
/* Without blocking: call `seen` for every region of each aggregation traced completely since
 * the last call; returns how many (0: none complete yet, or no events). An aggregation of
 * which the ring buffer lost regions is dropped. */
CDM_HIDDEN int cdm__damon_read_events(damon_seen_fn *seen, void *arg);
/* 0 while our kdamond runs as it should (or none is expected to run); ESRCH when it was
 * turned off behind our back (then no aggregation comes). */
CDM_HIDDEN int cdm__damon_check(void);
/* In a forked child: close the parent's event descriptor, leave the rest to the parent. */
CDM_HIDDEN void cdm__damon_after_fork_child(void);

/* Turn our kdamond off and remove it (nr_kdamonds 0). Does nothing in a process that did not
 * start it (a forked child, or nothing started); safe to call again. */
CDM_HIDDEN void cdm__damon_stop(void);

/* ---------------------------------------------------------------- nodeset.c */
/* Parse "2", "0-1", "0,2" or a name from [nodes] (cdm and dram built in, auto resolved from
 * the topology). Returns true and fills `out` with the nodes present on this machine;
 * `missing` (may be NULL) gets the nodes named but absent. On a syntax error returns false
 * with `why` filled. */
CDM_HIDDEN bool cdm__nodeset_resolve(const struct cdm_config *config,
                                     const struct cdm_topology *topology, const char *spec,
                                     cdm_nodemask *out, cdm_nodemask *missing, char *why,
                                     size_t why_size);
/* The syntax of a node set and, for a name, that [nodes] (or the built-in cdm, dram) defines
 * it; no topology needed. On failure returns false with `why` filled. */
CDM_HIDDEN bool cdm__nodeset_check(const struct cdm_config *config, const char *spec, char *why,
                                   size_t why_size);
/* Resolve every rule's node set; problems are appended to config->errors (syntax) or
 * reported through `warn` (a set naming no node here, no CDM node found; warn may be NULL).
 * Returns config->n_errors. */
CDM_HIDDEN int cdm__config_resolve(struct cdm_config *config, const struct cdm_topology *topology,
                                   void (*warn)(const char *file, int line, const char *what));

/* ---------------------------------------------------------------- rules.c */
struct cdm_request {
    size_t size;
    enum cdm_kind kind;
    const char *program;            /* executable name */
    /* Stack frames as "object:function" strings, innermost first; NULL if not unwound. */
    const char *const *frames;
    int n_frames;
};
/* Index of the first matching rule, or -1. */
CDM_HIDDEN int cdm__rules_match(const struct cdm_config *config, const struct cdm_request *req);
/* Whether any rule needs the allocating stack. */
CDM_HIDDEN bool cdm__rules_need_stack(const struct cdm_config *config);

/* ================================================================ preload library only */

/* ---------------------------------------------------------------- bootstrap.c */
CDM_HIDDEN bool cdm__bootstrap_owns(const void *ptr);
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
/* The fast paths' threshold: requests below it go straight to the real functions. SIZE_MAX
 * until READY, then the configured min_size (cdm__rt.min_size, what the slow paths place
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
#define CDM_STACK_DEPTH 24
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
};
/* Unwind the calling thread (libunwind) and name each frame, once per return address. */
CDM_HIDDEN void cdm__stack_capture(struct cdm_stack *stack);
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

/* ---------------------------------------------------------------- placement.c */
struct cdm_rule_stats {
    uint64_t allocations, bytes, live_bytes, peak_bytes;
    uint64_t fallbacks, failures, errors;
    uint64_t pages_to_dram, pages_to_policy; /* moved by migration */
    uint64_t faults;                         /* served by the tracker (wp, missing) */
};
/* Index CDM_MAX_RULES counts allocations no rule matched (the profile). */
CDM_HIDDEN extern struct cdm_rule_stats cdm__rule_stats[CDM_MAX_RULES + 1];
/* Heap: 1 when the request was handled here (*out is the buffer, or NULL with errno),
 * 0 when it goes to the real allocator. */
CDM_HIDDEN int cdm__heap_alloc(size_t size, size_t alignment, void **out);
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
CDM_HIDDEN void cdm__placement_prepare_fork(void);
CDM_HIDDEN void cdm__placement_after_fork(bool child);

/* ---------------------------------------------------------------- tracker.c */
/* A placed buffer whose rule migrates, or a buffer a profiling run watches, and what is
 * known of each of its pages. */
struct cdm_tracked {
    uint64_t id;          /* never reused: finds the range again after the lock was released */
    uint32_t discards;    /* counts MADV_DONTNEED and kin: a move decided before one is void */
    bool moving;          /* a move_pages call on it is in flight (the lock released) */
    bool registered;      /* with the userfaultfd: done once the threads run */
    bool huge;            /* found in huge pages: watched in 2 MiB blocks through the
                           * synchronous userfaultfd instead (tracker.c, "huge ranges") */
    uintptr_t start;
    size_t n_pages;
    int rule;             /* -1: a profiling run's buffer that no rule matched */
    uint32_t added_epoch; /* the last epoch collected when it was registered */
    /* DAMON beside wp-async: its sightings of the range count from this epoch on (0: it does
     * not watch the range yet). The first accessed bits DAMON reads of a page were set before
     * it watched, or before the page moved (a move keeps them). */
    uint32_t reads_from;
    uint64_t page_epochs; /* pages seen touched in an epoch, summed over the epochs */
    struct cdm_pages pages; /* what is known of each page: when used, where (pages.h) */
    uint8_t *users;       /* several sockets: per CDM_USER_SPAN_PAGES, node + 1 of the last
                           * user seen (0: not known); NULL with one socket */
    void *backend_state;  /* the tracker backend's own (track.h), or NULL */
    void *state;          /* the mapping of our own holding it and the pages' bytes */
    size_t state_size;
};
/* users.c: the node of the CPU thread `tid` of this process last ran on, and the one node
 * its threads but ours ran on since the last call (-1: none known, or several). */
CDM_HIDDEN int cdm__users_thread_node(pid_t tid);
CDM_HIDDEN int cdm__users_epoch_node(pid_t ours_a, pid_t ours_b);
/* Pages a user node stands for: a huge page's worth (several sockets only). */
#define CDM_USER_SPAN_PAGES 512
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
/* Start the threads if a hook wanted them and could not start them itself; from a
 * malloc-family call of the program's, no lock held. */
CDM_HIDDEN void cdm__tracker_start_threads(void);
/* In the constructor: start the threads now when no malloc-family call of the program's
 * would reach us to start them later (cdm__hooks_see_malloc). */
CDM_HIDDEN void cdm__tracker_start_early(void);
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
