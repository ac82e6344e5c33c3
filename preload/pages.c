/* SPDX-License-Identifier: MIT */
/* One byte a tracked page (pages.h; doc/design.md, "Page state"):
 *   where  2 bits: 0 not known, k: the range's node[k - 1]
 *   when   6 bits, a stamp: 0 never seen, 1 seen long ago (made, advised cold, or used before
 *          the stamps' window), w >= 2 used in tick base + w - 2. A use past the window moves
 *          it (rebase), keeping CDM_PAGE_KEPT_TICKS ticks of history exact.
 *          Or a heat: bit 0 seen, bits 1-5 an aging count whose top bit is a use since the
 *          last halving; bit k below it a use k epochs before that. */
#include "pages.h"

#include <string.h>

#define WHERE_MASK 3u
#define WHEN_SHIFT 2
#define WHEN_NEVER 0u
#define WHEN_LONG_AGO 1u
#define WHEN_FIRST 2u
#define WHEN_LAST 63u
#define HEAT_SEEN 1u
#define HEAT_NOW 0x10u /* in the count, i.e. when >> 1 */
#define HEAT_BITS 5u

static unsigned when_of(const struct cdm_pages *pages, size_t i)
{
    return pages->byte[i] >> WHEN_SHIFT;
}

static void set_when(struct cdm_pages *pages, size_t i, unsigned when)
{
    pages->byte[i] = (uint8_t)(when << WHEN_SHIFT | (pages->byte[i] & WHERE_MASK));
}

/* Ticks count from the range's first epoch, so that they follow the epochs across the
 * counter's wrap (tick arithmetic is modulo 2^32, compared as signed differences). */
static uint32_t tick(const struct cdm_pages *pages, uint32_t epoch)
{
    return (epoch - pages->origin) / pages->quantum;
}

uint32_t cdm_pages_quantum(uint32_t idle_epochs)
{
    if (idle_epochs <= CDM_PAGE_KEPT_TICKS)
        return 1;
    return idle_epochs / CDM_PAGE_KEPT_TICKS + (idle_epochs % CDM_PAGE_KEPT_TICKS != 0);
}

size_t cdm_pages_spans(uintptr_t start, size_t n, size_t page, size_t block, size_t most,
                       uint32_t *span_pages)
{
    size_t bytes = (start & (block - 1)) + n * page, block_pages = block / page;
    size_t blocks = (bytes + block - 1) / block;
    size_t per = (blocks + most - 1) / most; /* blocks a span */
    size_t largest = CDM_PAGE_SPAN_PAGES_MAX / block_pages;
    per = per < 1 ? 1 : per > largest ? largest : per;
    *span_pages = (uint32_t)(per * block_pages);
    return (bytes + per * block - 1) / (per * block);
}

void cdm_pages_init(struct cdm_pages *pages, uint8_t *bytes, size_t n, uint32_t epoch,
                    uint32_t quantum, bool heat)
{
    *pages = (struct cdm_pages){.byte = bytes, .n = n, .quantum = quantum ? quantum : 1,
                                .origin = epoch, .aged = epoch, .heat = heat};
    for (int k = 0; k < CDM_PAGE_NODES; k++)
        pages->node[k] = -1;
    pages->base = tick(pages, epoch) - CDM_PAGE_KEPT_TICKS;
}

void cdm_pages_copy(struct cdm_pages *to, const struct cdm_pages *from, size_t first, size_t n)
{
    uint8_t *bytes = to->byte;
    size_t capacity = to->n;
    *to = *from;
    to->byte = bytes;
    to->n = capacity;
    memcpy(to->byte, from->byte + first, n);
}

/* Stamps: the window moves so that tick `now` fits, keeping the ticks before it that it can. */
static void rebase(struct cdm_pages *pages, uint32_t now)
{
    uint32_t base = now - CDM_PAGE_KEPT_TICKS;
    for (size_t i = 0; i < pages->n; i++) {
        unsigned when = when_of(pages, i);
        if (when < WHEN_FIRST)
            continue;
        uint32_t used = pages->base + when - WHEN_FIRST;
        set_when(pages, i, (int32_t)(used - base) < 0 ? WHEN_LONG_AGO : used - base + WHEN_FIRST);
    }
    pages->base = base;
}

