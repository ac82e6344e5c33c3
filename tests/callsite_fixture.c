/* SPDX-License-Identifier: MIT */
/* A shared object whose functions allocate: a real stack frame in a named object, for the
 * caller globs of the rule tests ("*libcallsite_fixture.so:fixture_load_*"). */
#include <stdlib.h>

__attribute__((noinline)) void *fixture_load_weights(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
    return buffer;
}

__attribute__((noinline)) void *fixture_scratch(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

/* `calls` frames of its own between malloc and the caller: a rule's frame calls down. */
__attribute__((noinline)) static void *nested_step(size_t size, int calls)
{
    void *buffer = calls ? nested_step(size, calls - 1) : malloc(size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

__attribute__((noinline)) void *fixture_load_nested(size_t size, int calls)
{
    void *buffer = nested_step(size, calls);
    __asm__ volatile("" ::: "memory");
    return buffer;
}

/* Named as a compiler names a clone of a function (GCC's fixture_clone_site.constprop.0). */
void *fixture_clone_site(size_t size) __asm__("fixture_clone_site.constprop.0");
__attribute__((noinline)) void *fixture_clone_site(size_t size)
{
    void *buffer = malloc(size);
    __asm__ volatile("" ::: "memory");
    return buffer;
}
