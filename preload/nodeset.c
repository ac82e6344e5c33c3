/* SPDX-License-Identifier: MIT */
/* Node sets: "2", "0-1", "0,2", "0-1,4" or a name from [nodes], and their resolution against
 * the machine's topology.
 *
 * A node is usable when it is online and has memory: the kernel refuses a bind to nodes
 * without memory (mbind(2): EINVAL when no node of the mask has memory), so naming one
 * places nothing there. Nodes named but not usable are reported, never silently dropped. */
#include "core.h"

#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- masks */

bool cdm__nodemask_empty(const cdm_nodemask *mask)
{
    for (size_t i = 0; i < sizeof mask->bits / sizeof mask->bits[0]; i++)
        if (mask->bits[i])
            return false;
    return true;
}

int cdm__nodemask_count(const cdm_nodemask *mask)
{
    int count = 0;
    for (size_t i = 0; i < sizeof mask->bits / sizeof mask->bits[0]; i++)
        count += __builtin_popcountll(mask->bits[i]);
    return count;
}

bool cdm__nodemask_intersects(const cdm_nodemask *a, const cdm_nodemask *b)
{
    for (size_t i = 0; i < sizeof a->bits / sizeof a->bits[0]; i++)
        if (a->bits[i] & b->bits[i])
            return true;
    return false;
}

/* "" for an empty mask; a list cut short by a small buffer ends at a whole item. */
char *cdm__nodemask_format(const cdm_nodemask *mask, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    size_t used = 0;
    for (int node = 0; node < CDM_MAX_NODES; node++) {
        if (!cdm__nodemask_has(mask, node))
            continue;
        int last = node;
        while (last + 1 < CDM_MAX_NODES && cdm__nodemask_has(mask, last + 1))
            last++;
        const char *comma = used ? "," : "";
        int n = last == node ? snprintf(buf + used, size - used, "%s%d", comma, node)
                             : snprintf(buf + used, size - used, "%s%d-%d", comma, node, last);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0';
            break;
        }
        used += (size_t)n;
        node = last;
    }
    return buf;
}

/* ---------------------------------------------------------------- syntax */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool parse_node(const char **p, int *node)
{
    if (!is_digit(**p))
        return false;
    long value = 0;
    for (; is_digit(**p); (*p)++)
        if (value <= CDM_MAX_NODES)
            value = value * 10 + (**p - '0');
    *node = value > CDM_MAX_NODES ? CDM_MAX_NODES : (int)value;
    return true;
}

#define EXPECT_LIST "expected a node list like 0-1,3"

/* Every node a list names, whether this machine has it or not. */
static bool parse_list(const char *spec, cdm_nodemask *named, char *why, size_t why_size)
{
    *named = (cdm_nodemask){{0}};
    const char *p = skip_blanks(spec);
    for (;;) {
        int first, last;
        if (!parse_node(&p, &first)) {
            snprintf(why, why_size, "invalid node set '%.64s'; " EXPECT_LIST, spec);
            return false;
        }
        last = first;
        p = skip_blanks(p);
        if (*p == '-') {
            p = skip_blanks(p + 1);
            if (!parse_node(&p, &last)) {
                snprintf(why, why_size, "invalid node set '%.64s'; " EXPECT_LIST, spec);
                return false;
            }
            p = skip_blanks(p);
        }
        if (first >= CDM_MAX_NODES || last >= CDM_MAX_NODES) {
            snprintf(why, why_size, "node set '%.64s' names a node above %d; " EXPECT_LIST,
                     spec, CDM_MAX_NODES - 1);
            return false;
        }
        if (first > last) {
            snprintf(why, why_size, "node range %d-%d in '%.64s' runs backwards; expected "
                     "FIRST-LAST with FIRST at most LAST", first, last, spec);
            return false;
        }
        for (int node = first; node <= last; node++)
            cdm__nodemask_set(named, node);
        if (*p == '\0')
            return true;
        if (*p != ',') {
            snprintf(why, why_size, "invalid node set '%.64s'; " EXPECT_LIST, spec);
            return false;
        }
        p = skip_blanks(p + 1);
    }
}

static const struct cdm_node_name *find_name(const struct cdm_config *config, const char *name)
{
    for (int i = 0; i < config->n_node_names; i++)
        if (strcmp(config->node_names[i].name, name) == 0)
            return &config->node_names[i];
    return NULL;
}

/* What a spec stands for: the nodes a list names (*auto_name NULL), or the built-in name
 * whose nodes the topology decides ("cdm" or "dram"). */
static bool interpret(const struct cdm_config *config, const char *spec, cdm_nodemask *named,
                      const char **auto_name, char *why, size_t why_size)
{
    *auto_name = NULL;
    spec = skip_blanks(spec);
    if (is_digit(*spec))
        return parse_list(spec, named, why, why_size);
    const struct cdm_node_name *entry = find_name(config, spec);
    if (entry == NULL) {
        char names[96] = "";
        size_t used = 0;
        for (int i = 0; i < config->n_node_names; i++) {
            int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                             config->node_names[i].name);
            if (n < 0 || (size_t)n >= sizeof names - used)
                break;
            used += (size_t)n;
        }
        snprintf(why, why_size, "unknown node set '%.40s'; expected a node list like 0-1,3 or "
                 "a name from [nodes]: %s", spec, names);
        return false;
    }
    if (strcmp(entry->spec, "auto") == 0) {
        if (strcmp(entry->name, "cdm") == 0 || strcmp(entry->name, "dram") == 0) {
            *auto_name = entry->name;
            return true;
        }
        snprintf(why, why_size, "node set '%.40s' is auto, which only cdm and dram can be; "
                 EXPECT_LIST, entry->name);
        return false;
    }
    return parse_list(entry->spec, named, why, why_size);
}

