/* SPDX-License-Identifier: MIT */
/* Traces read back (design.md "The trace"): what `cdmplace report`, its --svg and --perfetto
 * outputs, and `suggest` work on.
 *
 * Two layers. trace_read.cc turns each line of a file into a flat `struct trace_event` with
 * a JSON library (simdjson) and says what is wrong with a line; trace_model.c folds the
 * events into one `struct trace_process` per process. The model is plain C and knows nothing
 * of JSON. */
#ifndef CDMPLACE_TRACE_H
#define CDMPLACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace_schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The trace format this reader knows: the version of cdmplace that wrote the newest lines it
 * understands. Newer traces are read, with a warning, skipping what is unknown. */
#define TRACE_READER_VERSION CDM_VERSION

/* ---------------------------------------------------------------- one line */

/* TRACE_START, TRACE_PLACE, ...: the events of the schema, in its order. */
#define TRACE_KIND(KIND, name, when) TRACE_##KIND,
enum trace_kind { CDM_TRACE_EVENTS(TRACE_KIND) TRACE_N_KINDS };
#undef TRACE_KIND

/* A string inside the line being read: valid until the next line. */
struct trace_str {
    const char *s;
    size_t len;
};

struct trace_node_count {
    int node;
    uint64_t pages;
};

#define TRACE_EVENT_NODES 64 /* node counts kept from one event; more are dropped (warned) */
#define TRACE_EVENT_RULES 64
#define TRACE_EVENT_FRAMES 32 /* the library writes at most 24; deeper frames are dropped */

struct trace_event_frame { /* {"at":"object:function","off":"0x1234"} */
    struct trace_str at;
    uint64_t offset;
};

struct trace_event {
    enum trace_kind kind; /* TRACE_N_KINDS: an event this reader does not know */
    struct trace_str ev;
    int line; /* in its file */
    uint64_t t;
    int pid;
    struct trace_str rule; /* s NULL: no rule (null in the trace) */
    /* start */
    struct trace_str version, program, exe, config, tracker, sees, host, job;
    struct trace_str cdm_nodes, dram_nodes; /* "nodes":{"cdm":"1","dram":"0"} */
    struct trace_str rules[TRACE_EVENT_RULES];
    int n_rules;
    int rank; /* -1: none */
    bool dry_run;
    uint64_t epoch_ns, min_size;
    /* place, free, remap (addr is remap's "to", old_addr its "from"), migrate, advise */
    uint64_t addr, old_addr, size, mapped, old_size;
    struct trace_str kind_name, policy, nodes, caller, result;
    uint64_t caller_offset; /* of the stack frame named `caller` in its object; 0: unknown */
    /* the stack, innermost first; read only for a set with TRACE_KEEP_STACKS */
    struct trace_event_frame frames[TRACE_EVENT_FRAMES];
    int n_frames;
    /* migrate */
    int from, to;
    uint64_t pages, busy, failed, ns;
    struct trace_str reason;
    /* epoch and totals: pages per node */
    struct trace_node_count counts[TRACE_EVENT_NODES];
    int n_counts;
    /* totals: what no other event says */
    uint64_t faults, absent;
    /* access (and pages) */
    uint64_t epochs, page_epochs, touched;
    /* place: a kept buffer served it; free: the mapping is kept for reuse */
    bool reused, kept;
    /* exit */
    uint64_t library_ns, kept_bytes;
    /* error */
    struct trace_str message;
};

/* ---------------------------------------------------------------- the model */

struct trace_sample { /* an `epoch` event: a rule's pages per node at time t */
    uint64_t t;
    size_t first, n; /* its counts: rule->counts[first .. first + n) */
};

struct trace_migration {
    uint64_t t, ns;
    int from, to;
    uint64_t pages, busy, failed;
    const char *reason; /* "follow-cpu", "idle", "tier", "hint", ... (owned by the process) */
};

/* How much a buffer of a profiling run was used: its `access` event. */
struct trace_use {
    uint64_t buffers;     /* with an access event */
    uint64_t page_epochs; /* pages seen touched in an epoch, summed over the epochs */
    uint64_t watched;     /* pages times epochs watched: what page_epochs is out of */
    uint64_t touched, pages; /* pages ever touched, of pages watched */
};

struct trace_placement {
    uint64_t t, end_t; /* end_t: the free, or the process's last event when never freed */
    uint64_t addr, size;
    int callsite; /* index in process->callsites, -1: none */
    const char *result, *kind;
    struct trace_use use; /* buffers 0: no access event */
};

struct trace_callsite {
    char *object;   /* path of the object, as the process loaded it */
    char *function; /* as the library named it; "?" when it could not */
    uint64_t offset; /* of the return address in the object */
    uint64_t allocations, bytes;
    uint64_t min_size, max_size; /* of its allocations */
    uint64_t to_dram, to_policy; /* pages of its buffers migrated each way */
    int rule; /* the rule of its first allocation, -1: none */
    struct trace_use use; /* its buffers' access events, summed */
};

struct trace_frame {
    const char *at;  /* "object:function" as the library named it (owned by the set) */
    uint64_t offset; /* of the return address in the object */
};

