/* SPDX-License-Identifier: MIT */
/* bench/track_state.c: one tracked buffer of GIB GiB, for bench/track_state.sh, which reads
 * what the tracker's state took from the trace's `exit` event (`track_bytes`).
 *
 * The buffer is mapped without reserving memory and one page of every 2 MiB is written, so
 * that the tracker sees use without the run needing GIB GiB of memory; it is held for
 * HOLD_MS milliseconds (some epochs), then unmapped.
 *
 * Usage: track_state GIB [HOLD_MS]   (default 500 ms). Prints nothing; exit 1 when the
 * mapping fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: track_state GIB [HOLD_MS]\n");
        return 2;
    }
    size_t size = strtoull(argv[1], NULL, 10) << 30;
    long hold_ms = argc > 2 ? strtol(argv[2], NULL, 10) : 500;
    char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (buffer == MAP_FAILED) {
        perror("track_state: mmap");
        return 1;
    }
    for (size_t at = 0; at < size; at += 2u << 20)
        buffer[at] = 1;
    struct timespec hold = {.tv_sec = hold_ms / 1000, .tv_nsec = hold_ms % 1000 * 1000000};
    nanosleep(&hold, NULL);
    munmap(buffer, size);
    return 0;
}
