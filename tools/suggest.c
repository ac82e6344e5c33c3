/* SPDX-License-Identifier: MIT */
/* cdmplace suggest LOG...: a config from the traces of a profiling run, whose rules name the
 * call sites the profile saw (design.md, "The end-of-run report").
 *
 * A profiling run (dry_run, or a config without rules such as the built-in default) has the
 * tracker watch every large buffer it records, and says in an `access` event how much each
 * was used (preload/profile.c). Here buffers are grouped by call site as a rule's `caller`
 * names it, "object:function" with the object's base name, across every process given (the
 * ranks of a job merge into one site), and each site gets its use:
 *
 *     use = pages seen touched in an epoch, summed / (pages watched x epochs watched)
 *
 * the share of its buffers that the program touches in an average epoch: 1 for a buffer
 * rewritten all the time, 0 for one filled once and then left alone (the write that makes a
 * page is not use). The figures behind each rule are printed above it as a comment.
 *
 * A site under COLD_USE goes to CDM, the others stay on DRAM; a site with no figures (no
 * tracker ran, the buffers lived less than an epoch, the trace is not of a profiling run)
 * gets no rule and is listed as such: nothing is placed on a guess. */
#include "cli.h"
#include "trace.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <uthash.h>

/* Below this use a site is cold. A buffer under it leaves nine tenths of its pages untouched
 * in an average epoch: the CPU's accesses to it, on slower CDM memory, cost at most about a
 * tenth of what a buffer in full use would lose there. The hot and cold buffers of a program
 * are usually far apart (a rewritten scratch buffer is near 1, a table filled once is 0);
 * one close to the threshold is worth a look, and its figure is printed for that. */
#define COLD_USE 0.1

/* ---------------------------------------------------------------- call sites, merged */

struct site {
    char *object;   /* base name */
    char *function;
    uint64_t buffers, bytes, min_size, max_size;
    struct trace_use use; /* from the processes whose tracker tells use apart */
    size_t processes;
    const struct trace_process *last; /* counts each process once */
    char rule[CDM_NAME_MAX];
    const char *no_rule; /* why it gets none; NULL: it gets `rule` */
    UT_hash_handle hh;
    char key[]; /* "object:function" */
};

static void *checked(void *pointer)
{
    if (!pointer) {
        cli_error("out of memory");
        exit(CLI_FAILED);
    }
    return pointer;
}

/* Whether a process's `access` figures tell a buffer in use from one left alone: `missing`
 * sees only the first touch of each page, so its use is at most 1 / epochs for any buffer. */
static bool tells_use(const struct trace_process *process)
{
    return process->tracker && strcmp(process->tracker, "off") && strcmp(process->tracker, "missing");
}

/* A profiling run: dry run, or no rule of its own (the start event names the rules). */
static bool profiling(const struct trace_process *process)
{
    if (process->dry_run)
        return true;
    for (int i = 0; i < process->n_rules; i++)
        if (!process->rules[i].no_rule)
            return false;
    return true;
}

static void add_use(struct trace_use *to, const struct trace_use *from)
{
    to->buffers += from->buffers;
    to->page_epochs += from->page_epochs;
    to->watched += from->watched;
    to->touched += from->touched;
    to->pages += from->pages;
}

static struct site *merge_sites(const struct trace_set *set)
{
    struct site *sites = NULL, *site;
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        for (int c = 0; c < process->n_callsites; c++) {
            const struct trace_callsite *callsite = &process->callsites[c];
            const char *slash = strrchr(callsite->object, '/');
            const char *object = slash ? slash + 1 : callsite->object;
            size_t len = strlen(object) + 1 + strlen(callsite->function);
            char *key = checked(malloc(len + 1));
            snprintf(key, len + 1, "%s:%s", object, callsite->function);
            HASH_FIND(hh, sites, key, len, site);
            if (!site) {
                site = checked(calloc(1, sizeof *site + len + 1));
                memcpy(site->key, key, len + 1);
                site->object = checked(strdup(object));
                site->function = checked(strdup(callsite->function));
                site->min_size = UINT64_MAX;
                HASH_ADD_KEYPTR(hh, sites, site->key, len, site);
            }
            free(key);
            site->buffers += callsite->allocations;
            site->bytes += callsite->bytes;
            if (callsite->min_size < site->min_size)
                site->min_size = callsite->min_size;
            if (callsite->max_size > site->max_size)
                site->max_size = callsite->max_size;
            if (tells_use(process))
                add_use(&site->use, &callsite->use);
            if (site->last != process)
                site->processes++, site->last = process;
        }
    }
    return sites;
}

static int by_bytes(const void *a, const void *b)
{
    const struct site *x = *(const struct site *const *)a, *y = *(const struct site *const *)b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : strcmp(x->key, y->key);
}

