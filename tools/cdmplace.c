/* SPDX-License-Identifier: MIT */
/* cdmplace(1): the command table, the top level, and what the subcommands share.
 *
 * One table holds each command's name, function, usage line and help (as git.c's
 * commands[]); the usage lines are the man page's SYNOPSIS, byte for byte, and
 * tests/unit_cli.c checks that they stay so. One file per subcommand: run.c, check.c, topo.c,
 * report.c, suggest.c.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the command table */

static const struct cli_command commands[] = {
    {
        "run",
        cli_run,
        "cdmplace run [-c FILE] [--rule 'KEY=VALUE ...']... [-o KEY=VALUE]... [--dry-run] "
        "[--log PATH] [--report stderr|PATH|off] [--] PROGRAM [ARGS...]",
        "run a program with libcdmplace.so preloaded",
        "Check the config, then run PROGRAM with libcdmplace.so added to LD_PRELOAD. A config\n"
        "with errors stops here (exit 2) and PROGRAM is not started. The exit status is then\n"
        "PROGRAM's; 127 when it is not found, 126 when it cannot be executed.\n"
        "\n"
        "options:\n"
        "  -c, --config FILE   the config (default: $CDMPLACE_CONFIG, /etc/cdmplace.conf,\n"
        "                      else the built-in profile-only default)\n"
        "      --rule 'KEY=VALUE ...'\n"
        "                      a rule without a file, its keys as in a [rule] section; rules\n"
        "                      in order, after the file's; named ruleN unless name=NAME\n"
        "  -o, --option KEY=VALUE\n"
        "                      a [settings] key (one the file does not set)\n"
        "      --dry-run       decide and record every placement, apply none\n"
        "      --log PATH      write the decision trace (JSON lines) to PATH; %p %h %e %j %r\n"
        "                      %l expand to pid, host, program, job id, rank, local rank\n"
        "      --report TO     the end-of-run summary: stderr, a PATH template, or off\n"
        "  -h, --help          print this help\n",
    },
    {
        "check",
        cli_check,
        "cdmplace check [--json] FILE",
        "validate a config; print its node sets and rules as resolved here",
        "Validate FILE (cdmplace.conf(5)) and print its node sets, settings and rules as\n"
        "resolved on this machine. Exit 0 when it is valid (warnings are printed), 2 with every\n"
        "error as FILE:LINE: on stderr. Options may follow FILE.\n"
        "\n"
        "options:\n"
        "      --json   print the verdict as one JSON object instead, for scripts: file, ok,\n"
        "               errors and warnings (line, message; then not on stderr) and, for a\n"
        "               valid config, its node_sets, settings and rules (bytes and\n"
        "               nanoseconds as numbers)\n"
        "  -h, --help   print this help\n",
    },
    {
        "topo",
        cli_topo,
        "cdmplace topo [--json]",
        "print nodes, CPUs, memory, distances, CDM nodes, what the kernel allows",
        "Print this machine's NUMA nodes: CPUs, memory total and free, kind (cdm: memory and no\n"
        "CPUs; dram: memory and CPUs), memory tier and HMAT attributes where the kernel has\n"
        "them, the distance matrix, and what the kernel allows for placement and access\n"
        "tracking (weighted interleave, userfaultfd, DAMON).\n"
        "\n"
        "options:\n"
        "      --json   print the same as one JSON object instead, for scripts: nodes (with\n"
        "               bytes as numbers, and each CDM node's nearest DRAM node), distances,\n"
        "               cdm_nodes, dram_nodes, weighted_interleave, numa_balancing and\n"
        "               tracking (userfaultfd, each tracker, what track = auto gets)\n"
        "  -h, --help   print this help\n",
    },
    {
        "report",
        cli_report,
        "cdmplace report [--json | --folded] [--top N] [--rule NAME] [--pid PID] [--rank R] "
        "[--svg FILE] [--perfetto FILE] [--diff] LOG...",
        "summarize traces: one process, or the ranks of a job",
        "Read the decision traces LOG... (written with --log or `log =`) and print, per rule,\n"
        "allocations, bytes, peak, pages migrated each way, faults, fallbacks, failures and\n"
        "pages per node at peak and at exit; the top call sites by bytes, named with file:line\n"
        "where the objects and their debug info are here; the time spent in the library. Many\n"
        "processes (the ranks of a job) give one table of min, mean and max across them, with\n"
        "the process holding the max. A LOG of - is standard input. A trace cut short (a\n"
        "killed process) is read up to its last whole line; lines that cannot be read are\n"
        "warned about with FILE:LINE. Options may follow the LOGs; -- ends them. Exit 0,\n"
        "1 when a trace cannot be read, none holds an event or FILE cannot be written, 2 on\n"
        "bad usage or when --rule, --pid or --rank names what the traces do not hold.\n"
        "\n"
        "options:\n"
        "      --json           print the report as one JSON object instead: per process its\n"
        "                       rules' figures (bytes and pages as numbers), call sites (most\n"
        "                       bytes first) and messages, for scripts; with --diff, its rows\n"
        "      --folded         print instead the bytes placed (policy applied) per allocating\n"
        "                       stack, one 'outer;...;inner BYTES' line each, for flamegraph.pl\n"
        "                       or speedscope; frames are functions, else OBJECT+0xOFFSET\n"
        "      --top N          show the N call sites with the most bytes (default 5; --json:\n"
        "                       per process, default all), or with --folded the N heaviest\n"
        "                       stacks (default all)\n"
        "      --rule NAME      only the rule NAME: its rows, call sites, stacks, panels and\n"
        "                       tracks ('(no rule)' for allocations no rule matched)\n"
        "      --pid PID        only the processes of pid PID\n"
        "      --rank R         only the process of rank R (the start event's rank, from the\n"
        "                       launcher's SLURM_PROCID, OMPI_COMM_WORLD_RANK, ...)\n"
        "                       --rule, --pid and --rank may each be given again (any of the\n"
        "                       values) and combine (all of them); they apply to every output\n"
        "      --svg FILE       also draw pages per node over time, one panel per rule, with\n"
        "                       the migrations each way marked, as an SVG picture (many\n"
        "                       processes: summed per rule)\n"
        "      --perfetto FILE  also write FILE, Chrome trace-event JSON for ui.perfetto.dev\n"
        "                       or chrome://tracing: a track per process, pages per node as\n"
        "                       counters, migrations and buffers' lifetimes as slices\n"
        "      --diff           compare two runs: the two LOGs are A and B, one trace each\n"
        "                       (catenate a job's traces: <(cat a.*.jsonl)); per rule, each\n"
        "                       figure summed over the run's processes in A and in B, B-A and\n"
        "                       B/A; a rule in one run only says so. Takes --rule, --rank\n"
        "                       and --json\n"
        "  -h, --help           print this help\n",
    },
    {
        "suggest",
        cli_suggest,
        "cdmplace suggest LOG...",
        "a config, from a profiling run, that places what the profile saw",
        "Read the traces LOG... of a profiling run (--dry-run, or the built-in profile-only\n"
        "default: each large buffer is watched by the tracker, nothing is moved) and print a\n"
        "config with one rule per call site seen, named by `caller = *OBJECT:FUNCTION`:\n"
        "buffers whose pages are touched in under a tenth of the epochs of their life go to\n"
        "CDM (bind cdm), the others stay on DRAM (bind dram). Each rule carries the figures\n"
        "that chose it as a comment; call sites without figures get no rule, and are listed\n"
        "with the reason. The traces of many processes (a job's ranks) merge by call site.\n"
        "Exit 0, 1 when a trace cannot be read or none holds an event, 2 on bad usage.\n"
        "\n"
        "options:\n"
        "  -h, --help   print this help\n",
    },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char top_usage[] = "cdmplace --help | --version";

/* ---------------------------------------------------------------- help and usage */

/* The length of the valid UTF-8 sequence at s (RFC 3629: shortest form, no surrogate, at most
 * U+10FFFF), or 0 when there is none. */
static size_t utf8_length(const unsigned char *s)
{
    static const struct {
        unsigned char mask, lead, bits;
        unsigned least;
    } forms[] = {{0x80, 0x00, 0x7f, 0}, {0xe0, 0xc0, 0x1f, 0x80}, {0xf0, 0xe0, 0x0f, 0x800},
                 {0xf8, 0xf0, 0x07, 0x10000}};
    for (size_t n = 1; n <= sizeof forms / sizeof forms[0]; n++) {
        if ((s[0] & forms[n - 1].mask) != forms[n - 1].lead)
            continue;
        unsigned code = s[0] & forms[n - 1].bits;
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
                return 0;
            code = code << 6 | (s[i] & 0x3f);
        }
        bool surrogate = code >= 0xd800 && code <= 0xdfff;
        return code >= forms[n - 1].least && code <= 0x10ffff && !surrogate ? n : 0;
    }
    return 0;
}

void cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *at = (const unsigned char *)s; *at;) {
        size_t n = utf8_length(at);
        if (n == 0)
            fputs("\\ufffd", out);
        else if (*at == '"' || *at == '\\')
            fprintf(out, "\\%c", *at);
        else if (*at < 0x20)
            fprintf(out, "\\u%04x", *at);
        else
            fwrite(at, 1, n, out);
        at += n ? n : 1;
    }
    fputc('"', out);
}

void cli_json_text(FILE *out, const char *key, const char *value)
{
    fprintf(out, ",\"%s\":", key);
    if (value)
        cli_json_string(out, value);
    else
        fputs("null", out);
}

void cli_json_number(FILE *out, const char *key, uint64_t value, bool known)
{
    if (known)
        fprintf(out, ",\"%s\":%llu", key, (unsigned long long)value);
    else
        fprintf(out, ",\"%s\":null", key);
}

void cli_json_nodes(FILE *out, const char *key, const cdm_nodemask *mask)
{
    fprintf(out, ",\"%s\":[", key);
    const char *separator = "";
    for (int node = 0; node < CDM_MAX_NODES; node++)
        if (cdm__nodemask_has(mask, node)) {
            fprintf(out, "%s%d", separator, node);
            separator = ",";
        }
    fputc(']', out);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cdmplace: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Every synopsis line, as the man page's SYNOPSIS lists them. */
static void print_synopsis(FILE *out)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "%s%s\n", i == 0 ? "usage: " : "       ", commands[i].usage);
    fprintf(out, "       %s\n", top_usage);
}

