/* SPDX-License-Identifier: MIT */
/* bench/alloc_events.c: a program whose trace has a known number of events, for
 * bench/report_speed.sh. Run under the library with a rule and a log, it makes PAIRS heap
 * allocations of 1-8 MiB (each a `place` event, with its stack) and frees each one (a `free`
 * event), from three call sites, with up to 16 buffers live at once, as a program that
 * streams through large buffers would. The buffers are never touched: the cost is the
 * library's and the trace's, not page faults.
 *
 * Usage: alloc_events PAIRS [SEED]   (prints "pairs=N bytes=B") */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MiB (1024ul * 1024)
#define LIVE 16

/* Three frames of their own, so that the trace has three call sites. */
__attribute__((noinline)) static void *make_input(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" : : "r"(buffer) : "memory");
    return buffer;
}

__attribute__((noinline)) static void *make_scratch(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" : : "r"(buffer) : "memory");
    return buffer;
}

__attribute__((noinline)) static void *make_output(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" : : "r"(buffer) : "memory");
    return buffer;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || atol(argv[1]) <= 0) {
        fprintf(stderr, "usage: alloc_events PAIRS [SEED]\n");
        return 2;
    }
    long pairs = atol(argv[1]);
    uint64_t state = argc == 3 ? strtoull(argv[2], NULL, 10) * 2654435761u + 1 : 1;
    void *live[LIVE] = {0};
    uint64_t bytes = 0;
    for (long i = 0; i < pairs; i++) {
        state = state * 6364136223846793005u + 1442695040888963407u; /* an LCG: fixed seed */
        size_t size = (1 + (state >> 33) % 8) * MiB;
        void *(*const makers[])(size_t) = {make_input, make_scratch, make_output};
        int slot = (int)(i % LIVE);
        free(live[slot]);
        live[slot] = makers[(state >> 20) % 3](size);
        if (!live[slot]) {
            fprintf(stderr, "alloc_events: out of memory at pair %ld\n", i);
            return 1;
        }
        bytes += size;
    }
    for (int slot = 0; slot < LIVE; slot++)
        free(live[slot]);
    printf("pairs=%ld bytes=%llu\n", pairs, (unsigned long long)bytes);
    return 0;
}