/* ---------------------------------------------------------------- what a site gets */

/* A name a glob can hold: printable, no blank (a value ends there) and no comment sign. */
static bool nameable(const char *text)
{
    if (!*text || !strcmp(text, "?"))
        return false;
    for (const char *c = text; *c; c++)
        if (*c <= ' ' || *c > '~' || *c == '#' || *c == ';')
            return false;
    return true;
}

/* `caller = *OBJECT:FUNCTION`, glob characters of the names escaped. */
static void caller_glob(const struct site *site, char *buf, size_t size)
{
    size_t used = 0;
    buf[used++] = '*';
    for (const char *c = site->key; *c && used + 3 < size; c++) {
        if (strchr("*?[\\", *c))
            buf[used++] = '\\';
        buf[used++] = *c;
    }
    buf[used] = '\0';
}

/* The function's name as a rule name (letters, digits, '_', '-', '.'), made unique. */
static void name_rule(struct site *site, struct site **named, size_t n_named)
{
    char base[CDM_NAME_MAX - 12]; /* room for "-N" */
    size_t len = 0;
    for (const char *c = site->function; *c && len + 1 < sizeof base; c++)
        base[len++] = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                              (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'
                          ? *c
                          : '_';
    base[len] = '\0';
    for (int suffix = 1;; suffix++) {
        if (suffix == 1)
            snprintf(site->rule, sizeof site->rule, "%s", base);
        else
            snprintf(site->rule, sizeof site->rule, "%s-%d", base, suffix);
        bool taken = false;
        for (size_t i = 0; i < n_named && !taken; i++)
            taken = !strcmp(named[i]->rule, site->rule);
        if (!taken)
            return;
    }
}

/* Why a site gets no rule, or NULL when it gets one. */
static const char *no_rule_because(const struct site *site, size_t n_rules)
{
    if (!nameable(site->object) || !nameable(site->function))
        return "its function has no name a caller glob can hold";
    if (!site->use.watched)
        return site->use.buffers ? "its buffers lived less than an epoch: nothing was seen of "
                                   "their use"
                                 : "no access figures for its buffers";
    if (n_rules == CDM_MAX_RULES)
        return "more call sites than a config has rules (64): the largest have them";
    return NULL;
}

static double use_of(const struct site *site)
{
    return (double)site->use.page_epochs / (double)site->use.watched;
}

static void print_rule(const struct site *site)
{
    char bytes[32], low[32], high[32], glob[2 * CDM_GLOB_MAX];
    double use = use_of(site);
    bool cold = use < COLD_USE;
    printf("\n# %s: %llu buffer%s, %s, in %zu process%s; use %.3f (%llu page-epochs touched of "
           "%llu watched, %llu of %llu pages ever touched): %s (%s %.2f)\n",
           site->key, (unsigned long long)site->buffers, site->buffers == 1 ? "" : "s",
           cli_format_bytes(site->bytes, bytes, sizeof bytes), site->processes,
           site->processes == 1 ? "" : "es", use, (unsigned long long)site->use.page_epochs,
           (unsigned long long)site->use.watched, (unsigned long long)site->use.touched,
           (unsigned long long)site->use.pages, cold ? "cold" : "hot", cold ? "<" : ">=",
           COLD_USE);
    caller_glob(site, glob, sizeof glob);
    printf("[rule %s]\ncaller = %s\nsize   = %s-%s\npolicy = %s\n", site->rule, glob,
           cli_format_size(site->min_size, low, sizeof low),
           cli_format_size(site->max_size, high, sizeof high), cold ? "bind cdm" : "bind dram");
}

/* ---------------------------------------------------------------- the header */

static char *written_at(const char *path, char *buf, size_t size)
{
    struct stat st;
    struct tm when;
    if (stat(path, &st) || !gmtime_r(&st.st_mtime, &when) ||
        !strftime(buf, size, "%Y-%m-%d %H:%M UTC", &when))
        snprintf(buf, size, "?");
    return buf;
}

static void print_header(const struct trace_set *set)
{
    char when[64];
    printf("# cdmplace suggest: rules for the call sites a profiling run saw, from %zu trace%s:\n",
           set->n_files, set->n_files == 1 ? "" : "s");
    for (size_t i = 0; i < set->n_files && i < 8; i++)
        printf("#   %s (written %s)\n", set->files[i], written_at(set->files[i], when, sizeof when));
    if (set->n_files > 8)
        printf("#   and %zu more\n", set->n_files - 8);
    size_t not_profiling = 0, blind = 0, killed = 0;
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        char name[128];
        bool shown = i < 8;
        if (shown)
            printf("# %s %s, config %s%s: tracker %s (sees %s)\n",
                   trace_process_name(process, name, sizeof name),
                   process->program ? process->program : "?",
                   process->config ? process->config : "?", process->dry_run ? ", dry run" : "",
                   process->tracker ? process->tracker : "?", process->sees ? process->sees : "?");
        not_profiling += !profiling(process);
        blind += !tells_use(process);
        killed += !process->exited;
    }
    if (set->n_processes > 8)
        printf("# and %zu more processes\n", set->n_processes - 8);
    if (not_profiling)
        printf("# %zu process%s placed by rules of %s own, not a profiling run: no access "
               "figures from %s\n",
               not_profiling, not_profiling == 1 ? " was" : "es were",
               not_profiling == 1 ? "its" : "their", not_profiling == 1 ? "it" : "them");
    if (blind)
        printf("# %zu process%s no tracker that tells use (off: none was allowed, see `cdmplace "
               "topo`; missing sees first touches only): no access figures from %s\n",
               blind, blind == 1 ? " had" : "es had", blind == 1 ? "it" : "them");
    if (killed)
        printf("# %zu process%s no exit event (killed?): figures up to %s last whole line\n",
               killed, killed == 1 ? " has" : "es have", killed == 1 ? "its" : "their");
    bool writes_only = false;
    for (size_t i = 0; i < set->n_processes; i++)
        writes_only |= set->processes[i]->sees && !strcmp(set->processes[i]->sees, "writes");
    if (writes_only)
        printf("# A tracker that sees writes only takes a buffer the program reads and never "
               "writes for cold;\n# track = damon (root, Linux 6.2) sees reads too.\n");
    printf("# use: the share of a call site's pages touched in an average epoch of its "
           "buffers' lives.\n# Below %.2f a site is cold and bound to CDM (memory without "
           "CPUs); the others are hot and\n# bound to DRAM. A site with no figures gets no "
           "rule: nothing is placed on a guess.\n",
           COLD_USE);
}