static void print_top_help(void)
{
    print_synopsis(stdout);
    printf("\nPlace a program's large buffers on NUMA nodes, CDM memory (GPU, CXL, HBM)\n"
           "among them, by the rules of a config file.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-7s %s\n", commands[i].name, commands[i].summary);
    printf("\n'cdmplace COMMAND -h' prints a command's options. See cdmplace(1), "
           "cdmplace.conf(5).\n");
}

int cli_help(const struct cli_command *command)
{
    printf("usage: %s\n\n%s", command->usage, command->help);
    return CLI_OK;
}

int cli_bad_usage(const struct cli_command *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cdmplace: %s: ", command->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nusage: %s\n", command->usage);
    va_end(ap);
    return CLI_USAGE;
}

/* The option as the user wrote it: getopt_long leaves optopt 0 for an unknown long option,
 * and long-only options use values past 255. */
static void bad_option_text(int result, char **argv, char *buf, size_t size)
{
    const char *word = argv[optind - 1];
    bool long_option = strncmp(word, "--", 2) == 0;
    if (long_option && (result == ':' || optopt == 0 || optopt > 255))
        snprintf(buf, size, "%.*s", (int)strcspn(word, "="), word);
    else
        snprintf(buf, size, "-%c", optopt);
}

int cli_bad_option(const struct cli_command *command, int result, char **argv)
{
    char option[128];
    bad_option_text(result, argv, option, sizeof option);
    if (result == ':')
        return cli_bad_usage(command, "option '%s' needs an argument", option);
    /* A known long option given "=VALUE" that takes none: getopt_long sets optopt to its
     * value, where an unknown one leaves optopt 0. */
    if (optopt != 0 && strchr(argv[optind - 1], '=') && strncmp(argv[optind - 1], "--", 2) == 0)
        return cli_bad_usage(command, "option '%s' takes no argument", option);
    return cli_bad_usage(command, "unknown option '%s'", option);
}

int cli_parse_options(const struct cli_command *command, int argc, char **argv, bool *json)
{
    enum { OPT_JSON = 256 };
    /* --json first: a command without it reads the table from the entry after it. */
    static const struct option options[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, CLI_OPTSTRING_PREFIX "h", json ? options : options + 1,
                                 NULL)) != -1) {
        if (option == OPT_JSON)
            *json = true;
        else if (option == 'h')
            return cli_help(command);
        else
            return cli_bad_option(command, option, argv);
    }
    return -1;
}

/* ---------------------------------------------------------------- configs */

/* The config being resolved, and its load's flags: cdm__config_resolve's warning callback
 * has no argument of its own. */
static struct cli_config *resolving;
static unsigned resolving_flags;

static void print_diagnostic(const char *file, int line, const char *severity, const char *what)
{
    if (file == NULL || *file == '\0')
        fprintf(stderr, "cdmplace: %s%s\n", severity, what);
    else if (line > 0)
        fprintf(stderr, "cdmplace: %s:%d: %s%s\n", file, line, severity, what);
    else
        fprintf(stderr, "cdmplace: %s: %s%s\n", file, severity, what);
}

