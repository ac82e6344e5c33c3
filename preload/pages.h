/* SPDX-License-Identifier: MIT */
/* What is known of each tracked page, in one byte a page: when it was last used (or how hot
 * it is) and where it is. Pure code: no system calls, no globals, unit-tested on the host
 * (tests/unit_pages.c). The choices behind the encoding are in doc/design.md, "Page state". */
#ifndef CDM_PAGES_H
#define CDM_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nodes a range's pages are told apart on; a page on a fourth is "not known". */
#define CDM_PAGE_NODES 3
/* tier: the hottest a page gets (a use in each of the last five epochs). */
#define CDM_PAGE_HEAT_MAX 31u
/* Ticks of use history a stamp keeps at least (see cdm_pages_quantum). */
#define CDM_PAGE_KEPT_TICKS 30u

/* What is kept by the span rather than by the page (wp-async's watch, several sockets' last
 * user) takes a constant a range: a span is a `block` of bytes (a huge page), or a whole
 * number of blocks, so that the n pages at `start` make at most `most` spans counted from
 * the block boundary at or below `start` (a huge range's blocks; the spans from `start` are
 * never more). Sets *span_pages, at most CDM_PAGE_SPAN_PAGES_MAX (past 32 TiB on 4 KiB
 * pages and 512 spans there are more), and returns the spans from the boundary. */
#define CDM_PAGE_SPAN_PAGES_MAX (1u << 24)
size_t cdm_pages_spans(uintptr_t start, size_t n, size_t page, size_t block, size_t most,
                       uint32_t *span_pages);

/* A range's pages. Two ways to read `when`, chosen per range:
 *   stamps (follow-cpu, profiles): the tick of the last use, a tick `quantum` epochs;
 *   heat (tier): how often lately, an aging count that halves every epoch. */
struct cdm_pages {
    uint8_t *byte;                /* a page: when << 2 | where */
    size_t n;
    uint32_t quantum;             /* stamps: epochs a tick */
    uint32_t origin;              /* stamps: the epoch of tick 0 */
    uint32_t base;                /* stamps: the tick that `when` 2 stands for */
    uint32_t aged;                /* heat: the last epoch halved */
    bool heat;
    int16_t node[CDM_PAGE_NODES]; /* where k (1 to 3) is node[k - 1]; 0 not known */
};

/* Epochs a tick for a follow-cpu rule that sends pages back after `idle_epochs`: 1 up to
 * CDM_PAGE_KEPT_TICKS epochs, so that `idle` is told to the epoch; more beyond. */
uint32_t cdm_pages_quantum(uint32_t idle_epochs);
/* `bytes`: n zeroed bytes; `epoch`: the last one ended (uses come after it; heat's top bit is
 * a use in any epoch after the last halving). Nothing seen, nowhere known. */
void cdm_pages_init(struct cdm_pages *pages, uint8_t *bytes, size_t n, uint32_t epoch,
                    uint32_t quantum, bool heat);
/* `to` (initialised, at least n pages) takes `from`'s pages first..first + n. */
void cdm_pages_copy(struct cdm_pages *to, const struct cdm_pages *from, size_t first, size_t n);

/* A use of page i in `epoch`; true when it is the page's first in that epoch (tick). */
bool cdm_pages_touch(struct cdm_pages *pages, size_t i, uint32_t epoch);
/* Seen, but not used lately: the write that made it, or advice that it is cold. */
void cdm_pages_cool(struct cdm_pages *pages, size_t i);
/* Advice that it is hot: used in `epoch`, as hot as a page gets. */
void cdm_pages_heat_up(struct cdm_pages *pages, size_t i, uint32_t epoch);
/* Nothing known any more (discarded, gone). */
void cdm_pages_forget(struct cdm_pages *pages, size_t i);
/* heat: the end of `epoch`: every page's heat halves. Stamps: nothing. */
void cdm_pages_age(struct cdm_pages *pages, uint32_t epoch);

/* Used, or made, or advised: anything at all seen. */
bool cdm_pages_seen(const struct cdm_pages *pages, size_t i);
/* Used in `epoch` (stamps: in its tick). */
bool cdm_pages_used_in(const struct cdm_pages *pages, size_t i, uint32_t epoch);
/* Not used in the `epochs` epochs up to `epoch` (true when never used; epochs <= 0: true). A
 * use marked ahead of `epoch` is recent. */
bool cdm_pages_idle(const struct cdm_pages *pages, size_t i, uint32_t epoch, int32_t epochs);
/* heat: 0 to CDM_PAGE_HEAT_MAX. */
unsigned cdm_pages_heat(const struct cdm_pages *pages, size_t i);

/* Where page i is, -1 not known. */
int cdm_pages_node(const struct cdm_pages *pages, size_t i);
void cdm_pages_set_node(struct cdm_pages *pages, size_t i, int node);
/* Whether every page seen is on one of the range's nodes that `on` names (on[k]: its k-th,
 * pages->node[k]), none where it is not known: where each stays whichever side it is on. */
bool cdm_pages_seen_all_on(const struct cdm_pages *pages, const bool on[CDM_PAGE_NODES]);

#endif