bool cdm__nodeset_check(const struct cdm_config *config, const char *spec, char *why,
                        size_t why_size)
{
    cdm_nodemask named;
    const char *auto_name;
    return interpret(config, spec, &named, &auto_name, why, why_size);
}

/* ---------------------------------------------------------------- resolution */

static bool usable(const struct cdm_topology *topology, int node)
{
    return topology->nodes[node].present && topology->nodes[node].has_memory;
}

bool cdm__nodeset_resolve(const struct cdm_config *config, const struct cdm_topology *topology,
                          const char *spec, cdm_nodemask *out, cdm_nodemask *missing, char *why,
                          size_t why_size)
{
    cdm_nodemask named;
    const char *auto_name;
    *out = (cdm_nodemask){{0}};
    if (missing)
        *missing = (cdm_nodemask){{0}};
    if (!interpret(config, spec, &named, &auto_name, why, why_size))
        return false;
    if (auto_name) {
        *out = strcmp(auto_name, "cdm") == 0 ? topology->cdm : topology->dram;
        return true;
    }
    for (int node = 0; node < CDM_MAX_NODES; node++) {
        if (!cdm__nodemask_has(&named, node))
            continue;
        if (usable(topology, node))
            cdm__nodemask_set(out, node);
        else if (missing)
            cdm__nodemask_set(missing, node);
    }
    return true;
}

/* Whether a rule's node set is the topology's own idea of the CDM nodes. */
static bool is_auto_cdm(const struct cdm_config *config, const char *spec)
{
    const struct cdm_node_name *entry = find_name(config, skip_blanks(spec));
    return entry && strcmp(entry->name, "cdm") == 0 && strcmp(entry->spec, "auto") == 0;
}

int cdm__config_resolve(struct cdm_config *config, const struct cdm_topology *topology,
                        void (*warn)(const char *file, int line, const char *what))
{
    cdm_nodemask here = {{0}};
    for (int node = 0; node < CDM_MAX_NODES; node++)
        if (usable(topology, node))
            cdm__nodemask_set(&here, node);
    char here_text[64];
    cdm__nodemask_format(&here, here_text, sizeof here_text);
    bool warned_no_cdm = false;
    for (int i = 0; i < config->n_rules; i++) {
        struct cdm_rule *rule = &config->rules[i];
        rule->nodes = (cdm_nodemask){{0}};
        if (rule->policy == CDM_POLICY_LOCAL || rule->policy == CDM_POLICY_DEFAULT)
            continue;
        cdm_nodemask missing;
        char why[200];
        if (!cdm__nodeset_resolve(config, topology, rule->policy_nodes, &rule->nodes, &missing,
                                  why, sizeof why)) {
            cdm__config_error(config, rule->policy_line, "%s", why);
            continue;
        }
        if (warn == NULL)
            continue;
        char what[384], nodes_text[64], missing_text[64];
        /* MPOL_F_NUMA_BALANCING hands the pages to the kernel's tiering balancing, which
         * does nothing unless it is on. */
        if (rule->migrate == CDM_MIGRATE_KERNEL && topology->numa_balancing >= 0 &&
            !(topology->numa_balancing & 2)) {
            snprintf(what, sizeof what, "migrate = kernel: kernel.numa_balancing is %d, not "
                     "memory tiering, and the kernel moves none of the rule's pages; turn it on "
                     "with sysctl -w kernel.numa_balancing=2 (root)",
                     topology->numa_balancing);
            warn(config->path, rule->line, what);
        }
        if (cdm__nodemask_empty(&rule->nodes) && is_auto_cdm(config, rule->policy_nodes)) {
            if (!warned_no_cdm)
                warn(config->path, rule->policy_line,
                     "no CDM node found (no node has memory without CPUs); rules using 'cdm' "
                     "place nothing");
            warned_no_cdm = true;
        } else if (cdm__nodemask_empty(&rule->nodes)) {
            snprintf(what, sizeof what, "node set '%.64s' names no node on this machine (nodes "
                     "here: %s); the rule places nothing",
                     rule->policy_nodes, here_text[0] ? here_text : "none");
            warn(config->path, rule->policy_line, what);
        } else if (!cdm__nodemask_empty(&missing)) {
            snprintf(what, sizeof what, "node set '%.64s' names nodes %s that are not on this "
                     "machine (nodes here: %s); the rule places on %s only",
                     rule->policy_nodes, cdm__nodemask_format(&missing, missing_text, sizeof
                     missing_text), here_text, cdm__nodemask_format(&rule->nodes, nodes_text,
                     sizeof nodes_text));
            warn(config->path, rule->policy_line, what);
        }
    }
    return config->n_errors;
}
