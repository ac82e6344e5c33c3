/* SPDX-License-Identifier: MIT */
/* The platform layer: every raw syscall the library makes, each returning 0 or an errno.
 *
 * Contract (as mimalloc's prim.h): no allocation, no stdio, no policy; ENOSYS or EOPNOTSUPP
 * where the kernel lacks a call. The memory-policy calls go through libnuma's numaif.h
 * wrappers (plain syscalls, as numactl's syscall.c); mmap and munmap go straight to the
 * kernel so that the library's own mappings never pass through its own hooks. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Bits of node mask passed to the kernel: all of cdm_nodemask. The kernel accepts a larger
 * maxnode than its MAX_NUMNODES as long as the extra bits are zero. */
#define PLAT_MAXNODE (CDM_MAX_NODES + 1)

static int errno_of(long rc)
{
    return rc < 0 ? errno : 0;
}

/* The kernel's ioctl, not the library's own hook of it (interpose.c). */
static long raw_ioctl(int fd, unsigned long request, void *arg)
{
    return syscall(SYS_ioctl, fd, request, arg);
}

int plat_mbind(void *addr, size_t len, int mode, const cdm_nodemask *nodes, unsigned flags)
{
    const unsigned long *mask = nodes ? (const unsigned long *)nodes->bits : NULL;
    return errno_of(mbind(addr, len, mode, mask, nodes ? PLAT_MAXNODE : 0, flags));
}

int plat_move_pages(unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
    /* A positive result counts pages the kernel gave up on (and did not report): their
     * status, and that of the pages after them, is left as it was. */
    return errno_of(move_pages(0, count, pages, nodes, status, flags));
}

int plat_mmap(void *hint, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
    long rc = syscall(SYS_mmap, hint, len, prot, flags, fd, off);
    if (rc < 0 && rc > -4096)
        return errno;
    *out = (void *)rc;
    return 0;
}

int plat_munmap(void *addr, size_t len)
{
    return errno_of(syscall(SYS_munmap, addr, len));
}

int plat_madvise(void *addr, size_t len, int advice)
{
    return errno_of(syscall(SYS_madvise, addr, len, advice));
}

size_t plat_page_size(void)
{
    static size_t page;
    if (cdm_unlikely(page == 0))
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

size_t plat_page_round(size_t size)
{
    size_t page = plat_page_size();
    return (size + page - 1) & ~(page - 1);
}

/* A descriptor of ours on a number above 2: a program that closed its stdio must find those
 * numbers still free (Python makes sys.stdin None when fd 0 is closed). */
static int above_stdio(int fd, int *out)
{
    if (fd <= STDERR_FILENO) {
        int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        int err = high < 0 ? errno : 0;
        close(fd);
        if (err)
            return err;
        fd = high;
    }
    *out = fd;
    return 0;
}

int plat_open_above_stdio(const char *path, int flags, mode_t mode, int *out)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? errno : above_stdio(fd, out);
}

int plat_write_all(int fd, const void *data, size_t len)
{
    const char *at = data;
    while (len) {
        ssize_t n = write(fd, at, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        at += n;
        len -= (size_t)n;
    }
    return 0;
}

int plat_mremap(void *old, size_t old_len, size_t new_len, int flags, void **out)
{
    long rc = syscall(SYS_mremap, old, old_len, new_len, flags, NULL);
    if (rc < 0 && rc > -4096)
        return errno;
    *out = (void *)rc;
    return 0;
}

/* ------------------------------------------------------------------ userfaultfd */

int plat_uffd_open(bool user_mode_only, int *out)
{
#ifdef SYS_userfaultfd
    int flags = O_CLOEXEC | O_NONBLOCK | (user_mode_only ? UFFD_USER_MODE_ONLY : 0);
    long fd = syscall(SYS_userfaultfd, flags);
    if (fd < 0 && errno == EPERM) {
        /* /dev/userfaultfd (Linux 6.1) grants full userfaultfd to whoever may open it, and
         * user mode too where a seccomp filter refuses the system call (a container given
         * the device). */
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            fd = raw_ioctl(dev, USERFAULTFD_IOC_NEW, (void *)(long)flags);
            close(dev);
        }
        if (fd < 0)
            errno = EPERM;
    }
    if (fd < 0)
        return errno;
    return above_stdio((int)fd, out);
#else
    return ENOSYS;
#endif
}

