/* SPDX-License-Identifier: MIT */
/* The config language of cdmplace.conf(5): every key, every class of error, sizes,
 * durations, globs, the environment, files, and the example configs of config/. */
#include "core.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#define K 1024ull
#define M (1024ull * K)
#define G (1024ull * M)
#define T (1024ull * G)
#define MS 1000000ull

/* About 120 KiB: static, not on the test's stack. Each test runs in its own process. */
static struct cdm_config config;

static int parse(const char *text)
{
    return cdm__config_parse(&config, "t.conf", text, strlen(text));
}

static void parse_clean(const char *text)
{
    cr_assert_eq(parse(text), 0, "unexpected errors in:\n%s%s", text, test_config_errors(&config));
}

/* ---------------------------------------------------------------- defaults */

static void assert_default_settings(void)
{
    cr_assert_eq(config.settings.min_size, 1 * M);
    cr_assert_eq(config.settings.track, CDM_TRACK_AUTO);
    cr_assert_eq(config.settings.epoch_ns, 100 * MS);
    cr_assert_str_eq(config.settings.log, "");
    cr_assert_eq(config.settings.report, CDM_REPORT_STDERR);
    cr_assert_not(config.settings.dry_run);
    cr_assert_not(config.settings.strict);
    cr_assert_eq(config.n_rules, 0);
    cr_assert_eq(config.n_node_names, 2);
    cr_assert_str_eq(config.node_names[0].name, "cdm");
    cr_assert_str_eq(config.node_names[0].spec, "auto");
    cr_assert_str_eq(config.node_names[1].name, "dram");
    cr_assert_str_eq(config.node_names[1].spec, "auto");
}

Test(defaults, builtin_default)
{
    memset(&config, 0xa5, sizeof config);
    cdm__config_default(&config);
    assert_default_settings();
    cr_assert_str_eq(config.path, "");
    cr_assert_eq(config.n_errors, 0);
}

Test(defaults, empty_and_comment_only_files_give_the_default)
{
    parse_clean("");
    assert_default_settings();
    cr_assert_str_eq(config.path, "t.conf");
    parse_clean("# nothing\n; still nothing\n\n   \n");
    assert_default_settings();
}

Test(defaults, parse_resets_a_used_config)
{
    parse_clean("[settings]\nmin_size = 4K\n[rule r]\npolicy = local\n");
    cr_assert_eq(config.n_rules, 1);
    cr_assert_neq(parse("[settings]\nmin_size = x\n"), 0);
    cr_assert_eq(parse(""), 0);
    assert_default_settings();
}

/* The example of design.md, as written there. */
Test(defaults, design_example_parses)
{
    parse_clean(
        "[nodes]                       # names for node sets; used wherever NODES appears\n"
        "cdm  = auto                   # auto = nodes with memory and no CPUs (default)\n"
        "dram = auto                   # auto = nodes with CPUs (default)\n"
        "\n"
        "[settings]\n"
        "min_size = 1M                 # smaller heap requests pass straight through\n"
        "track    = auto               # auto | wp-async | wp | missing | damon | off\n"
        "epoch    = 100ms              # how often access tracking samples\n"
        "log      = off                # decision trace (JSON lines); path template\n"
        "report   = stderr             # end-of-run summary: stderr | PATH | off\n"
        "dry_run  = false              # decide and record everything, apply nothing\n"
        "strict   = false              # true: a config error aborts the program\n"
        "\n"
        "[rule weights]                # rules are tried in file order\n"
        "size     = 64M-               # 64M- at least 64M; 4K-1M between; -2M at most\n"
        "caller   = *libmodel.so:load_*   # glob over \"object:function\"\n"
        "kind     = heap               # heap (malloc family) | anon | shared | file | any\n"
        "program  = python3*           # glob over the executable's name\n"
        "policy   = bind cdm           # bind | preferred | interleave | ... NODES\n"
        "on_full  = fallback           # fallback: spill to other nodes | fail\n"
        "budget   = 8G                 # cap on this rule's bytes on its nodes\n"
        "migrate  = none               # none | follow-cpu | tier | kernel\n"
        "idle     = 200ms              # follow-cpu: pages untouched this long go back\n"
        "hot_set  = 2G                 # tier: at most this much kept on dram\n");
    cr_assert_eq(config.n_rules, 1);
    const struct cdm_rule *rule = &config.rules[0];
    cr_assert_str_eq(rule->name, "weights");
    cr_assert_eq(rule->line, 14);
    cr_assert_eq(rule->size_min, 64 * M);
    cr_assert_eq(rule->size_max, UINT64_MAX);
    cr_assert_str_eq(rule->caller, "*libmodel.so:load_*");
    cr_assert_str_eq(rule->program, "python3*");
    cr_assert_eq(rule->policy, CDM_POLICY_BIND);
    cr_assert_str_eq(rule->policy_nodes, "cdm");
    cr_assert_eq(rule->policy_line, 19);
    cr_assert_eq(rule->budget, 8 * G);
    cr_assert_eq(rule->hot_set, 2 * G);
    cr_assert_eq(config.node_names[0].line, 2);
    cr_assert_eq(config.node_names[1].line, 3);
    cr_assert_eq(config.n_node_names, 2, "cdm and dram redefined in place, not added");
}

/* ---------------------------------------------------------------- [settings] */

Test(settings, every_key_read_back)
{
    parse_clean("[settings]\n"
                "min_size = 256K\n"
                "track = wp-async\n"
                "epoch = 250us\n"
                "log = /tmp/cdm.%p.%h.%e.%j.%r.%%.log\n"
                "report = /tmp/report.%p\n"
                "dry_run = true\n"
                "strict = yes\n");
    cr_assert_eq(config.settings.min_size, 256 * K);
    cr_assert_eq(config.settings.track, CDM_TRACK_WP_ASYNC);
    cr_assert_eq(config.settings.epoch_ns, 250000);
    cr_assert_str_eq(config.settings.log, "/tmp/cdm.%p.%h.%e.%j.%r.%%.log");
    cr_assert_eq(config.settings.report, CDM_REPORT_PATH);
    cr_assert_str_eq(config.settings.report_path, "/tmp/report.%p");
    cr_assert(config.settings.dry_run);
    cr_assert(config.settings.strict);
}

