/* SPDX-License-Identifier: MIT */
/* cdmplace run: check the config, preload the library, exec the program.
 *
 * The config is judged here, before the program starts, by the same parser and resolver the
 * library uses: a config with errors stops the run with exit 2 and FILE:LINE messages, rather
 * than a program that runs unplaced. What the library must know travels in its environment
 * (cdmplace.conf(5) ENVIRONMENT): CDMPLACE_CONFIG as an absolute path, since the program may
 * change directory, and CDMPLACE_DRY_RUN, CDMPLACE_LOG, CDMPLACE_REPORT from the options. */
#include "cli.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LIBRARY_NAME "libcdmplace.so"

/* The library: $CDMPLACE_LIBRARY, else next to the executable (the build tree), else in the
 * LIBDIR it was built for (`make install LIBDIR=...`), else in ../lib beside its bin
 * directory (an installed tree moved elsewhere). Fills `path` with an absolute path. */
static bool find_library(char path[PATH_MAX])
{
    const char *forced = cdm__env("CDMPLACE_LIBRARY");
    if (forced && *forced) {
        if (realpath(forced, path) == NULL) {
            cli_error("CDMPLACE_LIBRARY=%s: %s", forced, strerror(errno));
            return false;
        }
        return true;
    }

    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) {
        cli_error("cannot find %s: /proc/self/exe: %s; set CDMPLACE_LIBRARY", LIBRARY_NAME,
                  strerror(errno));
        return false;
    }
    exe[len] = '\0';
    const char *dir = dirname(exe);
    const char *places[][2] = {{dir, "/" LIBRARY_NAME}, {CDM_LIBDIR, "/" LIBRARY_NAME},
                               {dir, "/../lib/" LIBRARY_NAME}};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        char candidate[PATH_MAX];
        if (snprintf(candidate, sizeof candidate, "%s%s", places[i][0], places[i][1]) >=
            (int)sizeof candidate)
            continue;
        if (access(candidate, R_OK) == 0 && realpath(candidate, path) != NULL)
            return true;
    }
    cli_error("cannot find %s in %s, %s or %s/../lib; set CDMPLACE_LIBRARY to its path",
              LIBRARY_NAME, dir, CDM_LIBDIR, dir);
    return false;
}

/* Whether one entry of an LD_PRELOAD list (colon or space separated, ld.so(8)) is `library`. */
static bool preload_has(const char *list, const char *library)
{
    size_t len = strlen(library);
    for (const char *entry = list; *entry;) {
        size_t entry_len = strcspn(entry, ": ");
        if (entry_len == len && strncmp(entry, library, len) == 0)
            return true;
        entry += entry_len;
        entry += strspn(entry, ": ");
    }
    return false;
}

/* LD_PRELOAD with the library first, keeping what was there; unchanged if it is already in. */
static bool set_preload(const char *library)
{
    if (strpbrk(library, ": ")) {
        cli_error("%s: LD_PRELOAD cannot hold a path with a colon or a space; install the "
                  "library elsewhere or set CDMPLACE_LIBRARY", library);
        return false;
    }
    const char *old = getenv("LD_PRELOAD");
    if (old == NULL || *old == '\0')
        old = "";
    else if (preload_has(old, library))
        return true;
    size_t size = strlen(library) + 1 + strlen(old) + 1;
    char *value = malloc(size);
    bool ok = value != NULL;
    if (ok) {
        snprintf(value, size, "%s%s%s", library, *old ? ":" : "", old);
        ok = setenv("LD_PRELOAD", value, 1) == 0;
        free(value);
    }
    if (!ok)
        cli_error("cannot set LD_PRELOAD: %s", strerror(errno));
    return ok;
}

/* The file execvp runs for `name`: itself when it holds a slash, else the first executable
 * of that name along PATH (glibc's default path when PATH is unset). */
static bool program_path(const char *name, char path[PATH_MAX])
{
    if (strchr(name, '/'))
        return snprintf(path, PATH_MAX, "%s", name) < PATH_MAX;
    const char *dirs = getenv("PATH");
    for (const char *dir = dirs ? dirs : "/bin:/usr/bin";;) {
        int len = (int)strcspn(dir, ":");
        if (snprintf(path, PATH_MAX, "%.*s/%s", len ? len : 1, len ? dir : ".", name) <
                PATH_MAX &&
            access(path, X_OK) == 0)
            return true;
        if (!dir[len])
            return false;
        dir += len + 1;
    }
}

