/* SPDX-License-Identifier: MIT */
/* cdmplace(1) as a user runs it: each test forks and executes the CLI and checks its exit
 * status, its output, and the environment it hands to the program it runs.
 *
 * The CLI is $CDMPLACE_CLI when set (the test runner points it at the sanitized build,
 * build/asan/cdmplace), else build/cdmplace of this tree. The `run` tests preload the real
 * build/libcdmplace.so (`make` builds it) into sh, whose output reports its environment. */
#include "core.h"
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <numa.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char cli_path[PATH_MAX];
/* Short enough that every path built from it fits the buffers below. */
static char tmp_dir[512];
/* Room for a file name in tmp_dir. */
#define PATH_BUF (sizeof tmp_dir + 64)

static void setup(void)
{
    const char *cli = getenv("CDMPLACE_CLI");
    char path[PATH_MAX];
    if (cli == NULL || *cli == '\0') {
        cr_assert(test_source_path("build/cdmplace", path, sizeof path), "no source tree");
        cli = path;
    }
    cr_assert_not_null(realpath(cli, cli_path), "%s: %s (make build/cdmplace)", cli,
                       strerror(errno));
    const char *base = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/cdmplace-cli-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
    char real[PATH_MAX];
    cr_assert_not_null(realpath(path, real));
    cr_assert_lt(strlen(real), sizeof tmp_dir, "TMPDIR is too deep: %s", real);
    memcpy(tmp_dir, real, strlen(real) + 1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void teardown(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 30);

/* ---------------------------------------------------------------- running the CLI */

struct outcome {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
};

struct invocation {
    const char *exe;         /* default: cli_path */
    const char *cwd;         /* default: the test's */
    const char *const *env;  /* "NAME=VALUE" sets, "NAME" unsets */
    const char *input;       /* standard input; default: /dev/null */
};

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

static char *slurp(const char *path)
{
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s: %s", path, strerror(errno));
    size_t size = 0, cap = 4096;
    char *text = malloc(cap);
    size_t n;
    while ((n = fread(text + size, 1, cap - size - 1, file)) > 0) {
        size += n;
        if (cap - size - 1 == 0)
            text = realloc(text, cap *= 2);
    }
    fclose(file);
    text[size] = '\0';
    return text;
}

static struct outcome cli_with(const struct invocation *how, const char *const *args)
{
    char out_path[PATH_MAX + 16], err_path[PATH_MAX + 16];
    snprintf(out_path, sizeof out_path, "%s/.stdout", tmp_dir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", tmp_dir);
    const char *exe = how->exe ? how->exe : cli_path;
    const char *argv[64] = {exe};
    int argc = 1;
    for (; args[argc - 1]; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;

    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open(how->input ? how->input : "/dev/null", O_RDONLY);
        if (out < 0 || err < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0)
            _exit(250);
        static const char *const ours[] = {"CDMPLACE_CONFIG", "CDMPLACE_LOG", "CDMPLACE_REPORT",
                                           "CDMPLACE_DRY_RUN", "CDMPLACE_DEBUG",
                                           "CDMPLACE_LIBRARY", "LD_PRELOAD"};
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            unsetenv(ours[i]);
        for (const char *const *entry = how->env; entry && *entry; entry++) {
            const char *equals = strchr(*entry, '=');
            if (equals) {
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(equals - *entry), *entry);
                setenv(name, equals + 1, 1);
            } else {
                unsetenv(*entry);
            }
        }
        if (how->cwd && chdir(how->cwd) != 0)
            _exit(251);
        execv(exe, (char *const *)argv);
        _exit(252);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    struct outcome result = {
        .status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
        .out = slurp(out_path),
        .err = slurp(err_path),
    };
    return result;
}

static struct outcome cli(const char *const *args)
{
    const struct invocation plain = {0};
    return cli_with(&plain, args);
}

static void outcome_free(struct outcome *result)
{
    free(result->out);
    free(result->err);
}

/* ---------------------------------------------------------------- reading output */

static char *first_line(const char *text, char *buf, size_t size)
{
    snprintf(buf, size, "%.*s", (int)strcspn(text, "\n"), text);
    return buf;
}

/* The line as its words joined by single spaces: table rows without their alignment. */
static void squeeze(const char *line, size_t len, char *out, size_t size)
{
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        if (line[i] == ' ' || line[i] == '\t') {
            space = o > 0;
            continue;
        }
        if (space && o + 2 < size)
            out[o++] = ' ';
        space = false;
        out[o++] = line[i];
    }
    out[o] = '\0';
}

/* Whether some line of text has exactly these words. */
static bool has_row(const char *text, const char *words)
{
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        char squeezed[1024];
        squeeze(line, len, squeezed, sizeof squeezed);
        if (strcmp(squeezed, words) == 0)
            return true;
        line += len + (line[len] == '\n');
    }
    return false;
}

/* The line of text whose first word is `first`, squeezed into buf. */
static bool row_starting(const char *text, const char *first, char *buf, size_t size)
{
    size_t first_len = strlen(first);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        squeeze(line, len, buf, size);
        if (strncmp(buf, first, first_len) == 0 && buf[first_len] == ' ')
            return true;
        line += len + (line[len] == '\n');
    }
    return false;
}

/* The "usage: A\n       B\n" block that opens a help text, one line per entry. */
static int usage_block(const char *text, char lines[][512], int max)
{
    int n = 0;
    cr_assert_eq(strncmp(text, "usage: ", 7), 0, "help starts with 'usage: ': %s", text);
    for (const char *line = text; *line && n < max;) {
        size_t len = strcspn(line, "\n");
        if (len == 0)
            break;
        const char *prefix = n == 0 ? "usage: " : "       ";
        cr_assert_eq(strncmp(line, prefix, 7), 0, "usage line %d: '%.*s'", n, (int)len, line);
        snprintf(lines[n++], 512, "%.*s", (int)(len - 7), line + 7);
        line += len + (line[len] == '\n');
    }
    return n;
}

/* ---------------------------------------------------------------- the man page */

/* A roff line as text: font escapes (\fB \fI \fR \fP \f(XX \f[X]) dropped, \- as -, \& as
 * nothing, \e as a backslash, any other escaped character as itself. */
static void roff_text(const char *in, char *out, size_t size)
{
    size_t o = 0;
    while (*in && o + 1 < size) {
        if (in[0] != '\\' || in[1] == '\0') {
            out[o++] = *in++;
            continue;
        }
        char escape = in[1];
        in += 2;
        if (escape == 'f') {
            if (*in == '(')
                in += *in ? 3 : 0;
            else if (*in == '[')
                in = strchr(in, ']') ? strchr(in, ']') + 1 : in + strlen(in);
            else if (*in)
                in++;
        } else if (escape == 'e') {
            out[o++] = '\\';
        } else if (escape != '&') {
            out[o++] = escape;
        }
    }
    out[o] = '\0';
}

/* The text lines of man/cdmplace.1's SYNOPSIS (requests and comments skipped). */
static int man_synopsis(char lines[][512], int max)
{
    char path[PATH_MAX], raw[1024];
    cr_assert(test_source_path("man/cdmplace.1", path, sizeof path));
    FILE *file = fopen(path, "r");
    cr_assert_not_null(file, "%s: %s", path, strerror(errno));
    bool inside = false;
    int n = 0;
    while (fgets(raw, sizeof raw, file) && n < max) {
        raw[strcspn(raw, "\n")] = '\0';
        if (strncmp(raw, ".SH", 3) == 0) {
            if (inside)
                break;
            inside = strstr(raw, "SYNOPSIS") != NULL;
            continue;
        }
        if (!inside || raw[0] == '.' || raw[0] == '\'' || raw[0] == '\0')
            continue;
        roff_text(raw, lines[n++], 512);
    }
    fclose(file);
    return n;
}

/* ---------------------------------------------------------------- files for the tests */

static void write_in_tmp(const char *name, const char *contents, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", tmp_dir, name);
    FILE *file = fopen(path, "w");
    cr_assert_not_null(file, "%s: %s", path, strerror(errno));
    fputs(contents, file);
    cr_assert_eq(fclose(file), 0);
}

/* What python3 prints for `expression` (one line, Python's double-quoted strings only) of
 * the JSON text `json`, read as j; the test fails unless json is valid JSON holding every key
 * the expression names. */
static void json_query(const char *json, const char *expression, char *buf, size_t size)
{
    char path[PATH_BUF], command[PATH_BUF + 1024];
    write_in_tmp("query.json", json, path, sizeof path);
    snprintf(command, sizeof command,
             "python3 -c 'import json, sys; j = json.load(open(sys.argv[1], encoding=\"utf-8\")); "
             "print(%s)' %s",
             expression, path);
    FILE *python = popen(command, "r");
    cr_assert_not_null(python);
    bool printed = fgets(buf, size, python) != NULL;
    cr_assert_eq(pclose(python), 0, "not valid JSON, or no %s in it:\n%s", expression, json);
    cr_assert(printed, "no output from python3 for %s", expression);
    buf[strcspn(buf, "\n")] = '\0';
}

