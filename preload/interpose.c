/* SPDX-License-Identifier: MIT */
/* The exported hooks: the malloc family, mmap, munmap, mremap, madvise, ioctl (a userfaultfd
 * the program registers over a tracked buffer), and the registration of fork handlers (so that
 * ours run after every allocator's).
 *
 * Each hook's fast path is a compare and a tail call to the next definition (the real
 * function, found with dlsym(RTLD_NEXT) so that another preloaded allocator behind us keeps
 * working). Everything else -- the bootstrap pool, the recursion guard, placement -- is on
 * the slow path. Results and errno follow glibc for every argument, including calloc
 * overflow, size 0 and invalid alignments. */
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/userfaultfd.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct cdm_real cdm__real;

/* glibc's own entry points: the fallback when no next definition exists. */
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* Set while dlsym runs: allocations it makes come from the bootstrap pool. */
static int resolving;
static bool allocator_is_glibc;
extern __typeof(calloc) our_calloc; /* defined with calloc */
static bool malloc_comes_here; /* the program's malloc-family calls reach our hooks */

/* A page-aligned pointer may be a placed heap buffer; anything else never is. */
#define CDM_MAY_BE_PLACED(ptr) (((uintptr_t)(ptr) & 4095) == 0)

static void *lookup(const char *name, void *ours)
{
    void *next = dlsym(RTLD_NEXT, name);
    return next == ours ? NULL : next;
}

static int real_posix_memalign_fallback(void **out, size_t alignment, size_t size)
{
    void *ptr = cdm__real.memalign(alignment, size);
    if (!ptr)
        return errno;
    *out = ptr;
    return 0;
}

static void *real_aligned_alloc_fallback(size_t alignment, size_t size)
{
    return cdm__real.memalign(alignment, size);
}

static size_t real_usable_size_fallback(void *ptr)
{
    return 0;
}

static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *out;
    int err = plat_mmap(addr, len, prot, flags, fd, off, &out);
    if (err) {
        errno = err;
        return MAP_FAILED;
    }
    return out;
}

static int raw_munmap(void *addr, size_t len)
{
    int err = plat_munmap(addr, len);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

static void *raw_mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
    va_end(ap);
    long rc = syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
    return rc == -1 ? MAP_FAILED : (void *)rc;
}

static int raw_madvise(void *addr, size_t len, int advice)
{
    return (int)syscall(SYS_madvise, addr, len, advice);
}

static int raw_ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return (int)syscall(SYS_ioctl, fd, request, arg);
}

static int no_register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                              void *dso_handle)
{
    return ENOSYS;
}

