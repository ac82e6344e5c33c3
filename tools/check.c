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

/* One node set: the built-ins cdm and dram, or a [nodes] name. */
static void node_set_row(struct cli_table *table, const struct cli_config *loaded,
                         const char *name, const char *spec)
{
    cdm_nodemask nodes, missing = {{0}};
    char why[256] = "", text[512], absent[256];
    if (!cdm__nodeset_resolve(loaded->config, loaded->topology, name, &nodes, &missing, why,
                              sizeof why)) {
        snprintf(text, sizeof text, "invalid: %s", why);
    } else {
        cli_format_nodes(&nodes, text, sizeof text);
        if (!cdm__nodemask_empty(&missing)) {
            size_t len = strlen(text);
            snprintf(text + len, sizeof text - len, " (absent: %s)",
                     cdm__nodemask_format(&missing, absent, sizeof absent));
        }
    }
    const char *cells[] = {name, spec, text};
    cli_table_row(table, cells);
}

static bool names_node_set(const struct cdm_config *config, const char *name)
{
    for (int i = 0; i < config->n_node_names; i++)
        if (strcmp(config->node_names[i].name, name) == 0)
            return true;
    return false;
}

static void print_node_sets(const struct cli_config *loaded)
{
    const struct cdm_config *config = loaded->config;
    struct cli_table table;
    cli_table_init(&table, 3);
    cli_table_row(&table, (const char *const[]){"NAME", "SPEC", "NODES"});
    static const char *const builtins[] = {"cdm", "dram"};
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!names_node_set(config, builtins[i]))
            node_set_row(&table, loaded, builtins[i], "auto");
    for (int i = 0; i < config->n_node_names; i++)
        node_set_row(&table, loaded, config->node_names[i].name, config->node_names[i].spec);
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

/* The nodes resolve found for the rule, and those its node set names that are not here. */
static char *rule_nodes(const struct cli_config *loaded, const struct cdm_rule *rule, char *buf,
                        size_t size)
{
    cdm_nodemask nodes, missing = {{0}};
    char why[256], absent[256];
    cli_format_nodes(&rule->nodes, buf, size);
    if (cdm__nodeset_resolve(loaded->config, loaded->topology, rule->policy_nodes, &nodes,
                             &missing, why, sizeof why) &&
        !cdm__nodemask_empty(&missing)) {
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " (absent: %s)",
                 cdm__nodemask_format(&missing, absent, sizeof absent));
    }
    return buf;
}

static void rule_row(struct cli_table *table, const struct cli_config *loaded,
                     const struct cdm_rule *rule)
{
    char size[80], kinds[64], policy[CDM_SPEC_MAX + 32], nodes[512], budget[32], migrate[64];
    char amount[32];
    bool has_nodes = rule->policy != CDM_POLICY_LOCAL && rule->policy != CDM_POLICY_DEFAULT;

    if (has_nodes)
        snprintf(policy, sizeof policy, "%s %s", cdm__policy_name(rule->policy),
                 rule->policy_nodes);
    else
        snprintf(policy, sizeof policy, "%s", cdm__policy_name(rule->policy));
    if (has_nodes)
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

int cli_check(const struct cli_command *command, int argc, char **argv)
{
    int status = cli_parse_help_only(command, argc, argv);
    if (status >= 0)
        return status;
    if (optind >= argc)
        return cli_bad_usage(command, "no config file given");
    if (argc - optind > 1)
        return cli_bad_usage(command, "one config file at a time");

    struct cli_config loaded;
    status = cli_config_load(argv[optind], 0, &loaded);
    if (status == CLI_OK) {
        printf("config %s: valid, %d warning%s\n\n", loaded.config->path, loaded.warnings,
               loaded.warnings == 1 ? "" : "s");
        print_node_sets(&loaded);
        printf("\n");
        print_settings(&loaded.config->settings);
        printf("\n");
        print_rules(&loaded);
    }
    cli_config_free(&loaded);
    return status;
}
