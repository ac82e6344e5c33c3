/* SPDX-License-Identifier: MIT */
/* What sampling a thread's page faults costs it (users.c samples every fault of the program's
 * threads under wp-async on several sockets): first touches of FAULT_MIB of 4 KiB pages, timed
 * per fault, plain, plain again (the control) and with a sampler open on the thread, read every
 * 100 ms by another thread as the tracker reads it. The runs alternate, the order rotated by
 * one each round; printed: each configuration's median ns a fault and its ratio to plain's.
 *
 * Usage: build/bench/fault_samples [ROUNDS] (`make bench-fault-samples`); FAULT_MIB (default
 * 1024). Runs where perf_event_open is allowed (kernel.perf_event_paranoid <= 2, or root). */
#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 64

enum config { PLAIN, PLAIN_AGAIN, SAMPLED, CONFIGS };
static const char *const names[CONFIGS] = {"plain", "plain-again", "sampled"};

static struct plat_fault_sampler sampler;
static volatile int reading;
static size_t samples;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void count(uintptr_t address, int cpu, void *arg)
{
    (void)address, (void)cpu;
    (*(size_t *)arg)++;
}

static void *read_every_epoch(void *arg)
{
    (void)arg;
    while (reading) {
        plat_fault_sampler_read(&sampler, count, &samples);
        usleep(100 * 1000);
    }
    plat_fault_sampler_read(&sampler, count, &samples);
    return NULL;
}

/* ns a fault over `pages` first touches, with the sampler on when `sampled`. */
static double one_run(size_t pages, bool sampled)
{
    size_t page = plat_page_size();
    unsigned char *at = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (at == MAP_FAILED || madvise(at, pages * page, MADV_NOHUGEPAGE) != 0) {
        perror("fault_samples: mmap");
        exit(1);
    }
    pthread_t reader;
    if (sampled) {
        int err = plat_fault_sampler_open(0, 16, &sampler);
        if (err) {
            fprintf(stderr, "fault_samples: perf_event_open: %s\n", strerror(err));
            exit(1);
        }
        reading = 1;
        pthread_create(&reader, NULL, read_every_epoch, NULL);
    }
    double start = now_s();
    for (size_t i = 0; i < pages; i++)
        at[i * page] = 1;
    double ns = (now_s() - start) * 1e9 / (double)pages;
    if (sampled) {
        reading = 0;
        pthread_join(reader, NULL);
        plat_fault_sampler_close(&sampler);
    }
    munmap(at, pages * page);
    return ns;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 7;
    const char *mib = getenv("FAULT_MIB");
    size_t pages = (size_t)(mib ? atol(mib) : 1024) * (1 << 20) / plat_page_size();
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 7;
    static double ns[CONFIGS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < CONFIGS; k++) {
            int c = (k + r) % CONFIGS;
            ns[c][r] = one_run(pages, c == SAMPLED);
        }
    double median[CONFIGS];
    for (int c = 0; c < CONFIGS; c++) {
        qsort(ns[c], (size_t)rounds, sizeof ns[c][0], by_value);
        median[c] = ns[c][rounds / 2];
    }
    printf("first touches of %zu pages, %d rounds alternated, medians (%zu faults sampled)\n",
           pages, rounds, samples);
    printf("%-12s %10s %8s\n", "config", "ns/fault", "ratio");
    for (int c = 0; c < CONFIGS; c++)
        printf("%-12s %10.0f %8.3f\n", names[c], median[c], median[c] / median[PLAIN]);
    printf("sampling costs a fault %.0f ns (control: plain again %+.0f ns)\n",
           median[SAMPLED] - median[PLAIN], median[PLAIN_AGAIN] - median[PLAIN]);
    return 0;
}