static bool exists_in_tmp(const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    return access(path, F_OK) == 0;
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(in >= 0 && out >= 0, "copy %s to %s: %s", from, to, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    cr_assert_eq(n, 0);
    close(in);
    cr_assert_eq(close(out), 0);
}

/* build/libcdmplace.so of this tree, as an absolute path. */
static const char *library(void)
{
    static char path[PATH_MAX];
    char built[PATH_MAX];
    cr_assert(test_source_path("build/libcdmplace.so", built, sizeof built));
    cr_assert_not_null(realpath(built, path), "%s: %s (make build/libcdmplace.so)", built,
                       strerror(errno));
    return path;
}

static const char valid_config[] = "[nodes]\n"
                                   "near = 0\n"
                                   "\n"
                                   "[rule big]\n"
                                   "size = 64M-\n"
                                   "policy = bind near\n"
                                   "budget = 8G\n";

/* Line 5 is the error. */
static const char broken_config[] = "[settings]\n"
                                    "min_size = 1M\n"
                                    "\n"
                                    "[rule broken]\n"
                                    "size = lots\n"
                                    "policy = bind 0\n";

/* The program `run` starts prints what it was given, one variable per line. */
#define SHOW_ENV                                                                               \
    "sh", "-c",                                                                                \
        "printf '%s\\n' \"${LD_PRELOAD-unset}\" \"${CDMPLACE_CONFIG-unset}\" "                 \
        "\"${CDMPLACE_DRY_RUN-unset}\" \"${CDMPLACE_LOG-unset}\" \"${CDMPLACE_REPORT-unset}\""

struct shown_env {
    char preload[PATH_MAX * 2], config[PATH_MAX], dry_run[64], log[PATH_MAX], report[PATH_MAX];
};

static void parse_shown(const char *out, struct shown_env *env)
{
    char *fields[] = {env->preload, env->config, env->dry_run, env->log, env->report};
    size_t sizes[] = {sizeof env->preload, sizeof env->config, sizeof env->dry_run,
                      sizeof env->log, sizeof env->report};
    const char *line = out;
    for (size_t i = 0; i < 5; i++) {
        size_t len = strcspn(line, "\n");
        cr_assert(line[len] == '\n', "the program printed 5 lines: '%s'", out);
        snprintf(fields[i], sizes[i], "%.*s", (int)len, line);
        line += len + 1;
    }
}

/* ---------------------------------------------------------------- help and usage */

Test(cli, top_level_help)
{
    static const char *const spellings[] = {"-h", "--help"};
    for (size_t i = 0; i < 2; i++) {
        struct outcome result = cli(ARGS(spellings[i]));
        cr_assert_eq(result.status, 0, "%s", spellings[i]);
        cr_assert_str_empty(result.err);
        char lines[8][512];
        cr_assert_eq(usage_block(result.out, lines, 8), 6, "%s", result.out);
        cr_assert(strstr(result.out, "\n  run "), "lists run: %s", result.out);
        cr_assert(strstr(result.out, "\n  check "), "lists check");
        cr_assert(strstr(result.out, "\n  topo "), "lists topo");
        cr_assert(strstr(result.out, "\n  report "), "lists report");
        cr_assert(strstr(result.out, "\n  suggest "), "lists suggest");
        outcome_free(&result);
    }
}

Test(cli, every_command_has_help)
{
    static const char *const commands[] = {"run", "check", "topo", "suggest"};
    static const char *const spellings[] = {"-h", "--help"};
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        for (size_t s = 0; s < 2; s++) {
            struct outcome result = cli(ARGS(commands[c], spellings[s]));
            char expected[64], line[512];
            snprintf(expected, sizeof expected, "usage: cdmplace %s", commands[c]);
            cr_assert_eq(result.status, 0, "%s %s", commands[c], spellings[s]);
            cr_assert_str_empty(result.err, "%s %s", commands[c], spellings[s]);
            first_line(result.out, line, sizeof line);
            cr_assert_eq(strncmp(line, expected, strlen(expected)), 0, "%s", line);
            cr_assert(strstr(result.out, "-h, --help"), "%s documents -h", commands[c]);
            outcome_free(&result);
        }
}

Test(cli, version)
{
    struct outcome result = cli(ARGS("--version"));
    cr_assert_eq(result.status, 0);
    cr_assert_str_eq(result.out, "cdmplace " CDM_VERSION "\n");
    outcome_free(&result);
}

Test(cli, man_synopsis_is_the_usage)
{
    char man[8][512], help[8][512];
    int n_man = man_synopsis(man, 8);
    struct outcome result = cli(ARGS("--help"));
    int n_help = usage_block(result.out, help, 8);
    cr_assert_eq(n_man, n_help, "SYNOPSIS has %d lines, --help %d", n_man, n_help);
    for (int i = 0; i < n_man; i++)
        cr_assert_str_eq(man[i], help[i], "SYNOPSIS line %d", i + 1);
    outcome_free(&result);

    /* Each command's own -h prints its line of the SYNOPSIS. */
    static const char *const commands[] = {"run", "check", "topo", "suggest"};
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        struct outcome own = cli(ARGS(commands[c], "-h"));
        char line[512];
        first_line(own.out, line, sizeof line);
        bool found = false;
        for (int i = 0; i < n_man; i++)
            found |= strcmp(line + strlen("usage: "), man[i]) == 0;
        cr_assert(found, "'%s' is not in the man page's SYNOPSIS", line);
        outcome_free(&own);
    }
}

Test(cli, bad_usage_exits_2_with_usage_on_stderr)
{
    static const char *const cases[][5] = {
        {NULL},
        {"frobnicate", NULL},
        {"--bogus", NULL},
        {"run", NULL},
        {"run", "--bogus", "true", NULL},
        {"run", "-c", NULL},
        {"run", "--dry-run=yes", "true", NULL},
        {"run", "--log", "", "true", NULL},
        {"check", NULL},
        {"check", "a.conf", "b.conf", NULL},
        {"check", "-x", NULL},
        {"topo", "extra", NULL},
        {"topo", "--bogus", NULL},
        {"topo", "--json", "extra", NULL},
        {"check", "--json", NULL},
        {"suggest", NULL},
        {"suggest", "--bogus", "t.jsonl", NULL},
        {"suggest", "--json", "t.jsonl", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const *args = cases[i];
        struct outcome result = cli(args);
        cr_assert_eq(result.status, 2, "case %zu (%s): status %d", i, args[0] ? args[0] : "",
                     result.status);
        cr_assert_str_empty(result.out, "case %zu prints nothing on stdout", i);
        cr_assert_eq(strncmp(result.err, "cdmplace: ", 10), 0, "case %zu: %s", i, result.err);
        cr_assert(strstr(result.err, "usage: cdmplace"), "case %zu: %s", i, result.err);
        outcome_free(&result);
    }
}

/* ---------------------------------------------------------------- check */

Test(cli, check_valid_config_prints_it_resolved)
{
    char config[PATH_BUF];
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    struct outcome result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert_str_empty(result.err);
    cr_assert(has_row(result.out, "near 0 0"), "node set near resolved:\n%s", result.out);
    cr_assert(has_row(result.out, "dram auto 0"), "dram holds node 0:\n%s", result.out);
    cr_assert(has_row(result.out, "NAME SIZE KINDS CALLER PROGRAM POLICY NODES ON_FULL BUDGET "
                                  "MIGRATE"),
              "rule table header:\n%s", result.out);
    cr_assert(has_row(result.out, "big 64M- heap,anon * * bind near 0 fallback 8G none"),
              "the rule as resolved:\n%s", result.out);
    cr_assert(has_row(result.out, "min_size 1M"), "settings:\n%s", result.out);
    outcome_free(&result);
}

/* migrate = kernel does nothing unless the kernel's balancing is in memory tiering mode:
 * check says so with the rule's line and the fix, and only then; topo shows the mode. */
Test(cli, check_warns_when_kernel_balancing_is_not_tiering)
{
    char config[PATH_BUF], expected[PATH_MAX + 32], mode[16] = "";
    FILE *file = fopen("/proc/sys/kernel/numa_balancing", "r");
    cr_assert_not_null(file, "no /proc/sys/kernel/numa_balancing: %s", strerror(errno));
    cr_assert_not_null(fgets(mode, sizeof mode, file));
    fclose(file);
    bool tiering = (atoi(mode) & 2) != 0;
    write_in_tmp("kernel.conf", "[rule handed]\nsize = 1M-\npolicy = bind 0\nmigrate = kernel\n",
                 config, sizeof config);
    struct outcome result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    snprintf(expected, sizeof expected,
             "cdmplace: %s:1: warning: migrate = kernel: kernel.numa_balancing is %d, not memory "
             "tiering, and the kernel moves none of the rule's pages; turn it on with sysctl -w "
             "kernel.numa_balancing=2 (root)",
             config, atoi(mode));
    if (tiering)
        cr_assert_null(strstr(result.err, "numa_balancing"), "%s", result.err);
    else
        cr_assert(strstr(result.err, expected), "%s", result.err);
    outcome_free(&result);
    result = cli(ARGS("topo"));
    snprintf(expected, sizeof expected, "kernel NUMA balancing: %d, ", atoi(mode));
    cr_assert(strstr(result.out, expected), "%s", result.out);
    outcome_free(&result);
}

Test(cli, check_warns_and_passes_on_absent_nodes)
{
    char config[PATH_BUF], expected[PATH_MAX + 32];
    write_in_tmp("absent.conf", "[rule far]\nsize = 1M-\npolicy = bind 1023\n", config,
                 sizeof config);
    struct outcome result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    snprintf(expected, sizeof expected, "cdmplace: %s:3: warning: ", config);
    cr_assert_eq(strncmp(result.err, expected, strlen(expected)), 0, "%s", result.err);
    cr_assert(has_row(result.out, "far 1M- heap,anon * * bind 1023 none (absent: 1023) fallback "
                                  "none none"),
              "%s", result.out);
    outcome_free(&result);
}

Test(cli, check_reports_errors_with_file_and_line)
{
    char config[PATH_BUF], expected[PATH_MAX + 32];
    write_in_tmp("broken.conf", broken_config, config, sizeof config);
    struct outcome result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 2);
    snprintf(expected, sizeof expected, "cdmplace: %s:5: ", config);
    cr_assert_eq(strncmp(result.err, expected, strlen(expected)), 0, "%s", result.err);
    cr_assert_str_empty(result.out, "nothing is printed for an invalid config");
    outcome_free(&result);
}

