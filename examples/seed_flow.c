/* SPDX-License-Identifier: MIT */
/* The seed flow: allocate a buffer, compute on it with the CPU, leave it to a "device",
 * compute on it with the CPU again, free it. On real CDM hardware the device phase is a
 * GPU or accelerator touching the buffer; here nothing touches it, which is what the CPU
 * sees of such a phase.
 *
 * The program knows nothing of cdmplace. After each phase it asks the kernel where its
 * pages are (move_pages with no target only reports) and prints the count per node, so the
 * pages can be seen following their user:
 *     seed_flow [MiB] [phase seconds]      (default 32 MiB, 1.5 s)
 * Output, one line per phase: "PHASE: node N: PAGES ...", then "data intact: yes|no". */
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

static int intact(const unsigned char *buffer, size_t size, unsigned pass)
{
    for (size_t i = 0; i < size; i += sizeof(uint64_t))
        if (*(const uint64_t *)(buffer + i) != (uint64_t)i * 2654435761u + pass)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    size_t size = (argc > 1 ? strtoul(argv[1], NULL, 10) : 32) << 20;
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.5;
    unsigned char *buffer = malloc(size);
    if (!buffer) {
        perror("malloc");
        return 1;
    }
    memset(buffer, 0xa5, size); /* filled: the pages exist where placement put them */
    where("allocated", buffer, size);
    unsigned pass = compute(buffer, size, seconds, 0);
    where("cpu phase 1", buffer, size);
    usleep((useconds_t)(seconds * 1e6)); /* the device's turn */
    where("device phase", buffer, size);
    pass = compute(buffer, size, seconds, pass);
    where("cpu phase 2", buffer, size);
    printf("data intact: %s\n", intact(buffer, size, pass) ? "yes" : "no");
    fflush(stdout);
    free(buffer);
    return 0;
}