Test(settings, track_values)
{
    static const struct {
        const char *text;
        enum cdm_track track;
    } cases[] = {
        {"auto", CDM_TRACK_AUTO},       {"wp-async", CDM_TRACK_WP_ASYNC}, {"wp", CDM_TRACK_WP},
        {"missing", CDM_TRACK_MISSING}, {"damon", CDM_TRACK_DAMON},       {"off", CDM_TRACK_OFF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "[settings]\ntrack = %s\n", cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.settings.track, cases[i].track, "track = %s", cases[i].text);
        cr_expect_str_eq(cdm__track_name(cases[i].track), cases[i].text);
    }
}

Test(settings, boolean_spellings)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {
        {"true", true},   {"yes", true}, {"on", true},   {"1", true},
        {"false", false}, {"no", false}, {"off", false}, {"0", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[settings]\ndry_run = %s\nstrict = %s\n", cases[i].text,
                 cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.settings.dry_run, cases[i].value, "dry_run = %s", cases[i].text);
        cr_expect_eq(config.settings.strict, cases[i].value, "strict = %s", cases[i].text);
    }
}

Test(settings, log_and_report_targets)
{
    parse_clean("[settings]\nlog = /tmp/x.log\n");
    cr_assert_str_eq(config.settings.log, "/tmp/x.log");
    parse_clean("[settings]\nlog = off\nreport = off\n");
    cr_assert_str_eq(config.settings.log, "");
    cr_assert_eq(config.settings.report, CDM_REPORT_OFF);
    parse_clean("[settings]\nreport = stderr\n");
    cr_assert_eq(config.settings.report, CDM_REPORT_STDERR);
    parse_clean("[settings]\nreport = relative/report-%r.txt\n");
    cr_assert_eq(config.settings.report, CDM_REPORT_PATH);
    cr_assert_str_eq(config.settings.report_path, "relative/report-%r.txt");
}

Test(settings, sections_may_repeat_but_keys_may_not)
{
    parse_clean("[settings]\nmin_size = 2M\n[rule r]\npolicy = local\n[settings]\nepoch = 1s\n");
    cr_assert_eq(config.settings.min_size, 2 * M);
    cr_assert_eq(config.settings.epoch_ns, 1000 * MS);
    cr_assert_eq(parse("[settings]\nmin_size = 2M\n[settings]\nmin_size = 3M\n"), 1);
    cr_assert_eq(config.errors[0].line, 4);
    cr_assert(strstr(config.errors[0].message, "first set on line 2"), "%s", test_config_errors(&config));
}

/* ---------------------------------------------------------------- [rule NAME] */

Test(rules, every_key_read_back)
{
    parse_clean("[nodes]\nfast = 1-2\n"
                "[rule weights.v2]\n"
                "size = 4K-1M\n"
                "caller = *libmodel.so:load_*\n"
                "kind = anon,shared\n"
                "program = python3*\n"
                "policy = weighted-interleave fast\n"
                "on_full = fail\n"
                "budget = 8G\n"
                "migrate = tier\n"
                "idle = 2s\n"
                "hot_set = 512M\n");
    cr_assert_eq(config.n_rules, 1);
    const struct cdm_rule *rule = &config.rules[0];
    cr_assert_str_eq(rule->name, "weights.v2");
    cr_assert_eq(rule->line, 3);
    cr_assert_eq(rule->size_min, 4 * K);
    cr_assert_eq(rule->size_max, 1 * M);
    cr_assert_str_eq(rule->caller, "*libmodel.so:load_*");
    cr_assert_eq(rule->kinds, (unsigned)(CDM_KIND_ANON | CDM_KIND_SHARED));
    cr_assert_str_eq(rule->program, "python3*");
    cr_assert_eq(rule->policy, CDM_POLICY_WEIGHTED_INTERLEAVE);
    cr_assert_str_eq(rule->policy_nodes, "fast");
    cr_assert_eq(rule->policy_line, 8);
    cr_assert_eq(rule->on_full, CDM_ON_FULL_FAIL);
    cr_assert_eq(rule->budget, 8 * G);
    cr_assert_eq(rule->migrate, CDM_MIGRATE_TIER);
    cr_assert_eq(rule->idle_ns, 2000 * MS);
    cr_assert_eq(rule->hot_set, 512 * M);
}

Test(rules, defaults_of_a_rule)
{
    parse_clean("\n[rule r]\npolicy = local\n");
    const struct cdm_rule *rule = &config.rules[0];
    cr_assert_eq(rule->line, 2);
    cr_assert_eq(rule->size_min, 0);
    cr_assert_eq(rule->size_max, UINT64_MAX);
    cr_assert_str_eq(rule->caller, "");
    cr_assert_eq(rule->kinds, (unsigned)(CDM_KIND_HEAP | CDM_KIND_ANON));
    cr_assert_str_eq(rule->program, "");
    cr_assert_eq(rule->policy, CDM_POLICY_LOCAL);
    cr_assert_str_eq(rule->policy_nodes, "");
    cr_assert_eq(rule->policy_line, 3);
    cr_assert_eq(rule->on_full, CDM_ON_FULL_FALLBACK);
    cr_assert_eq(rule->budget, 0);
    cr_assert_eq(rule->migrate, CDM_MIGRATE_NONE);
    cr_assert_eq(rule->idle_ns, 200 * MS);
    cr_assert_eq(rule->hot_set, 0);
}

Test(rules, rules_keep_file_order)
{
    parse_clean("[rule c]\npolicy = local\n[rule a]\npolicy = default\n[rule b]\n"
                "policy = bind 0\n");
    cr_assert_eq(config.n_rules, 3);
    cr_assert_str_eq(config.rules[0].name, "c");
    cr_assert_str_eq(config.rules[1].name, "a");
    cr_assert_str_eq(config.rules[2].name, "b");
    cr_assert_eq(config.rules[2].line, 5);
}