/* check --json, the option after the file: the verdict, a warning with its line and not on
 * stderr, and the rules as resolved, strings escaped. */
Test(cli, check_json_of_a_valid_config)
{
    char config[PATH_BUF], fields[2048], expected[PATH_BUF + 512];
    write_in_tmp("valid.conf",
                 "[nodes]\n"
                 "near = 0\n"
                 "\n"
                 "[rule big]\n"
                 "size = 64M-\n"
                 "policy = bind near\n"
                 "budget = 8G\n"
                 "\n"
                 "[rule far]\n"
                 "caller = *\"x\\y\n"
                 "policy = bind 1023\n",
                 config, sizeof config);
    struct outcome result = cli(ARGS("check", config, "--json"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert_str_empty(result.err, "the warning is in the JSON only");
    json_query(result.out,
               "j[\"file\"], j[\"ok\"], j[\"errors\"], [w[\"line\"] for w in j[\"warnings\"]], "
               "[s[\"name\"] for s in j[\"node_sets\"]], j[\"settings\"][\"min_size\"], "
               "*[j[\"rules\"][0][key] for key in (\"name\", \"size_min\", \"size_max\", "
               "\"policy\", \"node_set\", \"nodes\", \"budget\")], "
               "*[j[\"rules\"][1][key] for key in (\"caller\", \"nodes\", \"absent_nodes\")]",
               fields, sizeof fields);
    snprintf(expected, sizeof expected,
             "%s True [] [11] ['cdm', 'dram', 'near'] 1048576 big 67108864 None bind near [0] "
             "8589934592 *\"x\\y [] [1023]",
             config);
    cr_assert_str_eq(fields, expected, "%s", result.out);
    outcome_free(&result);
}

/* check --json on errors: the same exit status as the text, each error with its line (null
 * for the file as a whole), nothing on stderr; a byte of the file that is not UTF-8, quoted
 * in an error, as U+FFFD. */
Test(cli, check_json_of_a_bad_config)
{
    char config[PATH_BUF], missing[PATH_BUF], latin1[PATH_BUF], fields[1024];
    write_in_tmp("broken.conf", broken_config, config, sizeof config);
    struct outcome text = cli(ARGS("check", config));
    struct outcome result = cli(ARGS("check", "--json", config));
    cr_assert_eq(result.status, 2);
    cr_assert_eq(result.status, text.status);
    cr_assert_str_empty(result.err);
    json_query(result.out,
               "j[\"ok\"], len(j[\"errors\"]), j[\"errors\"][0][\"line\"], "
               "\"lots\" in j[\"errors\"][0][\"message\"], j[\"rules\"]",
               fields, sizeof fields);
    cr_assert_str_eq(fields, "False 1 5 True []", "%s", result.out);
    outcome_free(&text);
    outcome_free(&result);

    snprintf(missing, sizeof missing, "%s/absent.conf", tmp_dir);
    result = cli(ARGS("check", missing, "--json"));
    cr_assert_eq(result.status, 2);
    json_query(result.out, "j[\"ok\"], j[\"errors\"][0][\"line\"]", fields, sizeof fields);
    cr_assert_str_eq(fields, "False None", "%s", result.out);
    outcome_free(&result);

    write_in_tmp("latin1.conf", "[rule caf\xe9]\npolicy = local\n", latin1, sizeof latin1);
    result = cli(ARGS("check", "--json", latin1));
    cr_assert_eq(result.status, 2);
    json_query(result.out,
               "j[\"errors\"][0][\"line\"], \"caf\\ufffd\" in j[\"errors\"][0][\"message\"]",
               fields, sizeof fields);
    cr_assert_str_eq(fields, "1 True", "%s", result.out);
    outcome_free(&result);
}

Test(cli, check_missing_file)
{
    char config[PATH_BUF], expected[PATH_BUF + 64];
    snprintf(config, sizeof config, "%s/absent.conf", tmp_dir);
    struct outcome result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 2);
    snprintf(expected, sizeof expected, "cdmplace: %s: ", config);
    cr_assert_eq(strncmp(result.err, expected, strlen(expected)), 0, "%s", result.err);
    outcome_free(&result);
}

/* ---------------------------------------------------------------- run */

Test(cli, run_bad_config_does_not_start_the_program)
{
    char config[PATH_BUF], expected[PATH_MAX + 32];
    write_in_tmp("broken.conf", broken_config, config, sizeof config);
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    char library_env[PATH_MAX + 32];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.cwd = tmp_dir, .env = ENV(library_env)};

    struct outcome result = cli_with(&how, ARGS("run", "-c", "broken.conf", "--", "touch",
                                                "marker"));
    cr_assert_eq(result.status, 2);
    cr_assert_not(exists_in_tmp("marker"), "the program must not run");
    snprintf(expected, sizeof expected, "cdmplace: broken.conf:5: ");
    cr_assert_eq(strncmp(result.err, expected, strlen(expected)), 0, "%s", result.err);
    outcome_free(&result);

    /* The same through CDMPLACE_CONFIG, where the library would look. */
    const struct invocation by_env = {.cwd = tmp_dir,
                                      .env = ENV(library_env, "CDMPLACE_CONFIG=broken.conf")};
    result = cli_with(&by_env, ARGS("run", "touch", "marker"));
    cr_assert_eq(result.status, 2);
    cr_assert_not(exists_in_tmp("marker"), "the program must not run");
    outcome_free(&result);

    /* And with a valid config it does run: the marker test above can fail. */
    result = cli_with(&how, ARGS("run", "-c", "valid.conf", "--", "touch", "marker"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert(exists_in_tmp("marker"));
    outcome_free(&result);
}

/* How many `place` events of `trace` name `rule`. */
static int placed_by(const char *trace, const char *rule)
{
    char *text = slurp(trace), wanted[128];
    cr_assert_not_null(text, "no trace %s", trace);
    snprintf(wanted, sizeof wanted, "\"rule\":\"%s\"", rule);
    int n = 0;
    for (const char *at = strstr(text, "\"ev\":\"place\""); at;
         at = strstr(at + 1, "\"ev\":\"place\"")) {
        const char *end = strchr(at, '\n');
        const char *hit = strstr(at, wanted);
        n += hit && (!end || hit < end);
    }
    free(text);
    return n;
}

/* A quick run: rules and settings as options, no file; the library reads the config the CLI
 * checked (CDMPLACE_CONFIG_TEXT), and a rule's value runs on over blanks. */
Test(cli, run_rules_and_settings_as_options)
{
    char library_env[PATH_MAX + 32], log[PATH_BUF], log_option[PATH_BUF + 8], program[PATH_MAX];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, sizeof log, "%s/quick.jsonl", tmp_dir);
    snprintf(log_option, sizeof log_option, "log=%s", log);
    cr_assert(test_source_path("build/examples/buffers", program, sizeof program));
    const struct invocation how = {.env = ENV(library_env)};
    struct outcome ran = cli_with(&how, ARGS("run", "--rule", "size=1M- policy=bind 0", "-o",
                                             log_option, "-o", "report=off", "--", program));
    cr_assert_eq(ran.status, 0, "stderr: %s", ran.err);
    outcome_free(&ran);
    /* examples/buffers: three large buffers, all placed by the one rule. */
    cr_assert_eq(placed_by(log, "rule1"), 3);
    char *trace = slurp(log);
    cr_assert(strstr(trace, "\"config\":\"CDMPLACE_CONFIG_TEXT\""), "%.300s", trace);
    cr_assert(strstr(trace, "\"policy\":\"bind\""), "%.300s", trace);
    free(trace);
}

/* With -c, the file's rules come first, then the options'; name= names one; an inherited
 * CDMPLACE_CONFIG_TEXT does not override the file. */
Test(cli, run_rule_options_follow_the_files_rules)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32], log[PATH_BUF], program[PATH_MAX];
    snprintf(log, sizeof log, "%s/both.jsonl", tmp_dir);
    char text[PATH_BUF + 128];
    snprintf(text, sizeof text,
             "[settings]\nlog = %s\nreport = off\n\n[rule weights]\nsize = 64M-\npolicy = bind 0\n",
             log);
    write_in_tmp("weights.conf", text, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    cr_assert(test_source_path("build/examples/buffers", program, sizeof program));
    const struct invocation how = {
        .env = ENV(library_env, "CDMPLACE_CONFIG_TEXT=[rule stray]\nsize = 1M-\npolicy = bind 0")};
    struct outcome ran = cli_with(&how, ARGS("run", "-c", config, "--rule",
                                             "name=rest size=1M- policy=bind 0", "--", program));
    cr_assert_eq(ran.status, 0, "stderr: %s", ran.err);
    outcome_free(&ran);
    cr_assert_eq(placed_by(log, "weights"), 1, "the 64M buffer by the file's rule");
    cr_assert_eq(placed_by(log, "rest"), 2, "the 32M and 16M ones by --rule");
    cr_assert_eq(placed_by(log, "stray"), 0);

    /* Without --rule, the inherited text is not used either: the file is. */
    unlink(log);
    ran = cli_with(&how, ARGS("run", "-c", config, "--", program));
    cr_assert_eq(ran.status, 0, "stderr: %s", ran.err);
    outcome_free(&ran);
    cr_assert_eq(placed_by(log, "weights"), 1);
    cr_assert_eq(placed_by(log, "stray"), 0);
}

