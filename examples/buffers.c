/* SPDX-License-Identifier: MIT */
/* An unmodified program with large buffers of different kinds, the demo's subject: model
 * weights loaded once and read rarely, activations rewritten every step, and a scratch
 * mapping. It knows nothing of NUMA; cdmplace places its buffers from outside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MiB (1024ul * 1024)

__attribute__((noinline)) static float *load_weights(size_t count)
{
    float *weights = malloc(count * sizeof *weights);
    for (size_t i = 0; i < count; i++)
        weights[i] = (float)(i % 97) / 97.0f;
    return weights;
}

__attribute__((noinline)) static float *alloc_activations(size_t count)
{
    float *activations = calloc(count, sizeof(float));
    __asm__ volatile("" ::: "memory"); /* a frame of its own: no tail call */
    return activations;
}

int main(int argc, char **argv)
{
    size_t weights_count = 64 * MiB / sizeof(float), act_count = 16 * MiB / sizeof(float);
    float *weights = load_weights(weights_count);
    float *activations = alloc_activations(act_count);
    char *scratch = mmap(NULL, 32 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!weights || !activations || scratch == MAP_FAILED) {
        perror("buffers");
        return 1;
    }
    double checksum = 0;
    for (int step = 0; step < 4; step++) {
        for (size_t i = 0; i < act_count; i++)
            activations[i] = weights[(i * 7 + (size_t)step) % weights_count] * 0.5f + activations[i];
        memset(scratch, step, 32 * MiB);
        checksum += activations[act_count / 2] + scratch[12345];
    }
    printf("checksum %.3f\n", checksum);
    munmap(scratch, 32 * MiB);
    free(activations);
    return 0; /* like many programs, it leaves its model for exit to free */
}
