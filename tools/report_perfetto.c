/* SPDX-License-Identifier: MIT */
/* cdmplace report --perfetto FILE: the traces as Chrome trace-event JSON (the Trace Event
 * Format's JSON Object Format), which ui.perfetto.dev and chrome://tracing open.
 *
 * Each process is a process track named as the report's tables name it, with its program.
 * In it, per rule: a counter of pages per node (one series per node, drawn stacked), and
 * thread tracks of complete events: the rule's migrations, and its buffers from placement to
 * free. Events on one thread must nest (Perfetto's FAQ: overlapping JSON events are drawn
 * wrongly; Chrome DevTools drops them), so events that overlap in time go on lanes: more
 * thread tracks of the rule.
 *
 * Time: the trace gives each event's time since its process started and not when that was,
 * so every process starts at 0. The ranks of a job start within moments of each other, so
 * their phases still line up; an exec'd program or a forked child is shown from 0 too.
 * Written with stdio (cli_json_string). */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct writer {
    FILE *out;
    bool first;  /* no event written yet: no comma before the next */
    int next_id; /* the next free pid or tid: above every pid of the set */
};

/* ---------------------------------------------------------------- JSON */

/* Nanoseconds as the format's microseconds, exactly: "1234.567". */
static void put_us(FILE *out, uint64_t ns)
{
    fprintf(out, "%llu.%03llu", (unsigned long long)(ns / 1000), (unsigned long long)(ns % 1000));
}

/* Opens an event: {"ph":PH,"pid":PID,"tid":TID,"name":NAME — the caller adds the rest and
 * the closing brace. */
static void begin_event(struct writer *w, char ph, int pid, int tid, const char *name)
{
    fprintf(w->out, "%s{\"ph\":\"%c\",\"pid\":%d,\"tid\":%d,\"name\":", w->first ? "" : ",\n",
            ph, pid, tid);
    cli_json_string(w->out, name);
    w->first = false;
}

/* A metadata event: process_name, thread_name (args {"name":...}). */
static void name_event(struct writer *w, const char *what, int pid, int tid, const char *name)
{
    begin_event(w, 'M', pid, tid, what);
    fputs(",\"args\":{\"name\":", w->out);
    cli_json_string(w->out, name);
    fputs("}}", w->out);
}

/* process_sort_index, thread_sort_index (args {"sort_index":N}): the viewers' track order. */
static void sort_event(struct writer *w, const char *what, int pid, int tid, int index)
{
    begin_event(w, 'M', pid, tid, what);
    fprintf(w->out, ",\"args\":{\"sort_index\":%d}}", index);
}

/* A complete event's fields up to its args: ,"cat":CAT,"ts":...,"dur":...,"args":{ */
static void complete_event(struct writer *w, int pid, int tid, const char *name,
                           const char *category, uint64_t begin, uint64_t end)
{
    begin_event(w, 'X', pid, tid, name);
    fprintf(w->out, ",\"cat\":\"%s\",\"ts\":", category);
    put_us(w->out, begin);
    fputs(",\"dur\":", w->out);
    put_us(w->out, end - begin);
    fputs(",\"args\":{", w->out);
}

/* ---------------------------------------------------------------- lanes */

struct span {
    uint64_t begin, end;
    size_t index; /* in the rule's migrations or placements */
    size_t lane;
};

static int by_begin(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->index < y->index ? -1 : 1;
}

/* Puts the spans on lanes, each the first free when its span begins, so that the spans of a
 * lane never overlap and lanes are as few as the overlaps need; then names a thread track
 * per lane of the process: "RULE: what", "RULE: what 2", ... Sorts the spans by their
 * beginning. Returns each lane's tid (to free), NULL when memory ran out. */
static int *put_on_tracks(struct writer *w, int pid, const struct trace_rule *rule,
                          const char *what, struct span *spans, size_t n, int *sort_index)
{
    qsort(spans, n, sizeof *spans, by_begin);
    uint64_t *lane_end = malloc(sizeof *lane_end * n);
    int *tids = malloc(sizeof *tids * n);
    if (!lane_end || !tids) {
        free(lane_end);
        free(tids);
        return NULL;
    }
    size_t lanes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t lane = 0;
        while (lane < lanes && lane_end[lane] > spans[i].begin)
            lane++;
        if (lane == lanes)
            lanes++;
        lane_end[lane] = spans[i].end;
        spans[i].lane = lane;
    }
    free(lane_end);
    for (size_t lane = 0; lane < lanes; lane++) {
        char name[256];
        int len = snprintf(name, sizeof name, "%s: %s", rule->name, what);
        if (lane && len > 0 && (size_t)len < sizeof name)
            snprintf(name + len, sizeof name - (size_t)len, " %zu", lane + 1);
        tids[lane] = w->next_id++;
        name_event(w, "thread_name", pid, tids[lane], name);
        sort_event(w, "thread_sort_index", pid, tids[lane], (*sort_index)++);
    }
    return tids;
}