void cdm__hooks_resolve(void)
{
    if (__atomic_load_n(&cdm__real.free, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&resolving, 1, __ATOMIC_RELAXED);
    struct cdm_real found;
#define CDM_RESOLVE(name, ret, params) found.name = (ret(*) params)lookup(#name, (void *)name);
    CDM_HOOKS(CDM_RESOLVE)
#undef CDM_RESOLVE
    /* Without a next definition, glibc's own entry points or the raw system calls serve. */
    if (!found.malloc || !found.free || !found.calloc || !found.realloc) {
        found.malloc = __libc_malloc;
        found.free = __libc_free;
        found.calloc = __libc_calloc;
        found.realloc = __libc_realloc;
        found.memalign = __libc_memalign;
        found.valloc = __libc_valloc;
        found.pvalloc = __libc_pvalloc;
        found.malloc_usable_size = NULL;
    }
    if (!found.memalign)
        found.memalign = __libc_memalign;
    if (!found.posix_memalign)
        found.posix_memalign = real_posix_memalign_fallback;
    if (!found.aligned_alloc)
        found.aligned_alloc = real_aligned_alloc_fallback;
    if (!found.valloc)
        found.valloc = __libc_valloc;
    if (!found.pvalloc)
        found.pvalloc = __libc_pvalloc;
    if (!found.malloc_usable_size)
        found.malloc_usable_size = real_usable_size_fallback;
    if (!found.mmap)
        found.mmap = raw_mmap;
    if (!found.munmap)
        found.munmap = raw_munmap;
    if (!found.mremap)
        found.mremap = raw_mremap;
    if (!found.madvise)
        found.madvise = raw_madvise;
    if (!found.ioctl)
        found.ioctl = raw_ioctl;
    if (!found.__register_atfork)
        found.__register_atfork = no_register_atfork;
    /* The loader calls the first calloc in the global scope: the program's own (a static
     * jemalloc), else ours, which forwards to the next one. */
    void *first_calloc = dlsym(RTLD_DEFAULT, "calloc");
    malloc_comes_here = first_calloc == (void *)our_calloc;
    if (malloc_comes_here)
        first_calloc = (void *)found.calloc;
    allocator_is_glibc = first_calloc == (void *)__libc_calloc;
    /* free last: it is the "resolved" flag the fast paths test. */
    struct cdm_real published = found;
    void (*real_free)(void *) = published.free;
    published.free = NULL;
    cdm__real = published;
    __atomic_store_n(&cdm__real.free, real_free, __ATOMIC_RELEASE);
    __atomic_store_n(&resolving, 0, __ATOMIC_RELAXED);
    /* Until the constructor sets the configured size, mappings of a page or more are noted
     * (early.c) and everything else forwards. */
    if (cdm__state == CDM_STATE_PRELOADING)
        __atomic_store_n(&cdm__min_size, plat_page_size(), __ATOMIC_RELEASE);
}

/* Before resolution (or during it, from dlsym itself) allocations come from the pool. */
static bool unresolved(void)
{
    if (cdm_likely(__atomic_load_n(&cdm__real.free, __ATOMIC_ACQUIRE) != NULL))
        return false;
    if (!__atomic_load_n(&resolving, __ATOMIC_RELAXED))
        cdm__hooks_resolve();
    return __atomic_load_n(&cdm__real.free, __ATOMIC_ACQUIRE) == NULL;
}

/* The slow path may place only once the library is ready and not already running here. */
static bool may_place(void)
{
    return cdm__state == CDM_STATE_READY && !cdm__guard;
}

bool cdm__hooks_allocator_is_glibc(void)
{
    return allocator_is_glibc;
}

bool cdm__hooks_see_malloc(void)
{
    return malloc_comes_here;
}

void cdm__hooks_want_call(void)
{
    __atomic_store_n(&cdm__min_size, 0, __ATOMIC_RELEASE);
}

/* A malloc-family call comes from the program, never from inside its allocator, and holds no
 * lock of ours: what a hook inside the allocator could not do waits for one (doc/design.md,
 * "What a hook may call"). */
static void program_called(void)
{
    if (cdm_unlikely(__atomic_load_n(&cdm__min_size, __ATOMIC_ACQUIRE) == 0) && may_place()) {
        __atomic_store_n(&cdm__min_size, cdm__rt.min_size, __ATOMIC_RELEASE);
        cdm__tracker_start_threads();
    }
}

/* ------------------------------------------------------------------ malloc family */

/* Requests at or above min_size: placed when a rule says so, else forwarded by the caller. */
static bool try_place(size_t size, size_t alignment, bool zeroed, void **out)
{
    bool placed = size >= cdm__rt.min_size && may_place() &&
                  cdm__heap_alloc(size, alignment, zeroed, out);
    program_called();
    return placed;
}

CDM_EXPORT void *malloc(size_t size)
{
    if (cdm_likely(size < cdm__min_size))
        return cdm__real.malloc(size);
    if (unresolved())
        return cdm__bootstrap_alloc(size, 0);
    void *out;
    return try_place(size, 0, false, &out) ? out : cdm__real.malloc(size);
}

CDM_EXPORT void free(void *ptr)
{
    if (cdm_likely(!CDM_MAY_BE_PLACED(ptr)) && cdm_likely(!cdm__bootstrap_owns(ptr)))
        return cdm__real.free(ptr);
    if (ptr == NULL || cdm__bootstrap_owns(ptr))
        return;
    if (!cdm__heap_free(ptr))
        cdm__real.free(ptr);
}

CDM_EXPORT void *calloc(size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total))
        total = SIZE_MAX; /* the real calloc reports the overflow with its own errno */
    if (cdm_likely(total < cdm__min_size))
        return cdm__real.calloc(count, size);
    if (unresolved())
        return total == SIZE_MAX ? NULL : cdm__bootstrap_alloc(total, 0);
    void *out;
    if (total != SIZE_MAX && try_place(total, 0, true, &out))
        return out;
    return cdm__real.calloc(count, size);
}

