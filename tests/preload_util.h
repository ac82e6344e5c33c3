/* SPDX-License-Identifier: MIT */
/* Helpers of the tests that run with libcdmplace.so preloaded: what the kernel says about a
 * buffer (get_mempolicy MPOL_F_ADDR, move_pages query) and what the library says (cdm_query,
 * found with dlsym so a run without the preload fails clearly instead of not linking). */
#ifndef CDMPLACE_PRELOAD_UTIL_H
#define CDMPLACE_PRELOAD_UTIL_H

#include <criterion/criterion.h>
#include <dlfcn.h>
#include <numaif.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cdmplace.h"

#define MiB (1024ul * 1024)

static inline int query(const void *addr, struct cdm_buffer_info *info)
{
    static int (*cdm_query_fn)(const void *, struct cdm_buffer_info *);
    if (!cdm_query_fn)
        cdm_query_fn = (int (*)(const void *, struct cdm_buffer_info *))dlsym(RTLD_DEFAULT,
                                                                           "cdm_query");
    cr_assert_not_null(cdm_query_fn, "libcdmplace.so is not preloaded");
    struct cdm_buffer_info unused;
    return cdm_query_fn(addr, info ? info : &unused);
}

/* Takes an address as a number, so that asking about a freed buffer is no use after free. */
static inline bool placed_at(uintptr_t addr)
{
    return query((const void *)addr, NULL) == 0;
}

static inline bool placed(const void *addr)
{
    return placed_at((uintptr_t)addr);
}

/* A size the compiler cannot see: impossible requests are the point of some tests. */
static inline size_t opaque(size_t n)
{
    volatile size_t hidden = n;
    return hidden;
}

/* The kernel's policy for the mapping holding addr, and its node mask (first word). */
static inline int policy_of(const void *addr, unsigned long *nodes)
{
    int mode = -1;
    unsigned long mask[16] = {0};
    cr_assert_eq(get_mempolicy(&mode, mask, 1024, (void *)addr, MPOL_F_ADDR), 0,
                 "get_mempolicy: %s", strerror(errno));
    if (nodes)
        *nodes = mask[0];
    return mode;
}

/* Touch every page, then count the pages move_pages reports on `node`. */
static inline size_t pages_on_node(void *buffer, size_t size, int node)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), count = 0;
    for (size_t off = 0; off < size; off += page)
        ((volatile char *)buffer)[off] = 1;
    for (size_t off = 0; off < size; off += page) {
        void *at = (char *)buffer + off;
        int status = -1;
        cr_assert_eq(move_pages(0, 1, &at, NULL, &status, 0), 0);
        count += status == node;
    }
    return count;
}

/* The pages move_pages reports on `node`, asked without touching them (a write would be
 * seen by a tracker, and would make absent pages). */
static inline size_t pages_seen_on_node(void *buffer, size_t size, int node)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = size / page, count = 0;
    void **pages = malloc(n * sizeof *pages);
    int *status = malloc(n * sizeof *status);
    cr_assert(pages && status);
    for (size_t i = 0; i < n; i++)
        pages[i] = (char *)buffer + i * page;
    cr_assert_eq(move_pages(0, n, pages, NULL, status, 0), 0);
    for (size_t i = 0; i < n; i++)
        count += status[i] == node;
    free(pages);
    free(status);
    return count;
}

static inline void fill(unsigned char *buffer, size_t size, unsigned seed)
{
    for (size_t i = 0; i < size; i++)
        buffer[i] = (unsigned char)(i * 31 + seed);
}

static inline bool intact(const unsigned char *buffer, size_t size, unsigned seed)
{
    for (size_t i = 0; i < size; i++)
        if (buffer[i] != (unsigned char)(i * 31 + seed))
            return false;
    return true;
}

/* A buffer whose rule's policy the kernel refused: still placed, the errno recorded, and
 * every byte usable. */
static inline void assert_refused_but_usable(size_t size, int rule, int error)
{
    unsigned char *buffer = malloc(size);
    struct cdm_buffer_info info;
    cr_assert_eq(query(buffer, &info), 0);
    cr_assert_eq(info.rule, rule);
    cr_assert_not(info.applied);
    cr_assert_eq(info.error, error);
    fill(buffer, size, 5);
    cr_assert(intact(buffer, size, 5));
    free(buffer);
}

#endif
