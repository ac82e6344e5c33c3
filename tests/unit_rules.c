/* SPDX-License-Identifier: MIT */
/* Node masks, node sets resolved against hand-built topologies, the warnings of
 * cdm__config_resolve, and which rule places an allocation. */
#include "core.h"
#include "testutil.h"

#define K 1024ull
#define M (1024ull * K)
#define G (1024ull * M)

/* Large: static, not on the test's stack. Each test runs in its own process. */
static struct cdm_config config;
static struct cdm_topology topology;

static void parse_clean(const char *text)
{
    cr_assert_eq(cdm__config_parse(&config, "t.conf", text, strlen(text)), 0, "%s%s", text,
                 test_config_errors(&config));
}

/* ---------------------------------------------------------------- topologies */

static void add_node(int node, int cpus, bool memory)
{
    struct cdm_node *n = &topology.nodes[node];
    n->present = true;
    n->has_memory = memory;
    n->n_cpus = cpus;
    n->is_cdm = memory && cpus == 0;
    n->mem_total = memory ? 16 * G : 0;
    n->mem_free = n->mem_total / 2;
    n->memory_tier = -1;
    cdm__nodemask_set(&topology.online, node);
    if (n->is_cdm)
        cdm__nodemask_set(&topology.cdm, node);
    if (memory && cpus > 0)
        cdm__nodemask_set(&topology.dram, node);
    if (node > topology.max_node)
        topology.max_node = node;
    topology.n_nodes++;
}

/* A laptop: one node with CPUs and memory. */
static void one_dram_node(void)
{
    memset(&topology, 0, sizeof topology);
    add_node(0, 8, true);
}

/* A host with a coherent accelerator: node 0 has CPUs, nodes 1 and 2 memory only. */
static void dram_and_two_cdm_nodes(void)
{
    memset(&topology, 0, sizeof topology);
    add_node(0, 16, true);
    add_node(1, 0, true);
    add_node(2, 0, true);
}

static cdm_nodemask mask_of(const char *nodes)
{
    cdm_nodemask mask = {{0}};
    for (const char *p = nodes; *p; p++)
        if (*p >= '0' && *p <= '9')
            cdm__nodemask_set(&mask, *p - '0');
    return mask;
}

