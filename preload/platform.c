/* The platform layer: every raw syscall the library makes, each returning 0 or an errno.
 *
 * Contract (as mimalloc's prim.h): no allocation, no stdio, no policy; ENOSYS or EOPNOTSUPP
 * where the kernel lacks a call. The memory-policy calls go through libnuma's numaif.h
 * wrappers (plain syscalls, as numactl's syscall.c); mmap and munmap go straight to the
 * kernel so that the library's own mappings never pass through its own hooks. */
#include "internal.h"

#include <errno.h>
#include <numaif.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Bits of node mask passed to the kernel: all of cdm_nodemask. The kernel accepts a larger
 * maxnode than its MAX_NUMNODES as long as the extra bits are zero. */
#define PLAT_MAXNODE (CDM_MAX_NODES + 1)

static int errno_of(long rc)
{
    return rc < 0 ? errno : 0;
}

int plat_mbind(void *addr, size_t len, int mode, const cdm_nodemask *nodes, unsigned flags)
{
    const unsigned long *mask = nodes ? (const unsigned long *)nodes->bits : NULL;
    return errno_of(mbind(addr, len, mode, mask, nodes ? PLAT_MAXNODE : 0, flags));
}

int plat_get_mempolicy_addr(const void *addr, int *mode, cdm_nodemask *nodes)
{
    cdm_nodemask scratch;
    cdm_nodemask *out = nodes ? nodes : &scratch;
    *out = (cdm_nodemask){{0}};
    return errno_of(get_mempolicy(mode, (unsigned long *)out->bits, PLAT_MAXNODE, (void *)addr,
                                  MPOL_F_ADDR));
}

int plat_move_pages(unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
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

size_t plat_page_size(void)
{
    static size_t page;
    if (cdm_unlikely(page == 0))
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

int plat_open_above_stdio(const char *path, int flags, mode_t mode, int *out)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    if (fd < 0)
        return errno;
    if (fd <= STDERR_FILENO) { /* the program closed its stdio: leave those numbers free */
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
