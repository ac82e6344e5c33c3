/* SPDX-License-Identifier: MIT */
/* Whole processes under the preload: fork, exec, the ways a program exits, a kill, and what
 * they leave (trace, report, messages). Each case spawns tests/probe.c or the CLI with its
 * own environment; run from the repository root after `make tests`. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PROBE "build/tests/probe"
#define CONFIG "tests/process.conf"

struct run {
    int status;       /* exit status, or 128 + signal */
    char out[16384];
    char err[16384];
};

static char dir[256];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "%s/cdmplace-process-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
}

static void read_file(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    size_t n = fread(buf, 1, size - 1, file);
    buf[n] = '\0';
    fclose(file);
}

/* Spawns argv with `env` (NAME=VALUE strings, NULL-terminated) added to a clean copy of
 * ours, the library preloaded unless `preload` is false. Kills it after `kill_after_ms`
 * when that is not 0. */
/* The library the tests preload: $CDMPLACE_LIBRARY (make check-sanitize's build), else this
 * tree's. */
static const char *library_path(void)
{
    static char path[1100];
    const char *forced = getenv("CDMPLACE_LIBRARY");
    char cwd[1024];
    if (forced && *forced)
        return forced;
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(path, sizeof path, "%s/build/libcdmplace.so", cwd);
    return path;
}

static void spawn(struct run *run, const char *const *argv, const char *const *env, bool preload,
                  int kill_after_ms)
{
    char *envp[256], library[1200];
    int n = 0;
    for (char **e = environ; *e && n < 200; e++)
        if (strncmp(*e, "CDMPLACE_", 9) && strncmp(*e, "LD_PRELOAD=", 11))
            envp[n++] = *e;
    snprintf(library, sizeof library, "LD_PRELOAD=%s", library_path());
    if (preload)
        envp[n++] = library;
    for (; env && *env; env++)
        envp[n++] = (char *)*env;
    envp[n] = NULL;
    char out_path[512], err_path[512];
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    cr_assert_eq(posix_spawnp(&pid, argv[0], &actions, NULL, (char *const *)argv, envp), 0);
    posix_spawn_file_actions_destroy(&actions);
    if (kill_after_ms) {
        usleep((useconds_t)kill_after_ms * 1000);
        kill(pid, SIGKILL);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    run->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    read_file(out_path, run->out, sizeof run->out);
    read_file(err_path, run->err, sizeof run->err);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *at = haystack; (at = strstr(at, needle)); at += strlen(needle))
        n++;
    return n;
}

/* The trace files in dir whose names start with prefix, concatenated; returns how many. */
static int traces(const char *prefix, char *buf, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    int files = 0;
    size_t used = 0;
    buf[0] = '\0';
    while ((entry = readdir(d))) {
        if (strncmp(entry->d_name, prefix, strlen(prefix)))
            continue;
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        read_file(path, buf + used, size - used);
        used = strlen(buf);
        files++;
    }
    closedir(d);
    return files;
}

/* Every line of a trace is a whole JSON object (followed by spaces where the writer kept
 * the next line from starting just before a page boundary: preload/trace.c). */
static void assert_whole_lines(const char *text)
{
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        cr_assert_not_null(end, "a trace line without its newline: %.80s", line);
        cr_assert_eq(line[0], '{');
        const char *last = end - 1;
        while (last > line && *last == ' ')
            last--;
        cr_assert_eq(*last, '}', "a cut line: %.*s", (int)(end - line), line);
        line = end + 1;
    }
}

/* The repository's PATH as an absolute path (the CLI and symlinks need one). */
static const char *absolute(const char *path, char *buf, size_t size)
{
    char cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(buf, size, "%s/%s", cwd, path);
    return buf;
}

static char log_env[600];
static const char *log_to(const char *name)
{
    snprintf(log_env, sizeof log_env, "CDMPLACE_LOG=%s/%s", dir, name);
    return log_env;
}

static void remove_dir(void)
{
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        cr_log_warn("could not remove %s", dir);
}

