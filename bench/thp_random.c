/* SPDX-License-Identifier: MIT */
/* bench/thp_random.c: what tracking costs a program that lives on transparent huge pages.
 *
 * One anonymous mapping of MIB MiB, advised MADV_HUGEPAGE and filled, then ROUNDS rounds of
 * random 8-byte updates (as HPCC's RandomAccess: each one a TLB miss on 4 KiB pages, a
 * cache miss on huge pages), one update per 8 bytes of the buffer each round. Under the
 * library a size rule places and tracks the mapping; a write-protect tracker that splits a
 * huge page at its first write leaves the buffer on 4 KiB pages and the loop then pays a
 * page walk per update.
 *
 * Checked untimed: the sum of the buffer equals the number of updates (each adds one).
 *
 * Usage: thp_random [MIB [ROUNDS]]   (default 1024 MiB, 8 rounds)
 * Prints one line: in ms the fill, each round, and all rounds together; the share of the
 * buffer in huge pages after the fill and after the last round. */
#include "thp.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define ROUNDS_MAX 64

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    int rounds = argc > 2 ? atoi(argv[2]) : 8;
    if (mib < 2 || rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf(stderr, "usage: thp_random [MIB >= 2 [ROUNDS 1-%d]]\n", ROUNDS_MAX);
        return 2;
    }
    size_t size = mib << 20, n = size / sizeof(uint64_t);
    uint64_t *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        perror("thp_random: mmap");
        return 1;
    }
    if (madvise(a, size, MADV_HUGEPAGE) != 0)
        perror("thp_random: madvise(MADV_HUGEPAGE)");

    uint64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++)
        a[i] = 0;
    uint64_t fill = now_ns() - t0;
    void *start = a;
    int huge_filled = huge_percent(&start, 1, size);

    uint64_t round_ns[ROUNDS_MAX], total = 0, x = 88172645463325252u, updates = n;
    for (int r = 0; r < rounds; r++) {
        t0 = now_ns();
        for (uint64_t u = 0; u < updates; u++) {
            x ^= x << 13; /* xorshift64 */
            x ^= x >> 7;
            x ^= x << 17;
            a[x % n] += 1;
        }
        round_ns[r] = now_ns() - t0;
        total += round_ns[r];
    }
    int huge_end = huge_percent(&start, 1, size);

    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += a[i];
    if (sum != updates * (uint64_t)rounds) {
        fprintf(stderr, "thp_random: the buffer sums to %llu, not %llu\n",
                (unsigned long long)sum, (unsigned long long)(updates * (uint64_t)rounds));
        return 1;
    }
    printf("fill %.0f rounds", fill / 1e6);
    for (int r = 0; r < rounds; r++)
        printf(" %.0f", round_ns[r] / 1e6);
    printf(" total %.0f huge %d %d\n", total / 1e6, huge_filled, huge_end);
    munmap(a, size);
    return 0;
}
