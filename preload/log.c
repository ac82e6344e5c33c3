/* Messages to stderr that never allocate: formatted into a stack buffer with vsnprintf
 * (integer and string conversions only, which glibc formats without malloc) and written
 * with one write(2), so lines from several threads never interleave.
 * Each warning cause is reported once (cdm__warn_once), as libnuma's numa_warn does. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cdm__debug_level;

void cdm__vlog_to(int fd, const char *fmt, va_list ap)
{
    char line[1024];
    int saved_errno = errno;
    size_t prefix = sizeof("cdmplace: ") - 1;
    memcpy(line, "cdmplace: ", prefix);
    int n = vsnprintf(line + prefix, sizeof line - prefix - 1, fmt, ap);
    size_t len = prefix + (n < 0 ? 0 : (size_t)n);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    plat_write_all(fd, line, len);
    errno = saved_errno;
}

void cdm__vlog(const char *fmt, va_list ap)
{
    cdm__vlog_to(STDERR_FILENO, fmt, ap);
}

void cdm__log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cdm__vlog(fmt, ap);
    va_end(ap);
}

void cdm__warn_once(unsigned cause, const char *fmt, ...)
{
    static unsigned long long warned;
    unsigned long long bit = 1ull << (cause & 63);
    if (__atomic_fetch_or(&warned, bit, __ATOMIC_RELAXED) & bit)
        return;
    va_list ap;
    va_start(ap, fmt);
    cdm__vlog(fmt, ap);
    va_end(ap);
}

void cdm__debug(int level, const char *fmt, ...)
{
    if (level > cdm__debug_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    cdm__vlog(fmt, ap);
    va_end(ap);
}
