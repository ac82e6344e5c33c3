/* SPDX-License-Identifier: MIT */
/* Events to processes (see trace.h): one `struct trace_process` per process of a trace, from
 * its start event (or its first event, when the start is missing) to its exit (or the last
 * whole line of a killed process).
 *
 * A file holds one process, or several: children after fork when the log template has no
 * %p, a program exec'd by another (same pid, a new start event). Problems are warnings with
 * file and line, at most MAX_WARNINGS printed per file and the rest counted. */
#include "trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#define MAX_WARNINGS 10

/* Strings every process shares (results, kinds, reasons): kept once per set. */
struct interned {
    UT_hash_handle hh;
    char text[];
};

struct open_buffer { /* a placement not yet freed: where its free and access find it */
    uint64_t addr, size;
    int rule;
    int callsite; /* -1: none */
    bool kept;    /* index names it in its rule's placements (TRACE_KEEP_EVENTS) */
    bool accessed; /* an access event came for it (before a remap moved it, too) */
    size_t index;
    UT_hash_handle hh;
};

struct callsite_key {
    UT_hash_handle hh;
    int index;
    char key[]; /* "object\0+offset" as text */
};

struct process_index {
    struct open_buffer *open;
    struct callsite_key *callsites;
    struct callsite_key *stacks; /* the same keys, for process->stacks */
    uint64_t dram[16]; /* the start event's DRAM nodes, as a bit mask */
};

struct pid_entry {
    int pid;
    struct trace_process *process;
    UT_hash_handle hh;
};

struct trace_reader {
    struct trace_set *set;
    const char *file;
    struct pid_entry *pids;
    int warnings;
    bool warned_newer;
    char unknown_events[8][32]; /* names already warned about */
    int n_unknown_events;
};

static void *xrealloc(void *ptr, size_t size)
{
    void *grown = realloc(ptr, size ? size : 1);
    if (!grown) {
        fprintf(stderr, "cdmplace: out of memory reading traces\n");
        exit(1);
    }
    return grown;
}

