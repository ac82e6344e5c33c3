/* SPDX-License-Identifier: MIT */
/* Allocations served before the real allocator is known.
 *
 * dlsym(RTLD_NEXT) calls calloc for its error buffer, so the first malloc the process makes
 * can reach us before we know where the next malloc is. Those few requests come from this
 * static pool (as heaptrack's DummyPool); free() of a pool pointer does nothing and
 * realloc() copies out of it. The pool is never reused: it serves a handful of early calls. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define POOL_ALIGN 16

struct pool_header {
    size_t size;
    size_t pad; /* keeps the payload 16-byte aligned */
};

_Alignas(4096) unsigned char cdm__bootstrap_pool[CDM_BOOTSTRAP_POOL_SIZE];
static size_t pool_used;

void *cdm__bootstrap_alloc(size_t size, size_t alignment)
{
    if (alignment < POOL_ALIGN)
        alignment = POOL_ALIGN;
    size_t offset = __atomic_load_n(&pool_used, __ATOMIC_RELAXED);
    size_t start, end;
    do {
        start = (offset + sizeof(struct pool_header) + alignment - 1) & ~(alignment - 1);
        end = start + ((size + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1));
        if (end > CDM_BOOTSTRAP_POOL_SIZE || end < start) {
            errno = ENOMEM;
            return NULL;
        }
    } while (!__atomic_compare_exchange_n(&pool_used, &offset, end, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    struct pool_header *header = (struct pool_header *)(cdm__bootstrap_pool + start) - 1;
    header->size = size;
    return cdm__bootstrap_pool + start; /* static memory: already zero, as calloc needs */
}

size_t cdm__bootstrap_size(const void *ptr)
{
    return ((const struct pool_header *)ptr - 1)->size;
}
