/* SPDX-License-Identifier: MIT */
/* bench/small_alloc.c: the cost of the library to a program that never allocates anything it
 * would place.
 *
 * Two threads each make PAIRS malloc/free pairs of 16 B to 64 KiB (log-uniform sizes, a fixed
 * seed per thread), touching every buffer they get: its first and last byte and one byte per
 * page. A table of live buffers per thread, replaced at random slots, keeps the pattern from
 * being a plain LIFO that the allocator's per-thread cache would serve alone. Everything is
 * below min_size, so under the library every call takes its fast path.
 *
 * Usage: small_alloc [PAIRS_PER_THREAD]   (default 5000000)
 * Prints one line: the library it ran under ("none" without the preload), the loop's elapsed
 * nanoseconds and a checksum that must be equal across runs. bench/run.sh alternates plain
 * and preloaded runs and compares medians. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define THREADS 2
#define SLOTS 1024
#define PAGE 4096

struct worker {
    pthread_t thread;
    uint64_t seed;
    long pairs;
    uint64_t checksum;
    int failed;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: deterministic, fast, good enough to pick sizes and slots. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* Log-uniform over [16, 65535]: an octave 16..32K, then a uniform size within it. */
static size_t pick_size(uint64_t random)
{
    size_t base = (size_t)1 << (4 + random % 12);
    return base + (random >> 8) % base;
}

static void touch(unsigned char *buffer, size_t size, unsigned char value)
{
    for (size_t offset = 0; offset < size; offset += PAGE)
        buffer[offset] = value;
    buffer[size - 1] = value;
}

static void *work(void *arg)
{
    struct worker *worker = arg;
    unsigned char *live[SLOTS] = {0};
    uint64_t state = worker->seed;
    uint64_t checksum = 0;
    for (long i = 0; i < worker->pairs; i++) {
        uint64_t random = next_random(&state);
        unsigned slot = (unsigned)(random >> 48) % SLOTS;
        if (live[slot]) {
            checksum += live[slot][0];
            free(live[slot]);
        }
        size_t size = pick_size(random);
        unsigned char *buffer = malloc(size);
        if (!buffer) {
            worker->failed = 1;
            break;
        }
        touch(buffer, size, (unsigned char)i);
        live[slot] = buffer;
    }
    for (unsigned slot = 0; slot < SLOTS; slot++)
        free(live[slot]);
    worker->checksum = checksum;
    return NULL;
}

int main(int argc, char **argv)
{
    long pairs = argc > 1 ? strtol(argv[1], NULL, 10) : 5000000;
    if (pairs <= 0) {
        fprintf(stderr, "usage: small_alloc [PAIRS_PER_THREAD]\n");
        return 2;
    }
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "cdm_version");

    struct worker workers[THREADS] = {0};
    uint64_t start = now_ns();
    for (int t = 0; t < THREADS; t++) {
        workers[t].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(t + 1);
        workers[t].pairs = pairs;
        if (pthread_create(&workers[t].thread, NULL, work, &workers[t]) != 0) {
            fprintf(stderr, "small_alloc: pthread_create failed\n");
            return 1;
        }
    }
    uint64_t checksum = 0;
    int failed = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(workers[t].thread, NULL);
        checksum += workers[t].checksum;
        failed |= workers[t].failed;
    }
    uint64_t elapsed = now_ns() - start;
    if (failed) {
        fprintf(stderr, "small_alloc: malloc failed\n");
        return 1;
    }
    printf("small_alloc library=%s threads=%d pairs_per_thread=%ld elapsed_ns=%llu checksum=%llu\n",
           version ? version() : "none", THREADS, pairs, (unsigned long long)elapsed,
           (unsigned long long)checksum);
    return 0;
}
