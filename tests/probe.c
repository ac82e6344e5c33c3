/* SPDX-License-Identifier: MIT */
/* A program for the process tests: it allocates, forks, execs, exits in the ways a host
 * program does, with libcdmplace.so preloaded by the test, and prints what happened. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <numaif.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cdmplace.h"
#include "kernel_features.h"
#include "smaps.h"

#define MiB (1024ul * 1024)

static int (*query)(const void *, struct cdm_buffer_info *);

static int placed(const void *ptr)
{
    struct cdm_buffer_info info;
    return query && query(ptr, &info) == 0;
}

/* A tracked mapping, then a wait with no malloc-family call, then one: the epochs the
 * tracker collected in each wait. */
static int track_start(void)
{
    size_t size = 16 * MiB;
    char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct cdm_buffer_info info = {0};
    if (buffer == MAP_FAILED || !query || query(buffer, &info) != 0)
        return 1;
    memset(buffer, 1, size);
    usleep(1000000);
    query(buffer, &info);
    unsigned before = info.epochs;
    char *volatile small = malloc(64); /* volatile: the pair may not be elided */
    free(small);
    usleep(1000000);
    query(buffer, &info);
    printf("tracked=%d epochs-without-malloc=%u epochs-after-malloc=%u\n", info.tracked, before,
           info.epochs - before);
    return munmap(buffer, size);
}

/* A mapping of `mib` MiB, filled, then 8-byte words of it updated at random for `seconds`
 * seconds (as HPCC's RandomAccess): whether a rule tracks it, and the minor faults
 * this thread took in each second of the updates. Under a write-protect tracker each
 * protected page written is one. */
static long thread_faults(void)
{
    struct rusage usage;
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_minflt;
}

static int random_writes(size_t mib, int seconds)
{
    size_t n = (mib << 20) / sizeof(uint64_t);
    uint64_t *words = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                           -1, 0);
    struct cdm_buffer_info info = {0};
    if (words == MAP_FAILED || seconds > 30)
        return 1;
    for (size_t i = 0; i < n; i++)
        words[i] = i;
    long faults[30];
    uint64_t x = 88172645463325252u;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int s = 0; s < seconds; s++) {
        long before = thread_faults();
        do {
            for (int k = 0; k < 4096; k++) {
                x ^= x << 13; /* xorshift64 */
                x ^= x >> 7;
                x ^= x << 17;
                words[x % n] += 1;
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (now.tv_sec - start.tv_sec < s + 1);
        faults[s] = thread_faults() - before;
    }
    printf("tracked=%d faults", query && query(words, &info) == 0 && info.tracked);
    for (int s = 0; s < seconds; s++)
        printf(" %ld", faults[s]);
    printf("\n");
    return munmap(words, mib << 20);
}

/* Writes [buffer, buffer + size) once, page by page in 16 parts spread over `ms`
 * milliseconds (0: at full speed). */
static void paced_pass(char *buffer, size_t size, int ms, unsigned char value)
{
    size_t part = size / 16;
    for (int k = 0; k < 16; k++) {
        for (size_t i = (size_t)k * part; i < (size_t)(k + 1) * part; i += 4096)
            buffer[i] = value;
        if (ms)
            usleep((useconds_t)ms * 1000 / 16);
    }
}

/* A mapping of `mib` MiB filled over `fill_ms`, then written whole `passes` times, each pass
 * over `pass_ms` (a loop streaming through its buffer, slower or faster than the tracker's
 * epochs): whether a rule tracks it, and the minor faults each pass took. */
static int stream_passes(size_t mib, int fill_ms, int passes, int pass_ms)
{
    size_t size = mib << 20;
    char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED || passes > 30)
        return 1;
    long faults[30];
    paced_pass(buffer, size, fill_ms, 1);
    for (int p = 0; p < passes; p++) {
        long before = thread_faults();
        paced_pass(buffer, size, pass_ms, (unsigned char)(p + 2));
        faults[p] = thread_faults() - before;
    }
    struct cdm_buffer_info info = {0};
    printf("tracked=%d faults", query && query(buffer, &info) == 0 && info.tracked);
    for (int p = 0; p < passes; p++)
        printf(" %ld", faults[p]);
    printf("\n");
    return munmap(buffer, size);
}

/* A mapping of `mib` MiB of which every other page is written (records here and there),
 * then, `wait_ms` later (the tracker has protected what it tracks), the pages between them are
 * made: whether a rule tracks it, the pages made, and the minor faults making them took (one a
 * page where nothing marks the pages not made yet as protected). */
