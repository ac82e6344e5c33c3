/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a trace, read into a set with every event kept. The reader
 * must never crash, hang or leak on them (ASan, UBSan, LeakSanitizer), whatever a killed
 * process, a disk error or a newer cdmplace left in a file. tests/fuzz-trace.sh runs it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Half the processes and rules, by a rule any input can hit, for trace_set_select. */
static bool even_pid(const struct trace_process *process, const void *arg)
{
    return process->pid % 2 == 0;
}

static bool even_name(const char *name, const void *arg) { return strlen(name) % 2 == 0; }

/* After a selection, every index into a process's rules and call sites is inside them. */
static void check_indexes(const struct trace_process *process)
{
    for (int c = 0; c < process->n_callsites; c++)
        if (process->callsites[c].rule >= process->n_rules)
            __builtin_trap();
    for (size_t s = 0; s < process->n_stacks; s++)
        if (process->stacks[s].rule < 0 || process->stacks[s].rule >= process->n_rules)
            __builtin_trap();
    for (int r = 0; r < process->n_rules; r++)
        for (size_t p = 0; p < process->rules[r].n_placements; p++)
            if (process->rules[r].placements[p].callsite >= process->n_callsites)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace_set set = {.flags = TRACE_KEEP_EVENTS | TRACE_KEEP_STACKS | TRACE_QUIET};
    trace_read_buffer(&set, "fuzz.jsonl", (const char *)data, size);
    /* A second input in the same set: processes of one file must not leak into another's. */
    trace_read_buffer(&set, "again.jsonl", (const char *)data, size / 2);
    trace_set_finish(&set);
    trace_set_select(&set, even_pid, even_name, NULL);
    for (size_t i = 0; i < set.n_processes; i++) {
        char name[128];
        trace_process_name(set.processes[i], name, sizeof name);
        check_indexes(set.processes[i]);
    }
    trace_set_free(&set);
    return 0;
}