static bool mask_equal(const cdm_nodemask *a, const cdm_nodemask *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* ---------------------------------------------------------------- masks */

Test(nodemask, count_empty_format)
{
    static const struct {
        int nodes[8];
        int n;
        const char *text;
    } cases[] = {
        {{0}, 0, ""},
        {{0}, 1, "0"},
        {{0, 1}, 2, "0-1"},
        {{0, 1, 3}, 3, "0-1,3"},
        {{0, 2, 4}, 3, "0,2,4"},
        {{5, 6, 7, 9}, 4, "5-7,9"},
        {{63, 64}, 2, "63-64"},
        {{1023}, 1, "1023"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdm_nodemask mask = {{0}};
        for (int j = 0; j < cases[i].n; j++)
            cdm__nodemask_set(&mask, cases[i].nodes[j]);
        char buf[64];
        cr_expect_str_eq(cdm__nodemask_format(&mask, buf, sizeof buf), cases[i].text);
        cr_expect_eq(cdm__nodemask_count(&mask), cases[i].n, "case %zu", i);
        cr_expect_eq(cdm__nodemask_empty(&mask), cases[i].n == 0, "case %zu", i);
    }
}

Test(nodemask, all_nodes_and_small_buffers)
{
    cdm_nodemask mask;
    memset(&mask, 0xff, sizeof mask);
    char buf[16];
    cr_assert_str_eq(cdm__nodemask_format(&mask, buf, sizeof buf), "0-1023");
    cr_assert_eq(cdm__nodemask_count(&mask), CDM_MAX_NODES);
    mask = mask_of("0246");
    cr_assert_str_eq(cdm__nodemask_format(&mask, buf, 5), "0,2", "whole items only");
    cr_assert_str_eq(cdm__nodemask_format(&mask, buf, 1), "");
}

/* ---------------------------------------------------------------- resolution */

static const struct resolve_case {
    const char *spec;
    const char *out;     /* digits of the nodes placed on */
    const char *missing; /* digits of the nodes named but absent */
} three_node_cases[] = {
    {"0", "0", ""},
    {"0-2", "012", ""},
    {"1,2", "12", ""},
    {" 0 - 1 , 2 ", "012", ""},
    {"cdm", "12", ""},
    {"dram", "0", ""},
    {"0-3", "012", "3"},
    {"5", "", "5"},
    {"2,7-9", "2", "789"},
}, one_node_cases[] = {
    {"0", "0", ""},
    {"cdm", "", ""},
    {"dram", "0", ""},
    {"0-1", "0", "1"},
    {"3", "", "3"},
};

static void check_resolve(const struct resolve_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        cdm_nodemask out, missing;
        char why[160] = "";
        cr_expect(cdm__nodeset_resolve(&config, &topology, cases[i].spec, &out, &missing, why,
                                       sizeof why),
                  "'%s': %s", cases[i].spec, why);
        cdm_nodemask want_out = mask_of(cases[i].out), want_missing = mask_of(cases[i].missing);
        char got[64], got_missing[64];
        cr_expect(mask_equal(&out, &want_out), "'%s' placed on '%s'", cases[i].spec,
                  cdm__nodemask_format(&out, got, sizeof got));
        cr_expect(mask_equal(&missing, &want_missing), "'%s' missing '%s'", cases[i].spec,
                  cdm__nodemask_format(&missing, got_missing, sizeof got_missing));
    }
}

Test(nodeset, resolve_on_a_host_with_two_cdm_nodes)
{
    cdm__config_default(&config);
    dram_and_two_cdm_nodes();
    check_resolve(three_node_cases, sizeof three_node_cases / sizeof three_node_cases[0]);
}

Test(nodeset, resolve_on_a_single_dram_node)
{
    cdm__config_default(&config);
    one_dram_node();
    check_resolve(one_node_cases, sizeof one_node_cases / sizeof one_node_cases[0]);
}

Test(nodeset, names_from_the_config)
{
    parse_clean("[nodes]\nfast = 1-2\ncdm = 2\nwide = 0,2-3\n");
    dram_and_two_cdm_nodes();
    static const struct resolve_case cases[] = {
        {"fast", "12", ""},
        {"cdm", "2", ""}, /* redefined: no longer auto */
        {"dram", "0", ""},
        {"wide", "02", "3"},
    };
    check_resolve(cases, sizeof cases / sizeof cases[0]);
}

Test(nodeset, nodes_without_memory_place_nothing)
{
    dram_and_two_cdm_nodes();
    add_node(3, 4, false); /* CPUs, no memory: mbind cannot place there */
    cdm__config_default(&config);
    static const struct resolve_case cases[] = {{"3", "", "3"}, {"0-3", "012", "3"}};
    check_resolve(cases, sizeof cases / sizeof cases[0]);
}

Test(nodeset, missing_may_be_null)
{
    cdm__config_default(&config);
    one_dram_node();
    cdm_nodemask out;
    char why[160];
    cr_assert(cdm__nodeset_resolve(&config, &topology, "0-5", &out, NULL, why, sizeof why));
    cr_assert_eq(cdm__nodemask_count(&out), 1);
}

Test(nodeset, syntax_errors)
{
    cdm__config_default(&config);
    dram_and_two_cdm_nodes();
    static const struct {
        const char *spec;
        const char *why;
    } cases[] = {
        {"bogus", "unknown node set 'bogus'; expected a node list like 0-1,3 or a name from "
                  "[nodes]: cdm, dram"},
        {"", "unknown node set ''"},
        {"2-1", "node range 2-1 in '2-1' runs backwards"},
        {"0,,1", "invalid node set '0,,1'; expected a node list like 0-1,3"},
        {"0-", "invalid node set '0-'"},
        {"1 2", "invalid node set '1 2'"},
        {"x1", "unknown node set 'x1'"},
        {"1024", "names a node above 1023"},
        {"0-99999999999999999999", "names a node above 1023"},
        {"auto", "unknown node set 'auto'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cdm_nodemask out, missing;
        char why[200] = "";
        cr_expect_not(cdm__nodeset_resolve(&config, &topology, cases[i].spec, &out, &missing,
                                           why, sizeof why),
                      "'%s' resolved", cases[i].spec);
        cr_expect(strstr(why, cases[i].why), "'%s': \"%s\" lacks \"%s\"", cases[i].spec, why,
                  cases[i].why);
        cr_expect(cdm__nodemask_empty(&out), "'%s'", cases[i].spec);
        cr_expect_not(cdm__nodeset_check(&config, cases[i].spec, why, sizeof why), "'%s'",
                      cases[i].spec);
    }
}

/* The parser refuses `fast = auto`; a config built by hand must still not resolve it. */
Test(nodeset, auto_is_only_for_cdm_and_dram)
{
    cdm__config_default(&config);
    struct cdm_node_name *entry = &config.node_names[config.n_node_names++];
    strcpy(entry->name, "fast");
    strcpy(entry->spec, "auto");
    one_dram_node();
    cdm_nodemask out;
    char why[200];
    cr_assert_not(cdm__nodeset_resolve(&config, &topology, "fast", &out, NULL, why, sizeof why));
    cr_assert(strstr(why, "node set 'fast' is auto, which only cdm and dram can be"), "%s", why);
}

Test(nodeset, check_needs_no_topology)
{
    parse_clean("[nodes]\nfast = 1\n");
    char why[160];
    static const char *const good[] = {"0", "0-1,4", "cdm", "dram", "fast"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(cdm__nodeset_check(&config, good[i], why, sizeof why), "'%s': %s", good[i],
                  why);
}

/* ---------------------------------------------------------------- cdm__config_resolve */

static struct warning {
    char file[64];
    int line;
    char what[400];
} warnings[16];
static int n_warnings;

static void record_warning(const char *file, int line, const char *what)
{
    cr_assert_lt(n_warnings, 16);
    snprintf(warnings[n_warnings].file, sizeof warnings[n_warnings].file, "%s", file);
    warnings[n_warnings].line = line;
    snprintf(warnings[n_warnings].what, sizeof warnings[n_warnings].what, "%s", what);
    n_warnings++;
}

static const char resolve_text[] = "[rule absent]\n"           /* 1 */
                                   "policy = bind 3\n"         /* 2 */
                                   "[rule weights]\n"          /* 3 */
                                   "policy = bind cdm\n"       /* 4 */
                                   "[rule spread]\n"           /* 5 */
                                   "policy = interleave cdm\n" /* 6 */
                                   "[rule partial]\n"          /* 7 */
                                   "policy = preferred 0-1\n"  /* 8 */
                                   "[rule here]\n"             /* 9 */
                                   "policy = local\n"          /* 10 */
                                   "[rule zero]\n"             /* 11 */
                                   "policy = bind 0\n";        /* 12 */

Test(resolve, warnings_on_a_single_dram_node)
{
    parse_clean(resolve_text);
    one_dram_node();
    cr_assert_eq(cdm__config_resolve(&config, &topology, record_warning), 0, "%s",
                 test_config_errors(&config));
    cr_assert_eq(n_warnings, 3);
    static const struct {
        int line;
        const char *what;
    } expected[] = {
        {2, "node set '3' names no node on this machine (nodes here: 0); the rule places "
            "nothing"},
        {4, "no CDM node found (no node has memory without CPUs); rules using 'cdm' place "
            "nothing"},
        {8, "node set '0-1' names nodes 1 that are not on this machine (nodes here: 0); the "
            "rule places on 0 only"},
    };
    for (int i = 0; i < 3; i++) {
        cr_expect_str_eq(warnings[i].file, "t.conf");
        cr_expect_eq(warnings[i].line, expected[i].line, "warning %d: %s", i, warnings[i].what);
        cr_expect_str_eq(warnings[i].what, expected[i].what);
    }
    cdm_nodemask zero = mask_of("0");
    cr_assert(cdm__nodemask_empty(&config.rules[0].nodes));
    cr_assert(cdm__nodemask_empty(&config.rules[1].nodes));
    cr_assert(mask_equal(&config.rules[3].nodes, &zero));
    cr_assert(cdm__nodemask_empty(&config.rules[4].nodes), "local has no node set");
    cr_assert(mask_equal(&config.rules[5].nodes, &zero));
}

Test(resolve, warnings_on_a_host_with_two_cdm_nodes)
{
    parse_clean(resolve_text);
    dram_and_two_cdm_nodes();
    cr_assert_eq(cdm__config_resolve(&config, &topology, record_warning), 0);
    cr_assert_eq(n_warnings, 1, "%s", n_warnings > 1 ? warnings[1].what : "");
    cr_assert_eq(warnings[0].line, 2);
    cr_assert_str_eq(warnings[0].what, "node set '3' names no node on this machine (nodes "
                                       "here: 0-2); the rule places nothing");
    cdm_nodemask cdm = mask_of("12"), dram_and_one = mask_of("01");
    cr_assert(mask_equal(&config.rules[1].nodes, &cdm));
    cr_assert(mask_equal(&config.rules[2].nodes, &cdm));
    cr_assert(mask_equal(&config.rules[3].nodes, &dram_and_one));
}

Test(resolve, a_redefined_cdm_is_a_plain_list)
{
    parse_clean("[nodes]\ncdm = 4\n[rule r]\npolicy = bind cdm\n");
    one_dram_node();
    cdm__config_resolve(&config, &topology, record_warning);
    cr_assert_eq(n_warnings, 1);
    cr_assert(strstr(warnings[0].what, "node set 'cdm' names no node on this machine"), "%s",
              warnings[0].what);
}

Test(resolve, warn_may_be_null)
{
    parse_clean(resolve_text);
    one_dram_node();
    cr_assert_eq(cdm__config_resolve(&config, &topology, NULL), 0);
    cdm_nodemask zero = mask_of("0");
    cr_assert(mask_equal(&config.rules[3].nodes, &zero));
}

Test(resolve, syntax_errors_are_config_errors)
{
    parse_clean("[rule r]\n\npolicy = bind 0\n");
    strcpy(config.rules[0].policy_nodes, "0-");
    one_dram_node();
    cr_assert_eq(cdm__config_resolve(&config, &topology, record_warning), 1);
    cr_assert_eq(config.errors[0].line, 3);
    cr_assert_str_eq(config.errors[0].file, "t.conf");
    cr_assert(strstr(config.errors[0].message, "invalid node set '0-'"), "%s", test_config_errors(&config));
    cr_assert_eq(n_warnings, 0);
}

Test(resolve, errors_the_parser_found_are_not_repeated)
{
    const char text[] = "[rule r]\npolicy = bind fast\n";
    cr_assert_eq(cdm__config_parse(&config, "t.conf", text, strlen(text)), 1);
    one_dram_node();
    cr_assert_eq(cdm__config_resolve(&config, &topology, record_warning), 1, "%s",
                 test_config_errors(&config));
}

/* ---------------------------------------------------------------- rule matching */

static const char match_text[] = "[rule small]\n"
                                 "size = -4K\n"
                                 "kind = any\n"
                                 "policy = local\n"
                                 "[rule window]\n"
                                 "size = 64K-1M\n"
                                 "policy = bind cdm\n"
                                 "[rule exact]\n"
                                 "size = 2M\n"
                                 "kind = shared\n"
                                 "policy = bind cdm\n"
                                 "[rule python]\n"
                                 "size = 1G-\n"
                                 "program = python3*\n"
                                 "policy = bind cdm\n"
                                 "[rule loader]\n"
                                 "caller = *libmodel.so:load_*\n"
                                 "policy = bind cdm\n"
                                 "[rule files]\n"
                                 "kind = file\n"
                                 "size = 8M-\n"
                                 "policy = preferred cdm\n";
enum { SMALL, WINDOW, EXACT, PYTHON, LOADER, FILES, NONE = -1 };

static const char *const loader_stack[] = {
    "libc.so.6:malloc",
    "/opt/model/lib/libmodel.so:load_weights",
    "libmodel.so:load_weights",
    "python3.11:main",
};
static const char *const other_stack[] = {"libc.so.6:malloc", "app:compute"};

Test(match, table)
{
    parse_clean(match_text);
    static const struct {
        size_t size;
        enum cdm_kind kind;
        const char *program;
        const char *const *frames;
        int n_frames;
        int rule;
    } cases[] = {
        /* size windows are inclusive at both ends */
        {0, CDM_KIND_HEAP, "app", NULL, 0, SMALL},
        {4 * K, CDM_KIND_FILE, "app", NULL, 0, SMALL},
        {4 * K + 1, CDM_KIND_HEAP, "app", NULL, 0, NONE},
        {64 * K - 1, CDM_KIND_HEAP, "app", NULL, 0, NONE},
        {64 * K, CDM_KIND_HEAP, "app", NULL, 0, WINDOW},
        {1 * M, CDM_KIND_ANON, "app", NULL, 0, WINDOW},
        {1 * M + 1, CDM_KIND_HEAP, "app", NULL, 0, NONE},
        /* kinds: the default heap,anon does not take shared or file */
        {512 * K, CDM_KIND_SHARED, "app", NULL, 0, NONE},
        {512 * K, CDM_KIND_FILE, "app", NULL, 0, NONE},
        {2 * M, CDM_KIND_SHARED, "app", NULL, 0, EXACT},
        {2 * M + 1, CDM_KIND_SHARED, "app", NULL, 0, NONE},
        {2 * M, CDM_KIND_HEAP, "app", NULL, 0, NONE},
        /* program glob */
        {2 * G, CDM_KIND_HEAP, "python3.11", NULL, 0, PYTHON},
        {2 * G, CDM_KIND_HEAP, "python", NULL, 0, NONE},
        {2 * G, CDM_KIND_HEAP, NULL, NULL, 0, NONE},
        /* caller glob over any frame; never without a stack */
        {8 * M, CDM_KIND_HEAP, "app", loader_stack, 4, LOADER},
        {8 * M, CDM_KIND_HEAP, "app", loader_stack + 1, 1, LOADER},
        {8 * M, CDM_KIND_HEAP, "app", loader_stack + 2, 1, LOADER},
        {8 * M, CDM_KIND_HEAP, "app", loader_stack, 1, NONE},
        {8 * M, CDM_KIND_HEAP, "app", other_stack, 2, NONE},
        {8 * M, CDM_KIND_HEAP, "app", loader_stack, 0, NONE},
        {8 * M, CDM_KIND_HEAP, "app", NULL, 4, NONE},
        /* first match wins: python is tried before loader */
        {2 * G, CDM_KIND_HEAP, "python3", loader_stack, 4, PYTHON},
        {2 * G, CDM_KIND_HEAP, "app", loader_stack, 4, LOADER},
        {8 * M, CDM_KIND_FILE, "app", NULL, 0, FILES},
        {SIZE_MAX, CDM_KIND_FILE, "app", NULL, 0, FILES},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cdm_request req = {
            .size = cases[i].size,
            .kind = cases[i].kind,
            .program = cases[i].program,
            .frames = cases[i].frames,
            .n_frames = cases[i].n_frames,
        };
        cr_expect_eq(cdm__rules_match(&config, &req), cases[i].rule,
                     "case %zu: size %zu kind %s program %s frames %d: rule %d, not %d", i,
                     cases[i].size, cdm__kind_name(cases[i].kind),
                     cases[i].program ? cases[i].program : "(null)", cases[i].n_frames,
                     cdm__rules_match(&config, &req), cases[i].rule);
    }
}

Test(match, file_order_decides)
{
    parse_clean("[rule first]\nsize = 1M-\npolicy = local\n[rule second]\nsize = 1M-\n"
                "policy = default\n");
    struct cdm_request req = {.size = 4 * M, .kind = CDM_KIND_HEAP, .program = "app"};
    cr_assert_eq(cdm__rules_match(&config, &req), 0);
    parse_clean("[rule second]\nsize = 1M-\npolicy = default\n[rule first]\nsize = 2M-\n"
                "policy = local\n");
    cr_assert_eq(cdm__rules_match(&config, &req), 0);
    req.size = 1 * M;
    cr_assert_eq(cdm__rules_match(&config, &req), 0);
    parse_clean("[rule big]\nsize = 2M-\npolicy = local\n[rule any]\npolicy = default\n");
    cr_assert_eq(cdm__rules_match(&config, &req), 1);
}

Test(match, no_rules_match_nothing)
{
    cdm__config_default(&config);
    struct cdm_request req = {.size = 1 * G, .kind = CDM_KIND_HEAP, .program = "app"};
    cr_assert_eq(cdm__rules_match(&config, &req), -1);
}

Test(match, frames_may_hold_null_entries)
{
    parse_clean("[rule loader]\ncaller = *:load_*\npolicy = local\n");
    const char *const frames[] = {NULL, "libm.so:load_table"};
    struct cdm_request req = {.size = 1 * M, .kind = CDM_KIND_ANON, .frames = frames,
                              .n_frames = 2};
    cr_assert_eq(cdm__rules_match(&config, &req), 0);
}

/* A stack walked only part way decides when a frame it has matches, or when no rule before
 * the one matched names a caller; otherwise a frame further down might, and the caller must
 * walk on. */
Test(match, a_cut_stack_decides_only_what_its_frames_can)
{
    parse_clean("[rule loader]\nsize = 1M-\ncaller = *:load_*\npolicy = local\n"
                "[rule any]\nsize = 1M-\npolicy = default\n");
    const char *const inner[] = {"app:read_block"};
    const char *const loading[] = {"libm.so:load_table"};
    struct cdm_request req = {.size = 4 * M, .kind = CDM_KIND_HEAP, .program = "app",
                              .frames = inner, .n_frames = 1, .frames_cut = true};
    cr_assert_eq(cdm__rules_match(&config, &req), CDM_RULES_DEEPER);
    req.frames_cut = false;
    cr_assert_eq(cdm__rules_match(&config, &req), 1, "the whole stack: no loader frame");
    req.frames = loading;
    req.frames_cut = true;
    cr_assert_eq(cdm__rules_match(&config, &req), 0, "a frame walked matches");
    req.size = 512 * 1024;
    req.frames = inner;
    cr_assert_eq(cdm__rules_match(&config, &req), -1, "no rule takes its size: nothing to walk");
    parse_clean("[rule any]\nsize = 1M-\npolicy = default\n"
                "[rule loader]\nsize = 1M-\ncaller = *:load_*\npolicy = local\n");
    req.size = 4 * M;
    cr_assert_eq(cdm__rules_match(&config, &req), 0, "the first rule names no caller");
}

Test(match, need_stack)
{
    cdm__config_default(&config);
    cr_assert_not(cdm__rules_need_stack(&config));
    parse_clean("[rule a]\nsize = 1M-\nprogram = x*\npolicy = local\n");
    cr_assert_not(cdm__rules_need_stack(&config));
    parse_clean(match_text);
    cr_assert(cdm__rules_need_stack(&config));
    parse_clean("[rule a]\npolicy = local\n[rule b]\npolicy = local\ncaller = *\n");
    cr_assert(cdm__rules_need_stack(&config));
}

/* A compiler's clone is named as its function; a name without a suffix, or one that starts
 * with a dot, is whole. */
Test(match, function_name_without_a_clone_suffix)
{
    cr_assert_eq(cdm__function_name_length("load_weights.constprop.0"), 12);
    cr_assert_eq(cdm__function_name_length("load_weights.part.0.isra.0"), 12);
    cr_assert_eq(cdm__function_name_length("main.cold"), 4);
    cr_assert_eq(cdm__function_name_length("_ZN7fixture6Loader4loadEm.llvm.42"), 25);
    cr_assert_eq(cdm__function_name_length("load_weights"), 12);
    cr_assert_eq(cdm__function_name_length(".annobin_init"), 13);
    cr_assert_eq(cdm__function_name_length(""), 0);
}