Test(rules, policies)
{
    static const struct {
        const char *text;
        enum cdm_policy_mode mode;
        const char *nodes;
    } cases[] = {
        {"bind cdm", CDM_POLICY_BIND, "cdm"},
        {"preferred 1", CDM_POLICY_PREFERRED, "1"},
        {"interleave 0-1,4", CDM_POLICY_INTERLEAVE, "0-1,4"},
        {"weighted-interleave dram", CDM_POLICY_WEIGHTED_INTERLEAVE, "dram"},
        {"bind    0, 2", CDM_POLICY_BIND, "0, 2"},
        {"local", CDM_POLICY_LOCAL, ""},
        {"default", CDM_POLICY_DEFAULT, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[rule r]\npolicy = %s\n", cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.rules[0].policy, cases[i].mode, "policy = %s", cases[i].text);
        cr_expect_str_eq(config.rules[0].policy_nodes, cases[i].nodes, "policy = %s",
                         cases[i].text);
        cr_expect_eq(config.rules[0].policy_line, 2);
        cr_expect_str_eq(cdm__policy_name(cases[i].mode),
                         strtok(strcpy(text, cases[i].text), " "));
    }
}

Test(rules, migrate_and_on_full_values)
{
    static const struct {
        const char *text;
        enum cdm_migrate migrate;
    } cases[] = {
        {"none", CDM_MIGRATE_NONE},
        {"follow-cpu", CDM_MIGRATE_FOLLOW_CPU},
        {"tier", CDM_MIGRATE_TIER},
        {"kernel", CDM_MIGRATE_KERNEL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[rule r]\npolicy = local\nmigrate = %s\n", cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.rules[0].migrate, cases[i].migrate, "migrate = %s", cases[i].text);
        cr_expect_str_eq(cdm__migrate_name(cases[i].migrate), cases[i].text);
    }
    parse_clean("[rule r]\npolicy = local\non_full = fallback\n");
    cr_assert_eq(config.rules[0].on_full, CDM_ON_FULL_FALLBACK);
    parse_clean("[rule r]\npolicy = local\non_full = fail\n");
    cr_assert_eq(config.rules[0].on_full, CDM_ON_FULL_FAIL);
}

Test(rules, kinds)
{
    static const struct {
        const char *text;
        unsigned kinds;
    } cases[] = {
        {"heap", CDM_KIND_HEAP},
        {"anon", CDM_KIND_ANON},
        {"shared", CDM_KIND_SHARED},
        {"file", CDM_KIND_FILE},
        {"any", CDM_KIND_ANY},
        {"heap,anon", CDM_KIND_HEAP | CDM_KIND_ANON},
        {" file ,  shared ", CDM_KIND_FILE | CDM_KIND_SHARED},
        {"heap,heap", CDM_KIND_HEAP},
        {"heap,any", CDM_KIND_ANY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[rule r]\npolicy = local\nkind = %s\n", cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.rules[0].kinds, cases[i].kinds, "kind = %s: %#x", cases[i].text,
                     config.rules[0].kinds);
    }
}

Test(rules, size_windows)
{
    static const struct {
        const char *text;
        uint64_t min, max;
    } cases[] = {
        {"64M-", 64 * M, UINT64_MAX},
        {"4K-1M", 4 * K, 1 * M},
        {"-2M", 0, 2 * M},
        {"2M", 2 * M, 2 * M},
        {"0-", 0, UINT64_MAX},
        {"4K - 1M", 4 * K, 1 * M},
        {"1M -", 1 * M, UINT64_MAX},
        {"1M-1M", 1 * M, 1 * M},
        {"1-16777215T", 1, 16777215 * T},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[rule r]\npolicy = local\nsize = %s\n", cases[i].text);
        parse_clean(text);
        cr_expect_eq(config.rules[0].size_min, cases[i].min, "size = %s", cases[i].text);
        cr_expect_eq(config.rules[0].size_max, cases[i].max, "size = %s", cases[i].text);
    }
}

Test(rules, invalid_size_windows)
{
    static const char *const cases[] = {"1M-4K", "-", "4K-1M-2M", "12Q-", "-x", "abc", "--1",
                                        "4K-99999999999T"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[96];
        snprintf(text, sizeof text, "[rule r]\npolicy = local\nsize = %s\n", cases[i]);
        cr_expect_eq(parse(text), 1, "size = %s:%s", cases[i], test_config_errors(&config));
        cr_expect_eq(config.errors[0].line, 3, "size = %s", cases[i]);
        cr_expect(strstr(config.errors[0].message, "size"), "%s", test_config_errors(&config));
    }
}

Test(nodes, names_and_redefinitions)
{
    parse_clean("[nodes]\nfast = 1-2\ncdm = 3\nslow_tier-2 = 0,4\n"
                "[rule r]\npolicy = bind slow_tier-2\n");
    cr_assert_eq(config.n_node_names, 4);
    cr_assert_str_eq(config.node_names[0].name, "cdm");
    cr_assert_str_eq(config.node_names[0].spec, "3");
    cr_assert_eq(config.node_names[0].line, 3);
    cr_assert_str_eq(config.node_names[1].spec, "auto");
    cr_assert_eq(config.node_names[1].line, 0);
    cr_assert_str_eq(config.node_names[2].name, "fast");
    cr_assert_str_eq(config.node_names[2].spec, "1-2");
    cr_assert_eq(config.node_names[2].line, 2);
    cr_assert_str_eq(config.node_names[3].name, "slow_tier-2");
    cr_assert_str_eq(config.node_names[3].spec, "0,4");
}

Test(nodes, names_may_be_defined_after_the_rules_using_them)
{
    parse_clean("[rule r]\npolicy = bind fast\n[nodes]\nfast = 1\n");
    cr_assert_str_eq(config.rules[0].policy_nodes, "fast");
}

Test(nodes, too_many_names)
{
    static char text[CDM_MAX_NODE_NAMES * 32 + 64];
    size_t used = (size_t)snprintf(text, sizeof text, "[nodes]\n");
    for (int i = 0; i < CDM_MAX_NODE_NAMES - 1; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "n%d = %d\n", i, i);
    cr_assert_eq(parse(text), 1, "%s", test_config_errors(&config));
    cr_assert_eq(config.n_node_names, CDM_MAX_NODE_NAMES);
    cr_assert_eq(config.errors[0].line, CDM_MAX_NODE_NAMES);
    cr_assert(strstr(config.errors[0].message, "too many node set names"), "%s", test_config_errors(&config));
}

/* ---------------------------------------------------------------- syntax */

Test(syntax, trailing_comments_and_whitespace)
{
    parse_clean("[settings]   # the settings\n"
                "  min_size   =   2M    # two megabytes\n"
                "epoch = 5ms\t; a tab, then a semicolon comment\n"
                "log = /tmp/run#1;a.log\n"
                "; a whole-line comment\n"
                "   # an indented whole-line comment\n"
                "\t[rule w] ; comment after a header\n"
                "policy = bind 0   # comment\n"
                "caller = *:load_#x*\n");
    cr_assert_eq(config.settings.min_size, 2 * M);
    cr_assert_eq(config.settings.epoch_ns, 5 * MS);
    cr_assert_str_eq(config.settings.log, "/tmp/run#1;a.log");
    cr_assert_eq(config.n_rules, 1);
    cr_assert_str_eq(config.rules[0].policy_nodes, "0");
    cr_assert_str_eq(config.rules[0].caller, "*:load_#x*");
}

Test(syntax, crlf_and_no_final_newline)
{
    parse_clean("[settings]\r\nmin_size = 8K\r\n[rule r]\r\npolicy = bind 0-1\r\n");
    cr_assert_eq(config.settings.min_size, 8 * K);
    cr_assert_str_eq(config.rules[0].policy_nodes, "0-1");
    parse_clean("[settings]\nmin_size = 16K");
    cr_assert_eq(config.settings.min_size, 16 * K);
}

Test(syntax, text_is_bounded_by_its_length)
{
    const char text[] = "[settings]\nmin_size = 4K\nstrict = what";
    /* Stop right after "4K\n": the rest is not part of the text. */
    size_t len = strstr(text, "strict") - text;
    cr_assert_eq(cdm__config_parse(&config, "t.conf", text, len), 0, "%s", test_config_errors(&config));
    cr_assert_eq(config.settings.min_size, 4 * K);
    cr_assert_eq(cdm__config_parse(&config, "t.conf", "[settings]\nmin_size = 4K", 23), 0);
    cr_assert_eq(config.settings.min_size, 4, "\"4K\" cut to \"4\"");
}

/* ---------------------------------------------------------------- errors */

static const struct error_case {
    const char *text;
    int line;
    const char *message;
} error_cases[] = {
    {"[rule w]\nsise = 1M\npolicy = local\n", 2,
     "unknown key 'sise' in [rule w]; expected one of size, caller, kind, program, policy, "
     "on_full, budget, migrate, idle, hot_set"},
    {"[settings]\nmin_sise = 1M\n", 2,
     "unknown key 'min_sise' in [settings]; expected one of min_size, track, epoch, log, report, "
     "dry_run, strict"},
    {"[setting]\nmin_size = 1M\n", 1,
     "unknown section '[setting]'; expected [nodes], [settings] or [rule NAME]"},
    {"[settings\nmin_size = 1M\n", 1, "unterminated section header '[settings'; expected"},
    {"[rule]\npolicy = local\n", 1, "rule section has no name; expected [rule NAME]"},
    {"[rule a b]\npolicy = local\n", 1, "invalid rule name 'a b'; expected one word"},
    {"[rule a/b]\npolicy = local\n", 1, "invalid rule name 'a/b'"},
    {"[rule a]\npolicy = local\n[rule a]\npolicy = local\n", 3,
     "duplicate rule name 'a' (first defined on line 1)"},
    {"[settings]\nmin_size 1M\n", 2, "expected 'key = value' or a section header, found "
                                     "'min_size 1M'"},
    {"[settings]\n= 1M\n", 2, "missing key before '='"},
    {"[settings]\nmin_size =\n", 2,
     "missing value for 'min_size'; expected a number with optional K, M, G or T suffix"},
    {"[rule r]\npolicy =   # nothing\n", 2, "missing value for 'policy'"},
    {"min_size = 1M\n", 1, "'min_size' is outside any section; expected a section header"},
    {"[settings]\nepoch = 1ms\nepoch = 2ms\n", 3,
     "duplicate key 'epoch' in [settings] (first set on line 2)"},
    {"[rule r]\npolicy = local\npolicy = default\n", 3,
     "duplicate key 'policy' in [rule r] (first set on line 2)"},
    {"[settings]\nmin_size = 12Q\n", 2,
     "invalid size '12Q' for min_size; expected a number with optional K, M, G or T suffix"},
    {"[rule r]\npolicy = local\nbudget = 99999999999T\n", 3,
     "invalid size '99999999999T' for budget; expected at most 16777215T"},
    {"[rule r]\npolicy = local\nhot_set = 1.5G\n", 3, "invalid size '1.5G' for hot_set"},
    {"[rule r]\npolicy = local\nsize = 1M-4K\n", 3,
     "size window '1M-4K' is empty; expected MIN-MAX with MIN at most MAX"},
    {"[rule r]\npolicy = local\nsize = 12Q-\n", 3,
     "invalid size '12Q' in size window '12Q-'; expected a number"},
    {"[rule r]\npolicy = local\nsize = -\n", 3, "invalid size window '-'; expected MIN-"},
    {"[settings]\nepoch = 100\n", 2,
     "invalid duration '100' for epoch; expected a number with a unit ns, us, ms or s"},
    {"[settings]\nepoch = 0ms\n", 2, "epoch is 0; expected a duration greater than 0"},
    {"[rule r]\npolicy = local\nidle = 99999999999s\n", 3,
     "invalid duration '99999999999s' for idle; expected at most 18446744073s"},
    {"[rule r]\npolicy = local\nkind = heap,stack\n", 3,
     "invalid kind 'stack'; expected a comma list of heap, anon, shared, file or any"},
    {"[rule r]\npolicy = local\nkind = heap,,anon\n", 3, "empty item in kind 'heap,,anon'"},
    {"[rule r]\npolicy = pin 0\n", 2,
     "invalid policy 'pin 0'; expected 'policy = bind|preferred|interleave|weighted-interleave "
     "NODES|local|default'"},
    {"[rule r]\npolicy = bind\n", 2, "policy 'bind' needs a node set; expected 'bind NODES'"},
    {"[rule r]\npolicy = local 0\n", 2, "policy 'local' takes no node set"},
    {"[rule r]\npolicy = bind 0-\n", 2, "invalid node set '0-'; expected a node list like 0-1,3"},
    {"[rule r]\npolicy = bind 0;1\n", 2, "invalid node set '0;1'"},
    {"[rule r]\npolicy = bind 3-1\n", 2, "node range 3-1 in '3-1' runs backwards"},
    {"[rule r]\npolicy = bind 4096\n", 2, "names a node above 1023"},
    {"[rule r]\npolicy = bind fast\n", 2,
     "unknown node set 'fast'; expected a node list like 0-1,3 or a name from [nodes]: cdm, "
     "dram"},
    {"[rule r]\npolicy = bind cdm,dram\n", 2, "unknown node set 'cdm,dram'"},
    {"[rule r]\nsize = 1M-\n", 1,
     "rule 'r' has no policy; expected 'policy = bind|preferred|interleave|weighted-interleave "
     "NODES|local|default'"},
    {"[rule r]\npolicy = local\non_full = spill\n", 3,
     "invalid on_full 'spill'; expected fallback or fail"},
    {"[rule r]\npolicy = local\nmigrate = auto\n", 3,
     "invalid migrate 'auto'; expected none, follow-cpu, tier or kernel"},
    {"[settings]\ntrack = uffd\n", 2,
     "invalid tracker 'uffd' for track; expected auto, wp-async, wp, missing, damon or off"},
    {"[settings]\ndry_run = maybe\n", 2, "invalid dry_run 'maybe'; expected true or false"},
    {"[settings]\nstrict = 2\n", 2, "invalid strict '2'"},
    {"[settings]\nlog = /tmp/%q.log\n", 2,
     "invalid path template '/tmp/%q.log' for log at '%q'; expected %p, %h, %e, %j, %r, %l or %%"},
    {"[settings]\nreport = /tmp/r%\n", 2, "invalid path template '/tmp/r%' for report"},
    {"[nodes]\nfast = auto\n", 2, "node set 'fast' cannot be auto (only cdm and dram can)"},
    {"[nodes]\n0 = 1\n", 2, "invalid node set name '0'; expected a word"},
    {"[nodes]\nauto = 1\n", 2, "invalid node set name 'auto'"},
    {"[nodes]\nfast = 1\nfast = 2\n", 3, "duplicate node set name 'fast' (first defined on line 2)"},
    {"[nodes]\nfast = 1-\n", 2, "invalid node set '1-'"},
    {"[nodes]\nfast = cdm\n", 2, "invalid node set 'cdm' for 'fast'; expected a node list"},
    {"[nodes]\ncdm = fast\n", 2, "invalid node set 'fast' for 'cdm'; expected auto or a node list"},
    {"[nodes]\nfast =\n", 2, "missing node set for 'fast'"},
    {"[rule r]\npolicy = local\ncaller = *[ab\n", 3,
     "invalid glob '*[ab' for caller: '[' is not closed"},
    {"[rule r]\npolicy = local\nprogram = [!\n", 3, "invalid glob '[!' for program"},
};

Test(errors, each_class_names_file_line_and_what_was_expected)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const struct error_case *c = &error_cases[i];
        int n = parse(c->text);
        cr_expect_eq(n, 1, "case %zu: %d errors for:\n%s%s", i, n, c->text, test_config_errors(&config));
        if (n < 1)
            continue;
        cr_expect_str_eq(config.errors[0].file, "t.conf", "case %zu", i);
        cr_expect_eq(config.errors[0].line, c->line, "case %zu: line %d, not %d, for:\n%s%s", i,
                     config.errors[0].line, c->line, c->text, test_config_errors(&config));
        cr_expect(strstr(config.errors[0].message, c->message),
                  "case %zu: expected \"%s\" in%s", i, c->message, test_config_errors(&config));
    }
}

