/* SPDX-License-Identifier: MIT */
/* What the kernel offers, asked of the kernel itself and not of the library under test, so
 * that one test serves both guest kernels and says which it found (tests/guest/suites.txt). */
#ifndef CDMPLACE_TESTS_KERNEL_FEATURES_H
#define CDMPLACE_TESTS_KERNEL_FEATURES_H

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Debian 12's headers are 6.1's: they lack it. */
#define TESTS_UFFD_FEATURE_WP_ASYNC (1ull << 15)

/* Whether a user-mode-only userfaultfd, which every user may open, offers async
 * write-protect: wp-async, track = auto's first choice, needs it (Linux 6.7, with
 * PAGEMAP_SCAN); without it auto tracks with synchronous faults (wp). *said: which, as a
 * test prints it. */
static inline bool kernel_has_wp_async(const char **said)
{
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api api = {.api = UFFD_API};
    bool has = uffd >= 0 && ioctl(uffd, UFFDIO_API, &api) == 0 &&
               (api.features & TESTS_UFFD_FEATURE_WP_ASYNC);
    if (uffd >= 0)
        close(uffd);
    *said = has ? "userfaultfd has WP_ASYNC" : "userfaultfd has no WP_ASYNC (Linux 6.7)";
    return has;
}

/* Whether /proc/self/pagemap answers PAGEMAP_SCAN (Linux 6.7): an empty scan, which fails
 * with ENOTTY before. *said: which, as a test prints it. */
static inline bool kernel_has_pagemap_scan(const char **said)
{
    struct { /* include/uapi/linux/fs.h's pm_scan_arg, absent from Debian 12's headers */
        uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
        uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
    } arg = {.size = sizeof arg, .return_mask = 1};
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    bool has = fd >= 0 && ioctl(fd, _IOWR('f', 16, arg), &arg) >= 0;
    if (fd >= 0)
        close(fd);
    *said = has ? "the kernel has PAGEMAP_SCAN" : "the kernel has no PAGEMAP_SCAN (Linux 6.7)";
    return has;
}

#endif