static char *xstrndup(const char *s, size_t len)
{
    char *copy = xrealloc(NULL, len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

static char *dup_str(struct trace_str s)
{
    return s.s ? xstrndup(s.s, s.len) : NULL;
}

static const char *intern(struct trace_set *set, struct trace_str s)
{
    if (!s.s)
        return "";
    struct interned *strings = set->strings, *found;
    HASH_FIND(hh, strings, s.s, s.len, found);
    if (found)
        return found->text;
    found = xrealloc(NULL, sizeof *found + s.len + 1);
    memset(found, 0, sizeof *found);
    memcpy(found->text, s.s, s.len);
    found->text[s.len] = '\0';
    HASH_ADD_KEYPTR(hh, strings, found->text, s.len, found);
    set->strings = strings;
    return found->text;
}

#define GROW(array, count)                                                                  \
    do {                                                                                    \
        if (((count) & ((count) - 1)) == 0)                                                 \
            (array) = xrealloc((array), sizeof *(array) * ((count) ? (count) * 2 : 4));     \
    } while (0)

void trace_warn(struct trace_reader *reader, int line, const char *fmt, ...)
{
    reader->warnings++;
    reader->set->warnings++;
    if (reader->set->flags & TRACE_QUIET || reader->warnings > MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cdmplace: %s:%d: warning: ", reader->file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

bool trace_model_wants_frames(const struct trace_reader *reader)
{
    return reader->set->flags & TRACE_KEEP_STACKS;
}

/* ---------------------------------------------------------------- processes and rules */

static void parse_node_list(const char *text, uint64_t *mask, int words)
{
    while (*text) {
        char *end;
        long first = strtol(text, &end, 10), last = first;
        if (end == text)
            return;
        if (*end == '-')
            last = strtol(end + 1, &end, 10);
        for (long node = first; node <= last && node < words * 64; node++)
            if (node >= 0)
                mask[node / 64] |= 1ull << (node % 64);
        text = *end == ',' ? end + 1 : end;
        if (*end != ',')
            return;
    }
}

static struct trace_process *new_process(struct trace_reader *reader, int pid, int line)
{
    struct trace_set *set = reader->set;
    struct trace_process *process = xrealloc(NULL, sizeof *process);
    memset(process, 0, sizeof *process);
    process->file = reader->file;
    process->line = line;
    process->pid = pid;
    process->rank = -1;
    process->index = xrealloc(NULL, sizeof(struct process_index));
    memset(process->index, 0, sizeof(struct process_index));
    GROW(set->processes, set->n_processes);
    set->processes[set->n_processes++] = process;
    struct pid_entry *entry;
    HASH_FIND_INT(reader->pids, &pid, entry);
    if (!entry) {
        entry = xrealloc(NULL, sizeof *entry);
        entry->pid = pid;
        HASH_ADD_INT(reader->pids, pid, entry);
    }
    entry->process = process;
    return process;
}

struct trace_rule *trace_process_rule(const struct trace_process *process, const char *name)
{
    for (int i = 0; i < process->n_rules; i++)
        if (!strcmp(process->rules[i].name, name))
            return &process->rules[i];
    return NULL;
}

static int rule_index(struct trace_process *process, struct trace_str name)
{
    const char *wanted = name.s ? NULL : "(no rule)";
    for (int i = 0; i < process->n_rules; i++) {
        const struct trace_rule *rule = &process->rules[i];
        if (wanted ? rule->no_rule
                   : strlen(rule->name) == name.len && !memcmp(rule->name, name.s, name.len))
            return i;
    }
    GROW(process->rules, (size_t)process->n_rules);
    struct trace_rule *rule = &process->rules[process->n_rules];
    memset(rule, 0, sizeof *rule);
    rule->no_rule = name.s == NULL;
    rule->name = name.s ? dup_str(name) : xstrndup(wanted, strlen(wanted));
    return process->n_rules++;
}

/* Not &process->rules[rule_index(...)]: rule_index may move the array it indexes. */
static struct trace_rule *rule_of(struct trace_process *process, struct trace_str name)
{
    int index = rule_index(process, name);
    return &process->rules[index];
}

bool trace_node_listed(const char *list, int node)
{
    uint64_t mask[16] = {0};
    if (!list || node < 0 || node >= 16 * 64)
        return false;
    parse_node_list(list, mask, 16);
    return mask[node / 64] >> (node % 64) & 1;
}

char *trace_process_name(const struct trace_process *process, char *buf, size_t size)
{
    if (process->rank >= 0)
        snprintf(buf, size, "rank %d (pid %d%s%s)", process->rank, process->pid,
                 process->host ? ", " : "", process->host ? process->host : "");
    else
        snprintf(buf, size, "pid %d", process->pid);
    return buf;
}

/* ---------------------------------------------------------------- events */

/* 0.1.0 < 0.2.0 < 1.0.0: is `version` newer than this reader? */
static bool newer_than_reader(const char *version)
{
    unsigned theirs[3] = {0}, ours[3] = {0};
    sscanf(version, "%u.%u.%u", &theirs[0], &theirs[1], &theirs[2]);
    sscanf(TRACE_READER_VERSION, "%u.%u.%u", &ours[0], &ours[1], &ours[2]);
    for (int i = 0; i < 3; i++)
        if (theirs[i] != ours[i])
            return theirs[i] > ours[i];
    return false;
}

static void on_start(struct trace_reader *reader, struct trace_process *process,
                     const struct trace_event *event, int line)
{
    process->started = true;
    process->line = line;
    process->program = dup_str(event->program);
    process->exe = dup_str(event->exe);
    process->host = dup_str(event->host);
    process->job = dup_str(event->job);
    process->config = dup_str(event->config);
    process->version = dup_str(event->version);
    process->tracker = dup_str(event->tracker);
    process->sees = dup_str(event->sees);
    process->rank = event->rank;
    process->dry_run = event->dry_run;
    process->epoch_ns = event->epoch_ns;
    process->min_size = event->min_size;
    process->cdm_nodes = dup_str(event->cdm_nodes);
    process->dram_nodes = dup_str(event->dram_nodes);
    if (process->dram_nodes) {
        struct process_index *index = process->index;
        parse_node_list(process->dram_nodes, index->dram, 16);
    }
    for (int i = 0; i < event->n_rules; i++)
        rule_index(process, event->rules[i]);
    if (process->version && newer_than_reader(process->version) && !reader->warned_newer) {
        reader->warned_newer = true;
        trace_warn(reader, line, "written by cdmplace %s, newer than this one (%s): what this "
                                 "version does not know is skipped", process->version,
                   TRACE_READER_VERSION);
    }
}

/* The call site of a placement, counted; its index in process->callsites, -1: none. */
static int add_callsite(struct trace_process *process, const struct trace_event *event, int rule)
{
    if (!event->caller.s || !event->caller.len)
        return -1;
    struct process_index *index = process->index;
    /* "object:function+offset" in hex, by hand: snprintf here was a tenth of the time of a
     * report over a job's traces, whose every other event is a placement. */
    char key[1024];
    if (event->caller.len + 18 > sizeof key)
        return -1;
    memcpy(key, event->caller.s, event->caller.len);
    int len = (int)event->caller.len;
    key[len++] = '+';
    int digits = 1;
    while (digits < 16 && event->caller_offset >> (4 * digits))
        digits++;
    for (int i = digits - 1; i >= 0; i--)
        key[len++] = "0123456789abcdef"[event->caller_offset >> (4 * i) & 0xf];
    key[len] = '\0';
    struct callsite_key *found;
    HASH_FIND(hh, index->callsites, key, (size_t)len, found);
    if (!found) {
        found = xrealloc(NULL, sizeof *found + (size_t)len + 1);
        memset(found, 0, sizeof *found);
        memcpy(found->key, key, (size_t)len + 1);
        found->index = process->n_callsites;
        HASH_ADD_KEYPTR(hh, index->callsites, found->key, (size_t)len, found);
        GROW(process->callsites, (size_t)process->n_callsites);
        struct trace_callsite *site = &process->callsites[process->n_callsites++];
        /* "object:function": the object's path may hold ':' too, the function's name not. */
        const char *colon = memrchr(event->caller.s, ':', event->caller.len);
        size_t object_len = colon ? (size_t)(colon - event->caller.s) : event->caller.len;
        *site = (struct trace_callsite){
            .object = xstrndup(event->caller.s, object_len),
            .function = colon ? xstrndup(colon + 1, event->caller.len - object_len - 1)
                              : xstrndup("?", 1),
            .offset = event->caller_offset,
            .min_size = UINT64_MAX,
            .rule = rule,
        };
    }
    struct trace_callsite *site = &process->callsites[found->index];
    site->allocations++;
    site->bytes += event->size;
    site->min_size = event->size < site->min_size ? event->size : site->min_size;
    site->max_size = event->size > site->max_size ? event->size : site->max_size;
    return found->index;
}

/* An applied placement counted under its rule and whole stack (TRACE_KEEP_STACKS). */
static void add_stack(struct trace_set *set, struct trace_process *process,
                      const struct trace_event *event, int rule)
{
    struct process_index *index = process->index;
    /* The rule's index, then each frame's text and offset: frames of one stack differ in
     * either, and a placement's rule may differ for one stack (rules on size). */
    size_t len = sizeof rule;
    for (int i = 0; i < event->n_frames; i++)
        len += event->frames[i].at.len + 1 + sizeof(uint64_t);
    char *key = xrealloc(NULL, len), *at = key;
    memcpy(at, &rule, sizeof rule), at += sizeof rule;
    for (int i = 0; i < event->n_frames; i++) {
        memcpy(at, event->frames[i].at.s, event->frames[i].at.len), at += event->frames[i].at.len;
        *at++ = '\0';
        memcpy(at, &event->frames[i].offset, sizeof(uint64_t)), at += sizeof(uint64_t);
    }
    struct callsite_key *found;
    HASH_FIND(hh, index->stacks, key, len, found);
    if (!found) {
        found = xrealloc(NULL, sizeof *found + len);
        memset(found, 0, sizeof *found);
        memcpy(found->key, key, len);
        found->index = (int)process->n_stacks;
        HASH_ADD_KEYPTR(hh, index->stacks, found->key, len, found);
        GROW(process->stacks, process->n_stacks);
        struct trace_stack *stack = &process->stacks[process->n_stacks++];
        *stack = (struct trace_stack){
            .rule = rule,
            .frames = xrealloc(NULL, sizeof *stack->frames * (size_t)event->n_frames),
            .n_frames = (size_t)event->n_frames,
        };
        for (int i = 0; i < event->n_frames; i++)
            stack->frames[i] =
                (struct trace_frame){intern(set, event->frames[i].at), event->frames[i].offset};
    }
    free(key);
    struct trace_stack *stack = &process->stacks[found->index];
    stack->allocations++;
    stack->bytes += event->size;
}

static void open_placement(struct trace_set *set, struct trace_process *process, int rule,
                           const struct trace_event *event, const char *result, int callsite,
                           bool accessed)
{
    struct trace_rule *r = &process->rules[rule];
    bool keep = set->flags & TRACE_KEEP_EVENTS;
    if (keep) {
        GROW(r->placements, r->n_placements);
        r->placements[r->n_placements] = (struct trace_placement){
            .t = event->t, .addr = event->addr, .size = event->size, .callsite = callsite,
            .result = result, .kind = intern(set, event->kind_name)};
    }
    struct process_index *index = process->index;
    struct open_buffer *open;
    HASH_FIND(hh, index->open, &event->addr, sizeof event->addr, open);
    if (!open) {
        open = xrealloc(NULL, sizeof *open);
        open->addr = event->addr;
        HASH_ADD(hh, index->open, addr, sizeof open->addr, open);
    }
    open->size = event->mapped ? event->mapped : event->size;
    open->rule = rule;
    open->callsite = callsite;
    open->kept = keep;
    open->accessed = accessed;
    open->index = keep ? r->n_placements++ : 0;
}

static struct open_buffer *open_buffer_at(struct trace_process *process, uint64_t addr)
{
    struct process_index *index = process->index;
    struct open_buffer *open;
    HASH_FIND(hh, index->open, &addr, sizeof addr, open);
    return open;
}

/* The buffer at addr is freed (or moved) at t; returns its call site, -1: none or unknown. */
/* Returns the buffer's call site (-1: none), and in *accessed whether an access event came. */
static int close_placement(struct trace_process *process, uint64_t addr, uint64_t t,
                           bool *accessed)
{
    struct process_index *index = process->index;
    struct open_buffer *open = open_buffer_at(process, addr);
    *accessed = false;
    if (!open)
        return -1;
    int callsite = open->callsite;
    *accessed = open->accessed;
    if (open->kept)
        process->rules[open->rule].placements[open->index].end_t = t;
    HASH_DEL(index->open, open);
    free(open);
    return callsite;
}

/* `again`: the buffer had an access event before (a remap ends one watch and starts
 * another): its figures add up, it is not one buffer more. */
static void add_use(struct trace_use *use, const struct trace_event *event, bool again)
{
    use->buffers += !again;
    use->page_epochs += event->page_epochs;
    use->watched += event->pages * event->epochs;
    use->touched += event->touched;
    use->pages += event->pages;
}

/* A profiling run's figures for a buffer: to its placement and its call site. */
static void on_access(struct trace_process *process, const struct trace_event *event)
{
    struct open_buffer *open = open_buffer_at(process, event->addr);
    if (!open)
        return; /* its place event is not in the trace: nothing to attribute it to */
    if (open->kept) /* a remap starts a placement of its own */
        add_use(&process->rules[open->rule].placements[open->index].use, event, false);
    if (open->callsite >= 0)
        add_use(&process->callsites[open->callsite].use, event, open->accessed);
    open->accessed = true;
}

static void account_live(struct trace_rule *rule, int64_t bytes)
{
    if (bytes < 0 && (uint64_t)-bytes > rule->live_bytes)
        rule->live_bytes = 0; /* the trace began after the allocation */
    else
        rule->live_bytes += (uint64_t)bytes;
    if (rule->live_bytes > rule->peak_bytes)
        rule->peak_bytes = rule->live_bytes;
}

static void on_place(struct trace_set *set, struct trace_process *process,
                     const struct trace_event *event)
{
    int index = rule_index(process, event->rule);
    struct trace_rule *rule = &process->rules[index];
    const char *result = intern(set, event->result);
    rule->allocations++;
    rule->bytes += event->size;
    process->reuses += event->reused;
    if (!strcmp(result, "fallback"))
        rule->fallbacks++;
    else if (!strcmp(result, "full"))
        rule->failures++;
    else if (!strcmp(result, "error") || !strcmp(result, "no-node") ||
             !strcmp(result, "not-permitted"))
        rule->errors++;
    if (!rule->policy && event->policy.s) {
        rule->policy = dup_str(event->policy);
        rule->nodes = dup_str(event->nodes);
    }
    int callsite = add_callsite(process, event, index);
    if (set->flags & TRACE_KEEP_STACKS && !strcmp(result, "applied"))
        add_stack(set, process, event, index);
    if (event->addr == 0 || !strcmp(result, "unmapped"))
        return;
    account_live(rule, (int64_t)(event->mapped ? event->mapped : event->size));
    open_placement(set, process, index, event, result, callsite, false);
}

static void on_migrate(struct trace_set *set, struct trace_process *process,
                       const struct trace_event *event)
{
    struct trace_rule *rule = rule_of(process, event->rule);
    const struct process_index *index = process->index;
    bool to_dram = event->to >= 0 && event->to < 1024 &&
                   (index->dram[event->to / 64] >> (event->to % 64) & 1);
    *(to_dram ? &rule->to_dram : &rule->to_policy) += event->pages;
    /* A move is of pages inside one buffer: its call site moved them. Buffers open at once
     * are few, so a walk over them costs less than keeping them sorted. */
    struct open_buffer *open, *next;
    HASH_ITER(hh, index->open, open, next) {
        if (event->addr - open->addr < open->size) {
            if (open->callsite >= 0) {
                struct trace_callsite *site = &process->callsites[open->callsite];
                *(to_dram ? &site->to_dram : &site->to_policy) += event->pages;
            }
            break;
        }
    }
    if (!(set->flags & TRACE_KEEP_EVENTS))
        return;
    GROW(rule->migrations, rule->n_migrations);
    rule->migrations[rule->n_migrations++] = (struct trace_migration){
        .t = event->t, .ns = event->ns, .from = event->from, .to = event->to,
        .pages = event->pages, .busy = event->busy, .failed = event->failed,
        .reason = intern(set, event->reason)};
}

static void add_counts(struct trace_rule *rule, const struct trace_event *event)
{
    for (int i = 0; i < event->n_counts; i++) {
        GROW(rule->counts, rule->n_counts);
        rule->counts[rule->n_counts++] = event->counts[i];
    }
}

static void on_epoch(struct trace_process *process, const struct trace_event *event)
{
    struct trace_rule *rule = rule_of(process, event->rule);
    GROW(rule->samples, rule->n_samples);
    rule->samples[rule->n_samples++] = (struct trace_sample){
        .t = event->t, .first = rule->n_counts, .n = (size_t)event->n_counts};
    add_counts(rule, event);
}

static void on_totals(struct trace_process *process, const struct trace_event *event)
{
    struct trace_rule *rule = rule_of(process, event->rule);
    rule->have_totals = true;
    rule->faults = event->faults;
    rule->absent = event->absent;
    free(rule->exit_counts);
    rule->exit_counts = xrealloc(NULL, sizeof *rule->exit_counts * (size_t)event->n_counts);
    memcpy(rule->exit_counts, event->counts, sizeof *rule->exit_counts * (size_t)event->n_counts);
    rule->n_exit_counts = (size_t)event->n_counts;
}

static void on_error(struct trace_process *process, const struct trace_event *event)
{
    if (!event->message.s)
        return;
    for (int i = 0; i < process->n_errors; i++)
        if (strlen(process->errors[i]) == event->message.len &&
            !memcmp(process->errors[i], event->message.s, event->message.len))
            return;
    GROW(process->errors, (size_t)process->n_errors);
    process->errors[process->n_errors++] = dup_str(event->message);
}

/* The process an event belongs to; a start begins a new one (an exec keeps the pid). */
static struct trace_process *process_of(struct trace_reader *reader,
                                        const struct trace_event *event, int line)
{
    struct pid_entry *entry;
    HASH_FIND_INT(reader->pids, &event->pid, entry);
    struct trace_process *process = entry ? entry->process : NULL;
    if (event->kind == TRACE_START) {
        if (!process || process->started || process->last_t > event->t)
            process = new_process(reader, event->pid, line);
        return process;
    }
    if (!process) {
        process = new_process(reader, event->pid, line);
        trace_warn(reader, line, "events of pid %d before its start event (the trace's "
                                 "beginning is missing?): read without it", event->pid);
    }
    return process;
}

void trace_model_event(struct trace_reader *reader, const struct trace_event *event)
{
    struct trace_set *set = reader->set;
    int line = event->line;
    if (event->kind == TRACE_N_KINDS) {
        int len = (int)(event->ev.len < 31 ? event->ev.len : 31);
        for (int i = 0; i < reader->n_unknown_events; i++)
            if (!strncmp(reader->unknown_events[i], event->ev.s, (size_t)len) &&
                !reader->unknown_events[i][len])
                return;
        if (reader->n_unknown_events < 8)
            snprintf(reader->unknown_events[reader->n_unknown_events++], 32, "%.*s", len,
                     event->ev.s);
        trace_warn(reader, line, "unknown event '%.*s' (from a newer cdmplace?): skipped", len,
                   event->ev.s);
        return;
    }
    struct trace_process *process = process_of(reader, event, line);
    if (event->t > process->last_t)
        process->last_t = event->t;
    switch (event->kind) {
    case TRACE_START:
        on_start(reader, process, event, line);
        break;
    case TRACE_PLACE:
        on_place(set, process, event);
        break;
    case TRACE_FREE: {
        struct trace_rule *rule = rule_of(process, event->rule);
        account_live(rule, -(int64_t)event->size);
        bool accessed;
        close_placement(process, event->addr, event->t, &accessed);
        process->kept_frees += event->kept;
        break;
    }
    case TRACE_REMAP: {
        struct trace_rule *rule = rule_of(process, event->rule);
        account_live(rule, (int64_t)event->size - (int64_t)event->old_size);
        bool accessed;
        int callsite = close_placement(process, event->old_addr, event->t, &accessed);
        struct trace_event moved = *event;
        if (!moved.kind_name.s) /* an older trace: its remaps, all of heap buffers, had no kind */
            moved.kind_name = (struct trace_str){"heap", 4};
        open_placement(set, process, rule_index(process, event->rule), &moved, "remap", callsite,
                       accessed);
        break;
    }
    case TRACE_MIGRATE:
        on_migrate(set, process, event);
        break;
    case TRACE_EPOCH:
        on_epoch(process, event);
        break;
    case TRACE_TOTALS:
        on_totals(process, event);
        break;
    case TRACE_ERROR:
        on_error(process, event);
        break;
    case TRACE_EXIT:
        process->exited = true;
        process->library_ns = event->library_ns;
        process->kept_bytes = event->kept_bytes;
        break;
    case TRACE_ACCESS:
        on_access(process, event);
        break;
    case TRACE_ADVISE:
    case TRACE_N_KINDS:
        break;
    }
}

/* ---------------------------------------------------------------- files and sets */

/* The set's read buffer, with room for `size` bytes and the padding simdjson reads past
 * them. One buffer for all the files, grown as needed: a fresh one per file would be mapped
 * anew and fault in every page again, a sixth of the time over the traces of a job. */
static char *read_buffer(struct trace_set *set, size_t size)
{
    size_t padding = trace_parse_padding();
    if (set->buffer_size < size + padding) {
        set->buffer = xrealloc(set->buffer, size + padding); /* keeps what was read */
        set->buffer_size = size + padding;
    }
    return set->buffer;
}

/* Reads the `len` bytes at the start of the set's buffer as trace `name`. */
static void read_buffered(struct trace_set *set, const char *name, size_t len)
{
    memset(set->buffer + len, 0, trace_parse_padding());
    GROW(set->files, set->n_files);
    char *file = set->files[set->n_files++] = xstrndup(name, strlen(name));
    struct trace_reader reader = {.set = set, .file = file};
    size_t before = set->n_processes;
    trace_parse_lines(&reader, set->buffer, len);
    if (reader.warnings > MAX_WARNINGS && !(set->flags & TRACE_QUIET))
        fprintf(stderr, "cdmplace: %s: %d more warnings not shown\n", file,
                reader.warnings - MAX_WARNINGS);
    if (set->n_processes == before) {
        set->warnings++;
        if (!(set->flags & TRACE_QUIET))
            fprintf(stderr, "cdmplace: %s: warning: no event of cdmplace in it%s\n", file,
                    len ? "" : " (empty)");
    }
    struct pid_entry *entry, *next;
    HASH_ITER(hh, reader.pids, entry, next) {
        HASH_DEL(reader.pids, entry);
        free(entry);
    }
}

int trace_read_buffer(struct trace_set *set, const char *name, const char *data, size_t len)
{
    memcpy(read_buffer(set, len), data, len);
    read_buffered(set, name, len);
    return 0;
}

int trace_read_file(struct trace_set *set, const char *path)
{
    bool from_stdin = strcmp(path, "-") == 0; /* `-`: standard input */
    if (from_stdin)
        path = "standard input";
    int fd = from_stdin ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int err = errno;
        fprintf(stderr, "cdmplace: cannot read %s: %s\n", path, strerror(err));
        if (fd >= 0)
            close(fd);
        return err;
    }
    /* To the end, whatever fstat said: a pipe or a FIFO (`<(zcat t.jsonl.gz)`) has no size,
     * and a trace still being written grows. */
    size_t size = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 20;
    size_t got = 0;
    char *data = read_buffer(set, size);
    for (;;) {
        if (got == size)
            data = read_buffer(set, size *= 2);
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) { /* a directory, an I/O error */
            int err = errno;
            fprintf(stderr, "cdmplace: cannot read %s: %s\n", path, strerror(err));
            close(fd);
            return err;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    read_buffered(set, path, got);
    return 0;
}

void trace_set_finish(struct trace_set *set)
{
    for (size_t i = 0; i < set->n_processes; i++) {
        struct trace_process *process = set->processes[i];
        struct process_index *index = process->index;
        if (!index)
            continue;
        struct open_buffer *open, *next_open;
        HASH_ITER(hh, index->open, open, next_open) {
            if (open->kept)
                process->rules[open->rule].placements[open->index].end_t = process->last_t;
            HASH_DEL(index->open, open);
            free(open);
        }
        struct callsite_key *key, *next_key;
        HASH_ITER(hh, index->callsites, key, next_key) {
            HASH_DEL(index->callsites, key);
            free(key);
        }
        HASH_ITER(hh, index->stacks, key, next_key) {
            HASH_DEL(index->stacks, key);
            free(key);
        }
        free(index);
        process->index = NULL;
    }
}

static void free_rule(struct trace_rule *rule)
{
    free(rule->name);
    free(rule->policy);
    free(rule->nodes);
    free(rule->exit_counts);
    free(rule->samples);
    free(rule->counts);
    free(rule->migrations);
    free(rule->placements);
}

static void free_callsite(struct trace_callsite *callsite)
{
    free(callsite->object);
    free(callsite->function);
}

static void free_process(struct trace_process *process)
{
    char *texts[] = {process->program, process->exe, process->host, process->job,
                     process->config, process->version, process->tracker, process->sees,
                     process->cdm_nodes, process->dram_nodes};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        free(texts[i]);
    for (int i = 0; i < process->n_rules; i++)
        free_rule(&process->rules[i]);
    free(process->rules);
    for (int i = 0; i < process->n_callsites; i++)
        free_callsite(&process->callsites[i]);
    free(process->callsites);
    for (size_t i = 0; i < process->n_stacks; i++)
        free(process->stacks[i].frames);
    free(process->stacks);
    for (int i = 0; i < process->n_errors; i++)
        free(process->errors[i]);
    free(process->errors);
    free(process);
}

/* ---------------------------------------------------------------- selecting */

/* Drops the rules keep_rule refuses, with the call sites and stacks of theirs, and numbers
 * anew what names the rest by index. */
static void select_rules(struct trace_process *process,
                         bool (*keep_rule)(const char *name, const void *arg), const void *arg)
{
    int *rule_now = xrealloc(NULL, sizeof *rule_now * (size_t)process->n_rules);
    int n_rules = 0;
    for (int r = 0; r < process->n_rules; r++) {
        rule_now[r] = keep_rule(process->rules[r].name, arg) ? n_rules : -1;
        if (rule_now[r] >= 0)
            process->rules[n_rules++] = process->rules[r];
        else
            free_rule(&process->rules[r]);
    }
    int *site_now = xrealloc(NULL, sizeof *site_now * (size_t)process->n_callsites);
    int n_sites = 0;
    for (int c = 0; c < process->n_callsites; c++) {
        struct trace_callsite site = process->callsites[c];
        site.rule = site.rule >= 0 ? rule_now[site.rule] : -1;
        site_now[c] = site.rule >= 0 ? n_sites : -1;
        if (site.rule >= 0)
            process->callsites[n_sites++] = site;
        else
            free_callsite(&process->callsites[c]);
    }
    for (int r = 0; r < n_rules; r++)
        for (size_t p = 0; p < process->rules[r].n_placements; p++) {
            struct trace_placement *placement = &process->rules[r].placements[p];
            placement->callsite = placement->callsite >= 0 ? site_now[placement->callsite] : -1;
        }
    size_t n_stacks = 0;
    for (size_t s = 0; s < process->n_stacks; s++) {
        struct trace_stack stack = process->stacks[s];
        stack.rule = rule_now[stack.rule];
        if (stack.rule >= 0)
            process->stacks[n_stacks++] = stack;
        else
            free(stack.frames);
    }
    process->n_rules = n_rules;
    process->n_callsites = n_sites;
    process->n_stacks = n_stacks;
    free(rule_now);
    free(site_now);
}

void trace_set_select(struct trace_set *set,
                      bool (*keep_process)(const struct trace_process *process, const void *arg),
                      bool (*keep_rule)(const char *name, const void *arg), const void *arg)
{
    size_t kept = 0;
    for (size_t i = 0; i < set->n_processes; i++) {
        struct trace_process *process = set->processes[i];
        if (!keep_process(process, arg)) {
            free_process(process);
            continue;
        }
        select_rules(process, keep_rule, arg);
        set->processes[kept++] = process;
    }
    set->n_processes = kept;
}

void trace_set_free(struct trace_set *set)
{
    trace_set_finish(set);
    for (size_t i = 0; i < set->n_processes; i++)
        free_process(set->processes[i]);
    free(set->processes);
    for (size_t i = 0; i < set->n_files; i++)
        free(set->files[i]);
    free(set->files);
    free(set->buffer);
    struct interned *strings = set->strings, *string, *next;
    HASH_ITER(hh, strings, string, next) {
        HASH_DEL(strings, string);
        free(string);
    }
    memset(set, 0, sizeof *set);
}