/* calloc's own address: `calloc` in here names the first definition in the global scope. */
extern __typeof(calloc) our_calloc
    __attribute__((alias("calloc"), visibility("hidden"), copy(calloc)));

CDM_EXPORT void *realloc(void *ptr, size_t size)
{
    if (cdm_likely(size < cdm__min_size) && cdm_likely(!CDM_MAY_BE_PLACED(ptr)) &&
        cdm_likely(!cdm__bootstrap_owns(ptr)))
        return cdm__real.realloc(ptr, size);
    if (ptr == NULL)
        return malloc(size);
    if (cdm__bootstrap_owns(ptr)) {
        /* Out of the pool: copy into a real buffer. */
        void *moved = malloc(size);
        if (moved) {
            size_t old = cdm__bootstrap_size(ptr);
            memcpy(moved, ptr, old < size ? old : size);
        }
        return moved;
    }
    program_called();
    void *out;
    if (!cdm__guard && cdm__heap_realloc(ptr, size, &out))
        return out;
    return cdm__real.realloc(ptr, size);
}

CDM_EXPORT void *reallocarray(void *ptr, size_t count, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(ptr, total);
}

static bool power_of_two(size_t n)
{
    return n && !(n & (n - 1));
}

CDM_EXPORT int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (cdm_likely(size < cdm__min_size))
        return cdm__real.posix_memalign(out, alignment, size);
    /* glibc: EINVAL unless a power of two multiple of sizeof(void *); *out untouched. */
    if (alignment % sizeof(void *) != 0 || !power_of_two(alignment / sizeof(void *)))
        return EINVAL;
    void *ptr;
    if (unresolved())
        ptr = cdm__bootstrap_alloc(size, alignment);
    else if (!try_place(size, alignment, false, &ptr))
        return cdm__real.posix_memalign(out, alignment, size);
    if (!ptr)
        return ENOMEM;
    *out = ptr;
    return 0;
}

/* aligned_alloc, memalign, valloc, pvalloc: true when handled here (placed, or served by the
 * bootstrap pool). Invalid alignments are the real allocator's to judge, so results and
 * errno stay exactly as without us. */
static bool aligned_slow(size_t alignment, size_t size, void **out)
{
    if (unresolved()) {
        *out = cdm__bootstrap_alloc(size, alignment);
        return true;
    }
    return power_of_two(alignment) && try_place(size, alignment, false, out);
}

CDM_EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
    void *out;
    if (cdm_likely(size < cdm__min_size) || !aligned_slow(alignment, size, &out))
        return cdm__real.aligned_alloc(alignment, size);
    return out;
}

CDM_EXPORT void *memalign(size_t alignment, size_t size)
{
    void *out;
    if (cdm_likely(size < cdm__min_size) || !aligned_slow(alignment, size, &out))
        return cdm__real.memalign(alignment, size);
    return out;
}

CDM_EXPORT void *valloc(size_t size)
{
    void *out;
    if (cdm_likely(size < cdm__min_size) || !aligned_slow(plat_page_size(), size, &out))
        return cdm__real.valloc(size);
    return out;
}

CDM_EXPORT void *pvalloc(size_t size)
{
    size_t page = plat_page_size(), rounded = plat_page_round(size);
    void *out;
    if (cdm_likely(size < cdm__min_size) || rounded < size || !aligned_slow(page, rounded, &out))
        return cdm__real.pvalloc(size);
    return out;
}

CDM_EXPORT size_t malloc_usable_size(void *ptr)
{
    if (cdm_likely(!CDM_MAY_BE_PLACED(ptr)) && cdm_likely(!cdm__bootstrap_owns(ptr)))
        return cdm__real.malloc_usable_size(ptr);
    if (ptr == NULL)
        return 0;
    if (cdm__bootstrap_owns(ptr))
        return cdm__bootstrap_size(ptr);
    size_t usable = cdm__heap_usable_size(ptr);
    return usable ? usable : cdm__real.malloc_usable_size(ptr);
}

/* ------------------------------------------------------------------ mappings */

