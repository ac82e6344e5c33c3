/* SPDX-License-Identifier: MIT */
/* cdmplace check FILE: validate a config and print it as this machine resolves it: each node
 * set's nodes, the settings, and one table row per rule in the order rules are tried. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *on_full_name(enum cdm_on_full on_full)
{
    return on_full == CDM_ON_FULL_FAIL ? "fail" : "fallback";
}

static const char *report_text(const struct cdm_settings *settings)
{
    switch (settings->report) {
    case CDM_REPORT_STDERR:
        return "stderr";
    case CDM_REPORT_PATH:
        return settings->report_path;
    case CDM_REPORT_OFF:
        break;
    }
    return "off";
}

/* A node set (a name or a node list) as this machine resolves it. */
struct resolved {
    bool valid;
    cdm_nodemask nodes;
    cdm_nodemask missing; /* named by the set, not here */
    char why[256];        /* when not valid */
};

static void resolve(const struct cli_config *loaded, const char *spec, struct resolved *resolved)
{
    resolved->missing = (cdm_nodemask){{0}};
    resolved->why[0] = '\0';
    resolved->valid = cdm__nodeset_resolve(loaded->config, loaded->topology, spec,
                                           &resolved->nodes, &resolved->missing, resolved->why,
                                           sizeof resolved->why);
}

/* One node set: the built-ins cdm and dram, or a [nodes] name. */
typedef void node_set_fn(const struct cli_config *loaded, const char *name, const char *spec,
                         void *context);

static bool names_node_set(const struct cdm_config *config, const char *name)
{
    for (int i = 0; i < config->n_node_names; i++)
        if (strcmp(config->node_names[i].name, name) == 0)
            return true;
    return false;
}

/* Each node set in the order check shows them: the built-ins the config does not redefine,
 * then its [nodes]. */
static void each_node_set(const struct cli_config *loaded, node_set_fn *fn, void *context)
{
    const struct cdm_config *config = loaded->config;
    static const char *const builtins[] = {"cdm", "dram"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!names_node_set(config, builtins[i]))
            fn(loaded, builtins[i], "auto", context);
    for (int i = 0; i < config->n_node_names; i++)
        fn(loaded, config->node_names[i].name, config->node_names[i].spec, context);
}

static void node_set_row(const struct cli_config *loaded, const char *name, const char *spec,
                         void *table)
{
    struct resolved resolved;
    char text[512], absent[256];
    resolve(loaded, name, &resolved);
    if (!resolved.valid) {
        snprintf(text, sizeof text, "invalid: %s", resolved.why);
    } else {
        cli_format_nodes(&resolved.nodes, text, sizeof text);
        if (!cdm__nodemask_empty(&resolved.missing)) {
            size_t len = strlen(text);
            snprintf(text + len, sizeof text - len, " (absent: %s)",
                     cdm__nodemask_format(&resolved.missing, absent, sizeof absent));
        }
    }
    const char *cells[] = {name, spec, text};
    cli_table_row(table, cells);
}

static void print_node_sets(const struct cli_config *loaded)
{
    struct cli_table table;
    cli_table_init(&table, 3);
    cli_table_row(&table, (const char *const[]){"NAME", "SPEC", "NODES"});
    each_node_set(loaded, node_set_row, &table);
    printf("node sets\n");
    cli_table_print(&table);
    cli_table_free(&table);
}

static void print_settings(const struct cdm_settings *settings)
{
    char min_size[32], epoch[32];
    struct cli_table table;
    cli_table_init(&table, 2);
    cli_table_row(&table, (const char *const[]){"min_size",
                                                cli_format_size(settings->min_size, min_size,
                                                                sizeof min_size)});
    cli_table_row(&table, (const char *const[]){"track", cdm__track_name(settings->track)});
    cli_table_row(&table, (const char *const[]){"epoch", cli_format_duration(settings->epoch_ns,
                                                                             epoch, sizeof epoch)});
    cli_table_row(&table, (const char *const[]){"log", settings->log[0] ? settings->log : "off"});
    cli_table_row(&table, (const char *const[]){"report", report_text(settings)});
    cli_table_row(&table, (const char *const[]){"dry_run", settings->dry_run ? "true" : "false"});
    cli_table_row(&table, (const char *const[]){"strict", settings->strict ? "true" : "false"});
    printf("settings\n");
    cli_table_print(&table);
    cli_table_free(&table);
}

/* "64M-", "4K-1M", "-2M", or "any": the config's own notation. */
static char *size_window(const struct cdm_rule *rule, char *buf, size_t size)
{
    char low[32], high[32];
    bool open_low = rule->size_min == 0, open_high = rule->size_max == UINT64_MAX;
    if (open_low && open_high)
        snprintf(buf, size, "any");
    else if (open_high)
        snprintf(buf, size, "%s-", cli_format_size(rule->size_min, low, sizeof low));
    else if (open_low)
        snprintf(buf, size, "-%s", cli_format_size(rule->size_max, high, sizeof high));
    else
        snprintf(buf, size, "%s-%s", cli_format_size(rule->size_min, low, sizeof low),
                 cli_format_size(rule->size_max, high, sizeof high));
    return buf;
}