static void take_warning(const char *file, int line, const char *what)
{
    if (resolving_flags & CLI_CONFIG_KEEP_DIAGNOSTICS) {
        size_t n = (size_t)resolving->warnings;
        resolving->kept_warnings =
            cli_checked(realloc(resolving->kept_warnings, (n + 1) * sizeof(struct cli_diagnostic)));
        resolving->kept_warnings[n] = (struct cli_diagnostic){line, cli_checked(strdup(what))};
    } else if (!(resolving_flags & CLI_CONFIG_NO_WARNINGS)) {
        print_diagnostic(file, line, "warning: ", what);
    }
    resolving->warnings++;
}

static bool config_alloc(struct cli_config *loaded)
{
    memset(loaded, 0, sizeof *loaded);
    loaded->config = calloc(1, sizeof *loaded->config);
    loaded->topology = calloc(1, sizeof *loaded->topology);
    if (loaded->config == NULL || loaded->topology == NULL)
        cli_error("out of memory");
    return loaded->config && loaded->topology;
}

/* An error of the config, named by the option that made its line where `source` says so. */
static void print_config_error(const struct cdm_config *config,
                               const struct cdm_config_error *error,
                               const struct cli_config_text *source)
{
    int option = source ? error->line - source->first_labelled : -1;
    bool in_text = !error->file[0] || strcmp(error->file, config->path) == 0;
    if (in_text && option >= 0 && option < source->n_labels)
        print_diagnostic(source->labels[option], 0, "", error->message);
    else
        print_diagnostic(error->file[0] ? error->file : config->path, error->line, "",
                         error->message);
}

/* The topology, the node sets resolved, the errors printed. */
static int finish_load(struct cli_config *loaded, unsigned flags,
                       const struct cli_config_text *source)
{
    struct cdm_config *config = loaded->config;
    if (flags & CLI_CONFIG_APPLY_ENV)
        cdm__config_apply_env(config);

    int err = cdm__topology_read(loaded->topology);
    if (err) {
        /* The program still runs (design: "The program always runs"); every node set then
         * names no node, and the resolution below says so per rule. */
        if (!(flags & CLI_CONFIG_NO_WARNINGS))
            cli_error("warning: cannot read the NUMA topology from /sys/devices/system/node: %s",
                      strerror(err));
        memset(loaded->topology, 0, sizeof *loaded->topology);
        loaded->topology->max_node = -1;
    }
    loaded->have_topology = err == 0;

    resolving = loaded;
    resolving_flags = flags;
    cdm__config_resolve(config, loaded->topology, take_warning);
    resolving = NULL;

    if (!(flags & CLI_CONFIG_KEEP_DIAGNOSTICS)) {
        int kept = cli_config_errors_kept(config);
        for (int i = 0; i < kept; i++)
            print_config_error(config, &config->errors[i], source);
        if (config->n_errors > kept)
            print_diagnostic(config->path, 0, "", CLI_MORE_ERRORS);
    }
    return config->n_errors ? CLI_USAGE : CLI_OK;
}

int cli_config_load(const char *path, unsigned flags, struct cli_config *loaded)
{
    if (!config_alloc(loaded))
        return CLI_FAILED;
    if (path)
        cdm__config_load(loaded->config, path);
    else
        cdm__config_default(loaded->config);
    return finish_load(loaded, flags, NULL);
}

int cli_config_load_text(const struct cli_config_text *source, unsigned flags,
                         struct cli_config *loaded)
{
    if (!config_alloc(loaded))
        return CLI_FAILED;
    cdm__config_parse(loaded->config, source->name, source->text, source->len);
    return finish_load(loaded, flags, source);
}

int cli_config_errors_kept(const struct cdm_config *config)
{
    return config->n_errors < CDM_MAX_ERRORS ? config->n_errors : CDM_MAX_ERRORS;
}

void cli_config_free(struct cli_config *loaded)
{
    for (int i = 0; loaded->kept_warnings && i < loaded->warnings; i++)
        free(loaded->kept_warnings[i].message);
    free(loaded->kept_warnings);
    free(loaded->config);
    free(loaded->topology);
    memset(loaded, 0, sizeof *loaded);
}

/* ---------------------------------------------------------------- formatting */

static const char unit_letters[] = "KMGTPE";