/* ---------------------------------------------------------------- a rule's events */

/* All nodes the rule ever had pages on, so that every counter event gives every series
 * (a series missing from an event would read as a gap, not as zero pages). */
static void nodes_of(const struct trace_rule *rule, uint64_t *mask)
{
    for (size_t i = 0; i < rule->n_counts; i++)
        if (rule->counts[i].node >= 0 && rule->counts[i].node < CDM_MAX_NODES)
            mask[rule->counts[i].node / 64] |= 1ull << (rule->counts[i].node % 64);
    for (size_t i = 0; i < rule->n_exit_counts; i++)
        if (rule->exit_counts[i].node >= 0 && rule->exit_counts[i].node < CDM_MAX_NODES)
            mask[rule->exit_counts[i].node / 64] |= 1ull << (rule->exit_counts[i].node % 64);
}

static void counter_event(struct writer *w, int pid, const char *name, uint64_t t,
                          const uint64_t *mask, const struct trace_node_count *counts, size_t n)
{
    begin_event(w, 'C', pid, pid, name);
    fputs(",\"ts\":", w->out);
    put_us(w->out, t);
    fputs(",\"args\":{", w->out);
    bool first = true;
    for (int node = 0; node < CDM_MAX_NODES; node++) {
        if (!(mask[node / 64] >> (node % 64) & 1))
            continue;
        uint64_t pages = 0;
        for (size_t i = 0; i < n; i++)
            if (counts[i].node == node)
                pages = counts[i].pages;
        fprintf(w->out, "%s\"node %d\":%llu", first ? "" : ",", node, (unsigned long long)pages);
        first = false;
    }
    fputs("}}", w->out);
}

/* "RULE pages": each epoch's pages per node, then the pages at exit. */
static void write_counters(struct writer *w, const struct trace_process *process, int pid,
                           const struct trace_rule *rule)
{
    uint64_t mask[CDM_MAX_NODES / 64] = {0};
    nodes_of(rule, mask);
    bool any = false;
    for (size_t i = 0; i < CDM_MAX_NODES / 64; i++)
        any |= mask[i] != 0;
    if (!any)
        return;
    char name[256];
    snprintf(name, sizeof name, "%s pages", rule->name);
    for (size_t i = 0; i < rule->n_samples; i++) {
        const struct trace_sample *sample = &rule->samples[i];
        counter_event(w, pid, name, sample->t, mask, &rule->counts[sample->first], sample->n);
    }
    if (rule->have_totals)
        counter_event(w, pid, name, process->last_t, mask, rule->exit_counts,
                      rule->n_exit_counts);
}

static void node_name(int node, char *buf, size_t size)
{
    if (node < 0)
        snprintf(buf, size, "several"); /* the batch came from or went to several nodes */
    else
        snprintf(buf, size, "%d", node);
}

/* Migrations end at their event's time and took `ns`. */
static int write_migrations(struct writer *w, int pid, const struct trace_rule *rule,
                            int *sort_index)
{
    if (!rule->n_migrations)
        return 0;
    struct span *spans = malloc(sizeof *spans * rule->n_migrations);
    if (!spans)
        return ENOMEM;
    for (size_t i = 0; i < rule->n_migrations; i++) {
        const struct trace_migration *m = &rule->migrations[i];
        spans[i] = (struct span){m->t > m->ns ? m->t - m->ns : 0, m->t, i, 0};
    }
    int *tids = put_on_tracks(w, pid, rule, "migrations", spans, rule->n_migrations, sort_index);
    for (size_t i = 0; tids && i < rule->n_migrations; i++) {
        const struct trace_migration *m = &rule->migrations[spans[i].index];
        char from[16], to[16], name[96];
        node_name(m->from, from, sizeof from);
        node_name(m->to, to, sizeof to);
        snprintf(name, sizeof name, "migrate %s\u2192%s %llu pages", from, to,
                 (unsigned long long)m->pages);
        complete_event(w, pid, tids[spans[i].lane], name, "migrate", spans[i].begin,
                       spans[i].end);
        fputs("\"reason\":", w->out);
        cli_json_string(w->out, m->reason);
        fprintf(w->out, ",\"from\":%d,\"to\":%d,\"pages\":%llu,\"busy\":%llu,\"failed\":%llu}}",
                m->from, m->to, (unsigned long long)m->pages, (unsigned long long)m->busy,
                (unsigned long long)m->failed);
    }
    int err = tids ? 0 : ENOMEM;
    free(spans);
    free(tids);
    return err;
}