int plat_uffd_api(int fd, uint64_t features, uint64_t *granted)
{
    struct uffdio_api api = {.api = UFFD_API, .features = features};
    if (raw_ioctl(fd, UFFDIO_API, &api) != 0)
        return errno;
    if (granted)
        *granted = api.features;
    return 0;
}

int plat_uffd_register(int fd, uintptr_t start, size_t len, uint64_t modes)
{
    struct uffdio_register reg = {.range = {.start = start, .len = len}, .mode = modes};
    return raw_ioctl(fd, UFFDIO_REGISTER, &reg) ? errno : 0;
}

int plat_uffd_unregister(int fd, uintptr_t start, size_t len)
{
    struct uffdio_range range = {.start = start, .len = len};
    return raw_ioctl(fd, UFFDIO_UNREGISTER, &range) ? errno : 0;
}

int plat_uffd_writeprotect(int fd, uintptr_t start, size_t len, bool protect)
{
    struct uffdio_writeprotect wp = {.range = {.start = start, .len = len},
                                     .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    return raw_ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ? errno : 0;
}

int plat_uffd_zeropage(int fd, uintptr_t start, size_t len)
{
    struct uffdio_zeropage zero = {.range = {.start = start, .len = len}};
    return raw_ioctl(fd, UFFDIO_ZEROPAGE, &zero) ? errno : 0;
}

int plat_uffd_copy(int fd, uintptr_t start, const void *from, size_t len)
{
    struct uffdio_copy copy = {.dst = start, .src = (uintptr_t)from, .len = len};
    return raw_ioctl(fd, UFFDIO_COPY, &copy) ? errno : 0;
}

int plat_uffd_wake(int fd, uintptr_t start, size_t len)
{
    struct uffdio_range range = {.start = start, .len = len};
    return raw_ioctl(fd, UFFDIO_WAKE, &range) ? errno : 0;
}

int plat_uffd_read(int fd, struct plat_fault *faults, int max, int *count)
{
    struct uffd_msg msgs[16];
    if (max > 16)
        max = 16;
    ssize_t n;
    do
        n = read(fd, msgs, sizeof msgs[0] * (size_t)max);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno;
    *count = 0;
    for (ssize_t i = 0; i < n / (ssize_t)sizeof msgs[0]; i++) {
        if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
            continue; /* no event feature is asked for: only faults arrive */
        faults[*count].address = msgs[i].arg.pagefault.address;
        faults[*count].write_protect = msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP;
        faults[*count].write = msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
        faults[*count].tid = (pid_t)msgs[i].arg.pagefault.feat.ptid;
        (*count)++;
    }
    return 0;
}

/* ------------------------------------------------------------------ PAGEMAP_SCAN (Linux 6.7) */

/* The ABI of include/uapi/linux/fs.h, absent from Debian 12's 6.1 headers. */
struct plat_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PLAT_PAGEMAP_SCAN _IOWR('f', 16, struct plat_pm_scan_arg)
#define PLAT_PM_SCAN_WP_MATCHING (1 << 0)
#define PLAT_PM_SCAN_CHECK_WPASYNC (1 << 1)

int plat_pagemap_scan(int pagemap_fd, uintptr_t start, uintptr_t end, uint64_t required,
                      uint64_t anyof, uint64_t excluded, bool protect,
                      struct plat_page_region *regions,
                      size_t max_regions, size_t *n_regions, uintptr_t *walk_end)
{
    struct plat_pm_scan_arg arg = {
        .size = sizeof arg,
        .flags = protect ? PLAT_PM_SCAN_WP_MATCHING | PLAT_PM_SCAN_CHECK_WPASYNC : 0,
        .start = start,
        .end = end,
        .vec = (uintptr_t)regions,
        .vec_len = max_regions,
        .category_inverted = excluded,
        .category_mask = required | excluded,
        .category_anyof_mask = anyof,
        .return_mask = required | anyof | excluded | PLAT_PAGE_IS_HUGE,
    };
    long rc = raw_ioctl(pagemap_fd, PLAT_PAGEMAP_SCAN, &arg);
    if (rc < 0)
        return errno == ENOTTY ? EOPNOTSUPP : errno; /* before 6.7 the ioctl is unknown */
    *n_regions = (size_t)rc;
    *walk_end = arg.walk_end;
    return 0;
}

/* One line of smaps: a mapping's header ("START-END perms ..."; hex digits are lower case)
 * or a field ("AnonHugePages:   2048 kB"; names start upper case). */
static void smaps_line(const char *line, uintptr_t *start, uintptr_t *end, size_t *huge_kib,
                       bool *header)
{
    static const char field[] = "AnonHugePages:";
    char *after;
    *header = (*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f');
    if (*header) {
        *start = strtoul(line, &after, 16);
        *end = *after == '-' ? strtoul(after + 1, NULL, 16) : *start;
        *huge_kib = 0;
    } else if (!strncmp(line, field, sizeof field - 1)) {
        *huge_kib = strtoul(line + sizeof field - 1, NULL, 10);
    }
}

int plat_smaps_huge(bool (*seen)(uintptr_t start, uintptr_t end, size_t huge_kib, void *arg),
                    void *arg)
{
    int fd = -1, err = plat_open_above_stdio("/proc/self/smaps", O_RDONLY, 0, &fd);
    if (err)
        return err;
    char buf[4096];
    size_t have = 0;
    uintptr_t start = 0, end = 0, next_start, next_end;
    size_t huge_kib = 0, next_kib;
    bool mapping = false, more = true, skipping = false;
    while (more) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        have += (size_t)n;
        char *line = buf, *newline;
        while (more && (newline = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *newline = '\0';
            bool header = false;
            next_kib = huge_kib;
            if (!skipping)
                smaps_line(line, &next_start, &next_end, &next_kib, &header);
            skipping = false;
            if (header) {
                more = !mapping || seen(start, end, huge_kib, arg);
                start = next_start, end = next_end, mapping = true;
            }
            huge_kib = next_kib;
            line = newline + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) { /* a line longer than the buffer (a mapping's path) */
            have = 0;
            skipping = true;
        }
    }
    if (more && mapping && !err)
        seen(start, end, huge_kib, arg);
    close(fd);
    return err;
}

int plat_eventfd(int *out)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? errno : above_stdio(fd, out);
}

int plat_fault_sampler_open(pid_t tid, size_t pages, struct plat_fault_sampler *out)
{
    /* Faults in user mode only: a normal user may watch its own threads so (perf_event_paranoid
     * 2, the kernel's default; Debian's 3 refuses any). */
    struct perf_event_attr attr = {.type = PERF_TYPE_SOFTWARE,
                                   .size = sizeof attr,
                                   .config = PERF_COUNT_SW_PAGE_FAULTS,
                                   .sample_period = 1,
                                   .sample_type = PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU,
                                   .exclude_kernel = 1,
                                   .exclude_hv = 1};
    long rc = syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
    int fd = -1, err = rc < 0 ? errno : above_stdio((int)rc, &fd);
    if (err)
        return err;
    size_t len = (pages + 1) * plat_page_size(); /* the header page, then the data */
    void *ring = NULL;
    /* Writable: the reader's tail tells the kernel what it may overwrite. */
    err = plat_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0, &ring);
    if (err) {
        close(fd);
        return err;
    }
    *out = (struct plat_fault_sampler){.fd = fd, .ring = ring, .len = len};
    return 0;
}