CDM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    /* A small MAP_FIXED mapping may replace placed pages: the slow path forgets them. */
    if (cdm_likely(len < cdm__min_size) &&
        cdm_likely(!(flags & MAP_FIXED) || !__atomic_load_n(&cdm__placed_mappings, __ATOMIC_RELAXED)))
        return cdm__real.mmap(addr, len, prot, flags, fd, off);
    if (unresolved())
        return raw_mmap(addr, len, prot, flags, fd, off);
    if (!may_place()) {
        void *out;
        if (cdm__state == CDM_STATE_PRELOADING && !cdm__guard &&
            cdm__early_mmap(addr, len, prot, flags, fd, off, &out))
            return out;
        return cdm__real.mmap(addr, len, prot, flags, fd, off);
    }
    return cdm__mmap_slow(addr, len, prot, flags, fd, off);
}

/* On 64-bit glibc mmap64 is mmap. */
CDM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

CDM_EXPORT int munmap(void *addr, size_t len)
{
    if (cdm_likely(!__atomic_load_n(&cdm__placed_mappings, __ATOMIC_RELAXED)) &&
        cdm_likely(cdm__real.munmap != NULL))
        return cdm__real.munmap(addr, len);
    if (unresolved())
        return raw_munmap(addr, len);
    if (cdm__guard)
        return cdm__real.munmap(addr, len);
    int result;
    if (cdm_unlikely(cdm__state == CDM_STATE_PRELOADING) && cdm__early_munmap(addr, len, &result))
        return result;
    return cdm__munmap_slow(addr, len);
}

CDM_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
    va_end(ap);
    if (cdm_likely(!__atomic_load_n(&cdm__placed_mappings, __ATOMIC_RELAXED)) &&
        cdm_likely(cdm__real.mremap != NULL))
        return cdm__real.mremap(old, old_len, new_len, flags, new_addr);
    if (unresolved())
        return raw_mremap(old, old_len, new_len, flags, new_addr);
    if (cdm__guard)
        return cdm__real.mremap(old, old_len, new_len, flags, new_addr);
    void *moved;
    if (cdm_unlikely(cdm__state == CDM_STATE_PRELOADING) &&
        cdm__early_mremap(old, old_len, new_len, flags, new_addr, &moved))
        return moved;
    return cdm__mremap_slow(old, old_len, new_len, flags, new_addr);
}

CDM_EXPORT int madvise(void *addr, size_t len, int advice)
{
    if (cdm_likely(!__atomic_load_n(&cdm__placed_buffers, __ATOMIC_RELAXED)) &&
        cdm_likely(cdm__real.madvise != NULL))
        return cdm__real.madvise(addr, len, advice);
    if (unresolved())
        return raw_madvise(addr, len, advice);
    if (!may_place())
        return cdm__real.madvise(addr, len, advice);
    return cdm__madvise_slow(addr, len, advice);
}

/* A range has one userfaultfd at most: the program registering its own over a tracked buffer
 * (a checkpointing or live-migration library) gets it, and the buffer leaves tracking. Every
 * ioctl passes here; only that request is looked at. */
CDM_EXPORT int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (cdm_likely(request != UFFDIO_REGISTER) && cdm_likely(cdm__real.ioctl != NULL))
        return cdm__real.ioctl(fd, request, arg);
    if (unresolved())
        return raw_ioctl(fd, request, arg);
    if (request == UFFDIO_REGISTER && arg && may_place()) {
        const struct uffdio_register *reg = arg;
        int saved_errno = errno;
        cdm__guard++;
        cdm__tracker_yield(fd, (uintptr_t)reg->range.start, (size_t)reg->range.len);
        cdm__guard--;
        errno = saved_errno;
    }
    return cdm__real.ioctl(fd, request, arg);
}

/* ------------------------------------------------------------------ fork handlers */

/* Before fork, glibc runs the prepare handlers in the reverse order of their registration. An
 * allocator's handler takes the allocator's locks, and a thread holding those may be in one of
 * our hooks, waiting for our locks: ours must be taken after the allocator's. So every
 * registration that reaches us registers ours first, and ours run last. */
CDM_EXPORT int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
                                 void *dso_handle)
{
    cdm__fork_handlers_register();
    return cdm__real.__register_atfork(prepare, parent, child, dso_handle);
}

/* libc's pthread_atfork@GLIBC_2.2.5, which objects built before glibc 2.28 call (libtcmalloc
 * does); it registers with libc's handle, which is never unloaded, as NULL is. */
CDM_EXPORT int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    cdm__fork_handlers_register();
    return cdm__real.__register_atfork(prepare, parent, child, NULL);
}