Test(errors, a_bad_value_leaves_the_default)
{
    cr_assert_eq(parse("[settings]\nmin_size = 12Q\nepoch = 0s\ntrack = x\n"), 3);
    assert_default_settings();
}

Test(errors, parsing_goes_on_after_an_error)
{
    cr_assert_eq(parse("[settings]\n"
                       "min_size = 1Q\n"          /* 2 */
                       "epoch = 1\n"              /* 3 */
                       "[rule ok]\n"
                       "policy = local\n"
                       "[rule bad]\n"             /* 6: no policy */
                       "size = x\n"               /* 7 */
                       "[rule later]\n"
                       "policy = bind 0\n"),
                 4, "%s", test_config_errors(&config));
    static const int lines[] = {2, 3, 7, 6};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(config.errors[i].line, lines[i], "error %d%s", i, test_config_errors(&config));
    cr_assert_eq(config.n_rules, 3);
    cr_assert_str_eq(config.rules[2].name, "later");
    cr_assert_eq(config.rules[2].policy, CDM_POLICY_BIND);
}

Test(errors, an_unknown_section_is_skipped_whole)
{
    cr_assert_eq(parse("[sttings]\nmin_size = 1Q\nnonsense\n[settings]\nmin_size = 4K\n"), 1);
    cr_assert_eq(config.settings.min_size, 4 * K);
}

