/* SPDX-License-Identifier: MIT */
/* Which socket uses a buffer: the node of the CPU a thread runs on (doc/design.md, "Several
 * sockets"). A fault the tracker serves names its thread; a scan of written pages names none, and
 * then what can be told is where the program's threads ran during the epoch. Read from
 * /proc/self/task with raw open/read/getdents64 and stack buffers: the tracker thread calls this,
 * and nothing it calls may take the host allocator's locks. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads whose time on CPU is remembered between epochs; more are not counted. */
#define KNOWN_THREADS 256
/* A thread's ring of fault samples, in pages: 64 KiB, some 2,700 faults an epoch (later ones
 * are lost until the next read). */
#define SAMPLER_PAGES 16
/* 2 MiB blocks whose user a fault sample named in one epoch; more are not remembered. */
#define SAMPLED_BLOCKS 4096

static struct {
    pid_t tid;
    uint64_t ran_ns; /* time on CPU at the last look */
    uint32_t looked; /* the look that saw it last */
    struct plat_fault_sampler sampler; /* its faults (ring NULL: none) */
} known[KNOWN_THREADS];
static uint32_t looks;

/* Faults sampled, when the tracker asked (cdm__users_sample_faults) and the kernel allows. */
static enum { SAMPLES_OFF, SAMPLES_WANTED, SAMPLES_ON } sampling;
static struct {
    uintptr_t block; /* the block's address >> its shift, + 1 (0: empty) */
    uint32_t look;   /* the look that filled it: older ones are empty */
    int16_t node;
} sampled[SAMPLED_BLOCKS];

