/* SPDX-License-Identifier: MIT */
/* The cdmplace command line: the command table's entry type, the subcommands, and what they
 * share (loading a config, formatting sizes, aligned tables).
 *
 * The CLI is an ordinary program: it allocates and uses stdio freely. It links the same core
 * objects as the library (config, topology, node sets), so `check` and `run` judge a config
 * exactly as the library will. */
#ifndef CDMPLACE_CLI_H
#define CDMPLACE_CLI_H

#include "core.h"

#include <stdio.h>

/* Exit statuses of cdmplace(1). */
enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;
    /* argv[0] is the command's name; returns the exit status. */
    int (*run)(const struct cli_command *command, int argc, char **argv);
    /* The synopsis line: printed by -h and on bad usage, and the man page's SYNOPSIS holds
     * it byte for byte (tests/unit_cli.c checks). */
    const char *usage;
    const char *summary; /* one line for `cdmplace --help` */
    const char *help;    /* what -h prints after the usage line */
};

/* ---------------------------------------------------------------- the subcommands */
int cli_run(const struct cli_command *command, int argc, char **argv);
int cli_check(const struct cli_command *command, int argc, char **argv);
int cli_topo(const struct cli_command *command, int argc, char **argv);
int cli_report(const struct cli_command *command, int argc, char **argv);
int cli_suggest(const struct cli_command *command, int argc, char **argv);

/* ---------------------------------------------------------------- cdmplace.c */
/* s as a JSON string. A config's text and paths are bytes, not always UTF-8: a byte that is
 * not part of a valid UTF-8 sequence is written as U+FFFD, so that the output stays JSON. */
void cli_json_string(FILE *out, const char *s);
/* A member of an object after its first, written with its leading comma (,"key":value): a
 * string (null when value is NULL), a number (null when not known), or the nodes of mask as
 * an array of numbers, lowest first. */
void cli_json_text(FILE *out, const char *key, const char *value);
void cli_json_number(FILE *out, const char *key, uint64_t value, bool known);
void cli_json_nodes(FILE *out, const char *key, const cdm_nodemask *mask);
/* "cdmplace: " + message + "\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The usage line and help to stdout; returns CLI_OK. */
int cli_help(const struct cli_command *command);
/* "cdmplace: NAME: why" and the usage line to stderr; returns CLI_USAGE. */
int cli_bad_usage(const struct cli_command *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Every subcommand's getopt_long string starts with this: options anywhere among the
 * operands (glibc moves the operands after them; `--` ends them), and a missing argument
 * reported as ':'. */
#define CLI_OPTSTRING_PREFIX ":"
/* `cdmplace` before its command and `run` before its program: stop at the first operand,
 * the program's own options left alone. */
#define CLI_OPTSTRING_STOP "+:"
/* getopt_long's '?' or ':' as a bad-usage message; returns CLI_USAGE. */
int cli_bad_option(const struct cli_command *command, int result, char **argv);
/* Options of a command whose only options are -h/--help and, when json is not NULL, --json
 * (sets *json): -1 to go on (optind at the first operand), else the status to exit with. */
int cli_parse_options(const struct cli_command *command, int argc, char **argv, bool *json);

/* A warning about a line of a config (0: the file as a whole). */
struct cli_diagnostic {
    int line;
    char *message;
};
/* A config read and resolved against this machine. */
struct cli_config {
    struct cdm_config *config;
    struct cdm_topology *topology;
    bool have_topology; /* false when sysfs could not be read (warned) */
    int warnings;
    struct cli_diagnostic *kept_warnings; /* `warnings` of them, with KEEP_DIAGNOSTICS */
};
enum cli_config_flags {
    CLI_CONFIG_APPLY_ENV = 1 << 0, /* apply CDMPLACE_LOG, _REPORT, _DRY_RUN as the library will */
    CLI_CONFIG_NO_WARNINGS = 1 << 1, /* count warnings, print none */
    /* Print no warning and no error: the warnings are kept in kept_warnings, the errors are in
     * config->errors, for the caller to report. */
    CLI_CONFIG_KEEP_DIAGNOSTICS = 1 << 2,
};
/* What follows the kept errors when config->n_errors is more than CDM_MAX_ERRORS. */
#define CLI_MORE_ERRORS "more errors than shown"
/* Load `path` (NULL: the built-in default), read the topology, resolve the node sets.
 * Warnings go to stderr as "cdmplace: FILE:LINE: warning: ..." and errors as
 * "cdmplace: FILE:LINE: ...". Returns CLI_OK, CLI_USAGE when the config has errors, or
 * CLI_FAILED when memory ran out. */
int cli_config_load(const char *path, unsigned flags, struct cli_config *loaded);
/* A config given as text (run's --rule and -o), named `name` in messages; its lines from
 * `first_labelled` on are named by labels[line - first_labelled] (the option that made them)
 * instead of NAME:LINE. */
struct cli_config_text {
    const char *name;
    const char *text;
    size_t len;
    int first_labelled;
    const char *const *labels;
    int n_labels;
};
int cli_config_load_text(const struct cli_config_text *source, unsigned flags,
                         struct cli_config *loaded);
/* How many of config->errors are kept (the first CDM_MAX_ERRORS). */
int cli_config_errors_kept(const struct cdm_config *config);
void cli_config_free(struct cli_config *loaded);

/* Exact size in the config's units: "64M", "1536K", "100" (bytes). Returns buf. */
char *cli_format_size(uint64_t bytes, char *buf, size_t size);
/* Rounded for reading: "3.96G", "512M". Returns buf. */
char *cli_format_bytes(uint64_t bytes, char *buf, size_t size);
/* Exact duration in the config's units: "200ms", "1s", "150us". Returns buf. */
char *cli_format_duration(uint64_t ns, char *buf, size_t size);
/* Node mask as a list, or "none" when empty. Returns buf. */
char *cli_format_nodes(const cdm_nodemask *mask, char *buf, size_t size);

/* pointer, or "out of memory" and exit 1 when it is NULL. */
void *cli_checked(void *pointer);

/* A table printed with aligned columns, two spaces apart, indented by two. */
#define CLI_TABLE_COLUMNS 16
struct cli_table {
    int n_columns;
    int n_rows;
    char **cells; /* n_rows * n_columns, row major; the first row is the header */
};
void cli_table_init(struct cli_table *table, int n_columns);
/* Append a row of n_columns strings (copied). */
void cli_table_row(struct cli_table *table, const char *const *cells);
void cli_table_print(const struct cli_table *table);
void cli_table_free(struct cli_table *table);

#endif
