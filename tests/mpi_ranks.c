/* SPDX-License-Identifier: MIT */
/* The MPI job of tests/jobs.sh: each rank allocates heap buffers whose number and size
 * depend on its rank, so that the min, mean and max of `cdmplace report` across the ranks
 * differ and each maximum is held by a known rank:
 *
 *   rank r: 1 + (r + 1) % 4 buffers of 2 + (r + 2) % 4 MiB each
 *   r = 0: 2 x 4 MiB = 8 MiB   r = 1: 3 x 5 MiB = 15 MiB   r = 2: 4 x 2 MiB = 8 MiB
 *   r = 3: 1 x 3 MiB = 3 MiB   (r modulo 4 beyond 4 ranks)
 *
 * All of a rank's buffers are live at once (its peak is its bytes). The ranks meet at a
 * barrier and sum their bytes with MPI_Allreduce; rank 0 prints "total N bytes" and every
 * rank "rank R of N: B bytes in K buffers", so that the test sees a real job ran.
 *
 * `mpi_ranks --fork R`: rank R also forks a child that allocates one buffer of 7 MiB, frees
 * it and exits without touching MPI (a child of an MPI process must not), before the barrier.
 * The parent waits for it. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024ul * 1024)

/* Not inlined: the placements name it as their caller. */
__attribute__((noinline)) static char *allocate_buffer(size_t size, int fill)
{
    char *buffer = malloc(size);
    if (buffer)
        memset(buffer, fill, size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

static int run_child(void)
{
    char *buffer = allocate_buffer(7 * MiB, 7);
    int ok = buffer && buffer[7 * MiB - 1] == 7;
    free(buffer);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int fork_rank = argc == 3 && !strcmp(argv[1], "--fork") ? atoi(argv[2]) : -1;
    if (argc != 1 && fork_rank < 0) {
        fprintf(stderr, "usage: mpi_ranks [--fork RANK]\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    int count = 1 + (rank + 1) % 4;
    size_t buffer_size = (2 + (size_t)(rank + 2) % 4) * MiB;
    char *buffers[4];
    long long mine = 0;
    for (int i = 0; i < count; i++) {
        buffers[i] = allocate_buffer(buffer_size, rank + i);
        if (!buffers[i]) {
            fprintf(stderr, "rank %d: out of memory\n", rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        mine += (long long)buffer_size;
    }

    if (rank == fork_rank) {
        fflush(NULL);
        pid_t child = fork();
        if (child == 0)
            exit(run_child()); /* exit, not _exit: the library writes the child's exit event */
        int status = 0;
        if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            fprintf(stderr, "rank %d: the forked child failed\n", rank);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }

    MPI_Barrier(MPI_COMM_WORLD);
    long long total = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    printf("rank %d of %d: %lld bytes in %d buffers\n", rank, size, mine, count);
    if (rank == 0)
        printf("total %lld bytes\n", total);
    for (int i = 0; i < count; i++)
        free(buffers[i]);
    MPI_Finalize();
    return 0;
}