static int read_small(const char *path, char *buf, size_t size)
{
    int fd;
    if (plat_open_above_stdio(path, O_RDONLY, 0, &fd) != 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* Field `field` (1-based, as proc(5) numbers them) of a stat line, from after the command's closing
 * parenthesis (a command may hold spaces and parentheses). */
static bool stat_field(const char *stat, int field, uint64_t *value)
{
    const char *p = strrchr(stat, ')');
    if (!p)
        return false;
    p++;
    for (int at = 3; at < field; at++) { /* p is at the blank before field `at` */
        p = strchr(p + 1, ' ');
        if (!p)
            return false;
    }
    uint64_t v = 0;
    if (*++p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    *value = v;
    return true;
}

static int node_of_cpu(uint64_t cpu)
{
    return cpu < CDM_MAX_CPUS ? cdm__rt.topology.cpu_node[cpu] : -1;
}

int cdm__users_thread_node(pid_t tid)
{
    char path[64], stat[1024];
    uint64_t cpu;
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    if (tid <= 0 || read_small(path, stat, sizeof stat) || !stat_field(stat, 39, &cpu))
        return -1;
    return node_of_cpu(cpu);
}

static void close_samplers(void)
{
    for (int i = 0; i < KNOWN_THREADS; i++)
        plat_fault_sampler_close(&known[i].sampler);
}

/* A sampler for each thread seen, opened at its first look; the first refusal stops sampling
 * for the run (the kernel's settings do not change for one thread). */
static void sample_thread(int i)
{
    if (sampling == SAMPLES_OFF || known[i].sampler.ring)
        return;
    int err = plat_fault_sampler_open(known[i].tid, SAMPLER_PAGES, &known[i].sampler);
    if (err == 0) {
        sampling = SAMPLES_ON;
        return;
    }
    known[i].sampler.ring = NULL;
    if (err != ESRCH) { /* ESRCH: the thread has just ended */
        cdm__debug(1, "faults are not sampled (%s): two sockets writing one buffer on 4 KiB "
                   "pages at once are not told apart", cdm__errno_text(err));
        close_samplers();
        sampling = SAMPLES_OFF;
    }
}

/* Whether the thread ran since the last look, from its time on CPU in ns (schedstat's first
 * figure); a thread seen for the first time is only remembered. */
static bool ran_since(pid_t tid, uint64_t ran_ns)
{
    unsigned slot = (unsigned)tid % KNOWN_THREADS;
    for (unsigned probe = 0; probe < KNOWN_THREADS; probe++) {
        unsigned i = (slot + probe) % KNOWN_THREADS;
        if (known[i].tid == tid || known[i].tid == 0 || known[i].looked + 2 < looks) {
            bool ran = known[i].tid == tid && ran_ns > known[i].ran_ns;
            if (known[i].tid != tid) /* a thread that ended: its sampler goes with it */
                plat_fault_sampler_close(&known[i].sampler);
            known[i].tid = tid;
            known[i].ran_ns = ran_ns;
            known[i].looked = looks;
            sample_thread((int)i);
            return ran;
        }
    }
    return false; /* too many threads to tell */
}

int cdm__users_epoch_node(pid_t ours_a, pid_t ours_b)
{
    looks++;
    int fd, node = -1;
    if (plat_open_above_stdio("/proc/self/task", O_RDONLY | O_DIRECTORY, 0, &fd) != 0)
        return -1;
    char entries[4096];
    ssize_t n;
    bool several = false;
    /* Every thread is looked at while faults are sampled: each needs its sampler. */
    while ((!several || sampling != SAMPLES_OFF) && (n = getdents64(fd, entries, sizeof entries)) > 0) {
        for (ssize_t at = 0; at < n && (!several || sampling != SAMPLES_OFF);) {
            const struct dirent64 *entry = (const struct dirent64 *)(entries + at);
            at += entry->d_reclen;
            pid_t tid = (pid_t)strtol(entry->d_name, NULL, 10);
            if (tid <= 0 || tid == ours_a || tid == ours_b)
                continue;
            char path[64], text[1024];
            uint64_t ran_ns;
            snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
            if (read_small(path, text, sizeof text))
                continue;
            ran_ns = (uint64_t)strtol(text, NULL, 10);
            if (!ran_since(tid, ran_ns))
                continue;
            int its = cdm__users_thread_node(tid);
            if (its < 0)
                continue;
            several = several || (node >= 0 && its != node);
            node = its;
        }
    }
    close(fd);
    return several ? -1 : node;
}

void cdm__users_sample_faults(void)
{
    if (sampling == SAMPLES_OFF)
        sampling = SAMPLES_WANTED;
}

static void note_sample(uintptr_t address, int cpu, void *arg)
{
    int node = node_of_cpu((uint64_t)cpu);
    if (node < 0 || !cdm__nodemask_has(&cdm__rt.topology.dram, node))
        return;
    uintptr_t block = (address >> CDM_USER_BLOCK_SHIFT) + 1;
    unsigned slot = (unsigned)(block * 2654435761u) % SAMPLED_BLOCKS;
    for (unsigned probe = 0; probe < 8; probe++) { /* a full neighbourhood: not remembered */
        unsigned i = (slot + probe) % SAMPLED_BLOCKS;
        if (sampled[i].look != looks || sampled[i].block == block) {
            sampled[i].block = block;
            sampled[i].look = looks;
            sampled[i].node = (int16_t)node; /* the latest fault's */
            return;
        }
    }
}

void cdm__users_read_samples(void)
{
    if (sampling != SAMPLES_ON)
        return;
    for (int i = 0; i < KNOWN_THREADS; i++)
        if (known[i].sampler.ring)
            plat_fault_sampler_read(&known[i].sampler, note_sample, NULL);
}

int cdm__users_block_node(uintptr_t address)
{
    if (sampling != SAMPLES_ON)
        return -1;
    uintptr_t block = (address >> CDM_USER_BLOCK_SHIFT) + 1;
    unsigned slot = (unsigned)(block * 2654435761u) % SAMPLED_BLOCKS;
    for (unsigned probe = 0; probe < 8; probe++) {
        unsigned i = (slot + probe) % SAMPLED_BLOCKS;
        if (sampled[i].look != looks)
            return -1;
        if (sampled[i].block == block)
            return sampled[i].node;
    }
    return -1;
}

void cdm__users_after_fork_child(void)
{
    close_samplers(); /* the parent's threads' rings, shared with it */
    memset(known, 0, sizeof known);
    if (sampling == SAMPLES_ON)
        sampling = SAMPLES_WANTED;
}
