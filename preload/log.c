/* SPDX-License-Identifier: MIT */
/* Messages to stderr that never allocate: formatted into a stack buffer with vsnprintf
 * (integer and string conversions only, which glibc formats without malloc) and written
 * with one write(2), so lines from several threads never interleave.
 * Each warning cause is reported once (cdm__warn_once), as libnuma's numa_warn does. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

/* Where messages may go: stderr only while it is still the file it was when the library
 * started (a program may close fd 2 and reuse the number for its data) and only in the
 * process that speaks for the run; elsewhere they go to `divert` (the trace). */
static struct {
    bool checking, quiet;
    dev_t dev;
    ino_t ino;
    void (*divert)(const char *message);
} stderr_use;

void cdm__log_setup(bool quiet, void (*divert)(const char *message))
{
    struct stat st;
    stderr_use.checking = true;
    stderr_use.quiet = quiet || fstat(STDERR_FILENO, &st) != 0;
    if (!stderr_use.quiet) {
        stderr_use.dev = st.st_dev;
        stderr_use.ino = st.st_ino;
    }
    stderr_use.divert = divert;
}

void cdm__log_set_quiet(bool quiet)
{
    stderr_use.quiet = quiet;
}

bool cdm__stderr_usable(void)
{
    struct stat st;
    if (!stderr_use.checking)
        return true;
    return !stderr_use.quiet && fstat(STDERR_FILENO, &st) == 0 && st.st_dev == stderr_use.dev &&
           st.st_ino == stderr_use.ino;
}

static void vlog(const char *fmt, va_list ap)
{
    if (cdm__stderr_usable()) {
        cdm__vlog_to(STDERR_FILENO, fmt, ap);
    } else if (stderr_use.divert) {
        char message[512];
        int saved_errno = errno;
        vsnprintf(message, sizeof message, fmt, ap);
        stderr_use.divert(message);
        errno = saved_errno;
    }
}

void cdm__log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

/* Whether `cause` is seen for the first time (and from now on, that it was). */
static bool first_time(unsigned cause)
{
    static unsigned long long warned;
    unsigned long long bit = 1ull << (cause & 63);
    return !(__atomic_fetch_or(&warned, bit, __ATOMIC_RELAXED) & bit);
}

void cdm__warn_once(unsigned cause, const char *fmt, ...)
{
    if (!first_time(cause))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void cdm__warn_once_recorded(unsigned cause, const char *fmt, ...)
{
    if (!first_time(cause))
        return;
    char message[512];
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (cdm__stderr_usable())
        cdm__log("%s", message);
    if (stderr_use.divert)
        stderr_use.divert(message);
    errno = saved_errno;
}

void cdm__debug(int level, const char *fmt, ...)
{
    if (level > cdm__debug_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

const char *cdm__errno_text(int err)
{
    const char *text = strerrordesc_np(err);
    return text ? text : "unknown error";
}
