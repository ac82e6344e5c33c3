/* SPDX-License-Identifier: MIT */
/* The platform contract (platform.c): raw system calls and kernel files, each 0 or an errno,
 * no allocation, no stdio, no policy; and what every layer above shares: visibility, limits,
 * node masks. The layers above it: core.h, which the CLI links as well, then internal.h, the
 * preload library's own (doc/design.md, "Layers").
 *
 * Names: public `cdm_`, internal `cdm__`, platform `plat_`.
 */
#ifndef CDMPLACE_PLATFORM_H
#define CDMPLACE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CDM_HIDDEN __attribute__((visibility("hidden")))
#define CDM_EXPORT __attribute__((visibility("default")))
#define cdm_likely(x) __builtin_expect(!!(x), 1)
#define cdm_unlikely(x) __builtin_expect(!!(x), 0)

/* Linux's MAX_NUMNODES on Debian's amd64 kernels (NODES_SHIFT = 10). */
#define CDM_MAX_NODES 1024
#define CDM_MAX_CPUS 1024
#define CDM_MAX_RULES 64
#define CDM_MAX_NODE_NAMES 32
#define CDM_MAX_ERRORS 32
#define CDM_NAME_MAX 64
#define CDM_GLOB_MAX 256
#define CDM_SPEC_MAX 128
#define CDM_PATH_MAX 1024
/* ---------------------------------------------------------------- node masks */
typedef struct {
    uint64_t bits[CDM_MAX_NODES / 64];
} cdm_nodemask;

static inline void cdm__nodemask_set(cdm_nodemask *mask, int node)
{
    mask->bits[node / 64] |= 1ull << (node % 64);
}
static inline bool cdm__nodemask_has(const cdm_nodemask *mask, int node)
{
    return (mask->bits[node / 64] >> (node % 64)) & 1;
}
CDM_HIDDEN bool cdm__nodemask_empty(const cdm_nodemask *mask);
CDM_HIDDEN int cdm__nodemask_count(const cdm_nodemask *mask);
CDM_HIDDEN bool cdm__nodemask_intersects(const cdm_nodemask *a, const cdm_nodemask *b);
/* "0-1,3" into buf; returns buf. */
CDM_HIDDEN char *cdm__nodemask_format(const cdm_nodemask *mask, char *buf, size_t size);

/* ---------------------------------------------------------------- platform.c */
/* Every function returns 0 or a positive errno; ENOSYS where the kernel lacks the call. */
#ifndef MPOL_WEIGHTED_INTERLEAVE
#define MPOL_WEIGHTED_INTERLEAVE 6 /* Linux 6.9 */
#endif
#ifndef MPOL_F_NUMA_BALANCING
#define MPOL_F_NUMA_BALANCING (1 << 13) /* Linux 5.15 */
#endif
CDM_HIDDEN int plat_mbind(void *addr, size_t len, int mode, const cdm_nodemask *nodes,
                          unsigned flags);
/* nodes == NULL queries: status[i] gets the node of pages[i] or a negative errno. */
CDM_HIDDEN int plat_move_pages(unsigned long count, void **pages, const int *nodes,
                               int *status, int flags);
/* mmap, munmap and madvise that bypass our own hooks. */
CDM_HIDDEN int plat_mmap(void *hint, size_t len, int prot, int flags, int fd, off_t off,
                         void **out);
CDM_HIDDEN int plat_munmap(void *addr, size_t len);
CDM_HIDDEN int plat_madvise(void *addr, size_t len, int advice);
/* mremap without MREMAP_FIXED. */
CDM_HIDDEN int plat_mremap(void *old, size_t old_len, size_t new_len, int flags, void **out);
CDM_HIDDEN size_t plat_page_size(void);
/* size rounded up to whole pages (0 when that overflows). */
CDM_HIDDEN size_t plat_page_round(size_t size);
/* open(2) with O_CLOEXEC, on a descriptor above 2 even when the program closed its stdio. */
CDM_HIDDEN int plat_open_above_stdio(const char *path, int flags, mode_t mode, int *out);
/* write(2) until all of data is written, through EINTR and short writes. */
CDM_HIDDEN int plat_write_all(int fd, const void *data, size_t len);
/* userfaultfd (Linux 4.3): O_CLOEXEC | O_NONBLOCK. user_mode_only (Linux 5.11) is allowed to
 * ordinary users; a full one falls back to /dev/userfaultfd (Linux 6.1) on EPERM. */