/* Options are checked like a file: an error names the option, exit 2, the program not run. */
Test(cli, run_rule_option_errors_name_the_option)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32];
    write_in_tmp("logged.conf", "[settings]\nlog = off\n", config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.cwd = tmp_dir, .env = ENV(library_env)};
    const struct {
        const char *const *args;
        const char *said;
    } cases[] = {
        {ARGS("run", "--rule", "size=1M- policy=bind 0", "--rule", "size=64Q- policy=bind cdm",
              "--", "touch", "marker"),
         "cdmplace: --rule 2 ('size=64Q- policy=bind cdm'): invalid size '64Q'"},
        {ARGS("run", "-o", "lag=3", "--", "touch", "marker"),
         "cdmplace: -o lag=3: unknown key 'lag' in [settings]"},
        {ARGS("run", "--rule", "size", "--", "touch", "marker"),
         "cdmplace: run: --rule 1 ('size'): 'size' is not KEY=VALUE"},
        {ARGS("run", "-c", "logged.conf", "-o", "log=x", "--", "touch", "marker"),
         "cdmplace: -o log=x: duplicate key 'log' in [settings]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome result = cli_with(&how, cases[i].args);
        cr_assert_eq(result.status, 2, "case %zu: %s", i, result.err);
        cr_assert_not(exists_in_tmp("marker"), "case %zu: the program must not run", i);
        cr_assert_eq(strncmp(result.err, cases[i].said, strlen(cases[i].said)), 0,
                     "case %zu: %s", i, result.err);
        outcome_free(&result);
    }
}

Test(cli, run_proceeds_when_the_config_only_warns)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32];
    write_in_tmp("absent.conf", "[rule far]\nsize = 1M-\npolicy = bind 1023\n", config,
                 sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.cwd = tmp_dir, .env = ENV(library_env, "CDMPLACE_REPORT=off")};
    struct outcome result = cli_with(&how, ARGS("run", "-c", "absent.conf", "touch", "marker"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert(exists_in_tmp("marker"), "the program ran");
    cr_assert(strstr(result.err, "absent.conf:3: warning: "), "the warning is said: %s",
              result.err);
    outcome_free(&result);
}

Test(cli, run_returns_the_program_status)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32];
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.env = ENV(library_env, "CDMPLACE_REPORT=off")};
    static const struct {
        const char *script;
        int status;
    } cases[] = {{"exit 7", 7}, {"exit 0", 0}, {"exit 1", 1}, {"kill -TERM $$", 128 + SIGTERM}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome result =
            cli_with(&how, ARGS("run", "-c", config, "--", "sh", "-c", cases[i].script));
        cr_assert_eq(result.status, cases[i].status, "%s: stderr %s", cases[i].script,
                     result.err);
        outcome_free(&result);
    }
}

/* A statically linked program (Debian's ldconfig is static-pie) runs, with one message
 * before it that it runs unplaced; a dynamic one gets none. */
Test(cli, run_says_a_static_program_runs_unplaced)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32];
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.env = ENV(library_env, "CDMPLACE_REPORT=off")};
    struct outcome result =
        cli_with(&how, ARGS("run", "-c", config, "--", "/sbin/ldconfig", "--version"));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(strstr(result.out, "ldconfig"), "the program's own output: %s", result.out);
    cr_assert(strstr(result.err, "cdmplace: /sbin/ldconfig is statically linked: the library "
                                 "cannot be preloaded into it, and it runs unplaced"),
              "%s", result.err);
    outcome_free(&result);
    result = cli_with(&how, ARGS("run", "-c", config, "--", "sh", "-c", "exit 0"));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_null(strstr(result.err, "statically linked"), "%s", result.err);
    outcome_free(&result);
}

/* A preset LD_PRELOAD loads into the CLI too, ahead of the sanitizer's runtime when the CLI
 * is the sanitized build; ASan refuses that unless told the order does not matter. */
static const char *asan_options(void)
{
    static char value[1024];
    const char *old = getenv("ASAN_OPTIONS");
    snprintf(value, sizeof value, "ASAN_OPTIONS=%s%sverify_asan_link_order=0", old ? old : "",
             old && *old ? ":" : "");
    return value;
}

Test(cli, run_exports_config_and_preload)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32], preload_env[PATH_MAX + 32];
    char expected[PATH_MAX * 2 + 2];
    Dl_info numa;
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    /* A real library that is already preloaded: libnuma, which this test links. */
    cr_assert(dladdr((void *)numa_available, &numa) && numa.dli_fname);
    snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s", numa.dli_fname);
    const struct invocation how = {.cwd = tmp_dir,
                                   .env = ENV(library_env, preload_env, asan_options())};

    struct outcome result = cli_with(&how, ARGS("run", "-c", "valid.conf", SHOW_ENV));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    struct shown_env shown;
    parse_shown(result.out, &shown);
    snprintf(expected, sizeof expected, "%s:%s", library(), numa.dli_fname);
    cr_assert_str_eq(shown.preload, expected, "the library first, the old entry kept");
    cr_assert_str_eq(shown.config, config, "CDMPLACE_CONFIG is the absolute path");
    cr_assert_str_eq(shown.dry_run, "unset");
    cr_assert_str_eq(shown.log, "unset");
    cr_assert_str_eq(shown.report, "unset");
    outcome_free(&result);

    /* Already in LD_PRELOAD: not added twice. */
    snprintf(preload_env, sizeof preload_env, "LD_PRELOAD=%s", library());
    const struct invocation again = {.cwd = tmp_dir,
                                     .env = ENV(library_env, preload_env, asan_options())};
    result = cli_with(&again, ARGS("run", "-c", "valid.conf", SHOW_ENV));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    parse_shown(result.out, &shown);
    cr_assert_str_eq(shown.preload, library());
    outcome_free(&result);
}

Test(cli, run_options_become_the_environment)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32], log[PATH_MAX + 32];
    write_in_tmp("valid.conf", valid_config, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, sizeof log, "%s/trace.%%p.jsonl", tmp_dir);
    const struct invocation how = {.env = ENV(library_env)};
    struct outcome result = cli_with(&how, ARGS("run", "-c", config, "--dry-run", "--log", log,
                                                "--report", "off", SHOW_ENV));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    struct shown_env shown;
    parse_shown(result.out, &shown);
    cr_assert_str_eq(shown.dry_run, "1");
    cr_assert_str_eq(shown.log, log);
    cr_assert_str_eq(shown.report, "off");
    outcome_free(&result);
}

Test(cli, run_checks_the_log_template_before_starting)
{
    char library_env[PATH_MAX + 32];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.cwd = tmp_dir, .env = ENV(library_env)};
    struct outcome result = cli_with(&how, ARGS("run", "--log", "trace.%x", "touch", "marker"));
    cr_assert_eq(result.status, 2);
    cr_assert(strstr(result.err, "CDMPLACE_LOG"), "%s", result.err);
    cr_assert_not(exists_in_tmp("marker"));
    outcome_free(&result);
}

Test(cli, run_without_a_config_file_exports_none)
{
    if (access("/etc/cdmplace.conf", F_OK) == 0)
        cr_skip_test("/etc/cdmplace.conf exists here, so run uses it");
    char library_env[PATH_MAX + 32];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    const struct invocation how = {.env = ENV(library_env, "CDMPLACE_REPORT=off")};
    struct outcome result = cli_with(&how, ARGS("run", SHOW_ENV));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    struct shown_env shown;
    parse_shown(result.out, &shown);
    cr_assert_str_eq(shown.config, "unset", "the built-in default has no file");
    cr_assert_str_eq(shown.preload, library());
    outcome_free(&result);
}

Test(cli, run_program_not_found_or_not_executable)
{
    char path[PATH_BUF], library_env[PATH_MAX + 32];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    /* A PATH of readable directories: execvp says EACCES, not ENOENT, when it met one it
     * may not search (a user's PATH naming root's directories). */
    const struct invocation how = {.cwd = tmp_dir, .env = ENV(library_env, "PATH=/usr/bin:/bin")};

    struct outcome result = cli_with(&how, ARGS("run", "cdmplace-no-such-program"));
    cr_assert_eq(result.status, 127);
    cr_assert(strstr(result.err, "cdmplace: "), "%s", result.err);
    outcome_free(&result);

    write_in_tmp("data.txt", "not a program\n", path, sizeof path);
    cr_assert_eq(chmod(path, 0644), 0);
    result = cli_with(&how, ARGS("run", "./data.txt"));
    cr_assert_eq(result.status, 126);
    cr_assert(strstr(result.err, "cdmplace: "), "%s", result.err);
    outcome_free(&result);
}