TestSuite(process, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(process, fork_child_keeps_working_and_writes_its_own_trace)
{
    static struct run run;
    const char *argv[] = {PROBE, "fork", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", log_to("trace.%p"), NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert(strstr(run.out, "parent placed=1"));
    cr_assert(strstr(run.out, "child placed=1"), "%s", run.out);
    cr_assert(strstr(run.out, "status=0"));
    static char all[65536];
    cr_assert_eq(traces("trace.", all, sizeof all), 2, "one trace per process");
    cr_assert_eq(count(all, "\"ev\":\"start\""), 2);
    cr_assert_eq(count(all, "\"ev\":\"exit\""), 2);
    cr_assert_eq(count(all, "\"rule\":\"big\",\"policy\":\"bind\""), 2);
    assert_whole_lines(all);
}

/* LD_PRELOAD with build/tests/libFIXTURE.so after the library: initialised before it. */
static void preload_behind(const char *fixture, char *env, size_t size)
{
    char cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(env, size, "LD_PRELOAD=%s %s/build/tests/lib%s.so", library_path(), cwd, fixture);
}

/* Fork handlers registered before the library's (an allocator's, which take the allocator's
 * locks) run before the library's takes its own locks: prepare handlers that allocate a
 * placed buffer do not wait forever (tests/atfork_fixture.c). */
Test(process, fork_handlers_registered_earlier_run_before_ours)
{
    static struct run run;
    char library[2200];
    preload_behind("atfork_fixture", library, sizeof library);
    const char *argv[] = {PROBE, "fork", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", library,
                         log_to("atfork.%p"), NULL};
    spawn(&run, argv, env, false, 0);
    cr_assert_eq(run.status, 0, "status %d (%d: fork waited until the fixture's alarm) %s",
                 run.status, 128 + SIGALRM, run.err);
    cr_assert(strstr(run.out, "parent placed=1"), "%s", run.out);
    cr_assert(strstr(run.out, "child placed=1"), "%s", run.out);
    cr_assert(strstr(run.out, "status=0"), "%s", run.out);
    static char all[65536];
    cr_assert_eq(traces("atfork.", all, sizeof all), 2, "one trace per process");
    /* The parent's buffer and the two handlers' buffers, placed; the child's. */
    cr_assert_eq(count(all, "\"rule\":\"big\",\"policy\":\"bind\""), 4, "%s", all);
}

/* Mappings made before the library's constructor (another library's constructor, as
 * jemalloc's first arena under redis-server) are placed once it has run, their pages moved,
 * and what is left of one cut before it; one unmapped, or cut below min_size, is not
 * (tests/early_fixture.c). */
Test(process, mappings_made_before_the_constructor_are_placed)
{
    static struct run run;
    char library[2200];
    preload_behind("early_fixture", library, sizeof library);
    const char *argv[] = {PROBE, "exit", NULL};
    const char *env[] = {"CDMPLACE_CONFIG_TEXT=[rule early]\nsize = 1M-\nkind = anon\n"
                         "policy = bind 0\n",
                         "CDMPLACE_REPORT=off", library, log_to("early.%p"), NULL};
    spawn(&run, argv, env, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert(strstr(run.out, "early filled=bind remapped=bind fixed=bind trimmed=bind small=default"),
              "%s", run.out);
    static char all[65536];
    cr_assert_eq(traces("early.", all, sizeof all), 1);
    cr_assert_eq(count(all, "\"rule\":\"early\",\"policy\""), 4, "%s", all);
    cr_assert(strstr(all, "\"size\":6291456,\"mapped\":6291456,\"kind\":\"anon\",\"rule\":\"early\""),
              "%s", all);
    cr_assert_eq(count(all, "\"caller\":\"\",\"stack\":[],\"result\":\"applied\""), 4, "%s", all);
    cr_assert(strstr(all, "\"size\":5242880,\"mapped\":5242880"), "the trimmed one's middle: %s", all);
}

Test(process, exec_through_the_cli_stays_preloaded)
{
    static struct run run;
    char config[1100];
    absolute(CONFIG, config, sizeof config);
    /* cdmplace run -> sh -> probe exec -> probe alloc: two execs below the CLI. */
    const char *argv[] = {"build/cdmplace", "run", "-c", config, "--report", "off", "--",
                          "sh", "-c", PROBE " exec " PROBE " alloc 9", NULL};
    spawn(&run, argv, NULL, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "placed=1\n");
}

Test(process, exit_paths_allocate_after_the_library_is_done)
{
    static struct run run;
    char library[2200], cwd[1024];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    snprintf(library, sizeof library, "LD_PRELOAD=%s %s/build/tests/liblate_fixture.so",
             library_path(), cwd);
    const char *argv[] = {PROBE, "exit", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", library, log_to("exit.%p"), NULL};
    spawn(&run, argv, env, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "placed=1\natexit placed=1\ndestructor ok\nlate placed=1\n"
                              "late small placed=0\nlate ok\nfinal destructor placed=0\n");
    static char all[65536];
    cr_assert_eq(traces("exit.", all, sizeof all), 1);
    cr_assert_eq(count(all, "\"ev\":\"exit\""), 1);
    cr_assert_eq(count(all, "\"ev\":\"free\""), 4, "every placed buffer freed, %s", all);
    assert_whole_lines(all);
}

Test(process, exit_while_threads_allocate)
{
    for (int i = 0; i < 5; i++) {
        static struct run run;
        const char *argv[] = {PROBE, "threads-exit", NULL};
        const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", NULL};
        spawn(&run, argv, env, true, 0);
        cr_assert_eq(run.status, 0, "run %d: %s", i, run.err);
        cr_assert_str_empty(run.err);
    }
}

Test(process, killed_process_leaves_whole_lines)
{
    static struct run run;
    const char *argv[] = {PROBE, "loop", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", log_to("killed.%p.jsonl"), NULL};
    spawn(&run, argv, env, true, 400);
    cr_assert_eq(run.status, 128 + SIGKILL);
    /* The whole file, however large the loop made it. */
    char command[800], path[700];
    snprintf(command, sizeof command, "ls %s/killed.*.jsonl", dir);
    FILE *ls = popen(command, "r");
    cr_assert(fgets(path, sizeof path, ls));
    pclose(ls);
    path[strcspn(path, "\n")] = '\0';
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    char *all = malloc((size_t)st.st_size + 1);
    read_file(path, all, (size_t)st.st_size + 1);
    cr_assert_eq(strlen(all), (size_t)st.st_size, "no hole (NUL bytes) in the file");
    cr_assert_gt(count(all, "\"ev\":\"place\""), 2, "the loop placed buffers before the kill");
    cr_assert_eq(count(all, "\"ev\":\"exit\""), 0);
    assert_whole_lines(all);
    free(all);
}

/* probe track-start under `allocator` (NULL: glibc's), preloaded behind the library or
 * `ahead` of it: the epochs collected while the program made no malloc-family call, and
 * after it made one. */
static void track_start(const char *allocator, bool ahead, unsigned *without_malloc,
                        unsigned *after_malloc)
{
    char cwd[1024], preload[2600];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    if (allocator)
        cr_assert_eq(access(allocator, R_OK), 0, "%s is missing (make deps installs it)",
                     allocator);
    if (allocator && ahead)
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s %s", allocator, library_path());
    else
        snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", library_path(),
                 allocator ? " " : "", allocator ? allocator : "");
    const char *argv[] = {"build/tests/probe", "track-start", NULL};
    const char *env[] = {preload, "CDMPLACE_CONFIG=tests/process-track.conf",
                         "CDMPLACE_REPORT=off", NULL};
    struct run run;
    spawn(&run, argv, env, false, 0);
    cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
    if (strstr(run.err, "no access tracker is allowed here"))
        cr_skip_test("no access tracker is allowed here: %s", run.err);
    int tracked;
    cr_assert_eq(sscanf(run.out, "tracked=%d epochs-without-malloc=%u epochs-after-malloc=%u",
                        &tracked, without_malloc, after_malloc), 3, "%s", run.out);
    cr_assert_eq(tracked, 1, "%s", run.out);
}

/* The tracker's threads start with the first tracked buffer. Under glibc's malloc the hook
 * that placed it starts them. Under an allocator that calls mmap with its own lock held
 * (jemalloc), pthread_create's calloc could wait on that lock from inside the hook: they
 * start at the program's next malloc-family call instead, and not before it. An allocator
 * ahead of the library in the global scope takes those calls itself: then the threads start
 * in the constructor. */
/* A program that registers its own userfaultfd over a tracked buffer (a range takes one):
 * its registration succeeds, the data stays, the buffer leaves tracking, one message. */
Test(process, own_userfaultfd_takes_the_buffer_from_tracking)
{
    static struct run run;
    const char *argv[] = {PROBE, "own-userfaultfd", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=tests/process-track.conf", "CDMPLACE_REPORT=off", NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
    if (strstr(run.out, "userfaultfd: "))
        cr_skip_test("no userfaultfd for the program itself here: %s", run.out);
    if (strstr(run.err, "no access tracker is allowed here"))
        cr_skip_test("no access tracker is allowed here: %s", run.err);
    cr_assert_str_eq(run.out, "register=0 intact=1 tracked=0\n", "%s", run.err);
    cr_assert_eq(count(run.err, "registers a userfaultfd of its own over a tracked buffer"), 1,
                 "%s", run.err);
}

/* A program updating 512 MiB at random writes every page each epoch at full speed; a
 * tracker that protects each page it saw written takes a fault per page an epoch (some
 * 600,000 a second here), the program then writes only a part of each span an epoch, and
 * the tracker never stops protecting them whole. Once such spans count whole, the faults
 * of the last two seconds (of four) stay far below that, under a follow-cpu rule and in a
 * profiling run (the default config: no rule, every buffer tracked). */
/* The probe run with `config` (NULL: none, the built-in profiling default), its trace to
 * `log` in the directory (NULL: none), to its end; skipped where no tracker is allowed or
 * the default is not built in. */
static void run_tracked_probe(struct run *run, const char *config, const char *const *argv,
                              const char *log)
{
    char setting[256];
    snprintf(setting, sizeof setting, "CDMPLACE_CONFIG=%s", config ? config : "");
    const char *env[] = {"CDMPLACE_REPORT=off", log ? log_to(log) : NULL, NULL, NULL};
    env[log ? 2 : 1] = config ? setting : NULL;
    if (!config && access("/etc/cdmplace.conf", F_OK) == 0)
        cr_skip_test("/etc/cdmplace.conf exists: the built-in default is not what runs here");
    spawn(run, argv, env, true, 0);
    cr_assert_eq(run->status, 0, "%s%s", run->out, run->err);
    if (strstr(run->err, "no access tracker is allowed here"))
        cr_skip_test("no access tracker is allowed here: %s", run->err);
}

static void random_writes_not_held_back(const char *config)
{
    static struct run run;
    const char *argv[] = {PROBE, "random-writes", "512", "4", NULL};
    run_tracked_probe(&run, config, argv, NULL);
    long faults[4];
    int tracked;
    cr_assert_eq(sscanf(run.out, "tracked=%d faults %ld %ld %ld %ld", &tracked, &faults[0],
                        &faults[1], &faults[2], &faults[3]), 5, "%s%s", run.out, run.err);
    cr_assert_eq(tracked, config != NULL, "a rule's buffer is tracked (%s)", run.out);
    for (int s = 2; s < 4; s++)
        cr_assert_lt(faults[s], 50000, "second %d: %ld faults (%s)", s + 1, faults[s], run.out);
}

/* PROBE's argv under `config` (NULL: the profiling default) with CDMPLACE_DEBUG=1, whose
 * lines say what wp-async measured; skipped where wp-async is not the tracker. */
static void run_wp_async_probe(struct run *run, const char *config, const char *const *argv)
{
    const char *env[] = {"CDMPLACE_REPORT=off", "CDMPLACE_DEBUG=1", config, NULL};
    if (!config && access("/etc/cdmplace.conf", F_OK) == 0)
        cr_skip_test("/etc/cdmplace.conf exists: the built-in default is not what runs here");
    spawn(run, argv, env, true, 0);
    cr_assert_eq(run->status, 0, "%s%s", run->out, run->err);
    if (strstr(run->err, "no access tracker is allowed here") ||
        strstr(run->err, "tracking with wp"))
        cr_skip_test("no wp-async tracker here: %s", run->err);
}

/* The fault budget is 2% of a CPU at what a write-protect fault was measured to cost here,
 * between 1,000 and 20,000 a second (doc/design.md, "What tracking may cost"); the debug
 * line says both. Once the random writer's spans count whole, its faults stay near it. */
Test(process, fault_budget_is_a_share_of_a_cpu_at_the_measured_fault_cost)
{
    static struct run run;
    const char *argv[] = {PROBE, "random-writes", "512", "4", NULL};
    run_wp_async_probe(&run, "CDMPLACE_CONFIG=tests/process-track.conf", argv);
    const char *line = strstr(run.err, "wp-async: a write-protect fault costs ");
    unsigned long long fault_ns, budget;
    cr_assert(line && sscanf(line, "wp-async: a write-protect fault costs %llu ns here: a budget "
                                   "of %llu faults a second", &fault_ns, &budget) == 2,
              "no measured fault cost in the debug lines: %s", run.err);
    cr_assert_gt(fault_ns, 0, "the cost was not measured: %s", line);
    unsigned long long share = 20000000ull / fault_ns;
    cr_assert_eq(budget, share > 20000 ? 20000 : share < 1000 ? 1000 : share,
                 "%llu ns a fault gives %llu faults a second: %s", fault_ns, budget, line);
    long faults[4];
    cr_assert_eq(sscanf(run.out, "tracked=1 faults %ld %ld %ld %ld", &faults[0], &faults[1],
                        &faults[2], &faults[3]), 4, "%s%s", run.out, run.err);
    cr_assert_lt(faults[3], 4 * (long)budget, "second 4: %ld faults over a budget of %llu (%s)",
                 faults[3], budget, run.out);
}

/* Under wp-async, protecting a range marked its empty entries too (WP_ASYNC implies
 * WP_UNPOPULATED): a page made there later was made protected, and the write making it took
 * a second fault (doc/design.md, "What tracking may cost"). Every other page of 64 MiB is
 * written, the tracker protects them over 0.5 s (five epochs; spans written here and there
 * are protected whole), then the pages between are made: one fault a page (two before). */
static void pages_made_late_fault_once(const char *config)
{
    static struct run run;
    const char *argv[] = {PROBE, "make-late", "64", "500", NULL};
    run_wp_async_probe(&run, config, argv);
    cr_assert(strstr(run.err, "wp-async: a write-protect fault costs "),
              "wp-async did not collect while the program waited: %s", run.err);
    long made, faults;
    int tracked;
    cr_assert_eq(sscanf(run.out, "tracked=%d made %ld faults %ld", &tracked, &made, &faults), 3,
                 "%s%s", run.out, run.err);
    cr_assert_eq(tracked, config != NULL, "a rule's buffer is tracked (%s)", run.out);
    cr_assert_lt(faults, made + made / 4, "%ld pages made took %ld faults", made, faults);
}

Test(process, pages_made_in_a_protected_range_fault_once_under_follow_cpu)
{
    pages_made_late_fault_once("CDMPLACE_CONFIG=tests/process-track.conf");
}

Test(process, pages_made_in_a_protected_range_fault_once_in_a_profile)
{
    pages_made_late_fault_once(NULL);
}

Test(process, random_writes_are_not_held_back_by_faults_under_follow_cpu)
{
    random_writes_not_held_back("tests/process-track.conf");
}

Test(process, random_writes_are_not_held_back_by_faults_in_a_profile)
{
    random_writes_not_held_back(NULL);
}

/* A loop streaming through 64 MiB (16,384 pages). Filled over 0.4 s (four epochs, twice
 * `idle`), its first pass after the fill took a write-protect fault on every page (the fill's spans
 * were protected whole the epoch after it), and a loop taking longer than `idle` over its
 * buffer (a profile's is one epoch) found them protected whole again at every pass, a fault
 * a page each time. Now a span just filled is watched through one page, as one in use is,
 * for longer than the fill, and over the fault budget so are spans in use: the slow loop's
 * second pass still faults on its pages (its spans' probes expired after `idle`), which puts
 * it over the budget, and from its fourth on it must not. */
static void stream_passes(const char *config, const char *mib, const char *fill_ms,
                          const char *pass_ms, int from_pass, const char *log)
{
    static struct run run;
    const char *argv[] = {PROBE, "stream", mib, fill_ms, "6", pass_ms, NULL};
    long pages = atol(mib) * 256;
    run_tracked_probe(&run, config, argv, log);
    long faults[6];
    int tracked;
    cr_assert_eq(sscanf(run.out, "tracked=%d faults %ld %ld %ld %ld %ld %ld", &tracked,
                        &faults[0], &faults[1], &faults[2], &faults[3], &faults[4], &faults[5]),
                 7, "%s%s", run.out, run.err);
    cr_assert_eq(tracked, config != NULL, "a rule's buffer is tracked (%s)", run.out);
    for (int p = from_pass; p < 6; p++)
        cr_assert_lt(faults[p], pages / 8, "pass %d: %ld faults (%s)", p + 1, faults[p], run.out);
}

Test(process, first_pass_after_a_slow_fill_faults_once_a_span_under_follow_cpu)
{
    stream_passes("tests/process-track.conf", "64", "400", "0", 0, NULL);
}

Test(process, first_pass_after_a_slow_fill_faults_once_a_span_in_a_profile)
{
    stream_passes(NULL, "64", "400", "0", 0, NULL);
}

/* A fill of 3 s (30 epochs) outlasts a made span's 10 epochs of probe: counted from each
 * span's own making, the spans filled first were protected whole by the fill's end, and the
 * first pass took 12,292 faults of 16,384 pages. Counted from the range's last making, their
 * probes are still there. */
Test(process, first_pass_after_a_fill_longer_than_a_probe_faults_once_a_span_under_follow_cpu)
{
    stream_passes("tests/process-track.conf", "64", "3000", "0", 0, NULL);
}

Test(process, first_pass_after_a_fill_longer_than_a_probe_faults_once_a_span_in_a_profile)
{
    stream_passes(NULL, "64", "3000", "0", 0, NULL);
}

Test(process, loop_slower_than_idle_is_not_held_back_under_follow_cpu)
{
    stream_passes("tests/process-track.conf", "64", "0", "400", 3, NULL);
}

Test(process, loop_slower_than_idle_is_not_held_back_in_a_profile)
{
    stream_passes(NULL, "64", "0", "400", 3, NULL);
}

/* A buffer over 1 GiB (1,100 MiB, 550 huge pages) is watched in spans of two huge pages, so
 * that the tracker's state for it is a byte a page and 4 KiB at most (before: 8 bytes a huge
 * page, 4,408 bytes beside the pages' 281,600); and those spans are watched as smaller ones
 * are: a pass over it faults once a span, not once a page, once the loop has settled. Not
 * the first passes after the fill: a fill's spans keep their probe 10 epochs, and the first
 * touch of 1.1 GB can take longer (its first pass then faults on every page, as a smaller
 * buffer's would). Where a fault costs 8 us (a host of 2026-12-07) that pass takes some 3 s,
 * longer than a probe lives over the fault budget at first, and the library lengthens it as
 * the faults go on (track_wp_async.c, `probe_epochs`): at load 3 the second and third passes
 * took 37,000-112,000 faults, the fourth 6,000-18,000, the fifth and sixth 0-2,800. Before,
 * there every pass faulted on every page (281,600). */
Test(process, buffer_over_a_gib_takes_a_byte_a_page_and_faults_once_a_span, .timeout = 120)
{
    stream_passes("tests/process-track.conf", "1100", "400", "0", 4, "big.%p");
    static char trace[1 << 20];
    cr_assert_eq(traces("big.", trace, sizeof trace), 1);
    const char *exit_event = strstr(trace, "\"ev\":\"exit\"");
    const char *field = exit_event ? strstr(exit_event, "\"track_bytes\":") : NULL;
    cr_assert_not_null(field, "an exit event with track_bytes: %.300s", trace);
    long bytes = atol(field + strlen("\"track_bytes\":"));
    cr_assert_gt(bytes, 1100l * 256, "the buffer was tracked: %ld bytes", bytes);
    cr_assert_leq(bytes, 1100l * 256 + 4096, "%ld bytes for 281,600 pages", bytes);
}

/* A tracked buffer in huge pages, written over and over for 2 s (20 epochs): it keeps its
 * huge pages (wp-async splits one at the first write to it after protecting it; the buffer
 * was then all on 4 KiB pages within the first second). */
static void huge_pages_kept(const char *config, const char *from)
{
    static struct run run;
    const char *argv[] = {PROBE, "huge-writes", "64", "2", from, NULL};
    run_tracked_probe(&run, config, argv, NULL);
    int tracked;
    long filled, end;
    cr_assert_eq(sscanf(run.out, "tracked=%d huge-filled=%ld huge-end=%ld", &tracked, &filled,
                        &end), 3, "%s%s", run.out, run.err);
    if (filled <= 0)
        cr_skip_test("no transparent huge pages here (THP never?): %s", run.out);
    cr_assert_eq(tracked, config != NULL, "a rule's buffer is tracked (%s)", run.out);
    cr_assert_geq(end * 100, filled * 95, "huge pages kept: %s", run.out);
}

Test(process, huge_pages_stay_huge_under_follow_cpu)
{
    huge_pages_kept("tests/process-track.conf", "mmap");
}

/* A placed heap buffer starts on a page: its blocks are not its spans. */
Test(process, huge_pages_of_a_heap_buffer_stay_huge_under_follow_cpu)
{
    huge_pages_kept("tests/process-track.conf", "heap");
}

Test(process, huge_pages_stay_huge_in_a_profile)
{
    huge_pages_kept(NULL, "mmap");
}

Test(process, tracker_threads_start_at_once_under_glibc)
{
    unsigned without, after;
    track_start(NULL, false, &without, &after);
    cr_assert_geq(without, 2, "1 s of 100 ms epochs, started by the mmap hook: %u", without);
}

Test(process, tracker_threads_wait_for_a_malloc_under_jemalloc)
{
    const char *jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
    unsigned without, after;
    track_start(jemalloc, false, &without, &after);
    cr_assert_eq(without, 0, "no thread may start inside the mmap hook: %u epochs", without);
    cr_assert_geq(after, 2, "1 s of 100 ms epochs after a malloc: %u", after);
}

Test(process, tracker_threads_start_at_start_under_an_allocator_ahead)
{
    const char *mimalloc = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2";
    unsigned without, after;
    track_start(mimalloc, true, &without, &after);
    cr_assert_geq(without, 2, "1 s of 100 ms epochs, started by the constructor: %u", without);
}

Test(process, report_to_a_file_and_off)
{
    static struct run run;
    char report_env[640], report_path[600], report[8192];
    snprintf(report_path, sizeof report_path, "%s/report.txt", dir);
    snprintf(report_env, sizeof report_env, "CDMPLACE_REPORT=%s", report_path);
    const char *argv[] = {PROBE, "alloc", "12", NULL};
    const char *to_file[] = {"CDMPLACE_CONFIG=" CONFIG, report_env, NULL};
    spawn(&run, argv, to_file, true, 0);
    cr_assert_eq(run.status, 0);
    cr_assert_str_empty(run.err, "the report went to the file");
    read_file(report_path, report, sizeof report);
    cr_assert(strstr(report, "cdmplace: report for probe"), "%s", report);
    cr_assert(strstr(report, "cdmplace: big "), "a row for the rule: %s", report);
    cr_assert(strstr(report, "12.0M"), "its bytes: %s", report);
    cr_assert(strstr(report, "probe:alloc_and_report"), "the call site: %s", report);

    const char *to_stderr[] = {"CDMPLACE_CONFIG=" CONFIG, NULL};
    spawn(&run, argv, to_stderr, true, 0);
    cr_assert(strstr(run.err, "cdmplace: big "), "report = stderr by default: %s", run.err);

    const char *off[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", NULL};
    spawn(&run, argv, off, true, 0);
    cr_assert_str_empty(run.err);
    cr_assert_str_eq(run.out, "placed=1\n");
}

Test(process, dry_run_decides_and_applies_nothing)
{
    static struct run run;
    const char *argv[] = {PROBE, "alloc", "9", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", "CDMPLACE_DRY_RUN=1",
                         log_to("dry.jsonl"), NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_str_eq(run.out, "placed=0\n");
    static char all[65536];
    traces("dry.", all, sizeof all);
    cr_assert(strstr(all, "\"dry_run\":true"));
    cr_assert_eq(count(all, "\"rule\":\"big\",\"policy\""), 1); /* one place event */
    cr_assert_eq(count(all, "\"result\":\"dry-run\""), 1);
    if (strstr(all, "\"tracker\":\"off\""))
        cr_skip_test("no tracker allowed here: a dry run cannot watch its buffer");
    cr_assert_eq(count(all, "\"ev\":\"access\""), 1, "a profiling run: watched, %s", all);
}

/* ---------------------------------------------------------------- profiling and suggest */

/* The number after "key": in a trace line, or -1. */
static long long number_in(const char *line, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", key);
    const char *at = strstr(line, quoted);
    return at ? strtoll(at + strlen(quoted), NULL, 10) : -1;
}

/* The string after "key": in a trace line, into buf ("" when absent). */
static char *string_in(const char *line, const char *key, char *buf, size_t size)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":\"", key);
    const char *at = strstr(line, quoted);
    buf[0] = '\0';
    if (at)
        snprintf(buf, size, "%.*s", (int)strcspn(at + strlen(quoted), "\""), at + strlen(quoted));
    return buf;
}

struct use {
    long long pages, epochs, page_epochs, touched;
};

/* The access event of the buffer that `function` allocated, from its place event's address. */
static bool use_of(const char *trace, const char *function, struct use *use)
{
    char address[32] = "", text[512], suffix[128], line[4096];
    snprintf(suffix, sizeof suffix, ":%s", function);
    for (const char *at = trace; *at; at += strcspn(at, "\n") + (at[strcspn(at, "\n")] != 0)) {
        snprintf(line, sizeof line, "%.*s", (int)strcspn(at, "\n"), at);
        string_in(line, "caller", text, sizeof text);
        if (strstr(line, "\"ev\":\"place\"") && strlen(text) > strlen(suffix) &&
            !strcmp(text + strlen(text) - strlen(suffix), suffix))
            string_in(line, "addr", address, sizeof address);
        if (address[0] && strstr(line, "\"ev\":\"access\"") &&
            !strcmp(string_in(line, "addr", text, sizeof text), address)) {
            *use = (struct use){number_in(line, "pages"), number_in(line, "epochs"),
                                number_in(line, "page_epochs"), number_in(line, "touched")};
            return true;
        }
    }
    return false;
}

/* A run of the built-in default watches each large buffer and says how much it was used:
 * examples/hot_cold.c fills a table once and rewrites a scratch buffer for 1.5 s. */
static void profile_hot_cold(struct run *run, char *trace, size_t size)
{
    if (access("/etc/cdmplace.conf", F_OK) == 0)
        cr_skip_test("/etc/cdmplace.conf exists: the built-in default is not what runs here");
    const char *argv[] = {"build/examples/hot_cold", "8", "1.5", NULL};
    const char *env[] = {"CDMPLACE_REPORT=off", log_to("profile.jsonl"), NULL};
    spawn(run, argv, env, true, 0);
    cr_assert_eq(run->status, 0, "%s", run->err);
    cr_assert(strstr(run->out, "data intact: yes"), "%s", run->out);
    cr_assert_eq(traces("profile.", trace, size), 1);
    if (strstr(trace, "\"tracker\":\"off\""))
        cr_skip_test("no access tracker is allowed here: %s", run->err);
}

Test(process, profiling_run_records_how_much_each_buffer_was_used)
{
    static struct run run;
    static char trace[65536];
    profile_hot_cold(&run, trace, sizeof trace);
    cr_assert_str_empty(run.err, "nothing said");
    cr_assert_eq(count(trace, "\"ev\":\"access\""), 2, "%s", trace);
    cr_assert_eq(count(trace, "\"ev\":\"migrate\""), 0, "nothing moved");
    struct use table, scratch;
    cr_assert(use_of(trace, "load_table", &table), "%s", trace);
    cr_assert(use_of(trace, "alloc_scratch", &scratch), "%s", trace);
    const struct use *both[] = {&table, &scratch};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(both[i]->pages, 2048, "8 MiB of 4 KiB pages");
        cr_assert_geq(both[i]->epochs, 5, "1.5 s of 100 ms epochs: %lld", both[i]->epochs);
        cr_assert_eq(both[i]->touched, 2048, "every page written at least once");
        cr_assert_leq(both[i]->page_epochs, both[i]->pages * both[i]->epochs);
    }
    cr_assert_lt(table.page_epochs * 10, table.pages * table.epochs,
                 "the table, filled once, is cold: %lld page-epochs", table.page_epochs);
    cr_assert_gt(scratch.page_epochs * 2, scratch.pages * scratch.epochs,
                 "the scratch buffer, rewritten all along, is hot: %lld page-epochs of %lld",
                 scratch.page_epochs, scratch.pages * scratch.epochs);
}

Test(process, suggest_from_a_profiling_run_passes_check)
{
    static struct run run;
    static char trace[65536];
    profile_hot_cold(&run, trace, sizeof trace);
    char log[600], config[600];
    snprintf(log, sizeof log, "%s/profile.jsonl", dir);
    const char *suggest[] = {"build/cdmplace", "suggest", log, NULL};
    spawn(&run, suggest, NULL, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert(strstr(run.out, "[rule load_table]\ncaller = *hot_cold:load_table\n"
                              "size   = 8M-8M\npolicy = bind cdm\n"), "the cold one: %s", run.out);
    cr_assert(strstr(run.out, "[rule alloc_scratch]\ncaller = *hot_cold:alloc_scratch\n"
                              "size   = 8M-8M\npolicy = bind dram\n"), "the hot one: %s", run.out);
    cr_assert(strstr(run.out, "# hot_cold:load_table: 1 buffer, 8M, in 1 process; use 0.0"),
              "its figures: %s", run.out);
    cr_assert(strstr(run.out, "\n[settings]\nmin_size = 1M\n"), "%s", run.out);
    cr_assert(strstr(run.out, "profile.jsonl (written "), "the header names the trace: %s", run.out);
    snprintf(config, sizeof config, "%s/job.conf", dir);
    FILE *file = fopen(config, "w");
    fputs(run.out, file);
    fclose(file);
    const char *check[] = {"build/cdmplace", "check", config, NULL};
    spawn(&run, check, NULL, false, 0);
    cr_assert_eq(run.status, 0, "the suggestion is a valid config: %s", run.err);
}

static void write_config(const char *name, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *file = fopen(path, "w");
    fputs(text, file);
    fclose(file);
}

/* A rule's row of a report: allocs, to-dram, to-cdm, faults, fallbacks, failed. `lead` is
 * what comes before the rule's name on its line. */
static bool rule_row(const char *text, const char *lead, const char *rule,
                     unsigned long long figures[6])
{
    char start[128];
    snprintf(start, sizeof start, "%s%s ", lead, rule);
    for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, start, strlen(start)))
            continue;
        char bytes[32], peak[32];
        unsigned long long allocs;
        return sscanf(line + strlen(start), "%llu %31s %31s %llu %llu %llu %llu %llu", &allocs,
                      bytes, peak, &figures[1], &figures[2], &figures[3], &figures[4],
                      &figures[5]) == 8 &&
               (figures[0] = allocs, true);
    }
    return false;
}

/* The end-of-run report and `cdmplace report` of the run's trace give the rule the same
 * figures. */
static void assert_reports_agree(const char *name, const char *config_text, const char *rule,
                                 int failed)
{
    static struct run run;
    char config[600], report[600], trace[600], env_config[700], env_report[700], env_log[700];
    write_config(name, config_text, config, sizeof config);
    snprintf(report, sizeof report, "%s/%s.report", dir, name);
    snprintf(trace, sizeof trace, "%s/%s.jsonl", dir, name);
    snprintf(env_config, sizeof env_config, "CDMPLACE_CONFIG=%s", config);
    snprintf(env_report, sizeof env_report, "CDMPLACE_REPORT=%s", report);
    snprintf(env_log, sizeof env_log, "CDMPLACE_LOG=%s", trace);
    const char *argv[] = {PROBE, "alloc", "9", NULL};
    const char *env[] = {env_config, env_report, env_log, NULL};
    spawn(&run, argv, env, true, 0);
    static char at_exit[8192];
    read_file(report, at_exit, sizeof at_exit);
    const char *cli[] = {"build/cdmplace", "report", trace, NULL};
    spawn(&run, cli, NULL, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    unsigned long long exit_row[6], cli_row[6];
    cr_assert(rule_row(at_exit, "cdmplace: ", rule, exit_row), "no row for %s: %s", rule, at_exit);
    cr_assert(rule_row(run.out, "  ", rule, cli_row), "no row for %s: %s", rule, run.out);
    static const char *const columns[] = {"allocs", "to-dram", "to-cdm", "faults", "fallbacks",
                                          "failed"};
    for (int k = 0; k < 6; k++)
        cr_assert_eq(exit_row[k], cli_row[k], "%s: %s %llu at exit, %llu in the CLI\n%s\n%s",
                     name, columns[k], exit_row[k], cli_row[k], at_exit, run.out);
    cr_assert_eq(exit_row[5], (unsigned long long)failed, "%s: failed %llu, not %d", name,
                 exit_row[5], failed);
}

Test(process, end_of_run_report_and_cli_agree)
{
    /* No CDM node here: the policy is not applied (no-node). */
    assert_reports_agree("nocdm.conf", "[rule far]\nsize = 1M-\npolicy = bind cdm\n", "far", 1);
    /* The budget refuses it and the program gets ENOMEM (full). */
    assert_reports_agree("full.conf", "[rule small]\nsize = 1M-\npolicy = bind 0\nbudget = 1M\n"
                                      "on_full = fail\n", "small", 1);
    /* The budget spills it (fallback). */
    assert_reports_agree("spill.conf", "[rule small]\nsize = 1M-\npolicy = bind 0\nbudget = 1M\n",
                         "small", 0);
}

/* Freed buffers kept for reuse are told: three 9 MiB buffers one after the other, the first
 * mapped and each freed kept, the next two served from it. The end-of-run report, the trace's
 * events and `cdmplace report` say so alike. */
Test(process, kept_buffers_are_in_the_report_and_the_trace)
{
    static struct run run;
    char report[600], trace[600], env_report[700], env_log[700];
    snprintf(report, sizeof report, "%s/kept.report", dir);
    snprintf(trace, sizeof trace, "%s/kept.jsonl", dir);
    snprintf(env_report, sizeof env_report, "CDMPLACE_REPORT=%s", report);
    snprintf(env_log, sizeof env_log, "CDMPLACE_LOG=%s", trace);
    const char *argv[] = {PROBE, "again", "9", "3", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, env_report, env_log, NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_str_eq(run.out, "placed=1\nplaced=1\nplaced=1\n");
    static char at_exit[8192], events[65536];
    read_file(report, at_exit, sizeof at_exit);
    cr_assert(strstr(at_exit, "cdmplace: freed buffers kept for reuse: 3, 2 allocations served "
                              "from them, 9.0M still kept at exit\n"), "%s", at_exit);
    read_file(trace, events, sizeof events);
    cr_assert_eq(count(events, "\"ev\":\"free\""), 3, "%s", events);
    cr_assert_eq(count(events, "\"kept\":true"), 3, "%s", events);
    cr_assert_eq(count(events, "\"reused\":true"), 2, "%s", events);
    cr_assert(strstr(events, "\"kept_bytes\":9437184"), "%s", events);
    const char *cli[] = {"build/cdmplace", "report", trace, NULL};
    spawn(&run, cli, NULL, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert(strstr(run.out, "freed buffers kept for reuse: 3, 2 allocations served from them, "
                              "9M still kept at exit\n"), "%s", run.out);
}

/* ---------------------------------------------------------------- in a container */

#define SECCOMP_LAUNCH "build/tests/seccomp_launch"

/* Skips unless tests/seccomp_launch.c's `profile` refuses what it says here: the probe's
 * NUMA and userfaultfd calls under it print `expected`. */
static void require_filter(const char *profile, const char *expected)
{
    static struct run run;
    const char *argv[] = {SECCOMP_LAUNCH, profile, PROBE, "numa-calls", NULL};
    spawn(&run, argv, NULL, false, 0);
    if (run.status == 125)
        cr_skip_test("no seccomp filter here: %s", run.err);
    cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
    cr_assert(strstr(run.out, expected), "under %s: %s", profile, run.out);
}

/* Docker's default seccomp profile without CAP_SYS_NICE: every mbind is refused (EPERM).
 * The program runs as it does without the library; one message names the cause and the fix,
 * the trace records the refusal once and no buffer as an error, and both reports count the
 * buffers left unplaced. */
Test(process, container_refusing_mbind_runs_the_program_unplaced_with_one_message)
{
    static struct run plain, run;
    require_filter("docker", "mbind=EPERM");
    const char *probe[] = {PROBE, "sum", "6", "9", NULL};
    spawn(&plain, probe, NULL, false, 0);
    cr_assert_eq(plain.status, 0, "%s", plain.err);

    char report_path[600], report_env[640], trace_path[600];
    snprintf(report_path, sizeof report_path, "%s/refused.report", dir);
    snprintf(report_env, sizeof report_env, "CDMPLACE_REPORT=%s", report_path);
    snprintf(trace_path, sizeof trace_path, "%s/refused.jsonl", dir);
    const char *argv[] = {SECCOMP_LAUNCH, "docker", PROBE, "sum", "6", "9", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, report_env, log_to("refused.jsonl"), NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, plain.status);
    cr_assert_str_eq(run.out, plain.out, "the program's output is unchanged");
    cr_assert_eq(count(run.err, "cdmplace: "), 1, "one message: %s", run.err);
    cr_assert(strstr(run.err, "seccomp") && strstr(run.err, "CAP_SYS_NICE") &&
                  strstr(run.err, "--cap-add SYS_NICE"),
              "the cause and the fix: %s", run.err);

    static char trace[65536], report[8192];
    read_file(trace_path, trace, sizeof trace);
    assert_whole_lines(trace);
    cr_assert_eq(count(trace, "\"ev\":\"place\""), 6, "every buffer recorded: %s", trace);
    cr_assert_eq(count(trace, "\"result\":\"not-permitted\""), 6, "%s", trace);
    cr_assert_leq(count(trace, "\"result\":\"error\""), 1, "no stream of errors: %s", trace);
    cr_assert_eq(count(trace, "\"ev\":\"error\""), 1, "the cause, once: %s", trace);
    read_file(report_path, report, sizeof report);
    cr_assert(strstr(report, "cdmplace: not placed: 6 buffers, 54.0M") &&
                  strstr(report, "CAP_SYS_NICE"),
              "the report says what was not placed and why: %s", report);

    const char *cli[] = {"build/cdmplace", "report", "--json", trace_path, NULL};
    spawn(&run, cli, NULL, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_eq(count(run.out, "\"messages\":[\"mbind is not permitted here"), 1, "%s", run.out);
    cr_assert_eq(count(run.out, "\"failed\":6,"), 1, "counted as failed: %s", run.out);
}

/* A profile that lets mbind and userfaultfd through and refuses move_pages, as Docker's does
 * for everyone: the tracker runs, the first refused move stops migration with one message,
 * not one refused call an epoch. */
Test(process, container_refusing_move_pages_stops_migrating_with_one_message)
{
    static struct run run;
    require_filter("no-moves", "mbind=0 set_mempolicy=0 get_mempolicy=0 move_pages=EPERM");
    char report_path[600], report_env[640], trace_path[600];
    snprintf(report_path, sizeof report_path, "%s/unmoved.report", dir);
    snprintf(report_env, sizeof report_env, "CDMPLACE_REPORT=%s", report_path);
    snprintf(trace_path, sizeof trace_path, "%s/unmoved.jsonl", dir);
    const char *argv[] = {SECCOMP_LAUNCH, "no-moves", PROBE, "random-writes", "64", "2", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=tests/process-track.conf", report_env,
                         log_to("unmoved.jsonl"), NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
    if (strstr(run.err, "no access tracker is allowed here") || strstr(run.err, "could not start"))
        cr_skip_test("no access tracker runs here: %s", run.err);
    cr_assert(!strncmp(run.out, "tracked=1 ", 10), "%s", run.out);
    /* Besides the note an older kernel gives on the tracker `auto` fell back to. */
    cr_assert_eq(count(run.err, "cdmplace: ") - count(run.err, "cdmplace: track = "), 1,
                 "one message: %s", run.err);
    cr_assert(strstr(run.err, "move_pages is not permitted here (EPERM)") &&
                  strstr(run.err, "seccomp"),
              "the cause and the fix: %s", run.err);

    static char trace[262144], report[8192];
    read_file(trace_path, trace, sizeof trace);
    cr_assert_eq(count(trace, "\"result\":\"applied\""), 1, "placed: %s", trace);
    cr_assert_leq(count(trace, "\"errno\":1,"), 1, "no stream of refused moves: %s", trace);
    cr_assert_eq(count(trace, "\"ev\":\"error\""), 1, "the cause, once: %s", trace);
    read_file(report_path, report, sizeof report);
    cr_assert(strstr(report, "cdmplace: not migrated: move_pages is not permitted here"),
              "the report says why nothing moved: %s", report);
}

/* A container whose seccomp profile refuses the userfaultfd system call, given the device
 * (docker run --device /dev/userfaultfd): the tracker opens its userfaultfd there, in user
 * mode as well. The probe found full userfaultfd through the device, picked wp-async, whose
 * user-mode descriptor then could not be opened ("the wp-async tracker could not start"). */
Test(process, container_given_dev_userfaultfd_tracks_through_it)
{
    static struct run run;
    require_filter("no-userfaultfd", "move_pages=0 userfaultfd=EPERM");
    if (access("/dev/userfaultfd", R_OK | W_OK) != 0)
        cr_skip_test("/dev/userfaultfd cannot be opened here: %s", strerror(errno));
    const char *argv[] = {SECCOMP_LAUNCH, "no-userfaultfd", PROBE, "track-start", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=tests/process-track.conf", "CDMPLACE_REPORT=off",
                         NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0, "%s%s", run.out, run.err);
    int tracked;
    unsigned epochs;
    cr_assert_eq(sscanf(run.out, "tracked=%d epochs-without-malloc=%u", &tracked, &epochs), 2,
                 "%s%s", run.out, run.err);
    cr_assert(tracked && epochs > 0, "the tracker ran: %s%s", run.out, run.err);
    cr_assert_eq(count(run.err, "cdmplace: ") - count(run.err, "cdmplace: track = "), 0,
                 "no message: %s", run.err);
}

/* A trace that cannot be written (a full disk, a path that cannot be created): the program
 * runs as it does without one, and one message names the cause. */
Test(process, unwritable_trace_leaves_the_program_running_with_one_message)
{
    static struct run run;
    static const struct {
        const char *log, *message;
    } cases[] = {
        {"CDMPLACE_LOG=/dev/full",
         "cdmplace: writing the trace to /dev/full failed (No space left on device): events from "
         "now on may be lost, and the program goes on"},
        {"CDMPLACE_LOG=/dev/null/trace.%p.jsonl",
         "cdmplace: cannot write the trace to /dev/null/trace."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {PROBE, "alloc", "9", NULL};
        const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", cases[i].log, NULL};
        spawn(&run, argv, env, true, 0);
        cr_assert_eq(run.status, 0, "%s: %s", cases[i].log, run.err);
        cr_assert_str_eq(run.out, "placed=1\n", "%s", cases[i].log);
        cr_assert_eq(count(run.err, cases[i].message), 1, "%s: %s", cases[i].log, run.err);
        cr_assert_eq(count(run.err, "cdmplace: "), 1, "one message: %s", run.err);
    }
}

Test(process, bad_config_runs_the_program_unplaced_with_one_message)
{
    static struct run run;
    char path[600], config_env[700 + 16];
    write_config("bad.conf", "[settings]\nmin_size = 1M\n\n[rule big]\nsize = 8M-\npolicy = bind\n",
                 path, sizeof path);
    snprintf(config_env, sizeof config_env, "CDMPLACE_CONFIG=%s", path);
    const char *argv[] = {PROBE, "alloc", "9", NULL};
    const char *env[] = {config_env, "CDMPLACE_REPORT=off", NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 0);
    cr_assert_str_eq(run.out, "placed=0\n", "unplaced");
    char where[700 + 16];
    snprintf(where, sizeof where, "cdmplace: %s:6: ", path);
    cr_assert(strstr(run.err, where), "names file and line: %s", run.err);
    cr_assert(strstr(run.err, "runs unplaced"), "%s", run.err);
}

Test(process, strict_bad_config_stops_the_program)
{
    static struct run run;
    char path[600], config_env[700 + 16];
    write_config("strict.conf", "[settings]\nstrict = true\nmin_size = 1Q\n", path, sizeof path);
    snprintf(config_env, sizeof config_env, "CDMPLACE_CONFIG=%s", path);
    const char *argv[] = {PROBE, "alloc", "9", NULL};
    const char *env[] = {config_env, NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_eq(run.status, 2);
    cr_assert_str_empty(run.out, "the program did not start");
    cr_assert(strstr(run.err, ":3: "), "%s", run.err);
}

Test(process, environment_overrides_the_file_and_templates_expand)
{
    static struct run run;
    char path[600], config_env[700], text[1400];
    snprintf(text, sizeof text, "[settings]\nlog = %s/from-file.jsonl\nreport = off\n\n"
                                "[rule big]\nsize = 8M-\npolicy = bind 0\n", dir);
    write_config("env.conf", text, path, sizeof path);
    snprintf(config_env, sizeof config_env, "CDMPLACE_CONFIG=%s", path);
    const char *argv[] = {PROBE, "alloc", "9", NULL};
    const char *env[] = {config_env, log_to("t.%j.%r.%e.%%.%p.jsonl"), "SLURM_JOB_ID=77",
                         "SLURM_PROCID=3", NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_str_eq(run.out, "placed=1\n");
    static char all[65536];
    cr_assert_eq(traces("from-file", all, sizeof all), 0, "CDMPLACE_LOG overrides log =");
    cr_assert_eq(traces("t.77.3.probe.%.", all, sizeof all), 1, "templates expand");
    cr_assert_eq(count(all, "\"ev\":\"place\""), 1);
}

/* Under secure execution (AT_SECURE: a setgid program, or one with file capabilities) the
 * library reads no CDMPLACE_ variable. `make_secure` (a shell command on "$f") turns a copy
 * of the linked probe into such a program, `undo` back; the same copy is then run without it as the control, which must read them
 * all, so that every check below can fail. */
static void secure_execution_reads_no_environment(const char *make_secure, const char *undo,
                                                  bool as_nobody)
{
    if (geteuid() != 0)
        cr_skip_test("making a setgid or capable program needs root");
    if (access("/etc/cdmplace.conf", F_OK) == 0)
        cr_skip_test("/etc/cdmplace.conf exists: the built-in default is not what runs here");
    static struct run run;
    char copy[600], command[2000];
    snprintf(copy, sizeof copy, "%s/secure_probe", dir);
    snprintf(command, sizeof command, "f=%s && cp build/tests/linked_probe \"$f\" && %s", copy,
             make_secure);
    cr_assert_eq(system(command), 0, "%s", command);
    /* File capabilities give root nothing it lacks: they make secure execution for a user. */
    const char *as_root[] = {copy, "secure-alloc", "9", NULL};
    const char *as_user[] = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             copy, "secure-alloc", "9", NULL};
    const char *const *argv = as_nobody ? as_user : as_root;
    if (as_nobody)
        cr_assert_eq(chmod(dir, 0777), 0, "the user writes its trace in %s", dir);
    const char *files[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", log_to("secure.jsonl"),
                           NULL};
    const char *modes[] = {"CDMPLACE_DRY_RUN=1", "CDMPLACE_DEBUG=3", NULL};
    static char all[4096];

    spawn(&run, argv, files, false, 0);
    cr_assert_eq(run.status, 0, "%s", run.err);
    if (!strncmp(run.out, "at_secure=0", 11))
        cr_skip_test("`%s` made no secure execution here (a nosuid mount?)", make_secure);
    cr_assert_str_eq(run.out, "at_secure=1\nplaced=0\n", "CDMPLACE_CONFIG was not read");
    cr_assert(strstr(run.err, "cdmplace: report for"), "CDMPLACE_REPORT=off was not read: %s",
              run.err);
    cr_assert(strstr(run.err, "config built-in"), "%s", run.err);
    cr_assert_eq(traces("secure.", all, sizeof all), 0, "CDMPLACE_LOG was not read");
    spawn(&run, argv, modes, false, 0);
    cr_assert_not(strstr(run.err, "dry run"), "CDMPLACE_DRY_RUN was not read: %s", run.err);
    cr_assert_not(strstr(run.err, "cdmplace: ready:"), "CDMPLACE_DEBUG was not read: %s", run.err);

    snprintf(command, sizeof command, "f=%s && %s", copy, undo);
    cr_assert_eq(system(command), 0, "%s", command);
    spawn(&run, argv, files, false, 0);
    cr_assert_str_eq(run.out, "at_secure=0\nplaced=1\n", "the program, no longer secure, reads them");
    cr_assert_not(strstr(run.err, "cdmplace: report for"), "%s", run.err);
    cr_assert_eq(traces("secure.", all, sizeof all), 1);
    spawn(&run, argv, modes, false, 0);
    cr_assert(strstr(run.err, "dry run"), "%s", run.err);
    cr_assert(strstr(run.err, "cdmplace: ready:"), "%s", run.err);
}

Test(process, setgid_program_reads_no_environment)
{
    secure_execution_reads_no_environment("chgrp nogroup \"$f\" && chmod g+s \"$f\"",
                                          "chmod g-s \"$f\"", false);
}

Test(process, capable_program_reads_no_environment)
{
    secure_execution_reads_no_environment("setcap cap_net_bind_service+ep \"$f\"",
                                          "setcap -r \"$f\"", true);
}

Test(process, children_of_the_run_keep_stderr_clean)
{
    static struct run run;
    char config[1100], log[1300];
    absolute(CONFIG, config, sizeof config);
    snprintf(log, sizeof log, "%s/child.%%p.jsonl", dir);
    /* sh is the program `run` starts; the probe is its child, whose stderr a parent could
     * be capturing as data: the report stays out of it and goes to the trace. */
    const char *argv[] = {"build/cdmplace", "run", "-c", config, "--log", log, "--",
                          "sh", "-c", PROBE " alloc 9", NULL};
    spawn(&run, argv, NULL, false, 0);
    cr_assert_eq(run.status, 0);
    cr_assert_str_eq(run.out, "placed=1\n");
    cr_assert_str_empty(run.err, "nothing of ours on a child's stderr: %s", run.err);
    static char all[65536];
    traces("child.", all, sizeof all);
    cr_assert_eq(count(all, "\"result\":\"applied\""), 1, "the child's placement is in its trace");

    const char *own[] = {"build/cdmplace", "run", "-c", config, "--", PROBE, "alloc", "9", NULL};
    spawn(&run, own, NULL, false, 0);
    cr_assert(strstr(run.err, "cdmplace: report for probe"), "the program run started reports: %s",
              run.err);
}

/* The probe run as `name` (a link to it in the test's directory), its trace named
 * `log`.jsonl: the trace's text in `all`. */
static void run_named(const char *name, const char *log, char *all, size_t size)
{
    static struct run run;
    char link[700], target[1200], log_name[64];
    absolute(PROBE, target, sizeof target);
    snprintf(link, sizeof link, "%s/%s", dir, name);
    cr_assert_eq(symlink(target, link), 0);
    snprintf(log_name, sizeof log_name, "%s.jsonl", log);
    const char *argv[] = {link, "alloc", "9", NULL};
    const char *env[] = {"CDMPLACE_CONFIG=" CONFIG, "CDMPLACE_REPORT=off", log_to(log_name), NULL};
    spawn(&run, argv, env, true, 0);
    cr_assert_str_eq(run.out, "placed=1\n");
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s.", log);
    cr_assert_eq(traces(prefix, all, size), 1);
}

Test(process, program_names_are_escaped_in_the_trace)
{
    static char all[65536];
    run_named("we\"ird\\prog", "odd", all, sizeof all);
    cr_assert(strstr(all, "\"program\":\"we\\\"ird\\\\prog\""), "%s", all);
}

/* Paths are bytes: a name that is not UTF-8 (a Latin-1 file name, a stray byte) leaves every
 * line valid JSON, and the CLI reads the trace back with the name. */
Test(process, program_names_not_utf8_leave_the_trace_valid)
{
    static struct run run;
    static char all[65536];
    char trace[700];
    /* Latin-1 "é", a stray continuation byte, UTF-8 "é", a cut sequence at the end. */
    run_named("caf\xe9-\x80-\xc3\xa9-\xe2\x82", "latin", all, sizeof all);
    cr_assert(strstr(all, "\"program\":\"caf\\u00e9-\\u0080-\xc3\xa9-\\u00e2\\u0082\""),
              "%s", all);
    snprintf(trace, sizeof trace, "%s/latin.jsonl", dir);
    const char *report[] = {"build/cdmplace", "report", trace, NULL};
    spawn(&run, report, NULL, false, 0);
    cr_assert_eq(run.status, 0, "the CLI refused the trace: %s", run.err);
    cr_assert(strstr(run.out, "caf\xc3\xa9-\xc2\x80-\xc3\xa9-\xc3\xa2\xc2\x82"),
              "the program's name, as read back: %s", run.out);
}