#define PLAT_UFFD_WP_UNPOPULATED (1ull << 13) /* Linux 6.4 */
#define PLAT_UFFD_WP_ASYNC (1ull << 15)       /* Linux 6.7 */
CDM_HIDDEN int plat_uffd_open(bool user_mode_only, int *out);
/* UFFDIO_API asking for `features`; *granted (may be NULL) gets what the kernel has. With
 * features 0 it only asks: a descriptor takes one UFFDIO_API. */
CDM_HIDDEN int plat_uffd_api(int fd, uint64_t features, uint64_t *granted);
/* modes: UFFDIO_REGISTER_MODE_MISSING and/or _WP. */
CDM_HIDDEN int plat_uffd_register(int fd, uintptr_t start, size_t len, uint64_t modes);
CDM_HIDDEN int plat_uffd_unregister(int fd, uintptr_t start, size_t len);
/* Write-protect (or release and wake) a range. */
CDM_HIDDEN int plat_uffd_writeprotect(int fd, uintptr_t start, size_t len, bool protect);
/* Resolve missing faults with the zero page, or with a copy of `from` (a write: a page of its
 * own at once); EEXIST when another thread won. */
CDM_HIDDEN int plat_uffd_zeropage(int fd, uintptr_t start, size_t len);
CDM_HIDDEN int plat_uffd_copy(int fd, uintptr_t start, const void *from, size_t len);
CDM_HIDDEN int plat_uffd_wake(int fd, uintptr_t start, size_t len);
struct plat_fault {
    uintptr_t address;
    bool write_protect; /* a write to a write-protected page; else a missing page */
    bool write;         /* the access was a write */
    pid_t tid;          /* the faulting thread (UFFD_FEATURE_THREAD_ID), else 0 */
};
/* Read pending page faults (EAGAIN when none). Other events are dropped. */
CDM_HIDDEN int plat_uffd_read(int fd, struct plat_fault *faults, int max, int *count);
/* PAGEMAP_SCAN (Linux 6.7) over [start, end) of /proc/self/pagemap: the regions whose pages
 * have every `required` category, one of `anyof` at least (0: any) and none of `excluded`
 * (PLAT_PAGE_IS_*); `protect` write-protects what matched again (async userfaultfd
 * write-protect; EPERM where a mapping is not registered with one). *walk_end says where the
 * scan stopped when `regions` filled up. `protect` with no regions asked for protects every
 * entry not protected yet, whatever the categories. EOPNOTSUPP before 6.7. */
#define PLAT_PAGE_IS_WRITTEN (1ull << 1)
#define PLAT_PAGE_IS_PRESENT (1ull << 3)
#define PLAT_PAGE_IS_SWAPPED (1ull << 4) /* a swap entry: swapped out, migrating, or a marker */
#define PLAT_PAGE_IS_PFNZERO (1ull << 5)
#define PLAT_PAGE_IS_HUGE (1ull << 6) /* a transparent huge page: always in the regions' categories */
struct plat_page_region {
    uint64_t start, end, categories;
};
CDM_HIDDEN int plat_pagemap_scan(int pagemap_fd, uintptr_t start, uintptr_t end,
                                 uint64_t required, uint64_t anyof, uint64_t excluded,
                                 bool protect,
                                 struct plat_page_region *regions, size_t max_regions,
                                 size_t *n_regions, uintptr_t *walk_end);
/* /proc/self/smaps, mapping by mapping in address order: each one's range and its
 * AnonHugePages in KiB, to `seen` until it returns false. Linux 6.7 tells this per page
 * (PAGEMAP_SCAN); before, only smaps does. */
CDM_HIDDEN int plat_smaps_huge(bool (*seen)(uintptr_t start, uintptr_t end, size_t huge_kib,
                                            void *arg),
                               void *arg);
/* Every page fault a thread takes in user mode, sampled with its address and CPU through
 * perf_event_open(2) into a ring of `pages` pages (a power of two) mapped here; ENOENT, EACCES
 * (perf_event_paranoid), EPERM (seccomp) or ENOSYS where the kernel or its settings refuse. A
 * fault that finds the ring full is lost. */
struct plat_fault_sampler {
    int fd;
    void *ring;
    size_t len;
};
CDM_HIDDEN int plat_fault_sampler_open(pid_t tid, size_t pages, struct plat_fault_sampler *out);
CDM_HIDDEN void plat_fault_sampler_close(struct plat_fault_sampler *sampler);
/* Calls `each` for the samples since the last read, oldest first; returns how many. */
CDM_HIDDEN size_t plat_fault_sampler_read(struct plat_fault_sampler *sampler,
                                          void (*each)(uintptr_t address, int cpu, void *arg),
                                          void *arg);
/* eventfd, O_CLOEXEC | O_NONBLOCK: how the tracker thread is told to stop. */
CDM_HIDDEN int plat_eventfd(int *out);

#endif
