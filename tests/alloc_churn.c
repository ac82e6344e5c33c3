/* SPDX-License-Identifier: MIT */
/* A program for tests/allocators.sh, run under an allocator of its own (tcmalloc, mimalloc):
 * 4 threads allocate, write, check and free buffers of 1-8 MiB through the whole malloc
 * family and map, discard and unmap anonymous ranges; while they run the main thread forks,
 * and the child churns too and exits 0. Such allocators map and purge memory themselves with
 * their locks held, so the library's hooks run inside them, and a fork while other threads
 * are inside the allocator meets its fork handlers and ours together. Prints one line that
 * depends neither on addresses nor on timing; exits 1 when any check of the contents failed. */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024ul * 1024)
#define THREADS 4
#define ROUNDS 24

/* The compiler must not drop an allocation whose contents it could compute. */
#define USED(p) __asm__ volatile("" : : "r"(p) : "memory")

static int started; /* workers that finished a round: the fork waits for all of them */

/* Writes a pattern over `size` bytes (every page, at 512-byte steps), returns its sum. */
static uint64_t fill(unsigned char *buffer, size_t size, unsigned seed)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < size; i += 512) {
        buffer[i] = (unsigned char)(((i / 512) * 2654435761u + seed * 40503u) >> 13);
        sum += buffer[i];
    }
    USED(buffer);
    return sum;
}

/* The sum of the same bytes read back. */
static uint64_t sum_of(const unsigned char *buffer, size_t size)
{
    uint64_t sum = 0;
    USED(buffer);
    for (size_t i = 0; i < size; i += 512)
        sum += buffer[i];
    return sum;
}

/* Whether one byte of every page is zero. */
static int zero_pages(const unsigned char *buffer, size_t size)
{
    USED(buffer);
    for (size_t i = 0; i < size; i += 4096)
        if (buffer[i] || buffer[i + 4095])
            return 0;
    return 1;
}

/* `rounds` rounds of the whole malloc family and of mmap, munmap, madvise; 0 on a wrong byte. */
static uint64_t churn(unsigned seed, int rounds)
{
    uint64_t total = 0;
    for (int round = 0; round < rounds; round++) {
        size_t size = (1 + (seed + round) % 8) * MiB;
        unsigned char *a = malloc(size), *b = calloc(1, size);
        if (!a || !b || !zero_pages(b, size))
            return 0;
        uint64_t sum = fill(a, size, seed + round);
        total += sum + fill(b, size, seed * 3 + round);
        unsigned char *grown = realloc(a, size + 2 * MiB); /* moves, or grows in place */
        if (!grown || sum_of(grown, size) != sum)
            return 0;
        total += fill(grown + size, 2 * MiB, round);
        unsigned char *shrunk = realloc(b, size / 2);
        if (!shrunk)
            return 0;
        total += sum_of(shrunk, size / 2);
        void *aligned = NULL;
        if (posix_memalign(&aligned, 64 * 1024, MiB + 4096) != 0 || ((uintptr_t)aligned & 0xffff))
            return 0;
        total += fill(aligned, MiB + 4096, round);
        size_t len = 4 * MiB;
        unsigned char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED)
            return 0;
        total += fill(map, len, round + seed);
        if (madvise(map, len / 2, MADV_DONTNEED) != 0 || !zero_pages(map, len / 2))
            return 0; /* the first half reads back as zeros, the second is kept */
        total += sum_of(map, len);
        if (munmap(map, len) != 0)
            return 0;
        free(aligned);
        free(shrunk);
        free(grown);
        if (round == 0)
            __atomic_fetch_add(&started, 1, __ATOMIC_RELEASE);
    }
    return total;
}

static void *worker(void *arg)
{
    return (void *)(uintptr_t)churn((unsigned)(uintptr_t)arg, ROUNDS);
}

int main(void)
{
    pthread_t threads[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)(i + 1)) != 0)
            return 1;
    /* Fork while the workers are in the middle of their rounds. */
    while (__atomic_load_n(&started, __ATOMIC_ACQUIRE) < THREADS)
        sched_yield();
    pid_t child = fork();
    if (child == 0) { /* one thread here: the allocator's and the library's locks reset */
        pthread_t helper;
        if (pthread_create(&helper, NULL, worker, (void *)11) != 0)
            _exit(4);
        uint64_t mine = churn(7, 6);
        void *theirs = NULL;
        pthread_join(helper, &theirs);
        _exit(mine && theirs ? 0 : 3);
    }
    uint64_t sums[THREADS], total = 0;
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *sum = NULL;
        pthread_join(threads[i], &sum);
        sums[i] = (uintptr_t)sum;
        total += sums[i];
        bad |= sums[i] == 0;
    }
    uint64_t after = churn(5, 8); /* the parent after the fork, alone */
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child)
        return 1;
    int child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("churn: threads %llu %llu %llu %llu (total %llu), after fork %llu, child %s\n",
           (unsigned long long)sums[0], (unsigned long long)sums[1],
           (unsigned long long)sums[2], (unsigned long long)sums[3],
           (unsigned long long)total, (unsigned long long)after,
           child_ok ? "ok" : "FAILED");
    return !bad && after && child_ok ? 0 : 1;
}
