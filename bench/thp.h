/* SPDX-License-Identifier: MIT */
/* bench/thp.h: how much of some ranges transparent huge pages back, for the benchmarks that
 * report it (tracking and migration can cost a program its huge pages). */
#ifndef CDMPLACE_BENCH_THP_H
#define CDMPLACE_BENCH_THP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Percent of `n` ranges of `size` bytes each in huge pages: AnonHugePages of the mappings
 * they lie in (/proc/self/smaps), at most 100; -1 if smaps cannot be read. */
static int huge_percent(void *const *starts, int n, size_t size)
{
    FILE *smaps = fopen("/proc/self/smaps", "r");
    if (!smaps)
        return -1;
    char line[256];
    int inside = 0;
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, smaps)) {
        uintptr_t first, end;
        unsigned long long value;
        if (sscanf(line, "%lx-%lx ", &first, &end) == 2) {
            inside = 0;
            for (int k = 0; k < n; k++)
                inside |= first < (uintptr_t)starts[k] + size && end > (uintptr_t)starts[k];
        } else if (inside && sscanf(line, "AnonHugePages: %llu kB", &value) == 1) {
            kib += value;
        }
    }
    fclose(smaps);
    unsigned long long percent = kib * 1024 * 100 / ((unsigned long long)n * size);
    return percent > 100 ? 100 : (int)percent;
}

#endif
