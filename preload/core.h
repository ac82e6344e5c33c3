/* SPDX-License-Identifier: MIT */
/* What the preload library and the CLI both link, above the platform (platform.h), one
 * section a file, bottom up:
 *   log.c        messages to stderr that never allocate, each cause once
 *   env.c        the environment read from `environ`, secure execution
 *   sysfs.c      small kernel files read whole, and the numbers in them
 *   config.c     the INI config language of cdmplace.conf(5), parsed without allocating
 *   topology.c   NUMA nodes, CPUs, memory, tiers, CDM discovery
 *   backends.c   which access tracker the kernel and permissions allow
 *   damon.c      DAMON's sysfs interface: one kdamond of ours
 *   nodeset.c    node set syntax and resolution against the topology
 *   rules.c      which rule places an allocation
 */
#ifndef CDMPLACE_CORE_H
#define CDMPLACE_CORE_H

#include <stdarg.h>

#include "platform.h"

/* ---------------------------------------------------------------- log.c */
/* Debug level from CDMPLACE_DEBUG (0..3); messages above it are dropped. */
CDM_HIDDEN extern int cdm__debug_level;
/* "cdmplace: " + message + "\n" to stderr in one write; formats into a stack buffer. */
CDM_HIDDEN void cdm__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "No such file or directory": glibc's untranslated text (strerror may load a message
 * catalog with malloc); "unknown error" for a number it has none for. */
CDM_HIDDEN const char *cdm__errno_text(int err);
/* A log line to a descriptor (the report's file). */
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
    CDM_WARN_NODE_SHRANK,
    CDM_WARN_MBIND_REFUSED,
    CDM_WARN_MOVE_REFUSED,
};

/* ---------------------------------------------------------------- env.c */
/* Value of NAME in `environ`, or NULL; always NULL under secure execution (AT_SECURE). */
CDM_HIDDEN const char *cdm__env(const char *name);

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
    size_t pmd_size;                /* a PMD-mapped huge page's size (hpage_pmd_size); 0 unknown */
};
/* Read the topology from sysfs. Never allocates. Returns 0 or an errno. */
CDM_HIDDEN int cdm__topology_read(struct cdm_topology *topology);
/* The node's memory free, and all it has (less when blocks went offline), right now, from
 * its meminfo. */
CDM_HIDDEN uint64_t cdm__topology_node_free(int node);
CDM_HIDDEN uint64_t cdm__topology_node_total(int node);
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
    bool frames_cut; /* the stack goes on past `frames`: not walked further */
};
/* Index of the first matching rule, -1 for none, or CDM_RULES_DEEPER when the frames not
 * walked could decide: a rule before the one matched (or any rule, when none matched) matches
 * but for its caller, and the frames are cut. */
#define CDM_RULES_DEEPER (-2)
CDM_HIDDEN int cdm__rules_match(const struct cdm_config *config, const struct cdm_request *req);
/* Whether any rule needs the allocating stack. */
CDM_HIDDEN bool cdm__rules_need_stack(const struct cdm_config *config);
/* The length of a function's name as rules and the report name it: a compiler's clone is its
 * function (GCC's f.constprop.0, f.part.0, f.cold; LLVM's f.llvm.N), since a rule names the
 * function of the source. C and mangled names have no dot of their own. */
CDM_HIDDEN size_t cdm__function_name_length(const char *symbol);

#endif