bool cdm_pages_touch(struct cdm_pages *pages, size_t i, uint32_t epoch)
{
    unsigned before = when_of(pages, i);
    if (pages->heat) {
        set_when(pages, i, before | HEAT_NOW << 1 | HEAT_SEEN);
        return !(before & HEAT_NOW << 1);
    }
    uint32_t now = tick(pages, epoch);
    if ((int32_t)(now - pages->base) > (int32_t)(WHEN_LAST - WHEN_FIRST)) {
        rebase(pages, now);
        before = when_of(pages, i);
    }
    unsigned when = (int32_t)(now - pages->base) < 0 ? WHEN_LONG_AGO : now - pages->base + WHEN_FIRST;
    if (when > before) /* a use marked ahead (a fault served while the lock was busy) stays */
        set_when(pages, i, when);
    return before != when;
}

void cdm_pages_cool(struct cdm_pages *pages, size_t i)
{
    set_when(pages, i, pages->heat ? HEAT_SEEN : WHEN_LONG_AGO);
}

void cdm_pages_heat_up(struct cdm_pages *pages, size_t i, uint32_t epoch)
{
    if (pages->heat)
        set_when(pages, i, CDM_PAGE_HEAT_MAX << 1 | HEAT_SEEN);
    else
        cdm_pages_touch(pages, i, epoch);
}

void cdm_pages_forget(struct cdm_pages *pages, size_t i)
{
    pages->byte[i] = 0;
}

void cdm_pages_age(struct cdm_pages *pages, uint32_t epoch)
{
    if (!pages->heat)
        return;
    for (size_t i = 0; i < pages->n; i++) {
        unsigned when = when_of(pages, i);
        set_when(pages, i, (when >> 1 >> 1) << 1 | (when & HEAT_SEEN));
    }
    pages->aged = epoch;
}

bool cdm_pages_seen(const struct cdm_pages *pages, size_t i)
{
    return when_of(pages, i) != WHEN_NEVER;
}

unsigned cdm_pages_heat(const struct cdm_pages *pages, size_t i)
{
    return pages->heat ? when_of(pages, i) >> 1 : 0;
}

/* heat: the bit of the count that stands for `epoch`, 0 when it is past the count's reach. */
static unsigned heat_bit(const struct cdm_pages *pages, uint32_t epoch)
{
    if ((int32_t)(epoch - pages->aged) > 0)
        return HEAT_NOW;
    uint32_t back = pages->aged - epoch + 1;
    return back < HEAT_BITS ? HEAT_NOW >> back : 0;
}

bool cdm_pages_used_in(const struct cdm_pages *pages, size_t i, uint32_t epoch)
{
    unsigned when = when_of(pages, i);
    if (pages->heat)
        return (when >> 1 & heat_bit(pages, epoch)) != 0;
    return when >= WHEN_FIRST && pages->base + when - WHEN_FIRST == tick(pages, epoch);
}

bool cdm_pages_idle(const struct cdm_pages *pages, size_t i, uint32_t epoch, int32_t epochs)
{
    if (epochs <= 0)
        return true;
    unsigned when = when_of(pages, i);
    if (pages->heat) {
        unsigned count = when >> 1;
        if (!count)
            return true;
        uint32_t back = 0; /* the latest use: `back` epochs before the one after `aged` */
        while (!(count & HEAT_NOW >> back))
            back++;
        return (int32_t)(epoch - (pages->aged + 1 - back)) >= epochs;
    }
    if (when < WHEN_FIRST)
        return true;
    uint32_t ticks = ((uint32_t)epochs + pages->quantum - 1) / pages->quantum;
    return (int32_t)(tick(pages, epoch) - (pages->base + when - WHEN_FIRST)) >= (int32_t)ticks;
}

int cdm_pages_node(const struct cdm_pages *pages, size_t i)
{
    unsigned where = pages->byte[i] & WHERE_MASK;
    return where ? pages->node[where - 1] : -1;
}

void cdm_pages_set_node(struct cdm_pages *pages, size_t i, int node)
{
    unsigned where = 0;
    for (int k = 0; node >= 0 && k < CDM_PAGE_NODES && !where; k++) {
        if (pages->node[k] < 0)
            pages->node[k] = (int16_t)node; /* the first page seen there */
        if (pages->node[k] == node)
            where = (unsigned)k + 1;
    }
    pages->byte[i] = (uint8_t)((pages->byte[i] & ~WHERE_MASK) | where);
}

bool cdm_pages_seen_all_on(const struct cdm_pages *pages, const bool on[CDM_PAGE_NODES])
{
    unsigned staying = 0; /* a bit for each `where` that names one of the nodes */
    for (int k = 0; k < CDM_PAGE_NODES; k++)
        staying |= (unsigned)(on[k] && pages->node[k] >= 0) << (k + 1);
    for (size_t i = 0; i < pages->n; i++)
        if (when_of(pages, i) != WHEN_NEVER && !(staying >> (pages->byte[i] & WHERE_MASK) & 1))
            return false;
    return true;
}
