/* SPDX-License-Identifier: MIT */
/* Mappings made before the library was ready. The loader runs other libraries' constructors
 * before ours (a preloaded object depends on nothing the program links), and an allocator
 * linked into the program maps its first extents in its own: jemalloc's first arena under
 * redis-server, 8 MiB of its busiest memory. So while the library is PRELOADING the mapping
 * hooks note the program's private anonymous mappings here (nothing is decided: there is no
 * config yet), and the constructor hands each one still there to placement, which decides
 * and places it as if just mapped (doc/design.md, "Before the constructor"). */
#include "internal.h"

#include <pthread.h>
#include <sys/mman.h>

/* Past this many, later ones stay unplaced: a program makes a handful before our constructor. */
#define EARLY_MAX 64

static struct early_mapping {
    uintptr_t start, end;
} early[EARLY_MAX];
/* While any is noted, cdm__placed_mappings counts one more, so that unmapping and remapping
 * take their slow paths, which come here (the table is empty until the constructor). */
static int n_early;
/* Set under the lock by the constructor once the mappings are handed over: hooks after it
 * take the normal paths. */
static bool adopted;
/* A hook holds it around one system call and a scan of the list; the constructor while it
 * places what was noted. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Forgets what [start, end) covers: an entry keeps what lies outside it, as a placed mapping
 * does (jemalloc maps more than it needs and unmaps the ends to align an extent). */
static void forget_locked(uintptr_t start, uintptr_t end)
{
    bool held = n_early > 0;
    for (int i = 0; i < n_early; i++) {
        uintptr_t e_start = early[i].start, e_end = early[i].end;
        if (e_end <= start || end <= e_start)
            continue;
        if (e_start < start && end < e_end && n_early < EARLY_MAX) /* a hole: the tail apart */
            early[n_early++] = (struct early_mapping){.start = end, .end = e_end};
        if (e_start < start)
            early[i].end = start;
        else if (end < e_end)
            early[i].start = end;
        else
            early[i--] = early[--n_early];
    }
    if (held && n_early == 0)
        __atomic_fetch_sub(&cdm__placed_mappings, 1, __ATOMIC_RELAXED);
}

static void note_locked(void *start, size_t len)
{
    if (n_early == EARLY_MAX)
        return;
    if (n_early == 0)
        __atomic_fetch_add(&cdm__placed_mappings, 1, __ATOMIC_RELAXED);
    early[n_early].start = (uintptr_t)start;
    early[n_early++].end = (uintptr_t)start + plat_page_round(len);
}

/* Takes the lock, unless the constructor has taken the noted mappings over. */
static bool lock_while_noting(void)
{
    pthread_mutex_lock(&lock);
    if (!adopted)
        return true;
    pthread_mutex_unlock(&lock);
    return false;
}

static bool noted_kind(int prot, int flags, int fd)
{
    return prot != PROT_NONE && (flags & MAP_ANONYMOUS) && !(flags & MAP_SHARED) &&
           !(flags & MAP_HUGETLB) && fd == -1;
}

bool cdm__early_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
    if (!lock_while_noting())
        return false;
    if (flags & MAP_FIXED)
        forget_locked((uintptr_t)addr, (uintptr_t)addr + plat_page_round(len));
    *out = cdm__real.mmap(addr, len, prot, flags, fd, off);
    if (*out != MAP_FAILED && len >= plat_page_size() && noted_kind(prot, flags, fd))
        note_locked(*out, len);
    pthread_mutex_unlock(&lock);
    return true;
}

bool cdm__early_munmap(void *addr, size_t len, int *out)
{
    if (!lock_while_noting())
        return false;
    forget_locked((uintptr_t)addr, (uintptr_t)addr + plat_page_round(len));
    *out = cdm__real.munmap(addr, len);
    pthread_mutex_unlock(&lock);
    return true;
}

bool cdm__early_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr,
                       void **out)
{
    if (!lock_while_noting())
        return false;
    bool noted = false;
    for (int i = 0; i < n_early && !noted; i++)
        noted = early[i].start == (uintptr_t)old &&
                early[i].end == (uintptr_t)old + plat_page_round(old_len);
    forget_locked((uintptr_t)old, (uintptr_t)old + plat_page_round(old_len));
    *out = cdm__real.mremap(old, old_len, new_len, flags, new_addr);
    if (*out != MAP_FAILED) {
        forget_locked((uintptr_t)*out, (uintptr_t)*out + plat_page_round(new_len));
        if (noted) /* moved or resized whole: still the same buffer */
            note_locked(*out, new_len);
    }
    pthread_mutex_unlock(&lock);
    return true;
}

void cdm__early_adopt(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_early; i++)
        cdm__placement_adopt((void *)early[i].start, early[i].end - early[i].start);
    cdm__debug(1, "%d mapping%s made before the constructor", n_early, n_early == 1 ? "" : "s");
    /* Their table entries hold the slow paths from here (placement.c). */
    forget_locked(0, UINTPTR_MAX);
    adopted = true;
    pthread_mutex_unlock(&lock);
}
