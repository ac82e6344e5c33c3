/* SPDX-License-Identifier: MIT */
/* The allocating stack and its names.
 *
 * Only allocations at or above min_size are unwound, with libunwind's unw_backtrace
 * (UNW_CACHE_PER_THREAD: no global lock, no malloc). Each return address is named once, as
 * "object:function" by symtab.c (no allocator, no loader lock: a hook may run inside the
 * program's allocator), and kept in a table of call sites that the report ranks by bytes. */
#define UNW_LOCAL_ONLY
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>
#include <libunwind.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The table lives in our own arena (see arena.c); an add that cannot grow it is dropped. */
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(size) cdm__arena_map(size)
#define uthash_free(ptr, size) cdm__arena_unmap(ptr, size)
#include <uthash.h>

struct callsite_entry {
    struct cdm_callsite site; /* site.ip is the key */
    UT_hash_handle hh;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct callsite_entry *table;
static struct cdm_slab slab = {.object_size = sizeof(struct callsite_entry)};

static struct cdm_callsite *find(uintptr_t ip)
{
    struct callsite_entry *entry;
    HASH_FIND(hh, table, &ip, sizeof ip, entry);
    return entry ? &entry->site : NULL;
}

static void name_frame(uintptr_t ip, struct cdm_callsite *site)
{
    struct cdm_code_location where;
    cdm__symtab_locate(ip, &where);
    site->ip = ip;
    site->offset = where.offset;
    site->in_library = where.in_library;
    int n = snprintf(site->text, sizeof site->text, "%s:%.*s", where.object,
                     (int)cdm__function_name_length(where.function), where.function);
    if (n < 0 || (size_t)n >= sizeof site->text)
        site->text[sizeof site->text - 1] = '\0';
    const char *colon = strrchr(site->text, ':');
    site->function = colon ? colon + 1 : site->text;
    const char *slash = memrchr(site->text, '/', (size_t)(site->function - site->text));
    site->short_text = slash ? slash + 1 : site->text;
}

/* Adds a named site unless another thread named the same address meanwhile. */
static struct cdm_callsite *insert(const struct cdm_callsite *named)
{
    pthread_mutex_lock(&lock);
    struct cdm_callsite *site = find(named->ip);
    struct callsite_entry *entry;
    if (!site && (entry = cdm__slab_alloc(&slab)) != NULL) {
        site = &entry->site;
        *site = *named;
        site->short_text = site->text + (named->short_text - named->text);
        site->function = site->text + (named->function - named->text);
        HASH_ADD(hh, table, site.ip, sizeof site->ip, entry);
    }
    pthread_mutex_unlock(&lock);
    return site;
}

/* Room for the library's own frames above the program's (hook, placement, this), skipped. */
#define OWN_FRAMES 8
#define MAX_FRAMES (CDM_STACK_DEPTH + OWN_FRAMES)

/* The most of our own frames seen above the program's: a capture of a few program frames
 * walks that many more and no further (a frame costs some 13 ns of a cold walk, and a
 * Python or C++ stack has dozens). */
static int own_frames = 4;

/* The calling thread's last walk: a loop that allocates from one place walks the same return
 * addresses each time, and their sites never change (sites are never freed). */
static __thread struct {
    int n;
    void *ips[MAX_FRAMES];
    struct cdm_callsite *sites[MAX_FRAMES];
} last;

/* The sites of n return addresses, each named the first time it is seen. */
static void sites_of(void *const *ips, int n, struct cdm_callsite **sites)
{
    if (n == last.n && memcmp(ips, last.ips, (size_t)n * sizeof *ips) == 0) {
        memcpy(sites, last.sites, (size_t)n * sizeof *sites);
        return;
    }
    bool missing = false;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n; i++) {
        sites[i] = find((uintptr_t)ips[i]);
        missing |= sites[i] == NULL;
    }
    pthread_mutex_unlock(&lock);
    for (int i = 0; missing && i < n; i++)
        if (!sites[i]) {
            struct cdm_callsite named = {0};
            name_frame((uintptr_t)ips[i], &named);
            sites[i] = insert(&named);
        }
    if (!missing) {
        last.n = n;
        memcpy(last.ips, ips, (size_t)n * sizeof *ips);
        memcpy(last.sites, sites, (size_t)n * sizeof *sites);
    }
}