Test(errors, errors_past_the_limit_are_counted)
{
    static char text[4096];
    size_t used = 0;
    for (int i = 0; i < CDM_MAX_ERRORS + 8; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "stray%d\n", i);
    cr_assert_eq(parse(text), CDM_MAX_ERRORS + 8);
    cr_assert_eq(config.n_errors, CDM_MAX_ERRORS + 8);
    cr_assert_eq(config.errors[CDM_MAX_ERRORS - 1].line, CDM_MAX_ERRORS);
    cr_assert(strstr(config.errors[CDM_MAX_ERRORS - 1].message, "stray31"), "%s", test_config_errors(&config));
}

Test(errors, too_many_rules)
{
    static char text[(CDM_MAX_RULES + 2) * 40];
    size_t used = 0;
    for (int i = 0; i < CDM_MAX_RULES + 2; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "[rule r%d]\npolicy = local\n",
                                 i);
    cr_assert_eq(parse(text), 1, "%s", test_config_errors(&config));
    cr_assert_eq(config.n_rules, CDM_MAX_RULES);
    cr_assert_eq(config.errors[0].line, 2 * CDM_MAX_RULES + 1);
    cr_assert(strstr(config.errors[0].message, "too many rules; expected at most 64"), "%s",
              test_config_errors(&config));
}

