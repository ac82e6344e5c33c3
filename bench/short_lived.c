/* SPDX-License-Identifier: MIT */
/* bench/short_lived.c: buffers allocated, filled and freed one after the other, for
 * bench/short_lived.sh, which counts from the trace the pages the library moved meanwhile (a
 * page's creation is not a use: none should move).
 *
 * Usage: short_lived [N]   (default 200): N buffers of 1 to 7 MiB (1 + i % 7), each from
 * malloc, written whole with memset, then freed. Prints the buffers, their pages and the
 * seconds they took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MiB (1024ul * 1024)

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    size_t pages = 0;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < n; i++) {
        size_t size = (1 + (size_t)i % 7) * MiB;
        unsigned char *buffer = malloc(size);
        if (!buffer) {
            perror("short_lived: malloc");
            return 1;
        }
        memset(buffer, i, size);
        __asm__ volatile("" : : "r"(buffer) : "memory"); /* the writes happen before free */
        pages += size / 4096;
        free(buffer);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("buffers=%d pages=%zu seconds=%.2f\n", n, pages,
           (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}
