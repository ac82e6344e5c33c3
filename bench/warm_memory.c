/* SPDX-License-Identifier: MIT */
/* bench/warm_memory MIB: writes MIB MiB of fresh memory (advised MADV_HUGEPAGE) and frees
 * it, just before a timed run, so that what the run allocates comes from memory its machine
 * backs; prints the milliseconds the writes took (bench/memory_given.sh compares them).
 *
 * On a virtual machine whose balloon reports free pages to its host (virtio-balloon free page
 * reporting, as on this project's machines: /sys/module/page_reporting), memory freed for a
 * few seconds is handed back to the host, page block by page block (here some 128 MiB every
 * 2 s), and the next write to it takes a fault in the host too. After 20 s idle a gigabyte
 * of huge pages took 2,244-3,115 ms to write, against 93-208 ms right after the same was
 * written and freed, and numpy's work in bench/real.sh 1.74-2.25 s against 0.86-1.02 s
 * (bench/memory_given.sh; bench/RESULTS.md, "Memory a run is given"). Written here and
 * freed, the memory is backed again and is what the kernel hands out next. The scripts run
 * it only on a machine with a virtio balloon (bench/lib.sh, warm_memory). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    long mib = argc == 2 ? strtol(argv[1], NULL, 10) : 0;
    if (mib <= 0) {
        fprintf(stderr, "usage: warm_memory MIB\n");
        return 2;
    }
    size_t bytes = (size_t)mib << 20, page = (size_t)sysconf(_SC_PAGESIZE);
    volatile char *memory =
        mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        perror("warm_memory: mmap");
        return 1;
    }
    madvise((void *)memory, bytes, MADV_HUGEPAGE);
    double start = now_ms();
    for (size_t i = 0; i < bytes; i += page)
        memory[i] = 1;
    printf("warm_memory %ld MiB written in %.0f ms\n", mib, now_ms() - start);
    munmap((void *)memory, bytes);
    return 0;
}
