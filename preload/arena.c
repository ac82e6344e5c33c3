/* SPDX-License-Identifier: MIT */
/* Memory for the library's own tables: fixed-size objects carved from raw mmap.
 *
 * Our tables are touched while we hold our own locks, so they must never call into the
 * host's allocator: a jemalloc or tcmalloc behind us may call mmap (and so us) while holding
 * its own lock. Objects of one size class come from 64 KiB chunks and go back to a free
 * list; chunks are never returned (the tables live as long as the process). uthash's bucket
 * arrays come straight from mmap (cdm__arena_map). */
#include "internal.h"

#include <pthread.h>
#include <sys/mman.h>

#define CHUNK_SIZE (64 * 1024)

struct free_object {
    struct free_object *next;
};

/* Blocks given back are kept for the next request of the same size: uthash frees its bucket
 * array whenever a table empties and asks for it again on the next insert, which would
 * otherwise be an mmap, page faults and an munmap for every placed buffer. A leaf lock:
 * callers hold a table's lock, never the other way round. */
#define KEPT_BLOCKS 8
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *mem;
    size_t size;
} kept[KEPT_BLOCKS];

void *cdm__arena_map(size_t size)
{
    void *mem = NULL;
    size = plat_page_round(size);
    pthread_mutex_lock(&kept_lock);
    for (int i = 0; i < KEPT_BLOCKS && !mem; i++)
        if (kept[i].mem && kept[i].size == size) {
            mem = kept[i].mem;
            kept[i].mem = NULL;
        }
    pthread_mutex_unlock(&kept_lock);
    if (mem) {
        __builtin_memset(mem, 0, size);
        return mem;
    }
    if (plat_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &mem))
        return NULL;
    /* Kept apart from the program's mappings: a mapping of the program's made next to one of
     * ours would be merged with it, and its mbind or munmap would split it again. Where the
     * kernel's tree of mappings makes that dear, a placed 1 MiB buffer cost half again as much
     * (doc/design.md, "Memory of our own"). Not in a core dump: the program's memory is. */
    plat_madvise(mem, size, MADV_DONTDUMP);
    return mem;
}

void cdm__arena_unmap(void *mem, size_t size)
{
    if (!mem)
        return;
    size = plat_page_round(size);
    pthread_mutex_lock(&kept_lock);
    for (int i = 0; i < KEPT_BLOCKS && mem; i++)
        if (!kept[i].mem) {
            kept[i].mem = mem;
            kept[i].size = size;
            mem = NULL;
        }
    pthread_mutex_unlock(&kept_lock);
    if (mem)
        plat_munmap(mem, size);
}

void *cdm__arena_grow(void *mem, size_t size, size_t used, size_t new_size)
{
    void *grown = cdm__arena_map(new_size);
    if (!grown)
        return NULL;
    if (mem) {
        __builtin_memcpy(grown, mem, used);
        cdm__arena_unmap(mem, size);
    }
    return grown;
}

/* Caller holds the lock that guards `slab`. */
void *cdm__slab_alloc(struct cdm_slab *slab)
{
    if (!slab->free_list) {
        unsigned char *chunk = cdm__arena_map(CHUNK_SIZE);
        if (!chunk)
            return NULL;
        size_t size = (slab->object_size + 15) & ~(size_t)15;
        for (size_t off = 0; off + size <= CHUNK_SIZE; off += size) {
            struct free_object *object = (struct free_object *)(chunk + off);
            object->next = slab->free_list;
            slab->free_list = object;
        }
    }
    struct free_object *object = slab->free_list;
    slab->free_list = object->next;
    __builtin_memset(object, 0, slab->object_size);
    return object;
}

void cdm__slab_free(struct cdm_slab *slab, void *ptr)
{
    struct free_object *object = ptr;
    object->next = slab->free_list;
    slab->free_list = object;
}