Test(cli, run_finds_the_library_beside_itself)
{
    char dir_buf[PATH_MAX], here[PATH_MAX + 32], installed[PATH_MAX + 32], found[PATH_MAX];
    snprintf(dir_buf, sizeof dir_buf, "%s", cli_path);
    const char *dir = dirname(dir_buf);
    snprintf(here, sizeof here, "%s/libcdmplace.so", dir);
    snprintf(installed, sizeof installed, "%s/../lib/libcdmplace.so", dir);
    const char *expected = realpath(here, found) ? found : realpath(installed, found);
    const struct invocation how = {.cwd = tmp_dir, .env = ENV("CDMPLACE_REPORT=off")};

    struct outcome result = cli_with(&how, ARGS("run", SHOW_ENV));
    if (expected) {
        cr_assert_eq(result.status, 0, "stderr: %s", result.err);
        struct shown_env shown;
        parse_shown(result.out, &shown);
        cr_assert_str_eq(shown.preload, expected);
    } else {
        /* The sanitized CLI lives in build/asan/, with no library beside it. */
        cr_assert_eq(result.status, 1);
        cr_assert(strstr(result.err, "CDMPLACE_LIBRARY"), "the fix is named: %s", result.err);
        cr_assert_str_empty(result.out, "the program must not run");
    }
    outcome_free(&result);
}

/* `make install PREFIX=P` puts the CLI in P/bin and the library in P/lib. */
Test(cli, run_finds_the_installed_library)
{
    char bin[PATH_MAX + 32], lib[PATH_MAX + 32], exe[PATH_MAX + 64], so[PATH_MAX + 64];
    snprintf(bin, sizeof bin, "%s/bin", tmp_dir);
    snprintf(lib, sizeof lib, "%s/lib", tmp_dir);
    cr_assert_eq(mkdir(bin, 0755), 0);
    cr_assert_eq(mkdir(lib, 0755), 0);
    snprintf(exe, sizeof exe, "%s/cdmplace", bin);
    snprintf(so, sizeof so, "%s/libcdmplace.so", lib);
    copy_file(cli_path, exe, 0755);
    copy_file(library(), so, 0755);
    const struct invocation how = {.exe = exe, .env = ENV("CDMPLACE_REPORT=off")};

    struct outcome result = cli_with(&how, ARGS("run", SHOW_ENV));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    struct shown_env shown;
    parse_shown(result.out, &shown);
    cr_assert_str_eq(shown.preload, so);
    outcome_free(&result);
}

Test(cli, run_with_a_bad_library_variable_fails)
{
    const struct invocation how = {.cwd = tmp_dir,
                                   .env = ENV("CDMPLACE_LIBRARY=/nonexistent/libcdmplace.so")};
    struct outcome result = cli_with(&how, ARGS("run", "touch", "marker"));
    cr_assert_eq(result.status, 1);
    cr_assert(strstr(result.err, "CDMPLACE_LIBRARY=/nonexistent/libcdmplace.so"), "%s",
              result.err);
    cr_assert_not(exists_in_tmp("marker"));
    outcome_free(&result);
}

/* ---------------------------------------------------------------- topo */

Test(cli, topo_lists_node_0)
{
    static struct cdm_topology topology;
    char row[1024], cpulist[4096], expected[4200];
    cr_assert_eq(cdm__topology_read(&topology), 0);
    cr_assert_eq(cdm__topology_cpulist(0, cpulist, sizeof cpulist), 0);

    struct outcome result = cli(ARGS("topo"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert(row_starting(result.out, "NODE", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "NODE CPUS CPU LIST MEMORY FREE KIND TIER", 40), 0, "%s", row);
    cr_assert(row_starting(result.out, "0", row, sizeof row), "node 0 row:\n%s", result.out);
    snprintf(expected, sizeof expected, "0 %d %s ", topology.nodes[0].n_cpus,
             cpulist[0] ? cpulist : "-");
    cr_assert_eq(strncmp(row, expected, strlen(expected)), 0, "'%s' starts '%s'", row, expected);
    cr_assert(strstr(row, topology.nodes[0].is_cdm ? " cdm" : " dram"), "%s", row);
    cr_assert(strstr(result.out, "\ndistances\n"), "%s", result.out);
    cr_assert(strstr(result.out, "\nweighted interleave: "), "%s", result.out);
    cr_assert(strstr(result.out, "\nuserfaultfd: "), "%s", result.out);
    cr_assert(strstr(result.out, "\ntracker damon: "), "%s", result.out);
    outcome_free(&result);
}

/* topo --json: node 0 as the topology reads it, and the trackers as the text names them. */
Test(cli, topo_json_has_the_nodes_and_trackers)
{
    static struct cdm_topology topology;
    char cpulist[4096], fields[8192], expected[8192];
    cr_assert_eq(cdm__topology_read(&topology), 0);
    cr_assert_eq(cdm__topology_cpulist(0, cpulist, sizeof cpulist), 0);

    struct outcome result = cli(ARGS("topo", "--json"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert_str_empty(result.err);
    json_query(result.out,
               "*[j[\"nodes\"][0][key] for key in (\"node\", \"cpus\", \"cpu_list\", "
               "\"memory_bytes\", \"kind\")], j[\"distances\"][\"0\"][\"0\"], "
               "0 in j[\"cdm_nodes\"] + j[\"dram_nodes\"], "
               "[t[\"tracker\"] for t in j[\"tracking\"][\"trackers\"]], "
               "j[\"tracking\"][\"auto\"][\"tracker\"]",
               fields, sizeof fields);

    struct outcome text = cli(ARGS("topo"));
    cr_assert_eq(text.status, 0, "stderr: %s", text.err);
    const char *chosen = strstr(text.out, "\ntracker (track = auto): ");
    cr_assert(chosen, "%s", text.out);
    chosen += strlen("\ntracker (track = auto): ");
    snprintf(expected, sizeof expected,
             "0 %d %s %llu %s %d True ['wp-async', 'wp', 'missing', 'damon'] %.*s",
             topology.nodes[0].n_cpus, cpulist, (unsigned long long)topology.nodes[0].mem_total,
             topology.nodes[0].is_cdm ? "cdm" : "dram", cdm__topology_distance(0, 0),
             (int)strcspn(chosen, ","), chosen);
    cr_assert_str_eq(fields, expected, "%s", result.out);
    outcome_free(&text);
    outcome_free(&result);
}

/* ---------------------------------------------------------------- report */

Test(cli, report_of_a_real_run)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32], log[PATH_BUF], program[PATH_MAX];
    char row[1024];
    write_in_tmp("big.conf", "[rule big]\nsize = 1M-\npolicy = bind 0\n", config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, sizeof log, "%s/trace.jsonl", tmp_dir);
    cr_assert(test_source_path("build/examples/buffers", program, sizeof program));
    const struct invocation how = {.env = ENV(library_env)};
    struct outcome ran = cli_with(&how, ARGS("run", "-c", config, "--log", log, "--report", "off",
                                             "--", program));
    cr_assert_eq(ran.status, 0, "stderr: %s", ran.err);
    outcome_free(&ran);

    struct outcome result = cli(ARGS("report", log));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert_str_empty(result.err);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    /* examples/buffers.c: 64M + 32M + 16M live together, the 64M of weights (written
     * whole) still live at exit, bound to node 0. */
    cr_assert_eq(strncmp(row, "big 3 112M 112M ", 16), 0, "%s", row);
    cr_assert(strstr(row, " 0:16384"), "64M of pages on node 0 at exit: %s", row);
    cr_assert(strstr(result.out, "load_weights"), "%s", result.out);
    cr_assert(strstr(result.out, "(buffers.c:"), "named with file:line: %s", result.out);
    cr_assert(strstr(result.out, "tracker: "), "%s", result.out);
    outcome_free(&result);
}

/* The report's trace of `program [mode]` run under a rule placing every buffer of 1M or more. */
static struct outcome report_of(const char *program, const char *mode)
{
    char config[PATH_BUF], library_env[PATH_MAX + 32], log[PATH_BUF], path[PATH_MAX];
    write_in_tmp("big.conf", "[rule big]\nsize = 1M-\npolicy = bind 0\n", config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, sizeof log, "%s/%s%s.jsonl", tmp_dir, strrchr(program, '/') + 1,
             mode ? mode : ""); /* a trace of its own: a log is appended to */
    cr_assert(test_source_path(program, path, sizeof path));
    const struct invocation how = {.env = ENV(library_env)};
    struct outcome ran = cli_with(&how, ARGS("run", "-c", config, "--log", log, "--report", "off",
                                             "--", path, mode));
    cr_assert_eq(ran.status, 0, "stderr: %s", ran.err);
    outcome_free(&ran);
    struct outcome report = cli(ARGS("report", log));
    cr_assert_eq(report.status, 0, "stderr: %s", report.err);
    return report;
}

/* Call sites read as people wrote them: C++ names demangled; a stripped program's static
 * function, which no symbol holds, as the object and the offset into it (not as the nearest
 * exported symbol below, megabytes away); with its debug information installed apart, named
 * from that; a compiler's clone as its function. */
Test(cli, report_names_cxx_and_stripped_call_sites)
{
    struct outcome cxx = report_of("build/tests/cxx_sites", NULL);
    cr_assert(strstr(cxx.out, "fixture::Loader::load(unsigned long) (cxx_sites.cc:"), "%s",
              cxx.out);
    cr_assert_null(strstr(cxx.out, "_ZN7fixture"), "a mangled name: %s", cxx.out);
    outcome_free(&cxx);

    struct outcome stripped = report_of("build/tests/cxx_sites_stripped", "hidden");
    const char *site = strstr(stripped.out, "cxx_sites_stripped+0x");
    cr_assert(site, "%s", stripped.out);
    cr_assert(site[-1] == ' ' || site[-1] == '\n', "the name starts with the object: %s",
              stripped.out);
    outcome_free(&stripped);

    /* Stripped, its debug information apart: named from that. */
    struct outcome apart = report_of("build/tests/cxx_sites_debuglink", NULL);
    cr_assert(strstr(apart.out, "fixture::Loader::load(unsigned long) (cxx_sites.cc:"), "%s",
              apart.out);
    outcome_free(&apart);

    /* A compiler's clone, named as its function: by the library in an unstripped object, by
     * the report from the debug information of a stripped one. */
    const char *clones[] = {"build/tests/cxx_sites", "build/tests/cxx_sites_debuglink"};
    for (int i = 0; i < 2; i++) {
        struct outcome clone = report_of(clones[i], "clone");
        cr_assert(strstr(clone.out, "clone_load (cxx_sites.cc:"), "%s", clone.out);
        cr_assert_null(strstr(clone.out, "constprop"), "%s", clone.out);
        outcome_free(&clone);
    }
}

/* report --json: valid JSON (Python's reader), with the table's figures for the same
 * trace, as plain numbers. */
Test(cli, report_json_has_the_tables_figures)
{
    char trace[PATH_MAX];
    cr_assert(test_source_path("tests/data/seed-flow.jsonl", trace, sizeof trace));
    struct outcome table = cli(ARGS("report", trace));
    cr_assert_eq(table.status, 0, "%s", table.err);
    char row[1024];
    cr_assert(row_starting(table.out, "seed", row, sizeof row), "%s", table.out);
    unsigned long long allocations, to_dram, to_policy, faults, fallbacks, failed;
    char bytes[32], peak[32];
    cr_assert_eq(sscanf(row, "seed %llu %31s %31s %llu %llu %llu %llu %llu", &allocations, bytes,
                        peak, &to_dram, &to_policy, &faults, &fallbacks, &failed), 8, "%s", row);
    outcome_free(&table);

    struct outcome result = cli(ARGS("report", "--json", trace));
    cr_assert_eq(result.status, 0, "%s", result.err);
    char fields[512];
    json_query(result.out,
               "*[j[\"processes\"][0][\"rules\"][0][key] for key in (\"rule\", \"allocations\", "
               "\"bytes\", \"to_dram\", \"to_policy\", \"faults\", \"fallbacks\", \"failed\")], "
               "j[\"processes\"][0][\"rules\"][0][\"pages_at_peak\"][\"1\"]",
               fields, sizeof fields);
    outcome_free(&result);
    char expected[512];
    snprintf(expected, sizeof expected, "seed %llu 16777216 %llu %llu %llu %llu %llu 4096",
             allocations, to_dram, to_policy, faults, fallbacks, failed);
    cr_assert_str_eq(fields, expected, "the table's row: %s", row);
}

Test(cli, report_bad_traces)
{
    struct outcome result = cli(ARGS("report"));
    cr_assert_eq(result.status, 2, "no trace: bad usage");
    outcome_free(&result);

    char missing[PATH_BUF], empty[PATH_BUF], cut[PATH_BUF], row[1024];
    snprintf(missing, sizeof missing, "%s/missing.jsonl", tmp_dir);
    result = cli(ARGS("report", missing));
    cr_assert_eq(result.status, 1);
    cr_assert(strstr(result.err, "cannot read"), "%s", result.err);
    outcome_free(&result);

    write_in_tmp("empty.jsonl", "", empty, sizeof empty);
    result = cli(ARGS("report", empty));
    cr_assert_eq(result.status, 1, "nothing to report");
    cr_assert(strstr(result.err, "empty.jsonl: warning: no event of cdmplace in it (empty)"), "%s",
              result.err);
    outcome_free(&result);

    write_in_tmp("cut.jsonl",
                 "{\"t\":1,\"pid\":7,\"tid\":7,\"ev\":\"start\",\"version\":\"0.1.0\",\"rules\":[\"big\"]}\n"
                 "{\"t\":2,\"pid\":7,\"tid\":7,\"ev\":\"place\",\"addr\":\"0x7f0000000000\",\"size\":1048576,"
                 "\"rule\":\"big\",\"result\":\"applied\"}\n{\"t\":3,\"pid\":7,\"ti",
                 cut, sizeof cut);
    result = cli(ARGS("report", cut));
    cr_assert_eq(result.status, 0, "a killed process's trace is reported");
    cr_assert(strstr(result.err, "cut.jsonl:3: warning: the last line is cut short"), "%s",
              result.err);
    cr_assert(strstr(result.out, "no exit event"), "%s", result.out);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "big 1 1M 1M ", 12), 0, "the placement before the cut: %s", row);
    outcome_free(&result);
}

