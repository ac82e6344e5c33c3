/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a trace, read into a set with every event kept. The reader
 * must never crash, hang or leak on them (ASan, UBSan, LeakSanitizer), whatever a killed
 * process, a disk error or a newer cdmplace left in a file. tests/fuzz-trace.sh runs it. */
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace_set set = {.flags = TRACE_KEEP_EVENTS | TRACE_QUIET};
    trace_read_buffer(&set, "fuzz.jsonl", (const char *)data, size);
    /* A second input in the same set: processes of one file must not leak into another's. */
    trace_read_buffer(&set, "again.jsonl", (const char *)data, size / 2);
    trace_set_finish(&set);
    for (size_t i = 0; i < set.n_processes; i++) {
        char name[128];
        trace_process_name(set.processes[i], name, sizeof name);
    }
    trace_set_free(&set);
    return 0;
}
