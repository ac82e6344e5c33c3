/* SPDX-License-Identifier: MIT */
/* One buffer in use all the time and one left alone: what `cdmplace suggest` tells apart.
 *
 * load_table() allocates a table and fills it once (then it is only kept, as a model's
 * weights kept for later or a checkpoint would be); alloc_scratch() allocates a scratch
 * buffer that the CPU rewrites for the whole run. The program knows nothing of cdmplace: at
 * the end it asks the kernel where the pages of each are (move_pages with no target only
 * reports) and checks the data:
 *     hot_cold [MiB] [seconds]      (default 16 MiB each, 2 s)
 * Output: "table: node N: PAGES ...", "scratch: node N: PAGES ...", "data intact: yes|no". */
#include <numaif.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "where.h"

/* Separate functions, never inlined: each is a call site of its own in the trace. */
__attribute__((noinline)) static unsigned char *load_table(size_t size)
{
    unsigned char *table = malloc(size);
    if (table)
        for (size_t i = 0; i < size; i++)
            table[i] = (unsigned char)(i * 7);
    return table;
}

__attribute__((noinline)) static unsigned char *alloc_scratch(size_t size)
{
    unsigned char *scratch = malloc(size);
    if (scratch)
        memset(scratch, 0xff, size); /* not 0: malloc and memset 0 are one calloc, called from main */
    return scratch;
}

int main(int argc, char **argv)
{
    size_t size = (argc > 1 ? strtoul(argv[1], NULL, 10) : 16) << 20;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    unsigned char *table = load_table(size), *scratch = alloc_scratch(size);
    if (!table || !scratch) {
        fprintf(stderr, "hot_cold: out of memory\n");
        return 1;
    }
    /* The CPU's work: every pass rewrites the whole scratch buffer from the pass number. */
    unsigned pass = 0;
    for (double end = now_s() + seconds; now_s() < end; pass++)
        for (size_t i = 0; i < size; i += 64)
            scratch[i] = (unsigned char)(pass + i);
    where("table", table, size);
    where("scratch", scratch, size);
    bool intact = true;
    for (size_t i = 0; i < size; i++)
        intact &= table[i] == (unsigned char)(i * 7);
    for (size_t i = 0; i < size; i += 64)
        intact &= scratch[i] == (unsigned char)(pass - 1 + i);
    printf("data intact: %s\n", intact ? "yes" : "no");
    free(table);
    free(scratch);
    return intact ? 0 : 1;
}