/* Buffers live from their placement to their free (or the process's last event). */
static int write_placements(struct writer *w, const struct trace_process *process, int pid,
                            const struct trace_rule *rule, int *sort_index)
{
    if (!rule->n_placements)
        return 0;
    struct span *spans = malloc(sizeof *spans * rule->n_placements);
    if (!spans)
        return ENOMEM;
    for (size_t i = 0; i < rule->n_placements; i++) {
        const struct trace_placement *p = &rule->placements[i];
        spans[i] = (struct span){p->t, p->end_t > p->t ? p->end_t : p->t, i, 0};
    }
    int *tids = put_on_tracks(w, pid, rule, "buffers", spans, rule->n_placements, sort_index);
    for (size_t i = 0; tids && i < rule->n_placements; i++) {
        const struct trace_placement *p = &rule->placements[spans[i].index];
        const struct trace_callsite *site = p->callsite >= 0 ? &process->callsites[p->callsite]
                                                             : NULL;
        char size[32], name[320], where[600];
        cli_format_bytes(p->size, size, sizeof size);
        /* Named by call site, so that each site's buffers share a colour. */
        snprintf(name, sizeof name, "%s %s", site ? site->function : p->kind, size);
        complete_event(w, pid, tids[spans[i].lane], name, "buffer", spans[i].begin,
                       spans[i].end);
        fprintf(w->out, "\"size\":%llu,\"addr\":\"0x%llx\",\"kind\":", (unsigned long long)p->size,
                (unsigned long long)p->addr);
        cli_json_string(w->out, p->kind);
        fputs(",\"result\":", w->out);
        cli_json_string(w->out, p->result);
        if (site) {
            fputs(",\"call site\":", w->out);
            cli_json_string(w->out, report_callsite_name(site, where, sizeof where));
            fputs(",\"object\":", w->out);
            cli_json_string(w->out, site->object);
        }
        fputs("}}", w->out);
    }
    int err = tids ? 0 : ENOMEM;
    free(spans);
    free(tids);
    return err;
}

/* ---------------------------------------------------------------- processes */

/* The process's pid, unless an earlier process of the set has it too (an exec'd program, a
 * rank on another host): then a number no process has. Perfetto keys processes and threads
 * by these numbers alone, so they must differ. */
static int pid_of(struct writer *w, const struct trace_set *set, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (set->processes[k]->pid == set->processes[i]->pid)
            return w->next_id++;
    return set->processes[i]->pid;
}

static int write_process(struct writer *w, const struct trace_set *set, size_t i)
{
    const struct trace_process *process = set->processes[i];
    int pid = pid_of(w, set, i);
    char named[128], name[640];
    snprintf(name, sizeof name, "%s %s", trace_process_name(process, named, sizeof named),
             process->program ? process->program : "(program unknown)");
    /* What belongs to the whole process (its name, its counters) goes on tid = pid, the
     * main thread by Linux's numbering. */
    name_event(w, "process_name", pid, pid, name);
    if (process->rank >= 0)
        sort_event(w, "process_sort_index", pid, pid, process->rank);
    int sort_index = 0, err = 0;
    for (int r = 0; r < process->n_rules && !err; r++) {
        const struct trace_rule *rule = &process->rules[r];
        write_counters(w, process, pid, rule);
        err = write_migrations(w, pid, rule, &sort_index);
        if (!err)
            err = write_placements(w, process, pid, rule, &sort_index);
    }
    return err;
}

int report_perfetto(const struct trace_set *set, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out)
        return errno;
    struct writer w = {.out = out, .first = true, .next_id = 1};
    for (size_t i = 0; i < set->n_processes; i++)
        if (set->processes[i]->pid >= w.next_id)
            w.next_id = set->processes[i]->pid + 1;
    fputs("{\"traceEvents\":[\n", out);
    int err = 0;
    for (size_t i = 0; i < set->n_processes && !err; i++)
        err = write_process(&w, set, i);
    fputs("\n],\"displayTimeUnit\":\"ms\"}\n", out);
    symbols_free();
    errno = 0;
    if (fflush(out) != 0 && !err)
        err = errno;
    if (ferror(out) && !err)
        err = EIO; /* a write failed earlier; its errno is gone */
    if (fclose(out) != 0 && !err)
        err = errno;
    return err;
}