/* Options go anywhere among the operands (`--` ends them); `-` reads standard input. */
Test(cli, report_options_after_the_traces_and_a_trace_on_standard_input)
{
    char trace[PATH_BUF], svg[PATH_BUF], row[1024];
    write_in_tmp("one.jsonl",
                 "{\"t\":1,\"pid\":7,\"tid\":7,\"ev\":\"start\",\"version\":\"0.1.0\",\"rules\":[\"big\"]}\n"
                 "{\"t\":2,\"pid\":7,\"tid\":7,\"ev\":\"place\",\"addr\":\"0x7f0000000000\",\"size\":1048576,"
                 "\"rule\":\"big\",\"result\":\"applied\"}\n",
                 trace, sizeof trace);
    snprintf(svg, sizeof svg, "%s/after.svg", tmp_dir);
    struct outcome result = cli(ARGS("report", trace, "--svg", svg));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    cr_assert_eq(access(svg, R_OK), 0, "--svg after the trace was not taken as an option");
    outcome_free(&result);

    const struct invocation from_stdin = {.input = trace};
    result = cli_with(&from_stdin, ARGS("report", "-"));
    cr_assert_eq(result.status, 0, "stderr: %s", result.err);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "big 1 1M 1M ", 12), 0, "%s", row);
    outcome_free(&result);

    result = cli(ARGS("report", "--", "--svg"));
    cr_assert_eq(result.status, 1, "after --, --svg is a trace's name");
    cr_assert(strstr(result.err, "cannot read --svg"), "%s", result.err);
    outcome_free(&result);
}

/* ---------------------------------------------------------------- suggest */

Test(cli, suggest_needs_a_readable_trace_with_events)
{
    char empty[PATH_MAX], missing[PATH_MAX];
    write_in_tmp("empty.jsonl", "", empty, sizeof empty);
    snprintf(missing, sizeof missing, "%s/no-such.jsonl", tmp_dir);
    const char *const *cases[] = {ARGS("suggest", empty), ARGS("suggest", missing),
                                  ARGS("suggest", empty, missing)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome result = cli(cases[i]);
        cr_assert_eq(result.status, 1, "case %zu: %d", i, result.status);
        cr_assert_str_empty(result.out, "case %zu: no config: %s", i, result.out);
        cr_assert(strstr(result.err, "no config suggested"), "case %zu: %s", i, result.err);
        outcome_free(&result);
    }
}

/* A profile whose tracker was off: the sites are listed, none gets a rule, and the header
 * says why. */
Test(cli, suggest_without_access_figures_places_nothing)
{
    static const char trace[] =
        "{\"t\":1,\"pid\":7,\"tid\":7,\"ev\":\"start\",\"version\":\"0.1.0\",\"program\":\"app\","
        "\"config\":\"(built-in)\",\"min_size\":2097152,\"dry_run\":false,\"tracker\":\"off\","
        "\"sees\":\"nothing\",\"epoch_ns\":100000000,\"rules\":[]}\n"
        "{\"t\":2,\"pid\":7,\"tid\":7,\"ev\":\"place\",\"addr\":null,\"size\":8388608,"
        "\"mapped\":0,\"kind\":\"heap\",\"rule\":null,\"policy\":\"none\",\"nodes\":\"\","
        "\"caller\":\"/usr/bin/app:load_weights\",\"stack\":[],\"result\":\"unplaced\","
        "\"errno\":0}\n"
        "{\"t\":3,\"pid\":7,\"tid\":7,\"ev\":\"exit\",\"allocations\":1}\n";
    char path[PATH_MAX], config[PATH_MAX];
    write_in_tmp("off.jsonl", trace, path, sizeof path);
    struct outcome result = cli(ARGS("suggest", path));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(strstr(result.out, "tracker off (sees nothing)"), "%s", result.out);
    cr_assert(strstr(result.out, "had no tracker that tells use"), "%s", result.out);
    cr_assert(strstr(result.out, "\nmin_size = 2M\n"), "min_size from the trace: %s", result.out);
    cr_assert_null(strstr(result.out, "[rule "), "no rule on a guess: %s", result.out);
    cr_assert(strstr(result.out, "#   app:load_weights: 1 buffer, 8M: no access figures"),
              "%s", result.out);
    write_in_tmp("off.conf", result.out, config, sizeof config);
    outcome_free(&result);
    result = cli(ARGS("check", config));
    cr_assert_eq(result.status, 0, "%s", result.err);
    outcome_free(&result);
}

