/* SPDX-License-Identifier: MIT */
/* The environment, read by scanning `environ`: getenv may run before libc is fully set up in
 * a preloaded constructor, and nothing here may allocate. Under secure execution (setuid,
 * file capabilities: AT_SECURE) no variable is read at all. */
#include "core.h"

#include <string.h>
#include <sys/auxv.h>

extern char **environ;

static bool secure_execution(void)
{
    return getauxval(AT_SECURE) != 0;
}

const char *cdm__env(const char *name)
{
    if (secure_execution() || environ == NULL)
        return NULL;
    size_t len = strlen(name);
    for (char **entry = environ; *entry; entry++)
        if (strncmp(*entry, name, len) == 0 && (*entry)[len] == '=')
            return *entry + len + 1;
    return NULL;
}