void plat_fault_sampler_close(struct plat_fault_sampler *sampler)
{
    if (!sampler->ring)
        return;
    plat_munmap(sampler->ring, sampler->len);
    close(sampler->fd);
    *sampler = (struct plat_fault_sampler){.fd = -1};
}

/* A sample as PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU lay it out after the header. */
struct fault_record {
    struct perf_event_header header;
    uint64_t addr;
    uint32_t cpu, reserved;
};

size_t plat_fault_sampler_read(struct plat_fault_sampler *sampler,
                               void (*each)(uintptr_t address, int cpu, void *arg), void *arg)
{
    struct perf_event_mmap_page *meta = sampler->ring;
    size_t page = plat_page_size(), size = sampler->len - page, seen = 0;
    const unsigned char *data = (const unsigned char *)sampler->ring + page;
    uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE), tail = meta->data_tail;
    while (tail + sizeof(struct perf_event_header) <= head) {
        struct fault_record record;
        unsigned char *into = (unsigned char *)&record;
        size_t at = tail % size, first = size - at < sizeof record ? size - at : sizeof record;
        memcpy(into, data + at, first); /* a record may wrap past the ring's end */
        memcpy(into + first, data, sizeof record - first);
        if (record.header.size == 0)
            break;
        if (record.header.type == PERF_RECORD_SAMPLE && record.header.size >= sizeof record) {
            each((uintptr_t)record.addr, (int)record.cpu, arg);
            seen++;
        }
        tail += record.header.size;
    }
    __atomic_store_n(&meta->data_tail, head, __ATOMIC_RELEASE);
    return seen;
}
