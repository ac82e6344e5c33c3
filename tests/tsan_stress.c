/* SPDX-License-Identifier: MIT */
/* tsan_stress: threads mapping, writing, advising, growing and unmapping placed buffers while
 * the tracker's threads watch and move their pages, then a fork whose child does the same.
 * Built with ThreadSanitizer's runtime linked in (tests/tsan.sh runs it with the library's
 * ThreadSanitizer build preloaded): a data race inside the library is a report, and the
 * runtime's exit status 66.
 *
 * The workers do not exit: they park until the process ends. A thread's exit runs
 * libunwind's per-thread destructor, whose munmap reaches our hook after the runtime has torn
 * the thread's state down, and its interceptors then crash inside the runtime itself. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WORKERS = 4, ROUNDS = 20, USES = 4 };

static pthread_barrier_t done;
static int failed;

static void write_pages(char *buffer, size_t size, int value)
{
    for (size_t i = 0; i < size; i += 4096)
        buffer[i] = (char)value;
}

static int churn(unsigned seed)
{
    for (int round = 0; round < ROUNDS; round++) {
        size_t size = (size_t)(1 + rand_r(&seed) % 4) << 20;
        char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buffer == MAP_FAILED)
            return 1;
        write_pages(buffer, size, round);
        madvise(buffer, size / 2, MADV_DONTNEED);
        char *grown = mremap(buffer, size, 2 * size, MREMAP_MAYMOVE);
        if (grown == MAP_FAILED)
            return 1;
        write_pages(grown, 2 * size, round + 1);
        munmap(grown + size, size);
        /* Written again over a few epochs (the rule's is 20 ms): used, not just made, so the
         * migrator moves them while this thread writes. */
        for (int use = 0; use < USES; use++) {
            usleep(30000);
            write_pages(grown, size, round + 2 + use);
        }
        munmap(grown, size);
    }
    return 0;
}

static void *worker(void *arg)
{
    if (churn((unsigned)(uintptr_t)arg))
        __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
    pthread_barrier_wait(&done);
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    pthread_t threads[WORKERS];
    pthread_barrier_init(&done, NULL, WORKERS + 1);
    for (uintptr_t i = 0; i < WORKERS; i++)
        if (pthread_create(&threads[i], NULL, worker, (void *)i))
            return 1;
    pthread_barrier_wait(&done);
    if (__atomic_load_n(&failed, __ATOMIC_RELAXED)) {
        fprintf(stderr, "tsan_stress: a mapping failed\n");
        return 1;
    }
    pid_t child = fork();
    if (child == 0)
        _exit(churn(99));
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
        WEXITSTATUS(status)) {
        fprintf(stderr, "tsan_stress: the child failed\n");
        return 1;
    }
    puts("tsan_stress: done");
    return 0;
}
