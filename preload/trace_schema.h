/* SPDX-License-Identifier: MIT */
/* The trace's events and their fields, in the order they are written (design.md "The trace
 * schema"): the one table that the writer (preload/trace.c and the files that emit events
 * build their printf formats from it), the reader (tools/trace_read.cc dispatches on its
 * names) and the documentation (tests/trace_schema.c prints design.md's table from it, and
 * the trace-schema suite compares the two) all follow. Shared by the library and the CLI:
 * macros only, nothing to link.
 *
 * Names are C tokens, spelled once here and only ever stringified (#) or pasted (##), never
 * expanded: so `errno` stays the name "errno", and a rename that misses a user of a name
 * fails to compile instead of drifting.
 *
 * CDM_TRACE_EVENTS(EVENT): EVENT(KIND, name, when), in the reader's order; KIND names its
 * enumerator (TRACE_KIND in tools/trace.h), `name` is the value of "ev", `when` says when it
 * is written.
 * CDM_TRACE_FIELDS_<name>(FIELD): FIELD(name, format, type, need) for each field of the
 * event after the common ones (CDM_TRACE_FIELDS_common: t, pid, tid, ev), in order:
 *   format  the writer's printf conversion of the value, quotes included;
 *   type    its JSON type, as the documentation says it;
 *   need    NEEDED: a reader skips the event without it (with a warning), or OPTIONAL: it
 *           takes the value when it is there. The writer writes every field either way.
 * CDM_TRACE_NAMES(NAME): every field name once, for the reader's dispatch (its build fails
 * unless these are exactly the events' names). */
#ifndef CDMPLACE_TRACE_SCHEMA_H
#define CDMPLACE_TRACE_SCHEMA_H

#define CDM_TRACE_EVENTS(EVENT)                                                              \
    EVENT(START, start, "the trace opens; again in a forked child")                          \
    EVENT(PLACE, place, "an allocation of min_size or more: the rule's decision")            \
    EVENT(FREE, free, "a recorded buffer is freed or unmapped")                              \
    EVENT(REMAP, remap, "a recorded buffer is moved or resized (realloc, mremap)")           \
    EVENT(ADVISE, advise, "madvise on a placed buffer")                                      \
    EVENT(MIGRATE, migrate, "one move_pages call of the migrator")                           \
    EVENT(EPOCH, epoch, "a rule's pages per node changed over an epoch")                     \
    EVENT(TOTALS, totals, "at exit, once per rule (and once for no rule)")                   \
    EVENT(ERROR, error, "a message of the library's, whether or not stderr showed it")       \
    EVENT(EXIT, exit, "at exit, last")                                                       \
    EVENT(ACCESS, access, "a profiling run's buffer leaves the tracker: how much it was used")

/* Members of the objects inside events: the start event's node sets and a stack's frames. */
#define CDM_TRACE_CDM "cdm"
#define CDM_TRACE_DRAM "dram"
#define CDM_TRACE_AT "at"
#define CDM_TRACE_OFF "off"
#define CDM_TRACE_NODE_SETS_FORMAT                                                           \
    "{\"" CDM_TRACE_CDM "\":\"%s\",\"" CDM_TRACE_DRAM "\":\"%s\"}"
#define CDM_TRACE_FRAME_FORMAT "{\"" CDM_TRACE_AT "\":\"%s\",\"" CDM_TRACE_OFF "\":\"0x%lx\"}"
/* Written, "truncated":true, in place of an event's fields that do not fit in a line. */
#define CDM_TRACE_TRUNCATED "truncated"

#define CDM_TRACE_FIELDS_common(FIELD)                                                       \
    FIELD(t, "%llu", "integer (ns since start)", NEEDED)                                     \
    FIELD(pid, "%d", "integer", NEEDED)                                                      \
    FIELD(tid, "%d", "integer", OPTIONAL)                                                    \
    FIELD(ev, "\"%s\"", "string", NEEDED)