/* Whether `path` is a 64-bit ELF program without a program interpreter: linked statically
 * (static-pie too), so the dynamic loader, which reads LD_PRELOAD, never runs in it. (A 32-bit
 * program gets the loader's own "wrong ELF class" message.) */
static bool statically_linked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    Elf64_Ehdr header;
    bool interpreter = true;
    if (read(fd, &header, sizeof header) == (ssize_t)sizeof header &&
        memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 && header.e_ident[EI_CLASS] == ELFCLASS64) {
        interpreter = false;
        for (unsigned i = 0; i < header.e_phnum && !interpreter; i++) {
            Elf64_Phdr segment;
            off_t at = (off_t)header.e_phoff + (off_t)i * header.e_phentsize;
            interpreter = pread(fd, &segment, sizeof segment, at) != (ssize_t)sizeof segment ||
                          segment.p_type == PT_INTERP;
        }
    }
    close(fd);
    return !interpreter;
}

/* Rules and settings given on the command line, at most this many of each. */
#define MAX_OPTION_ITEMS 64

struct run_options {
    const char *config;
    bool dry_run;
    const char *log;
    const char *report;
    const char *rules[MAX_OPTION_ITEMS]; /* --rule 'KEY=VALUE ...' */
    int n_rules;
    const char *settings[MAX_OPTION_ITEMS]; /* -o KEY=VALUE */
    int n_settings;
};

/* Returns CLI_OK with *help set when -h was given and handled. */
static int parse_options(const struct cli_command *command, int argc, char **argv,
                         struct run_options *run, bool *help)
{
    enum { OPT_DRY_RUN = 256, OPT_LOG, OPT_REPORT, OPT_RULE };
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"log", required_argument, NULL, OPT_LOG},
        {"report", required_argument, NULL, OPT_REPORT},
        {"rule", required_argument, NULL, OPT_RULE},
        {"option", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int option;
    while ((option = getopt_long(argc, argv, CLI_OPTSTRING_STOP "c:o:h", options, NULL)) != -1) {
        switch (option) {
        case 'c':
            run->config = optarg;
            break;
        case OPT_DRY_RUN:
            run->dry_run = true;
            break;
        case OPT_LOG:
            run->log = optarg;
            break;
        case OPT_REPORT:
            run->report = optarg;
            break;
        case OPT_RULE:
            if (run->n_rules == MAX_OPTION_ITEMS)
                return cli_bad_usage(command, "more than 64 --rule options; use a file (-c)");
            run->rules[run->n_rules++] = optarg;
            break;
        case 'o':
            if (run->n_settings == MAX_OPTION_ITEMS)
                return cli_bad_usage(command, "more than 64 -o options; use a file (-c)");
            run->settings[run->n_settings++] = optarg;
            break;
        case 'h':
            *help = true;
            return cli_help(command);
        default:
            return cli_bad_option(command, option, argv);
        }
    }
    if (run->config && *run->config == '\0')
        return cli_bad_usage(command, "--config needs a file name");
    if (run->log && *run->log == '\0')
        return cli_bad_usage(command, "--log needs a path (or 'off')");
    if (run->report && *run->report == '\0')
        return cli_bad_usage(command, "--report needs stderr, a path, or off");
    if (optind >= argc)
        return cli_bad_usage(command, "no program given");
    return CLI_OK;
}

/* ---------------------------------------------------------------- --rule and -o */

/* The config run checks and passes as text: the file's lines first, then a line per option
 * item, each labelled with the option for messages. */
struct composed {
    char *text;
    size_t len, cap;
    int lines;
    int file_lines;
    char **labels; /* of lines file_lines + 1 on */
    int n_labels;
};

