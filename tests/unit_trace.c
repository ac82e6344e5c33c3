/* SPDX-License-Identifier: MIT */
/* Reading traces back (tools/trace.h): whole traces, and every way a trace goes wrong in
 * the field—cut short by a kill, lines from a newer cdmplace, unknown events, garbage, an
 * empty file, events without their start—read up to what can be read, with one warning
 * naming file and line. The lines are as preload/trace.c writes them. */
#include "testutil.h"
#include "trace.h"

#include <stdarg.h>

#define START(pid, version)                                                                 \
    "{\"t\":100,\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"start\",\"version\":\"" version    \
    "\",\"program\":\"app\",\"exe\":\"/usr/bin/app\",\"ppid\":1,\"config\":\"/etc/job.conf\","  \
    "\"min_size\":1048576,\"dry_run\":false,\"nodes\":{\"cdm\":\"1\",\"dram\":\"0\"},"          \
    "\"tracker\":\"wp-async\",\"sees\":\"writes\",\"epoch_ns\":100000000,\"rules\":[\"big\"]," \
    "\"host\":\"n1\",\"job\":\"77\",\"rank\":3}\n"
#define PLACE(pid, t, addr, size)                                                            \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"place\",\"addr\":\"" addr       \
    "\",\"size\":" #size ",\"mapped\":" #size ",\"kind\":\"heap\",\"rule\":\"big\","           \
    "\"policy\":\"bind\",\"nodes\":\"1\",\"caller\":\"/usr/bin/app:load\",\"stack\":"          \
    "[{\"at\":\"/usr/bin/app:load\",\"off\":\"0x1234\"},{\"at\":\"/usr/bin/app:main\","        \
    "\"off\":\"0x99\"}],\"result\":\"applied\",\"errno\":0}\n"
#define FREE(pid, t, addr, size)                                                             \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"free\",\"addr\":\"" addr        \
    "\",\"size\":" #size ",\"kind\":\"heap\",\"rule\":\"big\"}\n"
#define MIGRATE(pid, t, from, to, pages)                                                     \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"migrate\",\"addr\":\"0x7f0000000000\"," \
    "\"end\":\"0x7f0000100000\",\"from\":" #from ",\"to\":" #to ",\"pages\":" #pages ","       \
    "\"busy\":0,\"failed\":0,\"errno\":0,\"ns\":5000,\"reason\":\"follow-cpu\",\"rule\":\"big\"}\n"
#define EPOCH(pid, t, on0, on1)                                                              \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"epoch\",\"rule\":\"big\","       \
    "\"epoch\":1,\"nodes\":{\"0\":" #on0 ",\"1\":" #on1 "},\"unknown\":0,\"hot\":0,\"cold\":0}\n"
#define TOTALS(pid, t)                                                                       \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"totals\",\"rule\":\"big\","      \
    "\"allocations\":2,\"bytes\":3145728,\"peak_bytes\":3145728,\"live_bytes\":1048576,"       \
    "\"fallbacks\":0,\"failures\":0,\"errors\":0,\"to_dram\":256,\"to_policy\":0,"             \
    "\"faults\":7,\"nodes\":{\"1\":256},\"absent\":0}\n"
#define EXIT(pid, t)                                                                         \
    "{\"t\":" #t ",\"pid\":" #pid ",\"tid\":" #pid ",\"ev\":\"exit\",\"allocations\":2,"      \
    "\"bytes\":3145728,\"fallbacks\":0,\"failures\":0,\"errors\":0,\"library_ns\":123456}\n"

#define WHOLE_RUN(pid)                                                                       \
    START(pid, "0.1.0") PLACE(pid, 200, "0x7f0000000000", 1048576)                            \
    PLACE(pid, 300, "0x7f0000200000", 2097152) MIGRATE(pid, 400, 1, 0, 256)                   \
    EPOCH(pid, 500, 256, 512) FREE(pid, 600, "0x7f0000200000", 2097152) TOTALS(pid, 700)      \
    EXIT(pid, 800)

static char warnings[8192];

