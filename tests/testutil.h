/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Criterion tests. Header-only: each test is one source file. */
#ifndef CDMPLACE_TESTUTIL_H
#define CDMPLACE_TESTUTIL_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes `contents` to a new file under $TMPDIR (or /tmp) and puts its path in `path`. */
static inline void test_write_file(char *path, size_t size, const char *contents)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, size, "%s/cdmplace-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp %s failed", path);
    size_t len = strlen(contents);
    cr_assert_eq(write(fd, contents, len), (ssize_t)len, "cannot write %s", path);
    close(fd);
}

/* `relative` (e.g. "config") inside the source tree, whatever the current directory: the
 * tree is the first directory above the test binary (build/tests/ or build/asan/tests/)
 * that holds preload/internal.h. Returns false if there is none. */
static inline bool test_source_path(const char *relative, char *path, size_t size)
{
    char dir[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (len <= 0)
        return false;
    dir[len] = '\0';
    for (char *slash = strrchr(dir, '/'); slash; slash = strrchr(dir, '/')) {
        *slash = '\0';
        char probe[PATH_MAX + 32];
        if (snprintf(probe, sizeof probe, "%s/preload/internal.h", dir) >= (int)sizeof probe)
            return false;
        if (access(probe, F_OK) == 0)
            return snprintf(path, size, "%s/%s", dir, relative) < (int)size;
    }
    return false;
}

#ifdef CDMPLACE_CORE_H
/* The kept errors of a config, one "FILE:LINE: message" a line, for assertion messages.
 * Available when core.h is included before this header. */
static inline const char *test_config_errors(const struct cdm_config *config)
{
    static char text[CDM_MAX_ERRORS * 300];
    size_t used = 0;
    text[0] = '\0';
    int kept = config->n_errors < CDM_MAX_ERRORS ? config->n_errors : CDM_MAX_ERRORS;
    for (int i = 0; i < kept && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "\n  %s:%d: %s",
                                 config->errors[i].file, config->errors[i].line,
                                 config->errors[i].message);
    return text;
}
#endif

#endif
