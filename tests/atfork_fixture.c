/* SPDX-License-Identifier: MIT */
/* Preloaded behind the library, this object is initialised before it and registers its fork
 * handlers first, as libtcmalloc and libjemalloc do. Its prepare handlers allocate a buffer
 * that the library places (tests/process.conf), as a thread inside such an allocator may be
 * in a hook while fork runs the handlers: the library's prepare handler, which takes the
 * library's locks, must run after them (doc/design.md, "Fork and exit"), or fork waits
 * forever. One handler comes through __register_atfork (what pthread_atfork is in a program
 * built against glibc 2.28 or later, and what libjemalloc calls), one through libc's older
 * pthread_atfork (what libtcmalloc calls). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern int compat_pthread_atfork(void (*)(void), void (*)(void), void (*)(void));
__asm__(".symver compat_pthread_atfork, pthread_atfork@GLIBC_2.2.5");

static void allocate(void)
{
    char *buffer = malloc(9 << 20);
    if (buffer)
        memset(buffer, 1, 4096);
    free(buffer);
}

__attribute__((constructor)) static void register_handlers(void)
{
    alarm(20); /* a fork that waits forever ends the program (SIGALRM) */
    pthread_atfork(allocate, NULL, NULL);
    compat_pthread_atfork(allocate, NULL, NULL);
}
