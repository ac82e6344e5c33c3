/* SPDX-License-Identifier: MIT */
/* What /proc/self/smaps says of a mapping, for test programs with or without Criterion. */
#ifndef CDMPLACE_TESTS_SMAPS_H
#define CDMPLACE_TESTS_SMAPS_H

#include <stdint.h>
#include <stdio.h>

/* KiB of the mapping holding `at` in transparent huge pages (AnonHugePages); -1 when smaps
 * cannot be read or has no such mapping. */
static inline long smaps_huge_kib(const void *at)
{
    FILE *smaps = fopen("/proc/self/smaps", "r");
    char line[256];
    long kib = -1, value;
    int inside = 0;
    while (smaps && fgets(line, sizeof line, smaps)) {
        uintptr_t first, end;
        if (sscanf(line, "%lx-%lx ", &first, &end) == 2)
            inside = first <= (uintptr_t)at && (uintptr_t)at < end;
        else if (inside && sscanf(line, "AnonHugePages: %ld kB", &value) == 1)
            kib = value;
    }
    if (smaps)
        fclose(smaps);
    return kib;
}

#endif