Test(errors, values_too_long)
{
    static char text[4096];
    char glob[CDM_GLOB_MAX + 1];
    memset(glob, 'x', sizeof glob - 1);
    glob[sizeof glob - 1] = '\0';
    snprintf(text, sizeof text, "[rule r]\npolicy = local\nprogram = %s\n", glob);
    cr_assert_eq(parse(text), 1);
    cr_assert_eq(config.errors[0].line, 3);
    cr_assert(strstr(config.errors[0].message, "program is too long"), "%s", test_config_errors(&config));
    glob[sizeof glob - 2] = '\0'; /* CDM_GLOB_MAX - 1 characters fit */
    snprintf(text, sizeof text, "[rule r]\npolicy = local\nprogram = %s\n", glob);
    parse_clean(text);
    cr_assert_eq(strlen(config.rules[0].program), CDM_GLOB_MAX - 1);

    char value[CDM_PATH_MAX + 8];
    memset(value, 'y', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    snprintf(text, sizeof text, "[settings]\nlog = /%s\n", value);
    cr_assert_eq(parse(text), 1);
    cr_assert(strstr(config.errors[0].message, "value of 'log' is too long"), "%s",
              test_config_errors(&config));
}

Test(errors, nul_byte_in_a_line)
{
    const char text[] = "[settings]\nmin_size = 1M\0junk\nepoch = 1s\n";
    cr_assert_eq(cdm__config_parse(&config, "t.conf", text, sizeof text - 1), 1);
    cr_assert_eq(config.errors[0].line, 2);
    cr_assert(strstr(config.errors[0].message, "NUL"), "%s", test_config_errors(&config));
    cr_assert_eq(config.settings.epoch_ns, 1000 * MS);
}

Test(errors, file_is_the_path_given)
{
    cr_assert_eq(cdm__config_parse(&config, "/etc/site.conf", "x\n", 2), 1);
    cr_assert_str_eq(config.errors[0].file, "/etc/site.conf");
    cr_assert_str_eq(config.path, "/etc/site.conf");
}

/* ---------------------------------------------------------------- sizes, durations */

Test(numbers, sizes)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t bytes;
    } cases[] = {
        {"0", true, 0},
        {"1", true, 1},
        {"4096", true, 4096},
        {"1K", true, K},
        {"1k", true, K},
        {"64M", true, 64 * M},
        {"2G", true, 2 * G},
        {"3T", true, 3 * T},
        {"0T", true, 0},
        {"16777215T", true, 16777215 * T},
        {"18446744073709551615", true, UINT64_MAX},
        {"16777216T", false, 0},
        {"18446744073709551616", false, 0},
        {"99999999999T", false, 0},
        {"99999999999999999999999K", false, 0},
        {"", false, 0},
        {"K", false, 0},
        {"1.5G", false, 0},
        {"-1", false, 0},
        {"+1", false, 0},
        {" 1", false, 0},
        {"1 K", false, 0},
        {"1KB", false, 0},
        {"1KiB", false, 0},
        {"1P", false, 0},
        {"0x10", false, 0},
        {"12Q", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t bytes = 12345;
        bool ok = cdm__parse_size(cases[i].text, &bytes);
        cr_expect_eq(ok, cases[i].ok, "'%s'", cases[i].text);
        cr_expect_eq(bytes, ok ? cases[i].bytes : 12345, "'%s': %llu", cases[i].text,
                     (unsigned long long)bytes);
    }
}

