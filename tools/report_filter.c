/* SPDX-License-Identifier: MIT */
/* cdmplace report --rule, --pid, --rank: which processes and rules every output of the
 * report shows. The set itself is cut to them (trace_set_select), so the tables, --json,
 * --folded, --svg, --perfetto and --diff need no filter of their own.
 *
 * A value that selects nothing is a mistake worth saying (a rule's name mistyped, a rank
 * past the job's last): the message names what the traces do hold. */
#include "report.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A pid or a rank: a whole number from 0. */
static bool parse_id(const char *text, int *id)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (*text < '0' || *text > '9' || *end || errno || value > INT32_MAX)
        return false;
    *id = (int)value;
    return true;
}

bool report_filter_add(struct report_filter *filter, enum report_filter_option option,
                       const char *value)
{
    if (option == REPORT_FILTER_RULE) {
        filter->rules =
            cli_checked(realloc(filter->rules, sizeof *filter->rules * (filter->n_rules + 1)));
        filter->rules[filter->n_rules++] = value;
        return true;
    }
    int id;
    if (!parse_id(value, &id))
        return false;
    int **ids = option == REPORT_FILTER_PID ? &filter->pids : &filter->ranks;
    size_t *n = option == REPORT_FILTER_PID ? &filter->n_pids : &filter->n_ranks;
    *ids = cli_checked(realloc(*ids, sizeof **ids * (*n + 1)));
    (*ids)[(*n)++] = id;
    return true;
}

void report_filter_free(struct report_filter *filter)
{
    free(filter->rules);
    free(filter->pids);
    free(filter->ranks);
    *filter = (struct report_filter){0};
}

static bool listed(const int *ids, size_t n, int id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static int pid_of(const struct trace_process *process) { return process->pid; }
static int rank_of(const struct trace_process *process) { return process->rank; }

/* Is every id given (pids or ranks) the id of some process of the set? If not, says so with
 * the ids there are. */
static bool ids_found(const struct trace_set *set, const char *set_name, const char *what,
                      const int *ids, size_t n, int (*id_of)(const struct trace_process *))
{
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t p = 0; p < set->n_processes && !found; p++)
            found = id_of(set->processes[p]) == ids[i];
        if (found)
            continue;
        fprintf(stderr, "cdmplace: report: no process of %s %d in %s; %ss there:", what, ids[i],
                set_name, what);
        bool any = false;
        for (size_t p = 0; p < set->n_processes; p++) {
            int id = id_of(set->processes[p]);
            bool seen = id < 0;
            for (size_t k = 0; k < p && !seen; k++)
                seen = id_of(set->processes[k]) == id;
            if (!seen)
                fprintf(stderr, "%s %d", any ? "," : "", id);
            any |= !seen;
        }
        fprintf(stderr, "%s\n", any ? "" : " none");
        return false;
    }
    return true;
}

static bool keep_process(const struct trace_process *process, const void *arg)
{
    const struct report_filter *filter = arg;
    return (!filter->n_pids || listed(filter->pids, filter->n_pids, process->pid)) &&
           (!filter->n_ranks || listed(filter->ranks, filter->n_ranks, process->rank));
}

static bool keep_any_process(const struct trace_process *process, const void *arg) { return true; }

static bool keep_rule(const char *name, const void *arg)
{
    const struct report_filter *filter = arg;
    for (size_t i = 0; i < filter->n_rules; i++)
        if (!strcmp(filter->rules[i], name))
            return true;
    return false;
}

static bool keep_any_rule(const char *name, const void *arg) { return true; }

/* Is every rule given a rule of some process of the sets? If not, says so with the rules
 * there are. */
static bool rules_found(const struct report_filter *filter, struct trace_set *const *sets,
                        size_t n_sets)
{
    const char **names = NULL;
    int n_names = 0;
    for (size_t s = 0; s < n_sets; s++) {
        const char **more;
        int n_more = report_rule_names(sets[s], &more);
        names = cli_checked(realloc(names, sizeof *names * (size_t)(n_names + n_more + 1)));
        for (int m = 0; m < n_more; m++) {
            bool known = false;
            for (int k = 0; k < n_names && !known; k++)
                known = !strcmp(names[k], more[m]);
            if (!known)
                names[n_names++] = more[m];
        }
        free(more);
    }
    bool found = true;
    for (size_t i = 0; i < filter->n_rules && found; i++) {
        found = false;
        for (int k = 0; k < n_names && !found; k++)
            found = !strcmp(names[k], filter->rules[i]);
        if (found)
            continue;
        fprintf(stderr, "cdmplace: report: no rule '%s' in the processes reported; rules there:",
                filter->rules[i]);
        for (int k = 0; k < n_names; k++)
            fprintf(stderr, "%s %s", k ? "," : "", names[k]);
        fprintf(stderr, "%s\n", n_names ? "" : " none");
    }
    free(names);
    return found;
}

int report_filter_apply(const struct report_filter *filter, struct trace_set *const *sets,
                        const char *const *names, size_t n_sets)
{
    for (size_t s = 0; s < n_sets; s++) {
        if (!ids_found(sets[s], names[s], "pid", filter->pids, filter->n_pids, pid_of) ||
            !ids_found(sets[s], names[s], "rank", filter->ranks, filter->n_ranks, rank_of))
            return CLI_USAGE;
        trace_set_select(sets[s], keep_process, keep_any_rule, filter);
        if (!sets[s]->n_processes) { /* each value is somewhere, but not together */
            cli_error("report: no process in %s is of a --pid and a --rank given", names[s]);
            return CLI_USAGE;
        }
    }
    /* Rules after processes: a rule must be in what is reported, and one run of --diff may
     * lack a rule the other has. */
    if (!rules_found(filter, sets, n_sets))
        return CLI_USAGE;
    for (size_t s = 0; s < n_sets && filter->n_rules; s++)
        trace_set_select(sets[s], keep_any_process, keep_rule, filter);
    return CLI_OK;
}
