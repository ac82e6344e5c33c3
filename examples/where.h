/* SPDX-License-Identifier: MIT */
/* What the example programs share: a clock, and where the kernel has a buffer's pages.
 * Header-only, as the examples are one file each. */
#ifndef CDMPLACE_EXAMPLES_WHERE_H
#define CDMPLACE_EXAMPLES_WHERE_H

#include <numaif.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WHERE_MAX_NODES 64

static inline double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Prints "NAME: node N: PAGES ..." for the buffer's pages (move_pages with no target only
 * reports where each page is), "absent: PAGES" for those never touched. */
static inline void where(const char *name, unsigned char *buffer, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = size / page;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    unsigned long count[WHERE_MAX_NODES] = {0}, elsewhere = 0;
    for (size_t i = 0; i < n; i++)
        pages[i] = buffer + i * page;
    if (move_pages(0, n, pages, NULL, status, 0) != 0) {
        perror("move_pages");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        if (status[i] >= 0 && status[i] < WHERE_MAX_NODES)
            count[status[i]]++;
        else
            elsewhere++;
    }
    printf("%s:", name);
    for (int node = 0; node < WHERE_MAX_NODES; node++)
        if (count[node])
            printf(" node %d: %lu", node, count[node]);
    if (elsewhere)
        printf(" absent: %lu", elsewhere);
    printf("\n");
    fflush(stdout);
    free(pages);
    free(status);
}

#endif
