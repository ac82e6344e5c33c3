/* SPDX-License-Identifier: MIT */
/* Small kernel files (sysfs, procfs) read whole into a buffer of the caller's, and the numbers
 * in them: shared by the topology, DAMON and the CLI. Only open/read/close, no stdio and no
 * allocation: the preload reads these in its constructor and on the tracker's thread. */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int cdm__sysfs_read(const char *path, char *buf, size_t size)
{
    int fd, err = plat_open_above_stdio(path, O_RDONLY, 0, &fd);
    if (err)
        return err;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == size - 1) {
            char probe;
            if (read(fd, &probe, 1) > 0)
                err = EFBIG;
            break;
        }
    }
    close(fd);
    buf[len] = '\0';
    return err;
}

bool cdm__parse_number(const char **at, uint64_t *value)
{
    const char *p = *at;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *value = v;
    *at = p;
    return true;
}

int cdm__sysfs_number(const char *path, uint64_t *value)
{
    char text[64];
    int err = cdm__sysfs_read(path, text, sizeof text);
    if (err)
        return err;
    const char *at = text;
    while (*at == ' ' || *at == '\t' || *at == '\n')
        at++;
    return cdm__parse_number(&at, value) ? 0 : EINVAL;
}
