/* SPDX-License-Identifier: MIT */
/* spank_cdmplace.so, a Slurm SPANK plugin (spank(8), Slurm 22.05): `srun --cdmplace=FILE`
 * preloads libcdmplace.so into every task of the step with FILE as its config and a trace per
 * task, DIR/cdmplace.JOB.STEP.RANK.jsonl, DIR being srun's working directory; with
 * `--cdmplace-report`, srun merges the step's traces into one report when the step is over.
 * Given to sbatch or salloc, the options are checked there and Slurm puts them in the job's
 * environment, where each srun of the job reads them as its own; the batch script (salloc's
 * command) is no step of tasks and runs without the library.
 *
 * What runs where:
 *   srun, sbatch, salloc,   `cdmplace check FILE`: a config the CLI refuses stops srun before
 *   option callback         it asks for an allocation (sbatch before it submits), with the
 *                           CLI's FILE:LINE message.
 *   srun, sbatch, salloc,   --cdmplace-report without --cdmplace is refused.
 *   init_post_opt
 *   srun, local_user_init   the first hook that knows the job and step ids: FILE's absolute
 *                           path and the trace template go into srun's environment, which srun
 *                           merges into the tasks' right after this hook. They are named
 *                           SLURM_CDMPLACE_* because srun passes SLURM_* variables even under
 *                           --export=NONE.
 *   slurmstepd, task_init   in each task (not the batch script), as its user, just before
 *                           exec: LD_PRELOAD, CDMPLACE_CONFIG and CDMPLACE_LOG (%j and %r,
 *                           which the library reads from SLURM_JOB_ID and SLURM_PROCID),
 *                           CDMPLACE_REPORT=off when the merged report replaces the per-task
 *                           ones.
 *   srun, exit              srun's atexit, after every task of the step has ended on every
 *                           node: `cdmplace report` over the traces, to
 *                           DIR/cdmplace.JOB.STEP.report.txt and srun's stderr, as the user.
 *
 * plugstack.conf:  required LIBDIR/slurm/spank_cdmplace.so [library=PATH] [cli=PATH]
 * (library= and cli= default to where `make install` put them). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <slurm/slurm.h>
#include <slurm/spank.h>

SPANK_PLUGIN(cdmplace, 1);

#ifndef CDM_LIBDIR
#define CDM_LIBDIR "/usr/local/lib"
#endif
#ifndef CDM_BINDIR
#define CDM_BINDIR "/usr/local/bin"
#endif

/* How srun hands the step's paths to the tasks (see above). */
#define CONFIG_VARIABLE "SLURM_CDMPLACE_CONFIG"
#define LOG_VARIABLE "SLURM_CDMPLACE_LOG"

static char library_path[PATH_MAX] = CDM_LIBDIR "/libcdmplace.so";
static char cli_path[PATH_MAX] = CDM_BINDIR "/cdmplace";

/* Set by the option callbacks, in srun and again in slurmstepd. */
static bool placing;
static bool report_wanted;
/* srun only: FILE's absolute path; the directory of the traces and their names' start. */
static char config_path[PATH_MAX];
static char trace_dir[PATH_MAX];
static char trace_prefix[64];

static int config_option(int val, const char *optarg, int remote);
static int report_option(int val, const char *optarg, int remote);

/* Registered by slurm_spank_init: sbatch and salloc see no spank_options table (spank(8)). */
static struct spank_option options[] = {
    {"cdmplace", "FILE",
     "Run every task under libcdmplace.so with config FILE (checked first, as `cdmplace check "
     "FILE`), one trace per task: cdmplace.JOB.STEP.RANK.jsonl in the working directory.",
     1, 0, config_option},
    {"cdmplace-report", NULL,
     "With --cdmplace: when the step is over, merge its traces into one report "
     "(cdmplace.JOB.STEP.report.txt, and stderr).",
     0, 0, report_option},
    SPANK_OPTIONS_TABLE_END,
};

