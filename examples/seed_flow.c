/* SPDX-License-Identifier: MIT */
/* The seed flow: allocate a buffer, compute on it with the CPU, leave it to a "device",
 * compute on it with the CPU again, free it. On real CDM hardware the device phase is a
 * GPU or accelerator touching the buffer; here nothing touches it, which is what the CPU
 * sees of such a phase.
 *
 * The program knows nothing of cdmplace. After each phase it asks the kernel where its
 * pages are (move_pages with no target only reports) and prints the count per node, so the
 * pages can be seen following their user:
 *     seed_flow [MiB] [phase seconds] [read]   (default 32 MiB, 1.5 s)
 * With `read` the CPU phases only read the buffer (a reduction), as an analysis after the
 * device's turn does. Output, one line per phase: "PHASE: node N: PAGES ...", then "data
 * intact: yes|no". */
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "where.h"

/* The CPU's work: rewrite every byte from the pattern and the pass number, for `seconds`.
 * Returns the passes made, which fix the buffer's expected contents. */
static unsigned compute(unsigned char *buffer, size_t size, double seconds, unsigned pass)
{
    double end = now_s() + seconds;
    do {
        pass++;
        for (size_t i = 0; i < size; i += sizeof(uint64_t))
            *(uint64_t *)(buffer + i) = (uint64_t)i * 2654435761u + pass;
    } while (now_s() < end);
    return pass;
}

/* The read-only CPU's work: sum every word, for `seconds`; the sum of a pass is `*sum`. */
static void reduce(const unsigned char *buffer, size_t size, double seconds, uint64_t *sum)
{
    double end = now_s() + seconds;
    do {
        uint64_t pass_sum = 0;
        for (size_t i = 0; i < size; i += sizeof(uint64_t))
            pass_sum += *(const volatile uint64_t *)(buffer + i);
        *sum = pass_sum;
    } while (now_s() < end);
}

static int intact(const unsigned char *buffer, size_t size, unsigned pass)
{
    for (size_t i = 0; i < size; i += sizeof(uint64_t))
        if (*(const uint64_t *)(buffer + i) != (pass ? (uint64_t)i * 2654435761u + pass
                                                     : 0xa5a5a5a5a5a5a5a5u))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    size_t size = (argc > 1 ? strtoul(argv[1], NULL, 10) : 32) << 20;
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.5;
    int read_only = argc > 3 && strcmp(argv[3], "read") == 0;
    unsigned char *buffer = malloc(size);
    if (!buffer) {
        perror("malloc");
        return 1;
    }
    memset(buffer, 0xa5, size); /* filled: the pages exist where placement put them */
    where("allocated", buffer, size);
    unsigned pass = 0; /* read only: the fill stays */
    uint64_t sums[2] = {0, 0};
    if (read_only)
        reduce(buffer, size, seconds, &sums[0]);
    else
        pass = compute(buffer, size, seconds, pass);
    where("cpu phase 1", buffer, size);
    usleep((useconds_t)(seconds * 1e6)); /* the device's turn */
    where("device phase", buffer, size);
    if (read_only)
        reduce(buffer, size, seconds, &sums[1]);
    else
        pass = compute(buffer, size, seconds, pass);
    where("cpu phase 2", buffer, size);
    printf("data intact: %s\n",
           intact(buffer, size, pass) && sums[0] == sums[1] ? "yes" : "no");
    fflush(stdout);
    free(buffer);
    return 0;
}