/* ---------------------------------------------------------------- the command */

static void print_config(const struct trace_set *set)
{
    print_header(set);
    uint64_t min_size = 0;
    for (size_t i = 0; i < set->n_processes; i++) {
        uint64_t size = set->processes[i]->min_size;
        if (size && (!min_size || size < min_size))
            min_size = size;
    }
    char size[32];
    printf("\n[settings]\nmin_size = %s\n",
           cli_format_size(min_size ? min_size : 1 << 20, size, sizeof size));

    struct site *sites = merge_sites(set), *site, *next;
    size_t n = HASH_COUNT(sites), k = 0, n_rules = 0, n_left = 0;
    struct site **sorted = checked(malloc(sizeof *sorted * (n ? n : 1)));
    HASH_ITER(hh, sites, site, next)
        sorted[k++] = site;
    qsort(sorted, n, sizeof *sorted, by_bytes);
    struct site **named = checked(malloc(sizeof *named * (n ? n : 1)));
    for (size_t i = 0; i < n; i++) {
        if ((sorted[i]->no_rule = no_rule_because(sorted[i], n_rules))) {
            n_left++;
            continue;
        }
        name_rule(sorted[i], named, n_rules);
        named[n_rules++] = sorted[i];
        print_rule(sorted[i]);
    }
    if (!n)
        printf("\n# No buffer of min_size or more was recorded: no rule.\n");
    if (n_left)
        printf("\n# No rule for %zu call site%s:\n", n_left, n_left == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        char bytes[32];
        if (sorted[i]->no_rule)
            printf("#   %s: %llu buffer%s, %s: %s\n", sorted[i]->key,
                   (unsigned long long)sorted[i]->buffers, sorted[i]->buffers == 1 ? "" : "s",
                   cli_format_bytes(sorted[i]->bytes, bytes, sizeof bytes), sorted[i]->no_rule);
    }
    free(named);
    free(sorted);
    HASH_ITER(hh, sites, site, next) {
        HASH_DEL(sites, site);
        free(site->object);
        free(site->function);
        free(site);
    }
}

int cli_suggest(const struct cli_command *command, int argc, char **argv)
{
    int status = cli_parse_options(command, argc, argv, NULL);
    if (status >= 0)
        return status;
    if (optind == argc)
        return cli_bad_usage(command, "no trace given");
    struct trace_set set = {0};
    int unreadable = 0;
    for (int i = optind; i < argc; i++)
        unreadable += trace_read_file(&set, argv[i]) != 0;
    trace_set_finish(&set);
    if (unreadable || !set.n_processes) {
        /* A profile missing some of its processes would suggest for the rest as if for all. */
        cli_error(unreadable ? "a trace cannot be read: no config suggested"
                             : "no cdmplace events in the traces given: no config suggested");
        trace_set_free(&set);
        return CLI_FAILED;
    }
    print_config(&set);
    trace_set_free(&set);
    return CLI_OK;
}