/* Reads `text` as trace "t.jsonl"; the warnings it printed are in `warnings`. */
static void read_trace(struct trace_set *set, const char *text)
{
    memset(set, 0, sizeof *set);
    set->flags = TRACE_KEEP_EVENTS;
    fflush(stderr);
    FILE *captured = tmpfile();
    cr_assert_not_null(captured);
    int saved = dup(2);
    dup2(fileno(captured), 2);
    trace_read_buffer(set, "t.jsonl", text, strlen(text));
    trace_set_finish(set);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(captured);
    size_t n = fread(warnings, 1, sizeof warnings - 1, captured);
    warnings[n] = '\0';
    fclose(captured);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static const struct trace_rule *only_rule(const struct trace_set *set)
{
    cr_assert_eq(set->n_processes, 1);
    const struct trace_rule *rule = trace_process_rule(set->processes[0], "big");
    cr_assert_not_null(rule);
    return rule;
}

Test(trace, a_whole_run)
{
    struct trace_set set;
    read_trace(&set, WHOLE_RUN(42));
    cr_assert_str_empty(warnings);
    const struct trace_process *process = set.processes[0];
    cr_assert_eq(process->pid, 42);
    cr_assert_eq(process->rank, 3);
    cr_assert_str_eq(process->host, "n1");
    cr_assert_str_eq(process->job, "77");
    cr_assert_str_eq(process->tracker, "wp-async");
    cr_assert(process->exited);
    cr_assert_eq(process->library_ns, 123456);
    const struct trace_rule *rule = only_rule(&set);
    cr_assert_eq(rule->allocations, 2);
    cr_assert_eq(rule->bytes, 3u << 20);
    cr_assert_eq(rule->peak_bytes, 3u << 20);
    cr_assert_eq(rule->live_bytes, 1u << 20);
    cr_assert_eq(rule->to_dram, 256, "node 0 is DRAM (start event): a move to it is a promotion");
    cr_assert_eq(rule->to_policy, 0);
    cr_assert_eq(rule->faults, 7);
    cr_assert_eq(rule->n_samples, 1);
    cr_assert_eq(rule->n_exit_counts, 1);
    cr_assert_eq(rule->exit_counts[0].node, 1);
    cr_assert_eq(rule->exit_counts[0].pages, 256);
    cr_assert_eq(rule->n_placements, 2);
    cr_assert_eq(rule->placements[1].end_t, 600, "freed at 600");
    cr_assert_eq(rule->placements[0].end_t, 800, "never freed: ends with the process");
    cr_assert_eq(process->n_callsites, 1);
    cr_assert_str_eq(process->callsites[0].object, "/usr/bin/app");
    cr_assert_str_eq(process->callsites[0].function, "load");
    cr_assert_eq(process->callsites[0].offset, 0x1234, "the caller's frame, not the first");
    cr_assert_eq(process->callsites[0].bytes, 3u << 20);
    cr_assert_eq(process->callsites[0].to_dram, 256, "the move was inside its first buffer");
    cr_assert_eq(process->callsites[0].to_policy, 0);
    trace_set_free(&set);
}

Test(trace, remaps_and_access_figures_follow_the_buffer)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") PLACE(42, 200, "0x7f0000000000", 1048576)
                     /* the watch of the old range ends as the buffer moves */
                     "{\"t\":240,\"pid\":42,\"tid\":42,\"ev\":\"access\",\"addr\":\"0x7f0000000000\","
                     "\"size\":1048576,\"pages\":256,\"rule\":\"big\",\"epochs\":4,\"page_epochs\":64,"
                     "\"touched\":256,\"tracker\":\"wp-async\",\"sees\":\"writes\"}\n"
                     "{\"t\":250,\"pid\":42,\"tid\":42,\"ev\":\"remap\",\"from\":\"0x7f0000000000\","
                     "\"to\":\"0x7f0000400000\",\"old_size\":1048576,\"size\":2097152,\"kind\":\"anon\","
                     "\"rule\":\"big\"}\n"
                     "{\"t\":300,\"pid\":42,\"tid\":42,\"ev\":\"access\",\"addr\":\"0x7f0000400000\","
                     "\"size\":2097152,\"pages\":512,\"rule\":\"big\",\"epochs\":10,\"page_epochs\":128,"
                     "\"touched\":512,\"tracker\":\"wp-async\",\"sees\":\"writes\"}\n"
                     FREE(42, 350, "0x7f0000400000", 2097152) EXIT(42, 400));
    cr_assert_str_empty(warnings);
    const struct trace_rule *rule = only_rule(&set);
    cr_assert_eq(rule->peak_bytes, 2u << 20, "grown by the remap");
    cr_assert_eq(rule->live_bytes, 0, "freed at its new address");
    cr_assert_eq(rule->n_placements, 2);
    cr_assert_str_eq(rule->placements[1].kind, "anon", "the remap's own kind");
    cr_assert_eq(rule->placements[1].end_t, 350);
    cr_assert_eq(rule->placements[1].use.page_epochs, 128);
    const struct trace_callsite *site = &set.processes[0]->callsites[0];
    cr_assert_eq(site->use.page_epochs, 64 + 128, "the moved buffer keeps its call site");
    cr_assert_eq(site->use.watched, 256 * 4 + 512 * 10);
    cr_assert_eq(site->use.buffers, 1, "watched twice, one buffer");
    trace_set_free(&set);
}

Test(trace, killed_process_read_up_to_its_last_whole_line)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") PLACE(42, 200, "0x7f0000000000", 1048576)
                     "{\"t\":300,\"pid\":42,\"tid\":42,\"ev\":\"pla");
    cr_assert(strstr(warnings, "cdmplace: t.jsonl:3: warning: the last line is cut short"),
              "%s", warnings);
    cr_assert_eq(count_lines(warnings), 1, "%s", warnings);
    const struct trace_rule *rule = only_rule(&set);
    cr_assert_eq(rule->allocations, 1);
    cr_assert_not(set.processes[0]->exited);
    cr_assert_eq(set.processes[0]->last_t, 200);
    trace_set_free(&set);
}