static bool policy_has_nodes(const struct cdm_rule *rule)
{
    return rule->policy != CDM_POLICY_LOCAL && rule->policy != CDM_POLICY_DEFAULT;
}

/* The nodes resolve found for the rule, and those its node set names that are not here. */
static char *rule_nodes(const struct cli_config *loaded, const struct cdm_rule *rule, char *buf,
                        size_t size)
{
    struct resolved resolved;
    char absent[256];
    cli_format_nodes(&rule->nodes, buf, size);
    resolve(loaded, rule->policy_nodes, &resolved);
    if (resolved.valid && !cdm__nodemask_empty(&resolved.missing)) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " (absent: %s)",
                 cdm__nodemask_format(&resolved.missing, absent, sizeof absent));
    }
    return buf;
}

static void rule_row(struct cli_table *table, const struct cli_config *loaded,
                     const struct cdm_rule *rule)
{
    char size[80], kinds[64], policy[CDM_SPEC_MAX + 32], nodes[512], budget[32], migrate[64];
    char amount[32];

    if (policy_has_nodes(rule))
        snprintf(policy, sizeof policy, "%s %s", cdm__policy_name(rule->policy),
                 rule->policy_nodes);
    else
        snprintf(policy, sizeof policy, "%s", cdm__policy_name(rule->policy));
    if (policy_has_nodes(rule))
        rule_nodes(loaded, rule, nodes, sizeof nodes);
    else
        snprintf(nodes, sizeof nodes, "-");
    if (rule->budget)
        cli_format_size(rule->budget, budget, sizeof budget);
    else
        snprintf(budget, sizeof budget, "none");
    if (rule->migrate == CDM_MIGRATE_FOLLOW_CPU)
        snprintf(migrate, sizeof migrate, "%s idle=%s", cdm__migrate_name(rule->migrate),
                 cli_format_duration(rule->idle_ns, amount, sizeof amount));
    else if (rule->migrate == CDM_MIGRATE_TIER && rule->hot_set)
        snprintf(migrate, sizeof migrate, "%s hot_set=%s", cdm__migrate_name(rule->migrate),
                 cli_format_size(rule->hot_set, amount, sizeof amount));
    else
        snprintf(migrate, sizeof migrate, "%s", cdm__migrate_name(rule->migrate));

    const char *cells[] = {
        rule->name,
        size_window(rule, size, sizeof size),
        cdm__kinds_format(rule->kinds, kinds, sizeof kinds),
        rule->caller[0] ? rule->caller : "*",
        rule->program[0] ? rule->program : "*",
        policy,
        nodes,
        on_full_name(rule->on_full),
        budget,
        migrate,
    };
    cli_table_row(table, cells);
}

static void print_rules(const struct cli_config *loaded)
{
    const struct cdm_config *config = loaded->config;
    printf("rules\n");
    if (config->n_rules == 0) {
        printf("  none: every large allocation is recorded, none is placed\n");
        return;
    }
    struct cli_table table;
    cli_table_init(&table, 10);
    cli_table_row(&table, (const char *const[]){"NAME", "SIZE", "KINDS", "CALLER", "PROGRAM",
                                                "POLICY", "NODES", "ON_FULL", "BUDGET",
                                                "MIGRATE"});
    for (int i = 0; i < config->n_rules; i++)
        rule_row(&table, loaded, &config->rules[i]);
    cli_table_print(&table);
    cli_table_free(&table);
}

static void print_text(const struct cli_config *loaded)
{
    printf("config %s: valid, %d warning%s\n\n", loaded->config->path, loaded->warnings,
           loaded->warnings == 1 ? "" : "s");
    print_node_sets(loaded);
    printf("\n");
    print_settings(&loaded->config->settings);
    printf("\n");
    print_rules(loaded);
}

/* ---------------------------------------------------------------- --json */

/* {"line":N,"message":...}; line null for the file as a whole. */
static void json_diagnostic(FILE *out, int line, const char *message)
{
    fputs("{\"line\":", out);
    if (line > 0)
        fprintf(out, "%d", line);
    else
        fputs("null", out);
    cli_json_text(out, "message", message);
    fputc('}', out);
}

static void json_diagnostics(FILE *out, const struct cli_config *loaded)
{
    const struct cdm_config *config = loaded->config;
    int kept = cli_config_errors_kept(config);
    fputs(",\"errors\":[", out);
    for (int i = 0; i < kept; i++) {
        fputs(i ? "," : "", out);
        json_diagnostic(out, config->errors[i].line, config->errors[i].message);
    }
    if (config->n_errors > kept) {
        fputc(',', out);
        json_diagnostic(out, 0, CLI_MORE_ERRORS);
    }
    fputs("],\"warnings\":[", out);
    for (int i = 0; i < loaded->warnings; i++) {
        fputs(i ? "," : "", out);
        json_diagnostic(out, loaded->kept_warnings[i].line, loaded->kept_warnings[i].message);
    }
    fputc(']', out);
}

