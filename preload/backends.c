/* SPDX-License-Identifier: MIT */
/* Tracker backends: what this kernel and these permissions allow, and which one `track`
 * gets. Shared by the library (at its first tracked buffer) and `cdmplace topo`.
 *
 * Why a backend is refused matters as much as which one runs: the message names the kernel
 * version or the permission that would allow the wanted one. The synchronous backends (wp,
 * missing) need a full userfaultfd: one opened with UFFD_USER_MODE_ONLY turns a fault the
 * kernel takes on the program's behalf (read(2) into a tracked buffer) into EFAULT. Async
 * write-protect is resolved inside the kernel and is safe in user mode only. DAMON (root,
 * Linux 6.2) is one per machine: usable only while nobody else has a kdamond. Where it is,
 * `auto` runs it beside wp-async for the reads that write-protection cannot see
 * (doc/design.md, "Reads beside writes"). */
#include "core.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *cdm__backend_sees(enum cdm_track backend, bool reads_too)
{
    if (reads_too)
        return "writes, and reads sampled by DAMON";
    switch (backend) {
    case CDM_TRACK_WP_ASYNC: return "writes";
    case CDM_TRACK_WP: return "writes";
    case CDM_TRACK_MISSING: return "first touch";
    case CDM_TRACK_DAMON: return "reads and writes, sampled";
    default: return "nothing";
    }
}

/* What a userfaultfd can do here, full or user mode only. */
static void probe_uffd(struct cdm_backend_probe *probe)
{
    int fd;
    probe->full_error = plat_uffd_open(false, &fd);
    if (probe->full_error == 0) {
        probe->full = true;
    } else {
        probe->user_error = plat_uffd_open(true, &fd);
        if (probe->user_error)
            return;
        probe->user_mode = true;
    }
    if (plat_uffd_api(fd, 0, &probe->features) != 0)
        probe->full = probe->user_mode = false;
    close(fd);
}

void cdm__backends_probe(struct cdm_backend_probe *probe)
{
    *probe = (struct cdm_backend_probe){0};
    probe_uffd(probe);
}

bool cdm__backend_allowed(const struct cdm_backend_probe *probe, enum cdm_track backend,
                          char *why, size_t why_size)
{
    bool uffd = probe->full || probe->user_mode;
    bool wp = probe->features & UFFD_FEATURE_PAGEFAULT_FLAG_WP;
    const char *reason = NULL;
    switch (backend) {
    case CDM_TRACK_WP_ASYNC:
        if (uffd && (probe->features & PLAT_UFFD_WP_ASYNC) && wp)
            return true;
        if (uffd)
            reason = "async write-protect and PAGEMAP_SCAN need Linux 6.7";
        break; /* without userfaultfd: its reason, below */
    case CDM_TRACK_WP:
    case CDM_TRACK_MISSING:
        if (probe->full && (backend == CDM_TRACK_MISSING || wp))
            return true;
        if (probe->full)
            reason = "write-protect faults need Linux 5.7";
        else if (uffd)
            reason = "synchronous faults need full userfaultfd (set sysctl "
                     "vm.unprivileged_userfaultfd=1, run as root, or grant access to "
                     "/dev/userfaultfd)";
        break;
    case CDM_TRACK_DAMON:
        if (cdm__damon_probe(why, why_size) == 0)
            return true;
        return false; /* the probe said why */
    case CDM_TRACK_OFF:
        return true;
    default:
        reason = "not a backend";
        break;
    }
    if (!reason) {
        int err = probe->user_error ? probe->user_error : probe->full_error;
        if (err == ENOSYS)
            reason = "userfaultfd is missing (kernel built without CONFIG_USERFAULTFD, or a "
                     "seccomp filter hides it)";
        else if (err == EPERM)
            reason = "userfaultfd is not permitted (set sysctl vm.unprivileged_userfaultfd=1 "
                     "or run as root; a container's seccomp profile may forbid it)";
        else
            reason = "userfaultfd is not available";
    }
    snprintf(why, why_size, "%s", reason);
    return false;
}

enum cdm_track cdm__backend_choose(const struct cdm_backend_probe *probe, enum cdm_track wanted,
                                   char *why, size_t why_size)
{
    why[0] = '\0';
    enum cdm_track first = wanted == CDM_TRACK_AUTO ? CDM_TRACK_WP_ASYNC : wanted;
    char reason[256];
    if (cdm__backend_allowed(probe, first, reason, sizeof reason))
        return first;
    snprintf(why, why_size, "%s: %s", cdm__track_name(first), reason);
    static const enum cdm_track fallbacks[] = {CDM_TRACK_WP_ASYNC, CDM_TRACK_WP, CDM_TRACK_MISSING,
                                               CDM_TRACK_DAMON};
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++)
        if (cdm__backend_allowed(probe, fallbacks[i], reason, sizeof reason))
            return fallbacks[i];
    /* None: every distinct reason, so that the message names each way to allow one. */
    char last[256] = "";
    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
        cdm__backend_allowed(probe, fallbacks[i], reason, sizeof reason);
        if (fallbacks[i] == first || !strcmp(reason, last))
            continue;
        size_t used = strlen(why);
        snprintf(why + used, why_size - used, "; %s: %s", cdm__track_name(fallbacks[i]), reason);
        snprintf(last, sizeof last, "%s", reason);
    }
    return CDM_TRACK_OFF;
}

bool cdm__backend_reads_too(const struct cdm_backend_probe *probe, enum cdm_track wanted,
                            enum cdm_track chosen)
{
    char why[256];
    return wanted == CDM_TRACK_AUTO && chosen == CDM_TRACK_WP_ASYNC &&
           cdm__backend_allowed(probe, CDM_TRACK_DAMON, why, sizeof why);
}
