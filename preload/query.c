/* SPDX-License-Identifier: MIT */
/* The public API (include/cdmplace.h): what a program may ask of the library about its own
 * buffers, and its version. */
#include "internal.h"

#include "cdmplace.h"

CDM_EXPORT int cdm_query(const void *addr, struct cdm_buffer_info *info)
{
    if (!cdm__placement_lookup(addr, info))
        return -1;
    info->tracked = cdm__tracker_watches((uintptr_t)info->start);
    info->epochs = cdm__tracker_epochs();
    return 0;
}

CDM_EXPORT const char *cdm_version(void)
{
    return CDM_VERSION;
}
