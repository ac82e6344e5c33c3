/* SPDX-License-Identifier: MIT */
/* Which socket uses a buffer: the node of the CPU a thread runs on (doc/design.md, "Several
 * sockets"). A fault the tracker serves names its thread; a scan of written pages names none, and
 * then what can be told is where the program's threads ran during the epoch. Read from
 * /proc/self/task with raw open/read/getdents64 and stack buffers: the tracker thread calls this,
 * and nothing it calls may take the host allocator's locks. */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Threads whose time on CPU is remembered between epochs; more are not counted. */
#define KNOWN_THREADS 256

static struct {
    pid_t tid;
    uint64_t ran_ns; /* time on CPU at the last look */
    uint32_t looked; /* the look that saw it last */
} known[KNOWN_THREADS];
static uint32_t looks;

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

/* Whether the thread ran since the last look, from its time on CPU in ns (schedstat's first
 * figure); a thread seen for the first time is only remembered. */
static bool ran_since(pid_t tid, uint64_t ran_ns)
{
    unsigned slot = (unsigned)tid % KNOWN_THREADS;
    for (unsigned probe = 0; probe < KNOWN_THREADS; probe++) {
        unsigned i = (slot + probe) % KNOWN_THREADS;
        if (known[i].tid == tid || known[i].tid == 0 || known[i].looked + 2 < looks) {
            bool ran = known[i].tid == tid && ran_ns > known[i].ran_ns;
            known[i].tid = tid;
            known[i].ran_ns = ran_ns;
            known[i].looked = looks;
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
    while (!several && (n = getdents64(fd, entries, sizeof entries)) > 0) {
        for (ssize_t at = 0; at < n && !several;) {
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
            several = node >= 0 && its != node;
            node = its;
        }
    }
    close(fd);
    return several ? -1 : node;
}
