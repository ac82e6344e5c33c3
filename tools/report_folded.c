/* SPDX-License-Identifier: MIT */
/* cdmplace report --folded: the bytes placed by each allocating stack, in the "folded"
 * format that Brendan Gregg's flamegraph.pl, speedscope and inferno read: one line a stack,
 * its frames outermost first joined by ';', a space, the value.
 *
 * A frame is its function's name, as the report names call sites (from the object's
 * symbols where it is here, else as the library named it), or object+0xOFFSET when neither
 * knows it: frames of one function at different lines are one frame of the graph. The value
 * is the bytes of placements whose policy was applied; stacks equal once named (across
 * processes, rules and offsets) are one line. */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct folded_stack {
    uint64_t bytes;
    UT_hash_handle hh;
    char text[];
};

/* The frame's name, as a flame graph shows it. */
static void name_frame(const struct trace_frame *frame, char *buf, size_t size)
{
    /* "object:function": the object's path may hold ':' too, the function's name not. */
    const char *colon = strrchr(frame->at, ':');
    size_t object_len = colon ? (size_t)(colon - frame->at) : strlen(frame->at);
    char object[4096], function[512], where[8];
    uint64_t into;
    snprintf(object, sizeof object, "%.*s", (int)object_len, frame->at);
    if (symbols_lookup(object, frame->offset, function, sizeof function, &into, where,
                       sizeof where))
        snprintf(buf, size, "%s", function);
    else if (colon && strcmp(colon + 1, "?") && colon[1])
        symbols_demangle(colon + 1, buf, size);
    else
        snprintf(buf, size, "%s+0x%llx", strrchr(object, '/') ? strrchr(object, '/') + 1 : object,
                 (unsigned long long)frame->offset);
    /* ';' parts frames, a newline ends the stack: a name holds neither. */
    for (char *c = buf; *c; c++)
        if (*c == ';' || *c == '\n')
            *c = '_';
}

/* The stack as one line's frames, outermost first. */
static char *fold(const struct trace_stack *stack)
{
    size_t size = 1, used = 0;
    char *text = cli_checked(calloc(1, size));
    for (size_t i = stack->n_frames; i-- > 0;) {
        char name[4200];
        name_frame(&stack->frames[i], name, sizeof name);
        size_t len = strlen(name);
        text = cli_checked(realloc(text, size += len + 1));
        used += (size_t)sprintf(text + used, "%s%s", used ? ";" : "", name);
    }
    if (!used) { /* the library could not unwind: the bytes still count */
        free(text);
        text = cli_checked(strdup("(no stack)"));
    }
    return text;
}

static int by_bytes_then_text(const void *a, const void *b)
{
    const struct folded_stack *x = *(const struct folded_stack *const *)a;
    const struct folded_stack *y = *(const struct folded_stack *const *)b;
    if (x->bytes != y->bytes)
        return x->bytes < y->bytes ? 1 : -1;
    return strcmp(x->text, y->text);
}

void report_folded(const struct trace_set *set, size_t top)
{
    struct folded_stack *stacks = NULL, *stack, *next;
    size_t n = 0;
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        for (size_t s = 0; s < process->n_stacks; s++) {
            char *text = fold(&process->stacks[s]);
            size_t len = strlen(text);
            HASH_FIND(hh, stacks, text, len, stack);
            if (!stack) {
                stack = cli_checked(calloc(1, sizeof *stack + len + 1));
                memcpy(stack->text, text, len + 1);
                HASH_ADD_KEYPTR(hh, stacks, stack->text, len, stack);
                n++;
            }
            stack->bytes += process->stacks[s].bytes;
            free(text);
        }
    }
    /* Heaviest first: --top keeps the head, and the output is the same run after run. */
    struct folded_stack **sorted = cli_checked(malloc(sizeof *sorted * (n ? n : 1)));
    size_t k = 0;
    HASH_ITER(hh, stacks, stack, next) {
        sorted[k++] = stack;
    }
    qsort(sorted, n, sizeof *sorted, by_bytes_then_text);
    for (size_t i = 0; i < n && (!top || i < top); i++)
        printf("%s %llu\n", sorted[i]->text, (unsigned long long)sorted[i]->bytes);
    if (!n)
        cli_error("warning: no placement was applied in the traces (a dry run, or no rule "
                  "matched): nothing to fold");
    free(sorted);
    HASH_ITER(hh, stacks, stack, next) {
        HASH_DEL(stacks, stack);
        free(stack);
    }
    symbols_free();
}