void cdm__stack_capture(struct cdm_stack *stack, int frames)
{
    /* unw_backtrace walks from libunwind's frame cache; unw_step on a cursor masks signals
     * around every frame (two system calls each). */
    void *ips[MAX_FRAMES];
    struct cdm_callsite *sites[MAX_FRAMES];
    int want = frames + __atomic_load_n(&own_frames, __ATOMIC_RELAXED);
    for (;;) {
        want = want < MAX_FRAMES ? want : MAX_FRAMES;
        int n = unw_backtrace(ips, want);
        sites_of(ips, n, sites);
        int own = 0;
        while (own < n && sites[own] && sites[own]->in_library)
            own++;
        if (own > __atomic_load_n(&own_frames, __ATOMIC_RELAXED))
            __atomic_store_n(&own_frames, own, __ATOMIC_RELAXED);
        stack->depth = stack->n_texts = 0;
        for (int i = 0; i < n && stack->depth < CDM_STACK_DEPTH; i++) {
            struct cdm_callsite *site = sites[i];
            if (!site || site->in_library)
                continue;
            stack->frames[stack->depth++] = site;
            stack->texts[stack->n_texts++] = site->text;
            if (site->short_text != site->text)
                stack->texts[stack->n_texts++] = site->short_text;
        }
        stack->cut = n == want && want < MAX_FRAMES && stack->depth < CDM_STACK_DEPTH;
        if (!stack->cut || stack->depth >= frames)
            return;
        want = MAX_FRAMES; /* more of our own frames than seen before */
    }
}

void cdm__stack_warm_up(void)
{
    cdm__symtab_setup();
    /* libunwind 1.6's one-time set-up happens here, at start, not in a hook: the pipe it
     * validates memory with (pipe2 on its first call, kept for the life of the process),
     * which held stdio numbers keep off 0-2 when the program started with them closed, and,
     * on the first unwind, the key of its per-thread cache (pthread_key_create: created
     * early, its number stays below 32, so that pthread_setspecific in each new thread
     * never calls calloc). */
    int held[3], n_held = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
            break;
        if (fd > STDERR_FILENO) {
            close(fd);
            break;
        }
        held[n_held++] = fd;
    }
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    void *ip;
    unw_backtrace(&ip, 1);
    while (n_held)
        close(held[--n_held]);
}

struct cdm_callsite *cdm__stack_caller(const struct cdm_stack *stack)
{
    return stack->depth ? stack->frames[0] : NULL;
}

void cdm__callsite_account(struct cdm_callsite *site, uint64_t bytes)
{
    if (!site)
        return;
    __atomic_fetch_add(&site->bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&site->allocations, 1, __ATOMIC_RELAXED);
}

int cdm__callsites_top(struct cdm_callsite **out, int n)
{
    int found = 0;
    struct callsite_entry *entry, *next;
    pthread_mutex_lock(&lock);
    HASH_ITER(hh, table, entry, next)
    {
        struct cdm_callsite *site = &entry->site;
        if (!site->allocations)
            continue;
        if (found < n)
            out[found++] = site;
        else if (site->bytes > out[n - 1]->bytes)
            out[n - 1] = site;
        else
            continue;
        for (int i = found - 1; i > 0 && out[i - 1]->bytes < out[i]->bytes; i--) {
            struct cdm_callsite *larger = out[i];
            out[i] = out[i - 1];
            out[i - 1] = larger;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}

void cdm__callsites_prepare_fork(void)
{
    pthread_mutex_lock(&lock);
}

/* The child counts its own allocations from here on. */
void cdm__callsites_after_fork(bool child)
{
    if (child) {
        struct callsite_entry *entry, *next;
        pthread_mutex_init(&lock, NULL);
        HASH_ITER(hh, table, entry, next)
        entry->site.bytes = entry->site.allocations = 0;
    } else {
        pthread_mutex_unlock(&lock);
    }
}