char *cli_format_size(uint64_t bytes, char *buf, size_t size)
{
    int unit = -1;
    while (unit < 3 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        unit++;
    }
    if (unit < 0)
        snprintf(buf, size, "%llu", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%llu%c", (unsigned long long)bytes, unit_letters[unit]);
    return buf;
}

char *cli_format_bytes(uint64_t bytes, char *buf, size_t size)
{
    double value = (double)bytes;
    int unit = -1;
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        unit++;
    }
    if (unit < 0)
        snprintf(buf, size, "%lluB", (unsigned long long)bytes);
    else if (value == (double)(uint64_t)value)
        snprintf(buf, size, "%.0f%c", value, unit_letters[unit]);
    else
        snprintf(buf, size, "%.2f%c", value, unit_letters[unit]);
    return buf;
}

char *cli_format_duration(uint64_t ns, char *buf, size_t size)
{
    static const struct {
        uint64_t ns;
        const char *suffix;
    } units[] = {{1000000000, "s"}, {1000000, "ms"}, {1000, "us"}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (ns != 0 && ns % units[i].ns == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(ns / units[i].ns), units[i].suffix);
            return buf;
        }
    snprintf(buf, size, "%lluns", (unsigned long long)ns);
    return buf;
}

char *cli_format_nodes(const cdm_nodemask *mask, char *buf, size_t size)
{
    if (cdm__nodemask_empty(mask))
        snprintf(buf, size, "none");
    else
        cdm__nodemask_format(mask, buf, size);
    return buf;
}

/* ---------------------------------------------------------------- tables */

void *cli_checked(void *pointer)
{
    if (pointer == NULL) {
        cli_error("out of memory");
        exit(CLI_FAILED);
    }
    return pointer;
}

void cli_table_init(struct cli_table *table, int n_columns)
{
    table->n_columns = n_columns < CLI_TABLE_COLUMNS ? n_columns : CLI_TABLE_COLUMNS;
    table->n_rows = 0;
    table->cells = NULL;
}

void cli_table_row(struct cli_table *table, const char *const *cells)
{
    size_t n = (size_t)table->n_columns;
    table->cells = cli_checked(realloc(table->cells, (table->n_rows + 1) * n * sizeof(char *)));
    for (size_t column = 0; column < n; column++)
        table->cells[table->n_rows * n + column] = cli_checked(strdup(cells[column]));
    table->n_rows++;
}

void cli_table_print(const struct cli_table *table)
{
    size_t n = (size_t)table->n_columns;
    size_t width[CLI_TABLE_COLUMNS] = {0};
    for (size_t row = 0; row < (size_t)table->n_rows; row++)
        for (size_t column = 0; column < n; column++) {
            size_t len = strlen(table->cells[row * n + column]);
            if (len > width[column])
                width[column] = len;
        }
    for (size_t row = 0; row < (size_t)table->n_rows; row++) {
        fputs("  ", stdout);
        for (size_t column = 0; column < n; column++) {
            const char *cell = table->cells[row * n + column];
            if (column + 1 < n)
                printf("%-*s  ", (int)width[column], cell);
            else
                printf("%s\n", cell);
        }
    }
}

void cli_table_free(struct cli_table *table)
{
    for (size_t i = 0; i < (size_t)table->n_rows * (size_t)table->n_columns; i++)
        free(table->cells[i]);
    free(table->cells);
    table->cells = NULL;
    table->n_rows = 0;
}

/* ---------------------------------------------------------------- main */

static int finish(int status)
{
    /* A full disk or a closed pipe must not pass for success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("cannot write the output: %s", strerror(errno));
        return CLI_FAILED;
    }
    return status;
}

int main(int argc, char **argv)
{
    enum { OPT_VERSION = 256 };
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int option;

    opterr = 0;
    while ((option = getopt_long(argc, argv, CLI_OPTSTRING_STOP "h", options, NULL)) != -1) {
        switch (option) {
        case 'h':
            print_top_help();
            return finish(CLI_OK);
        case OPT_VERSION:
            printf("cdmplace %s\n", CDM_VERSION);
            return finish(CLI_OK);
        default: {
            char text[128];
            bad_option_text(option, argv, text, sizeof text);
            cli_error("unknown option '%s'", text);
            print_synopsis(stderr);
            return CLI_USAGE;
        }
        }
    }
    if (optind >= argc) {
        cli_error("no command given");
        print_synopsis(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) {
            char **command_argv = argv + optind;
            int command_argc = argc - optind;
            optind = 0; /* glibc: restart getopt for the command's own options */
            return finish(commands[i].run(&commands[i], command_argc, command_argv));
        }
    cli_error("'%s' is not a command", name);
    print_synopsis(stderr);
    return CLI_USAGE;
}
