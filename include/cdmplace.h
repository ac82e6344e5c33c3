/* SPDX-License-Identifier: MIT */
/* cdmplace: the public interface of libcdmplace.so.
 *
 * Programs need none of this: the library works preloaded into unmodified programs. These
 * calls let a program or a test ask what the library did with a buffer. Resolve them with
 * dlsym(RTLD_DEFAULT, "cdm_query") so the program still runs without the preload. */
#ifndef CDMPLACE_H
#define CDMPLACE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *cdm_version(void);

/* What the library knows of a placed buffer. */
struct cdm_buffer_info {
    void *start;          /* the first byte of the placed range */
    size_t size;          /* bytes the program asked for */
    size_t mapped;        /* bytes of the mapping that holds it, whole pages */
    int rule;             /* index of the rule that placed it, in file order */
    int kind;             /* 1 heap, 2 anon, 4 shared, 8 file */
    int applied;          /* 1 if the policy was applied, 0 in dry-run or on error */
    int error;            /* errno of a refused policy, else 0 */
    int tracked;          /* 1 if its rule migrates and a tracker watches it */
    unsigned epochs;      /* epochs the tracker has collected in this process so far */
};

/* Fills *info and returns 0 when addr lies in a buffer a rule placed; -1 otherwise. */
int cdm_query(const void *addr, struct cdm_buffer_info *info);

#ifdef __cplusplus
}
#endif
#endif
