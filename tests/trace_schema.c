/* SPDX-License-Identifier: MIT */
/* The trace schema (preload/trace_schema.h) as doc/design.md shows it, so that the document
 * is checked against the table rather than kept beside it (tests/trace-schema.sh).
 *   trace_schema           the Markdown of design.md's "The trace schema" table
 *   trace_schema --fields  one line per event, "EVENT FIELD...", the common fields first as
 *                          "common t pid tid ev": what tests/trace_schema_check.py holds
 *                          traces to
 *   trace_schema --dict    the schema's tokens for libFuzzer's dictionary (tests/fuzz-trace.sh
 *                          adds tests/fuzz/trace.dict's): every "ev" value and "name": */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "trace_schema.h"

/* "`name` type", bold when needed, after a comma but for the first of a list. */
static void markdown_field(const char *name, const char *type, bool needed, bool *first)
{
    const char *bold = needed ? "**" : "";
    printf("%s%s`%s`%s %s", *first ? "" : ", ", bold, name, bold, type);
    *first = false;
}

#define MARKDOWN_FIELD(name, format, type, need)                                             \
    markdown_field(#name, type, CDM_TRACE_##need, &first);
#define MARKDOWN_EVENT(KIND, name, when)                                                     \
    first = true;                                                                            \
    printf("| `%s` | %s | ", #name, when);                                                   \
    CDM_TRACE_FIELDS_##name(MARKDOWN_FIELD)                                                  \
    printf(" |\n");

#define LISTED_FIELD(name, format, type, need) printf(" %s", #name);
#define LISTED_EVENT(KIND, name, when)                                                       \
    printf("%s", #name);                                                                     \
    CDM_TRACE_FIELDS_##name(LISTED_FIELD)                                                    \
    printf("\n");

/* libFuzzer's dictionary syntax: a token in quotes, its own quotes escaped. */
#define DICT_VALUE "\"\\\"%s\\\"\"\n"
#define DICT_KEY "\"\\\"%s\\\":\"\n"
#define DICT_EVENT(KIND, name, when) printf(DICT_VALUE, #name);
#define DICT_NAME(name) printf(DICT_KEY, #name);
static const char *const members[] = {CDM_TRACE_CDM, CDM_TRACE_DRAM, CDM_TRACE_AT, CDM_TRACE_OFF};

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--fields")) {
        printf("common");
        CDM_TRACE_FIELDS_common(LISTED_FIELD)
        printf("\n");
        CDM_TRACE_EVENTS(LISTED_EVENT)
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--dict")) {
        CDM_TRACE_EVENTS(DICT_EVENT)
        CDM_TRACE_NAMES(DICT_NAME)
        for (size_t i = 0; i < sizeof members / sizeof *members; i++)
            printf(DICT_KEY, members[i]);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: trace_schema [--fields | --dict]\n");
        return 2;
    }
    bool first = true;
    printf("Every event begins with ");
    CDM_TRACE_FIELDS_common(MARKDOWN_FIELD)
    printf(".\n");
    printf("A field in bold is needed: a reader skips an event without it, with a warning (a\n"
           "line without `ev` is a pad line, skipped quietly).\n"
           "An event whose fields do not fit in a line has `\"%s\":true` in their place.\n\n",
           CDM_TRACE_TRUNCATED);
    printf("| `ev` | written when | its fields after `ev`, in this order |\n|---|---|---|\n");
    CDM_TRACE_EVENTS(MARKDOWN_EVENT)
    return 0;
}
