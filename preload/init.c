/* SPDX-License-Identifier: MIT */
/* Bootstrap of the library: the preloading state, the constructor and destructor, fork.
 *
 * Until the constructor has finished every hook forwards (cdm__state PRELOADING): libnuma's
 * constructor and dlsym call malloc before ours runs, and an allocator linked into the
 * program maps its first memory; the mappings are noted (early.c) and placed at the end of
 * the constructor.
 * The constructor reads the environment, the config and the topology; a bad config never
 * stops the program unless the user asked for `strict`. After the destructor the hooks keep
 * working for destructors and atexit handlers that run later; nothing more is recorded. */
#include "internal.h"

#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum cdm_state cdm__state = CDM_STATE_PRELOADING;
/* 0 until the real functions are resolved (every call takes the slow path), then a page
 * until the constructor sets the configured size: the fast paths test only this. */
size_t cdm__min_size;
__thread int cdm__guard;
struct cdm_runtime cdm__rt;
uint64_t cdm__time_in_library_ns;
static __thread pid_t cached_tid;

uint64_t cdm__now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}

pid_t cdm__tid(void)
{
    if (cdm_unlikely(cached_tid == 0))
        cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

/* Only the process `cdmplace run` started speaks on stderr (CDMPLACE_ROOT_PID); without
 * `run` every process does. */
static bool quiet_here(void)
{
    const char *root = cdm__env("CDMPLACE_ROOT_PID");
    return root && atoi(root) != (int)cdm__rt.pid;
}

static void warn_config(const char *file, int line, const char *what)
{
    cdm__log("%s:%d: warning: %s", file, line, what);
}

/* A config with errors is reported once; the caller then runs the built-in default. */
static void report_config_errors(struct cdm_config *config)
{
    int shown = config->n_errors < 3 ? config->n_errors : 3;
    for (int i = 0; i < shown; i++)
        cdm__log("%s:%d: %s", config->errors[i].file, config->errors[i].line,
                 config->errors[i].message);
    if (config->settings.strict) {
        cdm__log("strict = true and the config has errors: not starting the program "
                 "(fix them; `cdmplace check %s` lists them all)", config->path);
        _exit(2);
    }
    cdm__log("the config has %d error%s: the program runs unplaced (fix %s; `cdmplace check` "
             "lists every error)",
             config->n_errors, config->n_errors == 1 ? "" : "s",
             config->path[0] ? config->path : "the CDMPLACE_ variables");
}

/* Whether prepare_fork took our locks: not before the constructor has set them up. */
static bool fork_locked;

/* The tracker's locks first: its thread holds them while it writes the trace. */
static void prepare_fork(void)
{
    fork_locked = __atomic_load_n(&cdm__state, __ATOMIC_ACQUIRE) != CDM_STATE_PRELOADING;
    if (!fork_locked)
        return;
    cdm__tracker_prepare_fork();
    cdm__callsites_prepare_fork();
    cdm__symtab_prepare_fork();
    cdm__placement_prepare_fork();
    cdm__trace_prepare_fork();
}

static void after_fork_parent(void)
{
    if (!fork_locked)
        return;
    cdm__trace_after_fork(false);
    cdm__placement_after_fork(false);
    cdm__symtab_after_fork(false);
    cdm__callsites_after_fork(false);
    cdm__tracker_after_fork(false);
}

/* The child has only this thread: forget its old id, start its own trace and counts. */
static void after_fork_child(void)
{
    if (!fork_locked)
        return;
    cached_tid = 0;
    cdm__rt.pid = (pid_t)syscall(SYS_getpid);
    cdm__log_set_quiet(quiet_here());
    cdm__placement_after_fork(true);
    cdm__symtab_after_fork(true);
    cdm__callsites_after_fork(true);
    cdm__tracker_after_fork(true);
    cdm__trace_after_fork(true);
}

extern void *__dso_handle __attribute__((visibility("hidden")));

static void register_fork_handlers(void)
{
    cdm__hooks_resolve();
    int err = cdm__real.__register_atfork(prepare_fork, after_fork_parent, after_fork_child,
                                          __dso_handle);
    if (err)
        cdm__log("cannot register the fork handlers (%s): a fork while a thread places a "
                 "buffer may leave the child's tables inconsistent",
                 cdm__errno_text(err));
}

/* Once, and before any other registration returns; without pthread_once, which a runtime
 * that interposes it (ThreadSanitizer) may not be ready to serve while it registers its own. */
void cdm__fork_handlers_register(void)
{
    enum { NOT_YET, REGISTERING, REGISTERED };
    static int state = NOT_YET;
    int expected = NOT_YET;
    if (__atomic_compare_exchange_n(&state, &expected, REGISTERING, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        register_fork_handlers();
        __atomic_store_n(&state, REGISTERED, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != REGISTERED)
        sched_yield();
}

__attribute__((constructor)) static void cdm_init(void)
{
    cdm__guard = 1;
    cdm__hooks_resolve();
    cdm__rt.start_ns = cdm__now_ns();
    cdm__rt.pid = getpid();
    const char *debug = cdm__env("CDMPLACE_DEBUG");
    if (debug && *debug >= '0' && *debug <= '3')
        cdm__debug_level = *debug - '0';
    cdm__rt.program = program_invocation_short_name;
    cdm__log_setup(quiet_here(), cdm__trace_message);
    ssize_t len = readlink("/proc/self/exe", cdm__rt.exe, sizeof cdm__rt.exe - 1);
    cdm__rt.exe[len > 0 ? len : 0] = '\0';

    struct cdm_config *config = &cdm__rt.config;
    /* `cdmplace run --rule/-o` passes the config it checked as text: no file to leave behind. */
    const char *text = cdm__env("CDMPLACE_CONFIG_TEXT");
    const char *path = cdm__config_locate();
    if (text && *text)
        cdm__config_parse(config, "CDMPLACE_CONFIG_TEXT", text, strlen(text));
    else if (path)
        cdm__config_load(config, path);
    else
        cdm__config_default(config);
    cdm__config_apply_env(config); /* the environment overrides the file */
    int err = cdm__topology_read(&cdm__rt.topology);
    if (err)
        cdm__log("cannot read the NUMA topology from /sys/devices/system/node (%s): "
                 "nothing is placed; mount sysfs to enable placement",
                 cdm__errno_text(err));
    if (config->n_errors == 0 && !err)
        cdm__config_resolve(config, &cdm__rt.topology, warn_config);
    if (config->n_errors || err) {
        if (config->n_errors)
            report_config_errors(config);
        cdm__config_default(config);
        cdm__config_apply_env(config);
    }
    cdm__tracker_setup();

    cdm__stack_warm_up();
    cdm__trace_open();
    cdm__fork_handlers_register();
    /* A placed buffer takes whole pages: below one page placement only wastes memory. */
    size_t min_size = config->settings.min_size;
    if (min_size < plat_page_size())
        min_size = plat_page_size();
    cdm__rt.min_size = min_size;
    cdm__early_adopt();
    __atomic_store_n(&cdm__state, CDM_STATE_READY, __ATOMIC_RELEASE);
    __atomic_store_n(&cdm__min_size, min_size, __ATOMIC_RELEASE);
    cdm__tracker_start_early();
    cdm__debug(1, "ready: config %s, %d rule%s, min_size %zu", path ? path : "(built-in)",
               config->n_rules, config->n_rules == 1 ? "" : "s", min_size);
    cdm__guard = 0;
}

__attribute__((destructor)) static void cdm_fini(void)
{
    if (cdm__state != CDM_STATE_READY)
        return;
    cdm__guard = 1;
    __atomic_store_n(&cdm__state, CDM_STATE_EXITED, __ATOMIC_RELEASE);
    cdm__tracker_stop();
    cdm__trace_close();
    cdm__report_write();
    cdm__guard = 0;
}

/* ------------------------------------------------------------------ libnuma's complaints
 * libnuma calls these weak hooks on errors. Ours route its complaints about our own calls
 * through our logger (once per cause, never exiting); calls the program makes into libnuma
 * get libnuma's own behaviour, unchanged. */
extern int numa_exit_on_error;

CDM_EXPORT void numa_warn(int number, char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cdm__guard) {
        char message[256];
        vsnprintf(message, sizeof message, fmt, ap);
        cdm__warn_once(CDM_WARN_LIBNUMA, "libnuma: %s", message);
    } else {
        static unsigned warned;
        int saved_errno = errno;
        if (!((1u << (number & 31)) & warned)) {
            warned |= 1u << (number & 31);
            fprintf(stderr, "libnuma: Warning: ");
            vfprintf(stderr, fmt, ap);
            fputc('\n', stderr);
        }
        errno = saved_errno;
    }
    va_end(ap);
}

CDM_EXPORT void numa_error(char *where)
{
    int saved_errno = errno;
    if (cdm__guard) {
        cdm__warn_once(CDM_WARN_LIBNUMA, "libnuma: %s: %s", where, cdm__errno_text(saved_errno));
    } else {
        perror(where);
        if (numa_exit_on_error)
            exit(1);
    }
    errno = saved_errno;
}