/* plugstack.conf's arguments: library=PATH and cli=PATH. */
static int read_arguments(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        char *target = NULL;
        const char *value = NULL;
        if (!strncmp(argv[i], "library=", 8)) {
            target = library_path;
            value = argv[i] + 8;
        } else if (!strncmp(argv[i], "cli=", 4)) {
            target = cli_path;
            value = argv[i] + 4;
        }
        if (!target || !*value || strlen(value) >= PATH_MAX) {
            slurm_error("cdmplace: plugstack.conf: unknown argument '%s'; expected library=PATH "
                        "or cli=PATH",
                        argv[i]);
            return -1;
        }
        strcpy(target, value);
    }
    return 0;
}

int slurm_spank_init(spank_t spank, int argc, char **argv)
{
    if (read_arguments(argc, argv) != 0)
        return -1;
    spank_context_t context = spank_context();
    if (context != S_CTX_LOCAL && context != S_CTX_REMOTE && context != S_CTX_ALLOCATOR)
        return 0;
    for (struct spank_option *option = options; option->name; option++)
        if (spank_option_register(spank, option) != ESPANK_SUCCESS) {
            slurm_error("cdmplace: cannot register --%s", option->name);
            return -1;
        }
    return 0;
}

/* Runs the CLI with `arguments` (argv[0] included) and waits for it; its stdout goes to
 * `output` (a descriptor, or -1: /dev/null), its stderr to ours. Returns its exit status, or
 * -1 when it could not run (said). */