#define CDM_TRACE_FIELDS_start(FIELD)                                                        \
    FIELD(version, "\"%s\"", "string", OPTIONAL)                                             \
    FIELD(program, "\"%s\"", "string", OPTIONAL)                                             \
    FIELD(exe, "\"%s\"", "string", OPTIONAL)                                                 \
    FIELD(ppid, "%d", "integer", OPTIONAL)                                                   \
    FIELD(config, "\"%s\"", "string", OPTIONAL)                                              \
    FIELD(min_size, "%llu", "integer", OPTIONAL)                                             \
    FIELD(dry_run, "%s", "boolean", OPTIONAL)                                                \
    FIELD(nodes, CDM_TRACE_NODE_SETS_FORMAT,                                                 \
          "object {" CDM_TRACE_CDM ", " CDM_TRACE_DRAM "} of node lists", OPTIONAL)          \
    FIELD(tracker, "\"%s\"", "string", OPTIONAL)                                             \
    FIELD(sees, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(epoch_ns, "%llu", "integer", OPTIONAL)                                             \
    FIELD(rules, "[%s]", "array of strings", OPTIONAL)                                       \
    FIELD(host, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(job, "%s", "string or null", OPTIONAL)                                             \
    FIELD(rank, "%s", "integer or null", OPTIONAL)

#define CDM_TRACE_FIELDS_place(FIELD)                                                        \
    FIELD(addr, "%s", "address or null", OPTIONAL)                                           \
    FIELD(size, "%zu", "integer", NEEDED)                                                    \
    FIELD(mapped, "%zu", "integer", OPTIONAL)                                                \
    FIELD(kind, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(rule, "%s", "string or null", NEEDED)                                              \
    FIELD(policy, "\"%s\"", "string", OPTIONAL)                                              \
    FIELD(nodes, "\"%s\"", "string (node list)", OPTIONAL)                                   \
    FIELD(caller, "\"%s\"", "string", OPTIONAL)                                              \
    FIELD(stack, "%s", "array of {" CDM_TRACE_AT ", " CDM_TRACE_OFF "}", OPTIONAL)           \
    FIELD(result, "\"%s\"", "string", NEEDED)                                                \
    FIELD(errno, "%d", "integer", OPTIONAL)                                                  \
    FIELD(reused, "%s", "boolean", OPTIONAL)

#define CDM_TRACE_FIELDS_free(FIELD)                                                         \
    FIELD(addr, "\"0x%lx\"", "address", NEEDED)                                              \
    FIELD(size, "%zu", "integer", NEEDED)                                                    \
    FIELD(kind, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(rule, "%s", "string or null", NEEDED)                                              \
    FIELD(kept, "%s", "boolean", OPTIONAL)

#define CDM_TRACE_FIELDS_remap(FIELD)                                                        \
    FIELD(from, "\"0x%lx\"", "address", NEEDED)                                              \
    FIELD(to, "\"%p\"", "address", NEEDED)                                                   \
    FIELD(old_size, "%zu", "integer", NEEDED)                                                \
    FIELD(size, "%zu", "integer", NEEDED)                                                    \
    FIELD(kind, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(rule, "%s", "string or null", NEEDED)

#define CDM_TRACE_FIELDS_advise(FIELD)                                                       \
    FIELD(addr, "\"%p\"", "address", OPTIONAL)                                               \
    FIELD(size, "%zu", "integer", OPTIONAL)                                                  \
    FIELD(advice, "%d", "integer", OPTIONAL)                                                 \
    FIELD(rule, "\"%s\"", "string", OPTIONAL)                                                \
    FIELD(result, "%d", "integer (errno)", OPTIONAL)

#define CDM_TRACE_FIELDS_migrate(FIELD)                                                      \
    FIELD(addr, "\"%p\"", "address", OPTIONAL)                                               \
    FIELD(end, "\"%p\"", "address", OPTIONAL)                                                \
    FIELD(from, "%d", "integer (node)", NEEDED)                                              \
    FIELD(to, "%d", "integer (node)", NEEDED)                                                \
    FIELD(pages, "%u", "integer", NEEDED)                                                    \
    FIELD(busy, "%u", "integer", OPTIONAL)                                                   \
    FIELD(failed, "%u", "integer", OPTIONAL)                                                 \
    FIELD(errno, "%d", "integer", OPTIONAL)                                                  \
    FIELD(ns, "%llu", "integer", OPTIONAL)                                                   \
    FIELD(reason, "\"%s\"", "string", OPTIONAL)                                              \
    FIELD(rule, "\"%s\"", "string", NEEDED)

#define CDM_TRACE_FIELDS_epoch(FIELD)                                                        \
    FIELD(rule, "\"%s\"", "string", NEEDED)                                                  \
    FIELD(epoch, "%u", "integer", OPTIONAL)                                                  \
    FIELD(nodes, "{%s}", "object {node: pages}", NEEDED)                                     \
    FIELD(unknown, "%llu", "integer", OPTIONAL)                                              \
    FIELD(hot, "%llu", "integer", OPTIONAL)                                                  \
    FIELD(cold, "%llu", "integer", OPTIONAL)

#define CDM_TRACE_FIELDS_totals(FIELD)                                                       \
    FIELD(rule, "%s", "string or null", NEEDED)                                              \
    FIELD(allocations, "%llu", "integer", OPTIONAL)                                          \
    FIELD(bytes, "%llu", "integer", OPTIONAL)                                                \
    FIELD(peak_bytes, "%llu", "integer", OPTIONAL)                                           \
    FIELD(live_bytes, "%llu", "integer", OPTIONAL)                                           \
    FIELD(fallbacks, "%llu", "integer", OPTIONAL)                                            \
    FIELD(failures, "%llu", "integer", OPTIONAL)                                             \
    FIELD(errors, "%llu", "integer", OPTIONAL)                                               \
    FIELD(to_dram, "%llu", "integer", OPTIONAL)                                              \
    FIELD(to_policy, "%llu", "integer", OPTIONAL)                                            \
    FIELD(faults, "%llu", "integer", OPTIONAL)                                               \
    FIELD(nodes, "{%s}", "object {node: pages}", OPTIONAL)                                   \
    FIELD(absent, "%llu", "integer", OPTIONAL)

#define CDM_TRACE_FIELDS_error(FIELD) FIELD(message, "\"%s\"", "string", OPTIONAL)

#define CDM_TRACE_FIELDS_exit(FIELD)                                                         \
    FIELD(allocations, "%llu", "integer", OPTIONAL)                                          \
    FIELD(bytes, "%llu", "integer", OPTIONAL)                                                \
    FIELD(fallbacks, "%llu", "integer", OPTIONAL)                                            \
    FIELD(failures, "%llu", "integer", OPTIONAL)                                             \
    FIELD(errors, "%llu", "integer", OPTIONAL)                                               \
    FIELD(library_ns, "%llu", "integer", OPTIONAL)                                           \
    FIELD(track_bytes, "%zu", "integer", OPTIONAL)                                           \
    FIELD(kept_bytes, "%zu", "integer", OPTIONAL)

#define CDM_TRACE_FIELDS_access(FIELD)                                                       \
    FIELD(addr, "\"0x%lx\"", "address", NEEDED)                                              \
    FIELD(size, "%zu", "integer", OPTIONAL)                                                  \
    FIELD(pages, "%zu", "integer", NEEDED)                                                   \
    FIELD(rule, "%s", "string or null", NEEDED)                                              \
    FIELD(epochs, "%u", "integer", OPTIONAL)                                                 \
    FIELD(page_epochs, "%llu", "integer", OPTIONAL)                                          \
    FIELD(touched, "%zu", "integer", OPTIONAL)                                               \
    FIELD(tracker, "\"%s\"", "string", OPTIONAL)                                             \
    FIELD(sees, "\"%s\"", "string", OPTIONAL)

#define CDM_TRACE_NAMES(NAME)                                                                \
    NAME(t) NAME(pid) NAME(tid) NAME(ev) NAME(version) NAME(program) NAME(exe) NAME(ppid)    \
    NAME(config) NAME(min_size) NAME(dry_run) NAME(nodes) NAME(tracker) NAME(sees)           \
    NAME(epoch_ns) NAME(rules) NAME(host) NAME(job) NAME(rank) NAME(addr) NAME(size)         \
    NAME(mapped) NAME(kind) NAME(rule) NAME(policy) NAME(caller) NAME(stack) NAME(result)    \
    NAME(errno) NAME(from) NAME(to) NAME(old_size) NAME(advice) NAME(end) NAME(pages)        \
    NAME(busy) NAME(failed) NAME(ns) NAME(reason) NAME(epoch) NAME(unknown) NAME(hot)        \
    NAME(cold) NAME(allocations) NAME(bytes) NAME(peak_bytes) NAME(live_bytes)               \
    NAME(fallbacks) NAME(failures) NAME(errors) NAME(to_dram) NAME(to_policy) NAME(faults)   \
    NAME(absent) NAME(message) NAME(library_ns) NAME(track_bytes) NAME(epochs)               \
    NAME(page_epochs) NAME(touched) NAME(reused) NAME(kept) NAME(kept_bytes)

/* A field's `need`, as a value. */
#define CDM_TRACE_NEEDED 1
#define CDM_TRACE_OPTIONAL 0

/* The writer's printf format of an event's fields: "name":value, each followed by a comma
 * (trace.c turns the line's last one into its closing brace). */
#define CDM_TRACE_FIELD_FORMAT(name, format, type, need) "\"" #name "\":" format ","
#define CDM_TRACE_FORMAT(ev) CDM_TRACE_FIELDS_##ev(CDM_TRACE_FIELD_FORMAT)

#endif