static bool append(struct composed *c, const char *label, const char *line, size_t line_len)
{
    size_t need = c->len + line_len + 2;
    if (need > c->cap) {
        size_t cap = need * 2;
        char *text = realloc(c->text, cap);
        if (!text)
            return false;
        c->text = text;
        c->cap = cap;
    }
    memcpy(c->text + c->len, line, line_len);
    c->len += line_len;
    c->text[c->len++] = '\n';
    c->text[c->len] = '\0';
    c->lines++;
    if (label) {
        char **labels = realloc(c->labels, sizeof *labels * (size_t)(c->n_labels + 1));
        if (!labels || !(labels[c->n_labels] = strdup(label))) {
            c->labels = labels ? labels : c->labels;
            return false;
        }
        c->labels = labels;
        c->n_labels++;
    }
    return true;
}

static void composed_free(struct composed *c)
{
    for (int i = 0; i < c->n_labels; i++)
        free(c->labels[i]);
    free(c->labels);
    free(c->text);
}

/* The file's text, whole, as the config's first lines. */
static bool compose_file(struct composed *c, const char *path)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        cli_error("%s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t size = 0;
    ssize_t n;
    bool ok = true;
    while (ok && (n = getline(&line, &size, file)) >= 0)
        ok = append(c, NULL, line, (size_t)n - (n > 0 && line[n - 1] == '\n'));
    free(line);
    fclose(file);
    c->file_lines = c->lines;
    return ok;
}

/* "KEY=VALUE" as the config line "KEY = VALUE" labelled `label`; bad usage, naming the
 * option, when it has no '='. */
static int compose_pair(const struct cli_command *command, struct composed *c, const char *label,
                        const char *pair, size_t len)
{
    const char *equals = memchr(pair, '=', len);
    if (!equals || equals == pair)
        return cli_bad_usage(command, "%s: '%.*s' is not KEY=VALUE", label, (int)len, pair);
    char line[1024];
    int n = snprintf(line, sizeof line, "%.*s = %.*s", (int)(equals - pair), pair,
                     (int)(len - (size_t)(equals - pair) - 1), equals + 1);
    return append(c, label, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1)
               ? CLI_OK
               : CLI_FAILED;
}

/* The next KEY=VALUE of a --rule text from *at, which moves past it: a VALUE runs on over
 * blanks until the next word with an '=' ("policy=bind cdm"). Its length, 0 at the end. */
static size_t next_pair(const char **at)
{
    *at += strspn(*at, " \t");
    const char *start = *at, *end = start + strcspn(start, " \t");
    for (const char *word = end + strspn(end, " \t"); *word;) {
        size_t len = strcspn(word, " \t");
        if (memchr(word, '=', len))
            break;
        end = word + len;
        word = end + strspn(end, " \t");
    }
    *at = end;
    return (size_t)(end - start);
}

/* -o items under one [settings], then each --rule as [rule ruleN] (or its name=), one
 * KEY=VALUE a line. */
static int compose_options(const struct cli_command *command, const struct run_options *run,
                           struct composed *c)
{
    char label[1100];
    int status = CLI_OK;
    if (run->n_settings && !append(c, "-o", "[settings]", strlen("[settings]")))
        return CLI_FAILED;
    for (int i = 0; i < run->n_settings && status == CLI_OK; i++) {
        snprintf(label, sizeof label, "-o %.1000s", run->settings[i]);
        status = compose_pair(command, c, label, run->settings[i], strlen(run->settings[i]));
    }
    for (int i = 0; i < run->n_rules && status == CLI_OK; i++) {
        const char *text = run->rules[i], *name = NULL;
        size_t name_len = 0;
        snprintf(label, sizeof label, "--rule %d ('%.1000s')", i + 1, text);
        for (const char *at = text; (name_len = next_pair(&at)) != 0;)
            if (strncmp(at - name_len, "name=", 5) == 0) {
                name = at - name_len + 5;
                name_len -= 5;
                break;
            }
        char header[160];
        int n = name ? snprintf(header, sizeof header, "[rule %.*s]", (int)name_len, name)
                     : snprintf(header, sizeof header, "[rule rule%d]", i + 1);
        if (!append(c, label, header, (size_t)n))
            return CLI_FAILED;
        size_t len;
        for (const char *at = text; status == CLI_OK && (len = next_pair(&at)) != 0;)
            if (strncmp(at - len, "name=", 5) != 0)
                status = compose_pair(command, c, label, at - len, len);
    }
    return status;
}

/* The config from -c (or the one the environment names) and the options, checked as the
 * library will read it, then exported as CDMPLACE_CONFIG_TEXT. */
