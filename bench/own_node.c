/* SPDX-License-Identifier: MIT */
/* bench/own_node.c: on a machine with two sockets, where do a buffer's pages end up when a thread
 * on one socket writes it? Run under the library with a follow-cpu rule that binds 16 MiB heap
 * buffers to the first socket's device node (bench/own_node.sh, in the sockets guest). For each CPU
 * given, a thread pinned to it writes a buffer of its own for SECONDS, then the pages are counted
 * with move_pages: on the writer's own node (the DRAM of its CPU), on the other DRAM node,
 * elsewhere.
 *
 * Usage: own_node SECONDS CPU...   Prints per CPU:
 *    cpu=C node=N own=PCT other_dram=PCT elsewhere=PCT   (percent of the
 * buffer's pages) */
#include <numa.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PAGE 4096ul
#define SIZE (16ul << 20)

struct writer {
    int cpu;
    double seconds;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A DRAM node: one with CPUs. */
static bool has_cpus(int node)
{
    struct bitmask *cpus = numa_allocate_cpumask();
    bool has = numa_node_to_cpus(node, cpus) == 0 && numa_bitmask_weight(cpus) > 0;
    numa_free_cpumask(cpus);
    return has;
}

static void *write_for(void *arg)
{
    const struct writer *w = arg;
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(w->cpu, &cpus);
    if (sched_setaffinity(0, sizeof cpus, &cpus) != 0) {
        perror("sched_setaffinity");
        exit(1);
    }
    unsigned char *buffer = malloc(SIZE);
    if (!buffer)
        exit(1);
    double start = now_s();
    for (unsigned round = 0; now_s() - start < w->seconds; round++)
        for (size_t off = 0; off < SIZE; off += PAGE / 2)
            buffer[off] = (unsigned char)round;
    static void *pages[SIZE / PAGE];
    static int status[SIZE / PAGE];
    size_t n = SIZE / PAGE, own = 0, other_dram = 0;
    int node = numa_node_of_cpu(w->cpu);
    for (size_t i = 0; i < n; i++)
        pages[i] = buffer + i * PAGE;
    if (move_pages(0, n, pages, NULL, status, 0) != 0) {
        perror("move_pages");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        own += status[i] == node;
        other_dram += status[i] >= 0 && status[i] != node && has_cpus(status[i]);
    }
    printf("cpu=%d node=%d own=%.1f other_dram=%.1f elsewhere=%.1f\n", w->cpu, node,
           100.0 * (double)own / (double)n, 100.0 * (double)other_dram / (double)n,
           100.0 * (double)(n - own - other_dram) / (double)n);
    free(buffer);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: own_node SECONDS CPU...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        struct writer w = {.cpu = atoi(argv[i]), .seconds = atof(argv[1])};
        pthread_t thread;
        if (pthread_create(&thread, NULL, write_for, &w) != 0)
            return 1;
        pthread_join(thread, NULL);
    }
    return 0;
}
