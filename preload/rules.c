/* SPDX-License-Identifier: MIT */
/* Which rule places an allocation: the first, in file order, whose size window, kinds,
 * program glob and caller glob all match. Called on every allocation at or above min_size,
 * so it only compares: no allocation, no lock, no system call. */
#include <string.h>

#include "core.h"

static bool caller_matches(const char *glob, const struct cdm_request *req)
{
    /* The caller unwinds and names each frame in both forms (full path and basename of the
     * object), so one glob works whichever way the user wrote the object. */
    if (req->frames == NULL)
        return false;
    for (int i = 0; i < req->n_frames; i++)
        if (req->frames[i] && cdm__glob_match(glob, req->frames[i]))
            return true;
    return false;
}

enum match { NO_MATCH, MATCH, BUT_CALLER };

static enum match rule_matches(const struct cdm_rule *rule, const struct cdm_request *req)
{
    if (req->size < rule->size_min || req->size > rule->size_max)
        return NO_MATCH;
    if (!(rule->kinds & (unsigned)req->kind))
        return NO_MATCH;
    if (rule->program[0] && !cdm__glob_match(rule->program, req->program ? req->program : ""))
        return NO_MATCH;
    if (rule->caller[0] && !caller_matches(rule->caller, req))
        return BUT_CALLER;
    return MATCH;
}

int cdm__rules_match(const struct cdm_config *config, const struct cdm_request *req)
{
    for (int i = 0; i < config->n_rules; i++)
        switch (rule_matches(&config->rules[i], req)) {
        case MATCH:
            return i;
        case BUT_CALLER:
            if (req->frames_cut)
                return CDM_RULES_DEEPER;
            break;
        case NO_MATCH:
            break;
        }
    return -1;
}

bool cdm__rules_need_stack(const struct cdm_config *config)
{
    for (int i = 0; i < config->n_rules; i++)
        if (config->rules[i].caller[0])
            return true;
    return false;
}

size_t cdm__function_name_length(const char *symbol)
{
    const char *dot = symbol[0] ? strchr(symbol + 1, '.') : NULL;
    return dot ? (size_t)(dot - symbol) : strlen(symbol);
}