/* The placements of one rule whose policy was applied, by their whole stack
 * (TRACE_KEEP_STACKS). */
struct trace_stack {
    int rule;
    struct trace_frame *frames; /* innermost first, as the trace lists them */
    size_t n_frames;
    uint64_t allocations, bytes;
};

struct trace_rule {
    char *name; /* "(no rule)" for allocations no rule matched */
    bool no_rule;
    char *policy, *nodes; /* of its first placement; NULL before one */
    /* counted from the events */
    uint64_t allocations, bytes, live_bytes, peak_bytes;
    uint64_t fallbacks, failures, errors;
    uint64_t to_dram, to_policy;
    /* the `totals` event at exit */
    bool have_totals;
    uint64_t faults, absent;
    struct trace_node_count *exit_counts;
    size_t n_exit_counts;
    /* over time (kept only with TRACE_KEEP_EVENTS, except samples) */
    struct trace_sample *samples;
    size_t n_samples;
    struct trace_node_count *counts; /* the samples' */
    size_t n_counts;
    struct trace_migration *migrations;
    size_t n_migrations;
    struct trace_placement *placements;
    size_t n_placements;
};

struct trace_process {
    const char *file; /* the trace it came from (owned by the set) */
    int line;         /* of its start event, or its first line */
    int pid, rank;    /* rank -1: none */
    char *program, *exe, *host, *job, *config, *version, *tracker, *sees;
    char *cdm_nodes, *dram_nodes; /* node lists, "1" or "0-1,4" */
    bool started; /* a start event was read */
    bool dry_run;
    uint64_t epoch_ns, min_size;
    uint64_t last_t; /* the last event's time: the run's length */
    bool exited;
    uint64_t library_ns;
    /* freed buffers kept for reuse: frees that kept one, allocations it served, bytes kept at
     * exit */
    uint64_t kept_frees, reuses, kept_bytes;
    struct trace_rule *rules;
    int n_rules;
    struct trace_callsite *callsites;
    int n_callsites;
    struct trace_stack *stacks; /* TRACE_KEEP_STACKS */
    size_t n_stacks;
    char **errors; /* messages of `error` events */
    int n_errors;
    void *index; /* trace_model.c's lookup tables while reading */
};

enum trace_flags {
    TRACE_KEEP_EVENTS = 1 << 0, /* keep placements and migrations one by one */
    TRACE_QUIET = 1 << 1,       /* count warnings, print none */
    TRACE_KEEP_STACKS = 1 << 2, /* keep applied placements per stack (process->stacks) */
};

struct trace_set {
    unsigned flags;
    struct trace_process **processes;
    size_t n_processes;
    char **files;
    size_t n_files;
    int warnings;
    void *strings; /* trace_model.c's interned strings */
    char *buffer;  /* trace_model.c's: the file being read, kept for the next one */
    size_t buffer_size;
};

/* Reads one trace into the set. Problems with lines are warnings ("cdmplace: FILE:LINE:
 * warning: ..."), never fatal: what can be read is. Returns 0, or an errno when the file
 * cannot be read at all (said on stderr). */
int trace_read_file(struct trace_set *set, const char *path);
/* The same for a trace already in memory; `name` stands for the file in warnings. */
int trace_read_buffer(struct trace_set *set, const char *name, const char *data, size_t len);
/* After the last file: closes what is still open (buffers never freed end at the process's
 * last event). */
void trace_set_finish(struct trace_set *set);
void trace_set_free(struct trace_set *set);

/* After trace_set_finish: drops the processes keep_process refuses and, in those kept, the
 * rules keep_rule refuses, with the call sites whose first allocation was theirs and their
 * stacks, so that every output of the set sees only what was kept. */
void trace_set_select(struct trace_set *set,
                      bool (*keep_process)(const struct trace_process *process, const void *arg),
                      bool (*keep_rule)(const char *name, const void *arg), const void *arg);

/* The process's rule by name, NULL if it has none of that name. */
struct trace_rule *trace_process_rule(const struct trace_process *process, const char *name);
/* Is `node` in a node list of the start event ("0-1,4"; NULL: none)? */
bool trace_node_listed(const char *list, int node);
/* "rank 3 (pid 4242, host)" or "pid 4242": how tables name a process. Returns buf. */
char *trace_process_name(const struct trace_process *process, char *buf, size_t size);

/* ---------------------------------------------------------------- between the layers */

/* trace_model.c: where trace_read.cc hands each event and each problem. */
struct trace_reader;
void trace_model_event(struct trace_reader *reader, const struct trace_event *event);
void trace_warn(struct trace_reader *reader, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Does the set want every frame of a stack (TRACE_KEEP_STACKS), or the caller's alone? */
bool trace_model_wants_frames(const struct trace_reader *reader);
/* trace_read.cc: reads `data` (len bytes, followed by `padding` readable bytes) line by line,
 * calling trace_model_event and trace_warn. */
void trace_parse_lines(struct trace_reader *reader, const char *data, size_t len);
/* Bytes that must be readable past the end of the data given to trace_parse_lines. */
size_t trace_parse_padding(void);

#ifdef __cplusplus
}
#endif
#endif