static int make_late(size_t mib, int wait_ms)
{
    size_t size = mib << 20, made = 0;
    char *buffer = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED || madvise(buffer, size, MADV_NOHUGEPAGE) != 0)
        return 1;
    for (size_t i = 0; i < size; i += 2 * 4096)
        buffer[i] = 1;
    usleep((useconds_t)wait_ms * 1000);
    long before = thread_faults();
    for (size_t i = 4096; i < size; i += 2 * 4096, made++)
        buffer[i] = 1;
    long faults = thread_faults() - before;
    struct cdm_buffer_info info = {0};
    printf("tracked=%d made %zu faults %ld\n", query && query(buffer, &info) == 0 && info.tracked,
           made, faults);
    return munmap(buffer, size);
}

/* `mib` MiB advised MADV_HUGEPAGE, filled, then written whole over and over for `seconds`
 * seconds: whether a rule tracks it, and how much of it was in huge pages after the fill and
 * at the end (a write to a huge page under asynchronous write-protection splits it). In a
 * mapping of its own, or from malloc (`heap`: a placed heap buffer starts on a page, not on
 * a huge page's boundary). */
static int huge_writes(size_t mib, int seconds, bool heap)
{
    size_t size = mib << 20, huge = 2 * MiB;
    char *mapped = heap ? malloc(size + huge)
                        : mmap(NULL, size + huge, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!mapped || mapped == MAP_FAILED)
        return 1;
    char *buffer = (char *)(((uintptr_t)mapped + huge - 1) & ~(uintptr_t)(huge - 1));
    if (madvise(buffer, size, MADV_HUGEPAGE) != 0)
        return 1;
    memset(buffer, 1, size);
    long filled = smaps_huge_kib(buffer);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (size_t i = 0; i < size; i += 4096)
            buffer[i]++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < seconds);
    struct cdm_buffer_info info = {0};
    int tracked = query && query(mapped, &info) == 0 && info.tracked;
    printf("tracked=%d huge-filled=%ld huge-end=%ld\n", tracked, filled,
           smaps_huge_kib(buffer));
    if (heap) {
        free(mapped);
        return 0;
    }
    return munmap(mapped, size + huge);
}

/* A tracked mapping, then a userfaultfd of the program's own registered over it (missing
 * faults, as a checkpointing or live-migration library would): the registration, the data
 * after it, and whether the buffer is still tracked. */
static int own_userfaultfd(void)
{
    size_t size = 16 * MiB;
    unsigned char *buffer =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct cdm_buffer_info info = {0};
    if (buffer == MAP_FAILED || !query || query(buffer, &info) != 0)
        return 1;
    memset(buffer, 7, size);
    usleep(300000); /* some epochs: the tracker has registered it */
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API};
    if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
        printf("userfaultfd: %s\n", strerror(errno));
        return 0;
    }
    struct uffdio_register reg = {.range = {.start = (uintptr_t)buffer, .len = size},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    int registered = ioctl(uffd, UFFDIO_REGISTER, &reg);
    printf("register=%s", registered ? strerrorname_np(errno) : "0");
    size_t intact = 0;
    for (size_t i = 0; i < size; i++)
        intact += buffer[i] == 7;
    query(buffer, &info);
    printf(" intact=%d tracked=%d\n", intact == size, info.tracked);
    close(uffd);
    return munmap(buffer, size);
}

/* `count` buffers of `size` bytes, live at once, filled and read back: what they hold, which
 * no placement changes. */
static int sum_buffers(int count, size_t size)
{
    unsigned char *buffers[16];
    unsigned long long sum = 0;
    if (count > 16)
        return 1;
    for (int i = 0; i < count; i++) {
        if (!(buffers[i] = malloc(size)))
            return 1;
        memset(buffers[i], i + 1, size);
    }
    for (int i = 0; i < count; i++) {
        for (size_t k = 0; k < size; k += 4096)
            sum += buffers[i][k];
        free(buffers[i]);
    }
    printf("sum=%llu\n", sum);
    return 0;
}

static const char *errno_name(long rc)
{
    return rc < 0 ? strerrorname_np(errno) : "0";
}

/* The library's NUMA and userfaultfd system calls on a page of the probe's own, each as its
 * errno name or 0: what a seccomp filter lets through. */
static int numa_calls(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *buffer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int mode, status;
    if (buffer == MAP_FAILED)
        return 1;
    memset(buffer, 1, page);
    printf("mbind=%s", errno_name(syscall(SYS_mbind, buffer, page, MPOL_DEFAULT, NULL, 0, 0)));
    printf(" set_mempolicy=%s", errno_name(syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0)));
    printf(" get_mempolicy=%s", errno_name(syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0)));
    printf(" move_pages=%s", errno_name(syscall(SYS_move_pages, 0, 1, &buffer, NULL, &status, 0)));
    long uffd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    printf(" userfaultfd=%s\n", errno_name(uffd));
    if (uffd >= 0)
        close((int)uffd);
    return munmap(buffer, page);
}

