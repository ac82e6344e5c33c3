/* SPDX-License-Identifier: MIT */
/* What the guest harness owes every suite. Not a preloaded test: it calls the library's platform
 * layer (preload/platform.c) directly.
 *
 * The library opens a page-fault sampler on each thread it watches and closes it when the thread
 * goes. The first such perf event in the system patches the kernel's page-fault handler and the
 * last one closed patches it back, through an int3; under TCG a CPU faulting meanwhile may run
 * the int3 after the patch, and the guest oopses ("Oops: int3" in do_user_addr_fault). The
 * guest's /init keeps one such event open all along (tests/guest/fault_event_holder.c), so the
 * samplers patch nothing. Without it, this test's guest oopsed within 5 s on both kernels. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core.h"

#define TOGGLE_S 10.0
#define FAULTED (1ul << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether a process whose /proc/PID/comm is `comm` (the kernel cuts names to 15 characters)
 * runs. */
static bool process_runs(const char *comm)
{
    DIR *proc = opendir("/proc");
    cr_assert_not_null(proc);
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(proc))) {
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/%s/comm", entry->d_name);
        FILE *file = fopen(path, "r");
        if (!file)
            continue;
        if (fgets(name, sizeof name, file)) {
            name[strcspn(name, "\n")] = '\0';
            found = strcmp(name, comm) == 0;
        }
        fclose(file);
    }
    closedir(proc);
    return found;
}

static pid_t faulter_tid;
static unsigned long faults;
static bool stop;

/* Maps, touches and unmaps 1 MiB over and over: a fault a page. */
static void *fault_all_along(void *arg)
{
    (void)arg;
    __atomic_store_n(&faulter_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        char *pages = mmap(NULL, FAULTED, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pages == MAP_FAILED)
            break;
        for (size_t off = 0; off < FAULTED; off += 4096)
            pages[off] = 1;
        munmap(pages, FAULTED);
        __atomic_add_fetch(&faults, FAULTED / 4096, __ATOMIC_RELAXED);
    }
    return NULL;
}

Test(harness, fault_samplers_come_and_go_while_a_thread_faults)
{
    cr_assert(process_runs("fault_event_hol"), "the guest's /init holds no page-fault event "
              "(tests/guest/fault_event_holder.c): see its console for why");
    pthread_t faulter;
    cr_assert_eq(pthread_create(&faulter, NULL, fault_all_along, NULL), 0);
    pid_t tid;
    while (!(tid = __atomic_load_n(&faulter_tid, __ATOMIC_ACQUIRE)))
        sched_yield();
    unsigned long toggles = 0;
    double start = now_s();
    int err = 0;
    while (!err && now_s() - start < TOGGLE_S) {
        struct plat_fault_sampler sampler = {.fd = -1};
        err = plat_fault_sampler_open(tid, 1, &sampler);
        plat_fault_sampler_close(&sampler);
        toggles++;
    }
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    pthread_join(faulter, NULL);
    cr_assert_eq(err, 0, "plat_fault_sampler_open: %s", strerror(err));
    cr_assert_gt(__atomic_load_n(&faults, __ATOMIC_RELAXED), 0, "the faulter never faulted");
    cr_log_info("%lu samplers opened and closed over %lu faults in %.0f s", toggles, faults,
                TOGGLE_S);
}
