/* SPDX-License-Identifier: MIT */
/* CDM memory taken offline under a placed, tracked buffer (tests/guest/run.sh --topology
 * cdm-dimm: node 1's DIMM is in ZONE_MOVABLE, whose blocks the kernel can take offline), with
 * CDMPLACE_CONFIG=tests/guest_offline.conf. Offlining migrates the blocks' pages to another
 * node, whatever their policy: the program's data must be intact, the library must say so
 * once, find the pages and send them back to node 1's memory still online, and go on
 * tracking them (written, they follow the CPU to node 0).
 * Root only: the PFNs in /proc/self/pagemap and the memory blocks' state. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "preload_util.h"

#define SIZE (16 * MiB)
#define PAGE 4096ul
#define MAX_BLOCKS 64
#define FOLLOW_S 60.0 /* 6.1 under load: a TLB flush a moved page (batched from 6.5) */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A number in hex, as block_size_bytes is written. */
static long read_hex(const char *path)
{
    char text[64] = "";
    int fd = open(path, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    return n > 0 ? strtol(text, NULL, 16) : -1;
}

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY);
    bool done = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0)
        close(fd);
    return done;
}

/* The memory blocks holding the buffer's pages that the kernel may take offline: node 1's, in
 * ZONE_MOVABLE. */
static int movable_blocks_under(const unsigned char *buffer, size_t size, long *blocks)
{
    long block_bytes = read_hex("/sys/devices/system/memory/block_size_bytes");
    cr_assert_gt(block_bytes, 0);
    int pagemap = open("/proc/self/pagemap", O_RDONLY), n = 0;
    cr_assert_geq(pagemap, 0, "%s", strerror(errno));
    for (size_t off = 0; off < size; off += PAGE) {
        uint64_t entry = 0;
        off_t at = (off_t)(((uintptr_t)buffer + off) / PAGE * sizeof entry);
        cr_assert_eq(pread(pagemap, &entry, sizeof entry, at), (ssize_t)sizeof entry);
        if (!(entry >> 63)) /* not present */
            continue;
        long block = (long)((entry & ((1ull << 55) - 1)) * PAGE / (uint64_t)block_bytes);
        bool known = false;
        for (int i = 0; i < n && !known; i++)
            known = blocks[i] == block;
        char path[128], zones[64] = "";
        snprintf(path, sizeof path, "/sys/devices/system/node/node1/memory%ld/valid_zones", block);
        int fd = known || n == MAX_BLOCKS ? -1 : open(path, O_RDONLY);
        if (fd >= 0) {
            if (read(fd, zones, sizeof zones - 1) > 0 && strncmp(zones, "Movable", 7) == 0)
                blocks[n++] = block;
            close(fd);
        }
    }
    close(pagemap);
    return n;
}

/* Lines of this process's trace holding `text`. */
static int messages_naming(const char *text)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/tmp/guest_offline.%d.jsonl", (int)getpid());
    FILE *trace = fopen(path, "r");
    cr_assert_not_null(trace, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, trace))
        n += strstr(line, text) != NULL;
    fclose(trace);
    return n;
}

static void set_blocks(const long *blocks, int n, const char *state)
{
    for (int i = 0; i < n; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/memory/memory%ld/state", blocks[i]);
        cr_assert(write_text(path, state), "memory block %ld: %s %s", blocks[i], state,
                  strerror(errno));
    }
}

Test(offline, cdm_memory_offlined_under_a_tracked_buffer)
{
    unsigned char *buffer = malloc(SIZE);
    cr_assert_not_null(buffer);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0, "the buffer is not placed");
    cr_assert(info.applied && info.tracked, "placed on node 1 and tracked");
    fill(buffer, SIZE, 3);
    size_t pages = SIZE / PAGE;

    long blocks[MAX_BLOCKS];
    int n = movable_blocks_under(buffer, SIZE, blocks);
    cr_assert_gt(n, 0, "no page of the buffer in node 1's DIMM (ZONE_MOVABLE)");
    double start = now_s();
    set_blocks(blocks, n, "offline");
    printf("%d memory blocks under the buffer offline in %.2f s\n", n, now_s() - start);

    cr_assert(intact(buffer, SIZE, 3), "the data changed when its memory went offline");
    /* The kernel moved them off node 1, its policy notwithstanding; the library finds them,
     * left alone since the fill, and sends them back to node 1's memory still online. */
    printf("after the offlining: %zu of %zu pages on node 1\n", pages_seen_on_node(buffer, SIZE, 1),
           pages);
    double back_began = now_s();
    size_t back = 0;
    while ((back = pages_seen_on_node(buffer, SIZE, 1)) < pages * 95 / 100 &&
           now_s() - back_began < FOLLOW_S)
        usleep(200 * 1000);
    cr_assert_geq(back, pages * 95 / 100, "%.0f s after the offlining %zu of %zu pages are back "
                  "on node 1", FOLLOW_S, back, pages);
    printf("back on node 1 in %.1f s\n", now_s() - back_began);
    cr_assert(intact(buffer, SIZE, 3), "the data changed on the way back");
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert(info.applied && info.tracked, "still placed and tracked");
    cr_assert_eq(messages_naming("node 1 lost"), 1, "one message names the node");

    /* Written again, the pages the kernel moved follow the CPU: tracking saw them through. */
    double began = now_s();
    size_t on_dram = 0;
    for (unsigned round = 4; on_dram < pages * 95 / 100 && now_s() - began < FOLLOW_S; round++) {
        fill(buffer, SIZE, round);
        on_dram = pages_seen_on_node(buffer, SIZE, 0);
        cr_assert(intact(buffer, SIZE, round));
    }
    cr_assert_geq(on_dram, pages * 95 / 100, "written for %.0f s after the offlining, %zu of "
                  "%zu pages on node 0", FOLLOW_S, on_dram, pages);
    set_blocks(blocks, n, "online_movable");
    free(buffer);
}