Test(numbers, durations)
{
    static const struct {
        const char *text;
        bool ok;
        uint64_t ns;
    } cases[] = {
        {"7ns", true, 7},
        {"5us", true, 5000},
        {"100ms", true, 100 * MS},
        {"1s", true, 1000 * MS},
        {"0ms", true, 0},
        {"18446744073s", true, 18446744073000000000ull},
        {"18446744074s", false, 0},
        {"99999999999999999999ns", false, 0},
        {"1", false, 0},
        {"1m", false, 0},
        {"1min", false, 0},
        {"ms", false, 0},
        {"1 ms", false, 0},
        {"1MS", false, 0},
        {"1.5s", false, 0},
        {"-1s", false, 0},
        {"", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t ns = 12345;
        bool ok = cdm__parse_duration(cases[i].text, &ns);
        cr_expect_eq(ok, cases[i].ok, "'%s'", cases[i].text);
        cr_expect_eq(ns, ok ? cases[i].ns : 12345, "'%s'", cases[i].text);
    }
}

/* ---------------------------------------------------------------- glob */

Test(glob, cases)
{
    static const struct {
        const char *pattern, *text;
        bool match;
    } cases[] = {
        {"", "", true},
        {"", "a", false},
        {"*", "", true},
        {"*", "anything", true},
        {"abc", "abc", true},
        {"abc", "abcd", false},
        {"a*", "abc", true},
        {"*c", "abc", true},
        {"*c", "abd", false},
        {"a?c", "abc", true},
        {"a?c", "ac", false},
        {"a**c", "ac", true},
        {"a*b*c", "aXbYc", true},
        {"a*b*c", "aXbY", false},
        {"*ab", "aab", true},
        {"[abc]x", "bx", true},
        {"[a-c]x", "dx", false},
        {"[!a-c]x", "dx", true},
        {"[!a-c]x", "bx", false},
        {"[^a]", "a", false},
        {"[]]", "]", true},
        {"[!]]", "a", true},
        {"[a-]", "-", true},
        {"[ab", "[ab", true},
        {"\\*", "*", true},
        {"\\*", "a", false},
        {"python3*", "python3.11", true},
        {"python3*", "python", false},
        {"*libmodel.so:load_*", "/opt/lib/libmodel.so:load_weights", true},
        {"*libmodel.so:load_*", "libmodel.so:load_", true},
        {"*libmodel.so:load_*", "libmodel.so.1:load_x", false},
        {"*:cudaMalloc*", "libcudart.so.12:cudaMallocManaged", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(cdm__glob_match(cases[i].pattern, cases[i].text), cases[i].match,
                     "'%s' against '%s'", cases[i].pattern, cases[i].text);
}

/* Recursive matchers take exponential time here; the last-star retry takes n*m. */
Test(glob, no_exponential_blowup, .timeout = 5)
{
    static char text[20001];
    memset(text, 'a', sizeof text - 1);
    cr_assert_not(cdm__glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
    cr_assert(cdm__glob_match("*a*a*a*a*a*a*a*a*a*a*a*a", text));
}

/* ---------------------------------------------------------------- names */

Test(names, kinds_and_formats)
{
    cr_assert_str_eq(cdm__kind_name(CDM_KIND_HEAP), "heap");
    cr_assert_str_eq(cdm__kind_name(CDM_KIND_ANON), "anon");
    cr_assert_str_eq(cdm__kind_name(CDM_KIND_SHARED), "shared");
    cr_assert_str_eq(cdm__kind_name(CDM_KIND_FILE), "file");
    cr_assert_str_eq(cdm__kind_name(CDM_KIND_ANY), "any");
    cr_assert_str_eq(cdm__policy_name(CDM_POLICY_WEIGHTED_INTERLEAVE), "weighted-interleave");
    cr_assert_str_eq(cdm__policy_name((enum cdm_policy_mode)99), "unknown");
    cr_assert_str_eq(cdm__migrate_name(CDM_MIGRATE_FOLLOW_CPU), "follow-cpu");
    cr_assert_str_eq(cdm__track_name(CDM_TRACK_WP_ASYNC), "wp-async");

    static const struct {
        unsigned kinds;
        const char *text;
    } cases[] = {
        {CDM_KIND_HEAP | CDM_KIND_ANON, "heap,anon"},
        {CDM_KIND_FILE | CDM_KIND_HEAP, "heap,file"},
        {CDM_KIND_SHARED, "shared"},
        {CDM_KIND_ANY, "any"},
        {0, ""},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_str_eq(cdm__kinds_format(cases[i].kinds, buf, sizeof buf), cases[i].text);
    cr_assert_str_eq(cdm__kinds_format(CDM_KIND_HEAP | CDM_KIND_ANON, buf, 7), "heap");
    cr_assert_str_eq(cdm__kinds_format(CDM_KIND_HEAP, buf, 1), "");
}

/* ---------------------------------------------------------------- environment */

Test(environment, locate)
{
    setenv("CDMPLACE_CONFIG", "/some/where.conf", 1);
    cr_assert_str_eq(cdm__config_locate(), "/some/where.conf");
    setenv("CDMPLACE_CONFIG", "", 1);
    const char *fallback = access("/etc/cdmplace.conf", F_OK) == 0 ? "/etc/cdmplace.conf" : NULL;
    cr_assert_eq(cdm__config_locate() == NULL, fallback == NULL);
    unsetenv("CDMPLACE_CONFIG");
    cr_assert_eq(cdm__config_locate() == NULL, fallback == NULL);
    if (fallback)
        cr_assert_str_eq(cdm__config_locate(), fallback);
}

Test(environment, overrides_the_file)
{
    parse_clean("[settings]\nlog = /tmp/file.log\nreport = off\ndry_run = false\n");
    setenv("CDMPLACE_LOG", "/tmp/env-%p.log", 1);
    setenv("CDMPLACE_REPORT", "/tmp/report-%r", 1);
    setenv("CDMPLACE_DRY_RUN", "1", 1);
    cdm__config_apply_env(&config);
    cr_assert_eq(config.n_errors, 0, "%s", test_config_errors(&config));
    cr_assert_str_eq(config.settings.log, "/tmp/env-%p.log");
    cr_assert_eq(config.settings.report, CDM_REPORT_PATH);
    cr_assert_str_eq(config.settings.report_path, "/tmp/report-%r");
    cr_assert(config.settings.dry_run);

    setenv("CDMPLACE_LOG", "off", 1);
    setenv("CDMPLACE_REPORT", "stderr", 1);
    setenv("CDMPLACE_DRY_RUN", "0", 1);
    cdm__config_apply_env(&config);
    cr_assert_str_eq(config.settings.log, "");
    cr_assert_eq(config.settings.report, CDM_REPORT_STDERR);
    cr_assert_not(config.settings.dry_run);

    setenv("CDMPLACE_REPORT", "off", 1);
    setenv("CDMPLACE_DRY_RUN", "yes", 1);
    cdm__config_apply_env(&config);
    cr_assert_eq(config.settings.report, CDM_REPORT_OFF);
    cr_assert(config.settings.dry_run);
    cr_assert_eq(config.n_errors, 0, "%s", test_config_errors(&config));
}

Test(environment, unset_or_empty_variables_change_nothing)
{
    unsetenv("CDMPLACE_LOG");
    setenv("CDMPLACE_REPORT", "", 1);
    unsetenv("CDMPLACE_DRY_RUN");
    parse_clean("[settings]\nlog = /tmp/file.log\nreport = off\ndry_run = true\n");
    cdm__config_apply_env(&config);
    cr_assert_str_eq(config.settings.log, "/tmp/file.log");
    cr_assert_eq(config.settings.report, CDM_REPORT_OFF);
    cr_assert(config.settings.dry_run);
}

Test(environment, invalid_values_are_errors)
{
    cdm__config_default(&config);
    setenv("CDMPLACE_DRY_RUN", "perhaps", 1);
    setenv("CDMPLACE_LOG", "/tmp/%z", 1);
    cdm__config_apply_env(&config);
    cr_assert_eq(config.n_errors, 2, "%s", test_config_errors(&config));
    cr_assert_str_eq(config.errors[0].file, "CDMPLACE_LOG");
    cr_assert_eq(config.errors[0].line, 0);
    cr_assert(strstr(config.errors[0].message, "invalid path template '/tmp/%z'"), "%s",
              test_config_errors(&config));
    cr_assert_str_eq(config.errors[1].file, "CDMPLACE_DRY_RUN");
    cr_assert(strstr(config.errors[1].message, "invalid value 'perhaps'"), "%s", test_config_errors(&config));
    cr_assert_str_eq(config.settings.log, "");
    cr_assert_not(config.settings.dry_run);
}

/* ---------------------------------------------------------------- files */

Test(files, load_reads_and_parses)
{
    char path[256];
    test_write_file(path, sizeof path, "[settings]\nmin_size = 8M\n[rule r]\npolicy = bind 0\n"
                                       "kind = bogus\n");
    cr_assert_eq(cdm__config_load(&config, path), 1, "%s", test_config_errors(&config));
    cr_assert_str_eq(config.path, path);
    cr_assert_eq(config.settings.min_size, 8 * M);
    cr_assert_eq(config.n_rules, 1);
    cr_assert_str_eq(config.errors[0].file, path);
    cr_assert_eq(config.errors[0].line, 5);
    unlink(path);
}

Test(files, missing_file)
{
    cr_assert_eq(cdm__config_load(&config, "/nonexistent/cdmplace.conf"), 1);
    cr_assert_str_eq(config.errors[0].file, "/nonexistent/cdmplace.conf");
    cr_assert_eq(config.errors[0].line, 0);
    cr_assert(strstr(config.errors[0].message, "cannot open the config file: No such file or "
                                               "directory (ENOENT)"),
              "%s", test_config_errors(&config));
    assert_default_settings();
}

Test(files, directory)
{
    cr_assert_eq(cdm__config_load(&config, "/"), 1);
    cr_assert_eq(config.errors[0].line, 0);
    cr_assert(strstr(config.errors[0].message, "(EISDIR)"), "%s", test_config_errors(&config));
}

Test(files, size_limit_is_one_mebibyte)
{
    static char text[(1 << 20) + 2];
    memset(text, '\n', sizeof text - 1);
    memcpy(text, "[settings]\nmin_size = 2M\n", 25);
    text[(1 << 20)] = '\0'; /* exactly 1 MiB */
    char path[256];
    test_write_file(path, sizeof path, text);
    cr_assert_eq(cdm__config_load(&config, path), 0, "%s", test_config_errors(&config));
    cr_assert_eq(config.settings.min_size, 2 * M);
    unlink(path);

    text[(1 << 20)] = '\n'; /* one byte more */
    test_write_file(path, sizeof path, text);
    cr_assert_eq(cdm__config_load(&config, path), 1);
    cr_assert_eq(config.errors[0].line, 0);
    cr_assert(strstr(config.errors[0].message, "larger than 1 MiB"), "%s", test_config_errors(&config));
    unlink(path);
}

Test(files, examples_in_config_parse_clean)
{
    char dir_path[PATH_MAX];
    cr_assert(test_source_path("config", dir_path, sizeof dir_path), "no source tree");
    DIR *dir = opendir(dir_path);
    cr_assert(dir, "cannot open %s: %s", dir_path, strerror(errno));
    int files = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 5, ".conf") != 0)
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir_path, entry->d_name);
        cr_expect_eq(cdm__config_load(&config, path), 0, "%s:%s", path, test_config_errors(&config));
        files++;
    }
    closedir(dir);
    cr_assert_geq(files, 3, "expected the example configs in %s", dir_path);
}

/* The parser runs in the constructor of a preloaded library: its objects must not call the
 * allocator, stdio streams or getenv. */
Test(files, core_objects_do_not_allocate)
{
    char root[PATH_MAX];
    cr_assert(test_source_path("build/core/preload", root, sizeof root));
    static const char *const objects[] = {"config.o", "nodeset.o", "rules.o"};
    static const char *const forbidden[] = {
        "malloc", "calloc", "realloc", "free", "strdup", "strndup", "fopen", "fprintf", "printf",
        "puts", "getenv", "secure_getenv", "sscanf", "strtod", "asprintf", "vasprintf",
        "strerror", "setlocale", "__isoc99_sscanf",
    };
    for (size_t i = 0; i < sizeof objects / sizeof objects[0]; i++) {
        char command[PATH_MAX + 64];
        snprintf(command, sizeof command, "nm -u %s/%s 2>/dev/null", root, objects[i]);
        FILE *nm = popen(command, "r");
        cr_assert(nm);
        char line[256];
        int symbols = 0;
        while (fgets(line, sizeof line, nm)) {
            char *name = strrchr(line, ' ');
            name = name ? name + 1 : line;
            name[strcspn(name, "@\n")] = '\0';
            symbols++;
            for (size_t j = 0; j < sizeof forbidden / sizeof forbidden[0]; j++)
                cr_expect_str_neq(name, forbidden[j], "%s calls %s", objects[i], name);
        }
        int status = pclose(nm);
        if (status != 0)
            cr_skip_test("nm failed on %s/%s", root, objects[i]);
        cr_expect_gt(symbols, 0, "%s has no undefined symbols at all?", objects[i]);
    }
}