struct json_list {
    FILE *out;
    int n;
};

static void json_node_set(const struct cli_config *loaded, const char *name, const char *spec,
                          void *context)
{
    struct json_list *list = context;
    struct resolved resolved;
    resolve(loaded, name, &resolved);
    fprintf(list->out, "%s{\"name\":", list->n++ ? "," : "");
    cli_json_string(list->out, name);
    cli_json_text(list->out, "spec", spec);
    if (resolved.valid) {
        cli_json_nodes(list->out, "nodes", &resolved.nodes);
        cli_json_nodes(list->out, "absent_nodes", &resolved.missing);
    } else {
        fputs(",\"nodes\":null,\"absent_nodes\":null", list->out);
    }
    cli_json_text(list->out, "invalid", resolved.valid ? NULL : resolved.why);
    fputc('}', list->out);
}

static void json_settings(FILE *out, const struct cdm_settings *settings)
{
    fprintf(out, ",\"settings\":{\"min_size\":%llu", (unsigned long long)settings->min_size);
    cli_json_text(out, "track", cdm__track_name(settings->track));
    fprintf(out, ",\"epoch_ns\":%llu", (unsigned long long)settings->epoch_ns);
    cli_json_text(out, "log", settings->log[0] ? settings->log : "off");
    cli_json_text(out, "report", report_text(settings));
    fprintf(out, ",\"dry_run\":%s,\"strict\":%s}", settings->dry_run ? "true" : "false",
            settings->strict ? "true" : "false");
}

/* A rule's row of the table, sizes and durations as numbers (null where the table shows
 * none or leaves them out). */
static void json_rule(FILE *out, const struct cli_config *loaded, const struct cdm_rule *rule)
{
    char kinds[64];
    fputs("{\"name\":", out);
    cli_json_string(out, rule->name);
    fprintf(out, ",\"size_min\":%llu", (unsigned long long)rule->size_min);
    cli_json_number(out, "size_max", rule->size_max, rule->size_max != UINT64_MAX);
    cli_json_text(out, "kinds", cdm__kinds_format(rule->kinds, kinds, sizeof kinds));
    cli_json_text(out, "caller", rule->caller[0] ? rule->caller : "*");
    cli_json_text(out, "program", rule->program[0] ? rule->program : "*");
    cli_json_text(out, "policy", cdm__policy_name(rule->policy));
    if (policy_has_nodes(rule)) {
        struct resolved resolved;
        resolve(loaded, rule->policy_nodes, &resolved);
        cli_json_text(out, "node_set", rule->policy_nodes);
        cli_json_nodes(out, "nodes", &rule->nodes);
        cli_json_nodes(out, "absent_nodes", &resolved.missing);
    } else {
        fputs(",\"node_set\":null,\"nodes\":null,\"absent_nodes\":null", out);
    }
    cli_json_text(out, "on_full", on_full_name(rule->on_full));
    cli_json_number(out, "budget", rule->budget, rule->budget != 0);
    cli_json_text(out, "migrate", cdm__migrate_name(rule->migrate));
    cli_json_number(out, "idle_ns", rule->idle_ns, rule->migrate == CDM_MIGRATE_FOLLOW_CPU);
    cli_json_number(out, "hot_set", rule->hot_set,
                    rule->migrate == CDM_MIGRATE_TIER && rule->hot_set);
    fputc('}', out);
}

/* The verdict and, for a valid config, what the text shows, as one JSON object on standard
 * output; errors and warnings are in it instead of on standard error. */
static void print_json(const struct cli_config *loaded, bool valid)
{
    FILE *out = stdout;
    const struct cdm_config *config = loaded->config;
    fputs("{\"file\":", out);
    cli_json_string(out, config->path);
    fprintf(out, ",\"ok\":%s", valid ? "true" : "false");
    json_diagnostics(out, loaded);
    fputs(",\"node_sets\":[", out);
    if (valid)
        each_node_set(loaded, json_node_set, &(struct json_list){out, 0});
    fputc(']', out);
    if (valid)
        json_settings(out, &config->settings);
    else
        fputs(",\"settings\":null", out);
    fputs(",\"rules\":[", out);
    for (int i = 0; valid && i < config->n_rules; i++) {
        fputs(i ? "," : "", out);
        json_rule(out, loaded, &config->rules[i]);
    }
    fputs("]}\n", out);
}

int cli_check(const struct cli_command *command, int argc, char **argv)
{
    bool json = false;
    int status = cli_parse_options(command, argc, argv, &json);
    if (status >= 0)
        return status;
    if (optind >= argc)
        return cli_bad_usage(command, "no config file given");
    if (argc - optind > 1)
        return cli_bad_usage(command, "one config file at a time");

    struct cli_config loaded;
    status = cli_config_load(argv[optind], json ? CLI_CONFIG_KEEP_DIAGNOSTICS : 0, &loaded);
    if (json && status != CLI_FAILED)
        print_json(&loaded, status == CLI_OK);
    else if (status == CLI_OK)
        print_text(&loaded);
    cli_config_free(&loaded);
    return status;
}