static int run_cli(char **arguments, int output)
{
    pid_t child = fork();
    if (child < 0) {
        slurm_error("cdmplace: fork: %s", strerror(errno));
        return -1;
    }
    if (child == 0) {
        int target = output >= 0 ? output : open("/dev/null", O_WRONLY);
        if (target < 0 || dup2(target, STDOUT_FILENO) < 0)
            _exit(126);
        execv(cli_path, arguments);
        /* 127 tells the parent that exec failed; errno is lost with the child. */
        fprintf(stderr, "cdmplace: cannot run %s: %s (cli=PATH in plugstack.conf)\n", cli_path,
                strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) {
            slurm_error("cdmplace: waitpid: %s", strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 127)
        return -1;
    return WEXITSTATUS(status);
}

/* --cdmplace=FILE. In srun the CLI checks FILE, so that a refused config ends srun here, before
 * any allocation, its FILE:LINE message on srun's stderr; slurmstepd takes srun's word. */
static int config_option(int val, const char *optarg, int remote)
{
    placing = true;
    if (remote)
        return 0;
    char *arguments[] = {cli_path, "check", (char *)optarg, NULL};
    if (run_cli(arguments, -1) != 0)
        return -1;
    if (!realpath(optarg, config_path)) {
        slurm_error("cdmplace: %s: %s", optarg, strerror(errno));
        return -1;
    }
    return 0;
}

static int report_option(int val, const char *optarg, int remote)
{
    report_wanted = true;
    return 0;
}

/* srun, sbatch or salloc, once its options are read: the report is of traces that only
 * --cdmplace makes. */
int slurm_spank_init_post_opt(spank_t spank, int argc, char **argv)
{
    spank_context_t context = spank_context();
    if ((context == S_CTX_LOCAL || context == S_CTX_ALLOCATOR) && report_wanted && !placing) {
        slurm_error("cdmplace: --cdmplace-report needs --cdmplace=FILE");
        return -1;
    }
    return 0;
}

int slurm_spank_local_user_init(spank_t spank, int argc, char **argv)
{
    if (!placing)
        return 0;
    uint32_t job, step;
    if (spank_get_item(spank, S_JOB_ID, &job) != ESPANK_SUCCESS ||
        spank_get_item(spank, S_JOB_STEPID, &step) != ESPANK_SUCCESS) {
        slurm_error("cdmplace: srun does not say the job and step ids");
        return -1;
    }
    if (!getcwd(trace_dir, sizeof trace_dir)) {
        slurm_error("cdmplace: the working directory: %s", strerror(errno));
        return -1;
    }
    /* The job id is the library's %j (SLURM_JOB_ID); the step is literal: it has no template,
     * and the steps of one job must not append to each other's traces. */
    snprintf(trace_prefix, sizeof trace_prefix, "cdmplace.%" PRIu32 ".%" PRIu32 ".", job, step);
    char template[PATH_MAX + 64];
    int length = snprintf(template, sizeof template, "%s/cdmplace.%%j.%" PRIu32 ".%%r.jsonl",
                          trace_dir, step);
    if (length < 0 || (size_t)length >= sizeof template) {
        slurm_error("cdmplace: %s: the path is too long for a trace", trace_dir);
        return -1;
    }
    if (setenv(CONFIG_VARIABLE, config_path, 1) || setenv(LOG_VARIABLE, template, 1)) {
        slurm_error("cdmplace: setenv: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether an LD_PRELOAD list (colon or space separated, ld.so(8)) names the library. */
static bool preloads_library(const char *list)
{
    size_t length = strlen(library_path);
    for (const char *entry = list; *entry; entry += strcspn(entry, ": ")) {
        entry += strspn(entry, ": ");
        if (!strncmp(entry, library_path, length) && strchr(": ", entry[length]))
            return true;
    }
    return false;
}

/* LD_PRELOAD with the library first, keeping what was there; unchanged if it is already in
 * (as `cdmplace run` does). */
static int add_to_preload(spank_t spank)
{
    char old[4096] = "";
    char value[sizeof old + PATH_MAX + 1];
    spank_err_t found = spank_getenv(spank, "LD_PRELOAD", old, sizeof old);
    if (found == ESPANK_NOSPACE) {
        slurm_error("cdmplace: LD_PRELOAD is longer than %zu bytes", sizeof old - 1);
        return -1;
    }
    if (found == ESPANK_SUCCESS && preloads_library(old))
        return 0;
    if (found == ESPANK_SUCCESS && old[0])
        snprintf(value, sizeof value, "%s:%s", library_path, old);
    else
        snprintf(value, sizeof value, "%s", library_path);
    return spank_setenv(spank, "LD_PRELOAD", value, 1) == ESPANK_SUCCESS ? 0 : -1;
}

/* Whether the step is sbatch's script or salloc's shell, which carry the job's options but
 * run no tasks of their own: the script's sruns place theirs. Preloading the script would
 * trace every command in it, srun included. */
static bool job_shell(spank_t spank)
{
    uint32_t step;
    return spank_get_item(spank, S_JOB_STEPID, &step) == ESPANK_SUCCESS &&
           (step == SLURM_BATCH_SCRIPT || step == SLURM_INTERACTIVE_STEP);
}

/* In the task, as its user: a config or library this node cannot read fails the task rather
 * than letting it run unplaced. */
int slurm_spank_task_init(spank_t spank, int argc, char **argv)
{
    if (!placing || spank_remote(spank) != 1 || job_shell(spank))
        return 0;
    char config[PATH_MAX], log[PATH_MAX + 64];
    if (spank_getenv(spank, CONFIG_VARIABLE, config, sizeof config) != ESPANK_SUCCESS ||
        spank_getenv(spank, LOG_VARIABLE, log, sizeof log) != ESPANK_SUCCESS) {
        slurm_error("cdmplace: srun did not pass %s and %s: is spank_cdmplace.so in srun's "
                    "plugstack.conf too?",
                    CONFIG_VARIABLE, LOG_VARIABLE);
        return -1;
    }
    if (access(config, R_OK) != 0) {
        slurm_error("cdmplace: %s: %s on this node", config, strerror(errno));
        return -1;
    }
    if (access(library_path, R_OK) != 0) {
        slurm_error("cdmplace: %s: %s on this node (library=PATH in plugstack.conf)",
                    library_path, strerror(errno));
        return -1;
    }
    spank_unsetenv(spank, CONFIG_VARIABLE);
    spank_unsetenv(spank, LOG_VARIABLE);
    /* The library reads a config's text before any file: FILE is the config. */
    spank_unsetenv(spank, "CDMPLACE_CONFIG_TEXT");
    if (spank_setenv(spank, "CDMPLACE_CONFIG", config, 1) != ESPANK_SUCCESS ||
        spank_setenv(spank, "CDMPLACE_LOG", log, 1) != ESPANK_SUCCESS ||
        (report_wanted && spank_setenv(spank, "CDMPLACE_REPORT", "off", 1) != ESPANK_SUCCESS) ||
        add_to_preload(spank) != 0) {
        slurm_error("cdmplace: cannot set the task's environment");
        return -1;
    }
    return 0;
}

/* The step's traces in trace_dir, as a NULL-terminated argv for `cdmplace report`, which
 * orders them itself; NULL when there are none or on error (said). */
static char **report_arguments(void)
{
    DIR *dir = opendir(trace_dir);
    if (!dir) {
        slurm_error("cdmplace: %s: %s", trace_dir, strerror(errno));
        return NULL;
    }
    size_t count = 0, room = 16;
    char **arguments = malloc(room * sizeof *arguments);
    size_t prefix = strlen(trace_prefix), suffix = strlen(".jsonl");
    struct dirent *entry = NULL;
    if (arguments) {
        arguments[count++] = cli_path;
        arguments[count++] = "report";
    }
    while (arguments && (entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (length <= prefix + suffix || strncmp(entry->d_name, trace_prefix, prefix) ||
            strcmp(entry->d_name + length - suffix, ".jsonl"))
            continue;
        if (count + 2 > room) {
            char **grown = realloc(arguments, (room *= 2) * sizeof *arguments);
            if (!grown)
                break;
            arguments = grown;
        }
        if (asprintf(&arguments[count], "%s/%s", trace_dir, entry->d_name) < 0)
            break;
        count++;
    }
    closedir(dir);
    if (!arguments || entry) {
        slurm_error("cdmplace: out of memory listing %s", trace_dir);
    } else if (count == 2) {
        slurm_error("cdmplace: no trace %s*.jsonl in %s: did the tasks start?", trace_prefix,
                    trace_dir);
    } else {
        arguments[count] = NULL;
        return arguments;
    }
    for (size_t i = 2; arguments && i < count; i++)
        free(arguments[i]);
    free(arguments);
    return NULL;
}

/* Copies the report's file to stderr, so that it reaches the user with srun's other output. */
static void show_report(int file)
{
    char buffer[8192];
    ssize_t length;
    if (lseek(file, 0, SEEK_SET) < 0)
        return;
    while ((length = read(file, buffer, sizeof buffer)) > 0) {
        for (ssize_t done = 0, wrote; done < length; done += wrote) {
            wrote = write(STDERR_FILENO, buffer + done, (size_t)(length - done));
            if (wrote <= 0)
                return;
        }
    }
}

/* srun's own exit (its atexit, spank_fini): every task of the step has ended, on every node, so
 * every trace is whole, and this runs as the user, where the user reads stderr. The traces must
 * be where srun runs, which a working directory shared by the nodes gives. slurmstepd's exit
 * (remote) would see only its own node's tasks, and say nothing to the user. */
int slurm_spank_exit(spank_t spank, int argc, char **argv)
{
    if (spank_context() != S_CTX_LOCAL || !placing || !report_wanted || !trace_prefix[0])
        return 0;
    char **arguments = report_arguments();
    if (!arguments)
        return 0;
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%sreport.txt", trace_dir, trace_prefix);
    int file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (file < 0) {
        slurm_error("cdmplace: %s: %s", path, strerror(errno));
    } else {
        int status = run_cli(arguments, file);
        show_report(file);
        close(file);
        if (status == 0)
            fprintf(stderr, "cdmplace: this report is also in %s\n", path);
        else
            slurm_error("cdmplace: `cdmplace report` over %s*.jsonl failed (status %d)",
                        trace_prefix, status);
    }
    for (size_t i = 2; arguments[i]; i++)
        free(arguments[i]);
    free(arguments);
    return 0;
}