Test(trace, newer_version_warned_once_and_read)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.3.1") PLACE(42, 200, "0x7f0000000000", 1048576)
                     "{\"t\":250,\"pid\":42,\"tid\":42,\"ev\":\"gpu_fault\",\"addr\":\"0x1\"}\n"
                     "{\"t\":260,\"pid\":42,\"tid\":42,\"ev\":\"gpu_fault\",\"addr\":\"0x2\"}\n"
                     PLACE(42, 300, "0x7f0000200000", 2097152) EXIT(42, 400));
    cr_assert(strstr(warnings, "t.jsonl:1: warning: written by cdmplace 0.3.1, newer than"),
              "%s", warnings);
    cr_assert(strstr(warnings, "t.jsonl:3: warning: unknown event 'gpu_fault'"), "%s", warnings);
    cr_assert_eq(count_lines(warnings), 2, "each said once: %s", warnings);
    cr_assert_eq(only_rule(&set)->allocations, 2, "known events around them are read");
    trace_set_free(&set);
}

Test(trace, older_and_newer_processes_in_one_file)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") START(43, "0.0.9") PLACE(43, 200, "0x7f0000000000", 1048576)
                     PLACE(42, 210, "0x7f0000000000", 1048576) EXIT(42, 300) EXIT(43, 300));
    cr_assert_str_empty(warnings);
    cr_assert_eq(set.n_processes, 2);
    cr_assert_str_eq(set.processes[1]->version, "0.0.9");
    cr_assert_eq(trace_process_rule(set.processes[1], "big")->allocations, 1);
    trace_set_free(&set);
}

Test(trace, garbage_and_incomplete_events_skipped_with_their_line)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") "not json at all\n"
                     "{\"t\":150,\"pid\":42,\"tid\":42,\"ev\":\"place\",\"rule\":\"big\"}\n"
                     "[1,2,3]\n" PLACE(42, 200, "0x7f0000000000", 1048576) EXIT(42, 400));
    cr_assert(strstr(warnings, "t.jsonl:2: warning: not a JSON object"), "%s", warnings);
    cr_assert(strstr(warnings, "t.jsonl:3: warning: a 'place' event without t, pid, size, rule, "
                               "result: line skipped"), "%s", warnings);
    cr_assert(strstr(warnings, "t.jsonl:4: warning: not a JSON object"), "%s", warnings);
    cr_assert_eq(only_rule(&set)->allocations, 1);
    trace_set_free(&set);
}

Test(trace, pad_lines_and_blank_lines_are_silent)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") "{                }\n\n   \n" EXIT(42, 400));
    cr_assert_str_empty(warnings);
    cr_assert_eq(set.n_processes, 1);
    trace_set_free(&set);
}

Test(trace, empty_file)
{
    struct trace_set set;
    read_trace(&set, "");
    cr_assert(strstr(warnings, "cdmplace: t.jsonl: warning: no event of cdmplace in it (empty)"),
              "%s", warnings);
    cr_assert_eq(set.n_processes, 0);
    trace_set_free(&set);
}

Test(trace, events_before_their_start)
{
    struct trace_set set;
    read_trace(&set, PLACE(42, 200, "0x7f0000000000", 1048576) EXIT(42, 400));
    cr_assert(strstr(warnings, "t.jsonl:1: warning: events of pid 42 before its start event"),
              "%s", warnings);
    cr_assert_not(set.processes[0]->started);
    cr_assert_eq(only_rule(&set)->allocations, 1);
    trace_set_free(&set);
}

Test(trace, exec_starts_a_new_process_with_the_same_pid)
{
    struct trace_set set;
    read_trace(&set, START(42, "0.1.0") PLACE(42, 200, "0x7f0000000000", 1048576)
                     START(42, "0.1.0") PLACE(42, 50, "0x7f0000000000", 2097152));
    cr_assert_eq(set.n_processes, 2);
    cr_assert_eq(trace_process_rule(set.processes[0], "big")->bytes, 1u << 20);
    cr_assert_eq(trace_process_rule(set.processes[1], "big")->bytes, 2u << 20);
    trace_set_free(&set);
}

Test(trace, many_bad_lines_print_ten_and_count_the_rest)
{
    char text[4096] = START(42, "0.1.0");
    for (int i = 0; i < 25; i++)
        strcat(text, "garbage\n");
    struct trace_set set;
    read_trace(&set, text);
    cr_assert_eq(count_lines(warnings), 11, "%s", warnings);
    cr_assert(strstr(warnings, "cdmplace: t.jsonl: 15 more warnings not shown"), "%s", warnings);
    cr_assert_eq(set.warnings, 25);
    trace_set_free(&set);
}