static int check_composed(const struct cli_command *command, const struct run_options *run,
                          const char *config_path)
{
    struct composed c = {0};
    int status = config_path && !compose_file(&c, config_path) ? CLI_USAGE : CLI_OK;
    if (status == CLI_OK)
        status = compose_options(command, run, &c);
    if (status == CLI_OK) {
        const struct cli_config_text source = {
            .name = config_path ? config_path : "cdmplace run",
            .text = c.text,
            .len = c.len,
            .first_labelled = c.file_lines + 1,
            .labels = (const char *const *)c.labels,
            .n_labels = c.n_labels,
        };
        struct cli_config loaded;
        status = cli_config_load_text(&source, CLI_CONFIG_APPLY_ENV | CLI_CONFIG_NO_WARNINGS,
                                      &loaded);
        cli_config_free(&loaded);
    }
    if (status == CLI_OK && setenv("CDMPLACE_CONFIG_TEXT", c.text, 1) != 0) {
        cli_error("cannot set the environment: %s", strerror(errno));
        status = CLI_FAILED;
    }
    composed_free(&c);
    return status;
}

/* The options as the library's environment, set before the config is checked so that the
 * check applies them as the library will (an invalid --log template stops the run). */
static bool export_options(const struct run_options *run)
{
    if ((run->dry_run && setenv("CDMPLACE_DRY_RUN", "1", 1) != 0) ||
        (run->log && setenv("CDMPLACE_LOG", run->log, 1) != 0) ||
        (run->report && setenv("CDMPLACE_REPORT", run->report, 1) != 0)) {
        cli_error("cannot set the environment: %s", strerror(errno));
        return false;
    }
    return true;
}

/* The config as an absolute path (the program may change directory) and the library. */
static bool export_config_and_library(const char *config_path, const char *library)
{
    char absolute[PATH_MAX];
    if (config_path && realpath(config_path, absolute) == NULL) {
        cli_error("%s: %s", config_path, strerror(errno));
        return false;
    }
    /* This process becomes the program: it alone speaks on stderr, its children (whose
     * stderr a parent may capture as data) record their messages in the trace. */
    char root_pid[32];
    snprintf(root_pid, sizeof root_pid, "%d", (int)getpid());
    if ((config_path && setenv("CDMPLACE_CONFIG", absolute, 1) != 0) ||
        setenv("CDMPLACE_ROOT_PID", root_pid, 1) != 0) {
        cli_error("cannot set the environment: %s", strerror(errno));
        return false;
    }
    return set_preload(library);
}

int cli_run(const struct cli_command *command, int argc, char **argv)
{
    struct run_options run = {0};
    bool help = false;
    int status = parse_options(command, argc, argv, &run, &help);
    if (status != CLI_OK || help)
        return status;
    char **program = argv + optind;
    if (!export_options(&run))
        return CLI_FAILED;

    /* A config text of our own's or an inherited one would override the file. */
    unsetenv("CDMPLACE_CONFIG_TEXT");
    const char *config_path = run.config ? run.config : cdm__config_locate();
    bool composed = run.n_rules || run.n_settings;
    /* Warnings are not printed here: the library says each of them once when the program
     * starts, and twice would be noise. Errors stop the run before it starts. */
    if (composed) {
        status = check_composed(command, &run, config_path);
    } else {
        struct cli_config loaded;
        status = cli_config_load(config_path, CLI_CONFIG_APPLY_ENV | CLI_CONFIG_NO_WARNINGS,
                                 &loaded);
        cli_config_free(&loaded);
    }
    if (status != CLI_OK)
        return status;

    char library[PATH_MAX];
    if (!find_library(library) ||
        !export_config_and_library(composed ? NULL : config_path, library))
        return CLI_FAILED;

    char path[PATH_MAX];
    if (program_path(program[0], path) && statically_linked(path))
        cli_error("%s is statically linked: the library cannot be preloaded into it, and it runs "
                  "unplaced (link it dynamically for its memory to be placed)",
                  program[0]);
    execvp(program[0], program);
    int err = errno;
    cli_error("cannot run %s: %s", program[0], strerror(err));
    /* As env(1): 127 when not found, 126 when found but not executable. */
    return err == ENOENT ? 127 : 126;
}
