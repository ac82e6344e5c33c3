/* SPDX-License-Identifier: MIT */
/* The platform layer against the real kernel, where a call is more than a wrapper: the fault
 * sampler's ring (platform.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>

#include "platform.h"

#define RING_PAGES 4 /* some 680 samples: the second batch wraps past the ring's end */
#define BATCH 300

struct seen {
    uintptr_t start, end;
    size_t inside, elsewhere_cpu;
    int cpu;
};

static void count(uintptr_t address, int cpu, void *arg)
{
    struct seen *seen = arg;
    if (address < seen->start || address >= seen->end)
        return;
    seen->inside++;
    seen->elsewhere_cpu += cpu != seen->cpu;
}

Test(platform, fault_samples_name_each_faults_address_and_cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    struct plat_fault_sampler sampler;
    int err = plat_fault_sampler_open(0, RING_PAGES, &sampler);
    if (err == EACCES || err == EPERM)
        cr_skip_test("perf_event_open refused (%s): kernel.perf_event_paranoid is above 2 and "
                     "this user has no CAP_PERFMON", strerror(err));
    cr_assert_eq(err, 0, "%s", strerror(err));
    size_t page = plat_page_size();
    unsigned char *pages = mmap(NULL, 2 * BATCH * page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(pages, MAP_FAILED);
    cr_assert_eq(madvise(pages, 2 * BATCH * page, MADV_NOHUGEPAGE), 0); /* a fault a page */
    struct seen seen = {.start = (uintptr_t)pages, .end = (uintptr_t)pages + 2 * BATCH * page,
                        .cpu = sched_getcpu()};
    for (int batch = 0; batch < 2; batch++) {
        for (size_t i = 0; i < BATCH; i++)
            pages[(batch * BATCH + i) * page] = 1;
        plat_fault_sampler_read(&sampler, count, &seen);
        cr_assert_eq(seen.inside, (size_t)(batch + 1) * BATCH, "batch %d: %zu faults seen", batch,
                     seen.inside);
    }
    cr_assert_eq(seen.elsewhere_cpu, 0, "every fault on CPU %d", seen.cpu);
    plat_fault_sampler_close(&sampler);
    cr_assert_null(sampler.ring);
    munmap(pages, 2 * BATCH * page);
}