/* ---- launchers' templates ---- */

/* %j, %r and %l read each launcher's variables in order, the first set winning; every case
 * unsets the others so that a job this test runs inside does not leak in. */
Test(cli, run_templates_read_each_launchers_job_and_ranks)
{
    static const struct {
        const char *set[3];
        const char *name;
    } cases[] = {
        {{"FLUX_JOB_ID=f7", "FLUX_TASK_RANK=4", "FLUX_TASK_LOCAL_ID=1"}, "t.f7.4.1.jsonl"},
        {{"LSB_JOBID=31", "PMIX_RANK=6", "MPI_LOCALRANKID=2"}, "t.31.6.2.jsonl"},
        {{"SLURM_JOB_ID=77", "FLUX_JOB_ID=f7", "OMPI_COMM_WORLD_LOCAL_RANK=3"}, "t.77.0.3.jsonl"},
        {{"SLURM_LOCALID=5", "FLUX_TASK_LOCAL_ID=1", "PMI_RANK=9"}, "t.local.9.5.jsonl"},
        {{"CDMPLACE_DEBUG=0"}, "t.local.0.0.jsonl"},
    };
    char library_env[PATH_MAX + 32], log[PATH_BUF], config[PATH_BUF];
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, sizeof log, "%s/t.%%j.%%r.%%l.jsonl", tmp_dir);
    write_in_tmp("t.conf", "[settings]\nreport = off\n", config, sizeof config);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const env[] = {library_env, "SLURM_JOB_ID", "PBS_JOBID", "FLUX_JOB_ID",
                                   "LSB_JOBID", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK",
                                   "PMI_RANK", "FLUX_TASK_RANK", "PMIX_RANK", "SLURM_LOCALID",
                                   "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                   "FLUX_TASK_LOCAL_ID", cases[i].set[0], cases[i].set[1],
                                   cases[i].set[2], NULL};
        const struct invocation how = {.env = env};
        struct outcome result =
            cli_with(&how, ARGS("run", "-c", config, "--log", log, "--", "/bin/true"));
        cr_assert_eq(result.status, 0, "stderr: %s", result.err);
        cr_assert(exists_in_tmp(cases[i].name), "case %zu: no %s", i, cases[i].name);
        outcome_free(&result);
    }
}

/* ---- report filters, --folded and --diff ---- */

/* Runs build/examples/PROGRAM (args after it, NULL-ended) under the library with a config of
 * `rules`, tracing to tmp_dir/TRACE; the trace's path in log. */