/* Allocates, writes, prints whether the buffer was placed, frees. */
static int alloc_and_report(const char *label, size_t size)
{
    char *buffer = malloc(size);
    if (!buffer)
        return 1;
    memset(buffer, 5, size);
    printf("%splaced=%d\n", label, placed(buffer));
    free(buffer);
    return 0;
}

/* Registered during exit by the program's destructor. */
static char *kept_until_late;
static void late_handler(void)
{
    alloc_and_report("late ", 9 * MiB);
    alloc_and_report("late small ", 64);
    free(kept_until_late);
    printf("late ok\n");
}

static void atexit_handler(void)
{
    alloc_and_report("atexit ", 9 * MiB);
}

static int exit_paths;
__attribute__((destructor)) static void probe_destructor(void)
{
    if (!exit_paths)
        return;
    printf("destructor ok\n");
    atexit(late_handler);
}

static void *allocate_forever(void *arg)
{
    char *volatile buffer; /* volatile: the compiler may not elide the malloc/free pair */
    for (;;) {
        buffer = malloc(((uintptr_t)arg & 1) ? 8 * MiB : 100);
        buffer[0] = 1;
        free(buffer);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    query = (int (*)(const void *, struct cdm_buffer_info *))dlsym(RTLD_DEFAULT, "cdm_query");
    const char *command = argc > 1 ? argv[1] : "";
    size_t size = argc > 2 ? strtoul(argv[2], NULL, 0) * MiB : 9 * MiB;
    if (!strcmp(command, "alloc"))
        return alloc_and_report("", size);
    if (!strcmp(command, "again") && argc > 3) { /* COUNT buffers of MiB, one after the other */
        for (int i = atoi(argv[3]); i > 0; i--)
            if (alloc_and_report("", size))
                return 1;
        return 0;
    }
    if (!strcmp(command, "wp-async")) { /* exit 0 where the kernel has it (tests/guest/) */
        const char *said;
        bool has = kernel_has_wp_async(&said);
        printf("%s\n", said);
        return !has;
    }
    if (!strcmp(command, "sum") && argc > 3)
        return sum_buffers(atoi(argv[2]), strtoul(argv[3], NULL, 0) * MiB);
    if (!strcmp(command, "numa-calls"))
        return numa_calls();
    if (!strcmp(command, "track-start"))
        return track_start();
    if (!strcmp(command, "huge-writes") && argc > 3)
        return huge_writes(strtoul(argv[2], NULL, 10), atoi(argv[3]),
                           argc > 4 && !strcmp(argv[4], "heap"));
    if (!strcmp(command, "stream") && argc > 5)
        return stream_passes(strtoul(argv[2], NULL, 10), atoi(argv[3]), atoi(argv[4]),
                             atoi(argv[5]));
    if (!strcmp(command, "make-late") && argc > 3)
        return make_late(strtoul(argv[2], NULL, 10), atoi(argv[3]));
    if (!strcmp(command, "random-writes") && argc > 3)
        return random_writes(strtoul(argv[2], NULL, 10), atoi(argv[3]));
    if (!strcmp(command, "own-userfaultfd"))
        return own_userfaultfd();
    if (!strcmp(command, "secure-alloc")) { /* whether the kernel made this secure execution */
        printf("at_secure=%lu\n", getauxval(AT_SECURE));
        return alloc_and_report("", size);
    }
    if (!strcmp(command, "fork")) {
        pid_t child = fork();
        if (child == 0)
            exit(alloc_and_report("child ", size) ? 3 : 0);
        int status;
        alloc_and_report("parent ", size);
        waitpid(child, &status, 0);
        printf("child=%d status=%d\n", (int)child, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return 0;
    }
    if (!strcmp(command, "exec") && argc > 2) {
        execvp(argv[2], argv + 2);
        perror("execvp");
        return 127;
    }
    if (!strcmp(command, "exit")) {
        exit_paths = 1;
        kept_until_late = malloc(9 * MiB);
        atexit(atexit_handler);
        return alloc_and_report("", size);
    }
    if (!strcmp(command, "threads-exit") || !strcmp(command, "loop")) {
        pthread_t threads[4];
        for (uintptr_t i = 0; i < 4; i++)
            pthread_create(&threads[i], NULL, allocate_forever, (void *)i);
        usleep(!strcmp(command, "loop") ? 100000000 : 50000);
        exit(0);
    }
    fprintf(stderr, "usage: probe alloc|fork|exit|threads-exit|loop [MiB] | again MiB COUNT | sum COUNT MiB | numa-calls | track-start | random-writes MiB SECONDS | huge-writes MiB SECONDS [heap] | secure-alloc [MiB] | exec PROGRAM...\n");
    return 2;
}