static void run_traced(const char *rules, const char *trace, char *log, size_t size,
                       const char *program, const char *const *args)
{
    char config_name[64], config[PATH_BUF], library_env[PATH_MAX + 32], path[PATH_MAX];
    snprintf(config_name, sizeof config_name, "%s.conf", trace);
    write_in_tmp(config_name, rules, config, sizeof config);
    snprintf(library_env, sizeof library_env, "CDMPLACE_LIBRARY=%s", library());
    snprintf(log, size, "%s/%s", tmp_dir, trace);
    char example[64];
    snprintf(example, sizeof example, "build/examples/%s", program);
    cr_assert(test_source_path(example, path, sizeof path));
    const char *argv[16] = {"run", "-c", config, "--log", log, "--report", "off", "--", path};
    size_t n = 9;
    for (; args && *args && n + 1 < sizeof argv / sizeof argv[0]; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    const struct invocation how = {.env = ENV(library_env)};
    struct outcome ran = cli_with(&how, argv);
    cr_assert_eq(ran.status, 0, "%s: %s", program, ran.err);
    outcome_free(&ran);
}

/* The rows of the call-site table: the lines after its heading and column names. */
static int call_site_rows(const char *text)
{
    const char *table = strstr(text, "top call sites by bytes:\n");
    if (!table)
        return 0;
    table = strchr(table, '\n') + 1;
    table = strchr(table, '\n') + 1; /* the column names */
    int rows = 0;
    for (; strncmp(table, "  ", 2) == 0; table = strchr(table, '\n') + 1)
        rows++;
    return rows;
}

static int occurrences(const char *text, const char *what)
{
    int n = 0;
    for (const char *at = text; (at = strstr(at, what)); at += strlen(what))
        n++;
    return n;
}

/* examples/buffers under one rule: three call sites (64M, 32M, 16M). */
Test(cli, report_top_shows_that_many_call_sites)
{
    char log[PATH_BUF];
    run_traced("[rule big]\nsize = 1M-\npolicy = bind 0\n", "top.jsonl", log, sizeof log, "buffers",
               NULL);
    struct outcome result = cli(ARGS("report", log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(call_site_rows(result.out), 3, "all three under the default 5: %s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--top", "2", log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(call_site_rows(result.out), 2, "%s", result.out);
    cr_assert(strstr(result.out, "load_weights"), "the heaviest kept: %s", result.out);
    cr_assert_null(strstr(result.out, "alloc_activations"), "the lightest left: %s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--json", log));
    cr_assert_eq(occurrences(result.out, "\"call_site\":"), 3, "%s", result.out);
    outcome_free(&result);
    result = cli(ARGS("report", "--json", "--top", "1", log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(occurrences(result.out, "\"call_site\":"), 1, "%s", result.out);
    cr_assert(strstr(result.out, "\"bytes\":67108864,\"to_dram\""), "the 64M site: %s", result.out);
    outcome_free(&result);

    static const char *const bad[] = {"0", "x", "-1", "2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        result = cli(ARGS("report", "--top", bad[i], log));
        cr_assert_eq(result.status, 2, "--top %s", bad[i]);
        cr_assert(strstr(result.err, "--top"), "%s", result.err);
        outcome_free(&result);
    }
}

/* Two rules in one run: --rule keeps one in the table, --json, --perfetto and --svg. */
Test(cli, report_rule_keeps_one_rule_everywhere)
{
    char log[PATH_BUF], perfetto[PATH_BUF], svg[PATH_BUF], row[1024];
    run_traced("[rule weights]\ncaller = *:load_weights*\npolicy = bind 0\n\n"
               "[rule rest]\nsize = 1M-\npolicy = bind 0\n",
               "rules.jsonl", log, sizeof log, "buffers", NULL);
    snprintf(perfetto, sizeof perfetto, "%s/rule.json", tmp_dir);
    snprintf(svg, sizeof svg, "%s/rule.svg", tmp_dir);
    struct outcome result =
        cli(ARGS("report", "--rule", "rest", "--perfetto", perfetto, "--svg", svg, log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(row_starting(result.out, "rest", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "rest 2 48M ", 11), 0, "32M and 16M: %s", row);
    cr_assert(!row_starting(result.out, "weights", row, sizeof row), "%s", result.out);
    cr_assert_eq(call_site_rows(result.out), 2, "%s", result.out);
    cr_assert_null(strstr(result.out, "load_weights"), "its call site too: %s", result.out);
    char *timeline = slurp(perfetto), *picture = slurp(svg);
    cr_assert(strstr(timeline, "\"rest: buffers\""), "%s", timeline);
    cr_assert_null(strstr(timeline, "weights"), "%s", timeline);
    cr_assert(strstr(picture, "rest"));
    cr_assert_null(strstr(picture, "weights"), "no panel of weights");
    free(timeline);
    free(picture);
    outcome_free(&result);

    result = cli(ARGS("report", "--json", "--rule", "weights", log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(occurrences(result.out, "{\"rule\":"), 1, "%s", result.out);
    cr_assert(strstr(result.out, "{\"rule\":\"weights\""), "%s", result.out);
    cr_assert_eq(occurrences(result.out, "\"call_site\":"), 1, "%s", result.out);
    outcome_free(&result);

    /* Repeated: any of them. */
    result = cli(ARGS("report", "--rule", "weights", "--rule", "rest", log));
    cr_assert(row_starting(result.out, "weights", row, sizeof row), "%s", result.out);
    cr_assert(row_starting(result.out, "rest", row, sizeof row), "%s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--rule", "wieghts", log));
    cr_assert_eq(result.status, 2);
    cr_assert_str_empty(result.out);
    cr_assert(strstr(result.err, "no rule 'wieghts'"), "%s", result.err);
    cr_assert(strstr(result.err, "weights, rest"), "names the rules there are: %s", result.err);
    outcome_free(&result);
}

/* Two processes in one trace, ranks 0 (pid 7, 1M) and 1 (pid 8, 2M + 4M). */
static const char two_ranks[] =
    "{\"t\":1,\"pid\":7,\"tid\":7,\"ev\":\"start\",\"version\":\"0.1.0\",\"rank\":0,"
    "\"rules\":[\"big\"]}\n"
    "{\"t\":2,\"pid\":7,\"tid\":7,\"ev\":\"place\",\"addr\":\"0x7f0000000000\",\"size\":1048576,"
    "\"rule\":\"big\",\"result\":\"applied\"}\n"
    "{\"t\":1,\"pid\":8,\"tid\":8,\"ev\":\"start\",\"version\":\"0.1.0\",\"rank\":1,"
    "\"rules\":[\"big\"]}\n"
    "{\"t\":2,\"pid\":8,\"tid\":8,\"ev\":\"place\",\"addr\":\"0x7f0000000000\",\"size\":2097152,"
    "\"rule\":\"big\",\"result\":\"applied\"}\n"
    "{\"t\":3,\"pid\":8,\"tid\":8,\"ev\":\"place\",\"addr\":\"0x7f1000000000\",\"size\":4194304,"
    "\"rule\":\"big\",\"result\":\"applied\"}\n";

Test(cli, report_pid_and_rank_keep_their_process)
{
    char trace[PATH_BUF], row[1024];
    write_in_tmp("ranks.jsonl", two_ranks, trace, sizeof trace);
    struct outcome result = cli(ARGS("report", "--rank", "1", trace));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(strncmp(result.out, "rank 1 (pid 8", 13), 0, "one process: %s", result.out);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "big 2 6M 6M ", 12), 0, "%s", row);
    outcome_free(&result);

    result = cli(ARGS("report", "--pid", "7", trace));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(row_starting(result.out, "big", row, sizeof row), "%s", result.out);
    cr_assert_eq(strncmp(row, "big 1 1M 1M ", 12), 0, "%s", row);
    outcome_free(&result);

    result = cli(ARGS("report", "--rank", "0", "--rank", "1", trace));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(strncmp(result.out, "2 processes", 11), 0, "%s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--json", "--pid", "8", "--rank", "1", trace));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(occurrences(result.out, "\"pid\":"), 1, "%s", result.out);
    cr_assert(strstr(result.out, "\"pid\":8,\"rank\":1"), "%s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--rank", "5", trace));
    cr_assert_eq(result.status, 2);
    cr_assert(strstr(result.err, "no process of rank 5") && strstr(result.err, "ranks there: 0, 1"),
              "%s", result.err);
    outcome_free(&result);
    result = cli(ARGS("report", "--pid", "7", "--rank", "1", trace));
    cr_assert_eq(result.status, 2, "pid 7 is rank 0: nothing is both");
    outcome_free(&result);
    result = cli(ARGS("report", "--pid", "seven", trace));
    cr_assert_eq(result.status, 2);
    outcome_free(&result);
}

/* buffers under a heap rule: two heap call sites, 64M from load_weights and 16M from
 * alloc_activations; its 32M mmap is no heap buffer and is not placed. */
Test(cli, report_folded_gives_the_bytes_placed_per_stack)
{
    char log[PATH_BUF];
    run_traced("[rule big]\nsize = 1M-\nkind = heap\npolicy = bind 0\n", "folded.jsonl", log,
               sizeof log, "buffers", NULL);
    struct outcome result = cli(ARGS("report", "--folded", log));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert_eq(occurrences(result.out, "\n"), 2, "two stacks: %s", result.out);
    char first[1024], second[1024];
    first_line(result.out, first, sizeof first);
    first_line(strchr(result.out, '\n') + 1, second, sizeof second);
    /* Heaviest first; outermost frame first, so main comes before the allocating function. */
    cr_assert(strstr(first, ";main;load_weights"), "%s", first);
    cr_assert_str_eq(strrchr(first, ' '), " 67108864", "%s", first);
    cr_assert(strstr(second, ";main;alloc_activations"), "%s", second);
    cr_assert_str_eq(strrchr(second, ' '), " 16777216", "%s", second);
    cr_assert_null(strchr(first, '('), "frames are functions, without file:line: %s", first);
    outcome_free(&result);

    result = cli(ARGS("report", "--folded", "--top", "1", log));
    cr_assert_eq(occurrences(result.out, "\n"), 1, "%s", result.out);
    outcome_free(&result);
    result = cli(ARGS("report", "--folded", "--json", log));
    cr_assert_eq(result.status, 2, "one output on standard output");
    outcome_free(&result);
}

/* Two runs of hot_cold, which allocates two buffers of its argument's MiB: 2 in A, 4 in B,
 * whose config has a rule more that places nothing. */
static void diff_runs(char *a, char *b, size_t size)
{
    run_traced("[rule big]\nsize = 1M-\npolicy = bind 0\n", "a.jsonl", a, size, "hot_cold",
               ARGS("2", "0.05"));
    run_traced("[rule huge]\nsize = 1G-\npolicy = bind 0\n\n[rule big]\nsize = 1M-\n"
               "policy = bind 0\n",
               "b.jsonl", b, size, "hot_cold", ARGS("4", "0.05"));
}

Test(cli, report_diff_sets_two_runs_side_by_side)
{
    char a[PATH_BUF], b[PATH_BUF];
    diff_runs(a, b, sizeof a);
    struct outcome result = cli(ARGS("report", "--diff", a, b));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(strstr(result.out, "A  ") == result.out, "%s", result.out);
    cr_assert(has_row(result.out, "RULE FIGURE A B B-A B/A"), "%s", result.out);
    cr_assert(has_row(result.out, "big allocs 2 2 0 1.00"), "%s", result.out);
    cr_assert(has_row(result.out, "bytes 4M 8M +4M 2.00"), "%s", result.out);
    cr_assert(has_row(result.out, "peak 4M 8M +4M 2.00"), "%s", result.out);
    cr_assert(has_row(result.out, "huge allocs - 0 only in B -"), "%s", result.out);
    outcome_free(&result);

    result = cli(ARGS("report", "--diff", b, a, "--rule", "big"));
    cr_assert_eq(result.status, 0, "%s", result.err);
    cr_assert(has_row(result.out, "bytes 8M 4M -4M 0.50"), "B before A: %s", result.out);
    cr_assert_null(strstr(result.out, "huge"), "%s", result.out);
    outcome_free(&result);

    const char *const *bad[] = {ARGS("report", "--diff", a), ARGS("report", "--diff", a, b, b),
                                ARGS("report", "--diff", "--svg", "diff.svg", a, b),
                                ARGS("report", "--diff", "--pid", "1", a, b),
                                ARGS("report", "--diff", "--rule", "none", a, b)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        result = cli(bad[i]);
        cr_assert_eq(result.status, 2, "case %zu: %s", i, result.err);
        cr_assert_str_empty(result.out, "case %zu", i);
        outcome_free(&result);
    }
}

/* report --diff --json: valid JSON (Python's reader) with the table's rows, the figures as
 * plain numbers, the change signed, null where the table says "-" or "only in". */
Test(cli, report_diff_json_has_the_tables_rows)
{
    char a[PATH_BUF], b[PATH_BUF];
    diff_runs(a, b, sizeof a);
    struct outcome table = cli(ARGS("report", "--diff", a, b));
    cr_assert_eq(table.status, 0, "%s", table.err);
    struct outcome result = cli(ARGS("report", "--diff", "--json", a, b));
    cr_assert_eq(result.status, 0, "%s", result.err);
    char fields[1024];
    json_query(result.out,
               "\" \".join(\"%s:%s:%s:%s:%s:%s\" % (r[\"rule\"], f[\"figure\"], f[\"a\"], "
               "f[\"b\"], f[\"change\"], f[\"ratio\"]) for r in j[\"rules\"] "
               "for f in r[\"figures\"] "
               "if f[\"figure\"] in (\"allocations\", \"bytes\", \"peak_bytes\"))",
               fields, sizeof fields);
    cr_assert_str_eq(fields,
                     "big:allocations:2:2:0:1 big:bytes:4194304:8388608:4194304:2 "
                     "big:peak_bytes:4194304:8388608:4194304:2 huge:allocations:None:0:None:None "
                     "huge:bytes:None:0:None:None huge:peak_bytes:None:0:None:None",
                     "the table:\n%s", table.out);
    /* As many rows as the table (less its run lines and column names), and the library's. */
    json_query(result.out,
               "sum(len(r[\"figures\"]) for r in j[\"rules\"]) + (j[\"library_us\"] is not None), "
               "j[\"library_us\"][\"change\"] == "
               "j[\"library_us\"][\"b\"] - j[\"library_us\"][\"a\"], "
               "j[\"a\"][\"processes\"], j[\"b\"][\"program\"], j[\"rules\"][1][\"in_a\"]",
               fields, sizeof fields);
    char expected[64];
    snprintf(expected, sizeof expected, "%d True 1 hot_cold False",
             occurrences(table.out, "\n") - 3);
    cr_assert_str_eq(fields, expected, "the table:\n%s", table.out);
    outcome_free(&result);
    outcome_free(&table);

    result = cli(ARGS("report", "--diff", "--json", "--rule", "big", b, a));
    cr_assert_eq(result.status, 0, "%s", result.err);
    json_query(result.out,
               "len(j[\"rules\"]), [f for f in j[\"rules\"][0][\"figures\"] "
               "if f[\"figure\"] == \"bytes\"][0]",
               fields, sizeof fields);
    cr_assert_str_eq(fields,
                     "1 {'figure': 'bytes', 'a': 8388608, 'b': 4194304, 'change': -4194304, "
                     "'ratio': 0.5}",
                     "B before A: %s", result.out);
    outcome_free(&result);
}
