/* SPDX-License-Identifier: MIT */
/* The config language of cdmplace.conf(5): INI sections [nodes], [settings] and [rule NAME].
 *
 * This runs in the library constructor, inside someone else's process: it never allocates
 * and never uses stdio streams. Text is walked as (pointer, length) slices; each value is
 * copied into a fixed buffer on the stack; a file is read with open/read into a raw
 * anonymous mapping (threads may have small stacks). Messages are formatted with snprintf
 * using integer and string conversions only, which glibc does without malloc.
 *
 * Every error names the file, the line and what was expected, and parsing goes on after
 * one so that a single run reports all of them (the first CDM_MAX_ERRORS are kept). */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_FILE_MAX (1u << 20)

#define EXPECT_SIZE "a number with optional K, M, G or T suffix"
#define EXPECT_DURATION "a number with a unit ns, us, ms or s"
#define EXPECT_BOOL "true or false (also yes/no, on/off, 1/0)"
#define EXPECT_TEMPLATE "%p, %h, %e, %j, %r, %l or %% after each '%'"
#define EXPECT_POLICY "'policy = bind|preferred|interleave|weighted-interleave NODES|local|default'"
#define EXPECT_SECTION "[nodes], [settings] or [rule NAME]"

/* ---------------------------------------------------------------- strings */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void trim(const char **text, size_t *len)
{
    while (*len > 0 && is_blank(**text)) {
        (*text)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*text)[*len - 1]))
        (*len)--;
}

/* Copies a slice into a NUL-terminated buffer; false (and nothing copied) if it does not fit. */
static bool copy_slice(char *buf, size_t size, const char *text, size_t len)
{
    if (len >= size)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    return true;
}

/* Copies a string, truncating it to fit. */
static void copy_string(char *buf, size_t size, const char *text)
{
    size_t len = strlen(text);
    if (len >= size)
        len = size - 1;
    memcpy(buf, text, len);
    buf[len] = '\0';
}

static bool slice_is(const char *text, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(text, word, len) == 0;
}

/* ---------------------------------------------------------------- errors */

static void append_error(struct cdm_config *config, const char *file, int line, const char *fmt,
                         va_list ap) __attribute__((format(printf, 4, 0)));

static void append_error(struct cdm_config *config, const char *file, int line, const char *fmt,
                         va_list ap)
{
    char message[sizeof config->errors[0].message];
    vsnprintf(message, sizeof message, fmt, ap);
    int kept = config->n_errors < CDM_MAX_ERRORS ? config->n_errors : CDM_MAX_ERRORS;
    /* Resolving a config that already failed to parse finds its node set errors again. */
    for (int i = 0; i < kept; i++)
        if (config->errors[i].line == line && strcmp(config->errors[i].file, file) == 0 &&
            strcmp(config->errors[i].message, message) == 0)
            return;
    if (config->n_errors < CDM_MAX_ERRORS) {
        struct cdm_config_error *error = &config->errors[config->n_errors];
        copy_string(error->file, sizeof error->file, file);
        error->line = line;
        memcpy(error->message, message, sizeof message);
    }
    config->n_errors++;
}

void cdm__config_error(struct cdm_config *config, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_error(config, config->path, line, fmt, ap);
    va_end(ap);
}

static void env_error(struct cdm_config *config, const char *variable, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void env_error(struct cdm_config *config, const char *variable, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    append_error(config, variable, 0, fmt, ap);
    va_end(ap);
}

/* "No such file or directory (ENOENT)". */
static void file_error(struct cdm_config *config, const char *what, int err)
{
    const char *name = strerrorname_np(err);
    cdm__config_error(config, 0, "%s: %s (%s); expected a readable config file", what,
                      cdm__errno_text(err), name ? name : "?");
}

/* ---------------------------------------------------------------- names */

static const char *const policy_names[] = {
    [CDM_POLICY_BIND] = "bind",
    [CDM_POLICY_PREFERRED] = "preferred",
    [CDM_POLICY_INTERLEAVE] = "interleave",
    [CDM_POLICY_WEIGHTED_INTERLEAVE] = "weighted-interleave",
    [CDM_POLICY_LOCAL] = "local",
    [CDM_POLICY_DEFAULT] = "default",
};
static const char *const migrate_names[] = {
    [CDM_MIGRATE_NONE] = "none",
    [CDM_MIGRATE_FOLLOW_CPU] = "follow-cpu",
    [CDM_MIGRATE_TIER] = "tier",
    [CDM_MIGRATE_KERNEL] = "kernel",
};
static const char *const track_names[] = {
    [CDM_TRACK_AUTO] = "auto",
    [CDM_TRACK_WP_ASYNC] = "wp-async",
    [CDM_TRACK_WP] = "wp",
    [CDM_TRACK_MISSING] = "missing",
    [CDM_TRACK_DAMON] = "damon",
    [CDM_TRACK_OFF] = "off",
};
static const char *const on_full_names[] = {
    [CDM_ON_FULL_FALLBACK] = "fallback",
    [CDM_ON_FULL_FAIL] = "fail",
};
static const struct {
    const char *name;
    unsigned kinds;
} kind_names[] = {
    {"heap", CDM_KIND_HEAP}, {"anon", CDM_KIND_ANON}, {"shared", CDM_KIND_SHARED},
    {"file", CDM_KIND_FILE}, {"any", CDM_KIND_ANY},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static const char *name_of(const char *const *names, size_t count, unsigned value)
{
    return value < count ? names[value] : "unknown";
}

/* Index of `word` in names, or -1. */
static int lookup(const char *const *names, size_t count, const char *word)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(names[i], word) == 0)
            return (int)i;
    return -1;
}

const char *cdm__policy_name(enum cdm_policy_mode policy)
{
    return name_of(policy_names, COUNT(policy_names), policy);
}

const char *cdm__migrate_name(enum cdm_migrate migrate)
{
    return name_of(migrate_names, COUNT(migrate_names), migrate);
}

const char *cdm__track_name(enum cdm_track track)
{
    return name_of(track_names, COUNT(track_names), track);
}

const char *cdm__kind_name(enum cdm_kind kind)
{
    for (size_t i = 0; i < COUNT(kind_names); i++)
        if (kind_names[i].kinds == (unsigned)kind)
            return kind_names[i].name;
    return "unknown";
}

char *cdm__kinds_format(unsigned kinds, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if ((kinds & CDM_KIND_ANY) == CDM_KIND_ANY) {
        copy_string(buf, size, "any");
        return buf;
    }
    size_t used = 0;
    for (size_t i = 0; i < COUNT(kind_names); i++) {
        if (kind_names[i].kinds == CDM_KIND_ANY || !(kinds & kind_names[i].kinds))
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", kind_names[i].name);
        if (n < 0 || (size_t)n >= size - used) {
            buf[used] = '\0'; /* whole names only */
            break;
        }
        used += (size_t)n;
    }
    return buf;
}

/* ---------------------------------------------------------------- sizes and durations */

enum number_status { NUMBER_OK, NUMBER_SYNTAX, NUMBER_RANGE };

/* Leading decimal digits of text into *value; *end after all of them, even on overflow. No
 * sign, no space, no base prefix (strtoull would take all three). */
static enum number_status parse_digits(const char *text, uint64_t *value, const char **end)
{
    enum number_status status = is_digit(*text) ? NUMBER_OK : NUMBER_SYNTAX;
    uint64_t n = 0;
    const char *p = text;
    for (; is_digit(*p); p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (n > (UINT64_MAX - digit) / 10)
            status = NUMBER_RANGE;
        n = n * 10 + digit;
    }
    *value = n;
    *end = p;
    return status;
}

static enum number_status scale(enum number_status status, uint64_t value, uint64_t unit,
                                uint64_t *out)
{
    if (status != NUMBER_OK)
        return status;
    if (value != 0 && unit > UINT64_MAX / value)
        return NUMBER_RANGE;
    *out = value * unit;
    return NUMBER_OK;
}

/* number + optional K, M, G or T (either case), powers of 1024. A syntax error wins over an
 * overflow: "99999999999999999999Q" is reported as not a size at all. */
static enum number_status size_status(const char *text, uint64_t *bytes)
{
    uint64_t value;
    const char *p;
    enum number_status status = parse_digits(text, &value, &p);
    if (status == NUMBER_SYNTAX)
        return status;
    int shift;
    switch (*p) {
    case '\0': shift = 0; break;
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    case 'T': case 't': shift = 40; break;
    default: return NUMBER_SYNTAX;
    }
    if (*p && p[1])
        return NUMBER_SYNTAX;
    return scale(status, value, 1ull << shift, bytes);
}

bool cdm__parse_size(const char *text, uint64_t *bytes)
{
    uint64_t value;
    if (size_status(text, &value) != NUMBER_OK)
        return false;
    *bytes = value;
    return true;
}

static enum number_status duration_status(const char *text, uint64_t *ns)
{
    static const struct {
        const char *unit;
        uint64_t ns;
    } units[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
    uint64_t value;
    const char *p;
    enum number_status status = parse_digits(text, &value, &p);
    if (status == NUMBER_SYNTAX)
        return status;
    for (size_t i = 0; i < COUNT(units); i++)
        if (strcmp(p, units[i].unit) == 0)
            return scale(status, value, units[i].ns, ns);
    return NUMBER_SYNTAX;
}

bool cdm__parse_duration(const char *text, uint64_t *ns)
{
    uint64_t value;
    if (duration_status(text, &value) != NUMBER_OK)
        return false;
    *ns = value;
    return true;
}

/* ---------------------------------------------------------------- glob */

/* One bracket expression at p (just past '['); *end gets the character after its ']'.
 * Returns -1 when there is no closing ']' (the '[' is then an ordinary character). */
static int class_match(const char *p, char c, const char **end)
{
    bool negate = *p == '!' || *p == '^';
    if (negate)
        p++;
    bool matched = false;
    const char *start = p;
    while (*p && (*p != ']' || p == start)) {
        char low = *p, high = *p;
        if (p[1] == '-' && p[2] && p[2] != ']') {
            high = p[2];
            p += 2;
        }
        if (c >= low && c <= high)
            matched = true;
        p++;
    }
    if (*p != ']')
        return -1;
    *end = p + 1;
    return matched != negate;
}

/* Whether the single pattern element at p matches c; *next gets the element after it. */
static bool element_match(const char *p, char c, const char **next)
{
    switch (*p) {
    case '?':
        *next = p + 1;
        return true;
    case '[': {
        int matched = class_match(p + 1, c, next);
        if (matched >= 0)
            return matched;
        break;
    }
    case '\\':
        if (p[1]) {
            *next = p + 2;
            return p[1] == c;
        }
        break;
    }
    *next = p + 1;
    return *p == c;
}

/* Iterative: on a mismatch, retry from the last '*' one character further on, so the time is
 * at most pattern length times text length, never exponential. */
bool cdm__glob_match(const char *pattern, const char *text)
{
    const char *p = pattern, *t = text;
    const char *star_p = NULL, *star_t = NULL;
    while (*t) {
        if (*p == '*') {
            while (*p == '*')
                p++;
            if (*p == '\0')
                return true;
            star_p = p;
            star_t = t;
            continue;
        }
        const char *next;
        if (*p && element_match(p, *t, &next)) {
            p = next;
            t++;
        } else if (star_p) {
            p = star_p;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* ---------------------------------------------------------------- defaults and environment */

static void node_name_default(struct cdm_node_name *entry, const char *name)
{
    copy_string(entry->name, sizeof entry->name, name);
    copy_string(entry->spec, sizeof entry->spec, "auto");
    entry->line = 0;
}

void cdm__config_default(struct cdm_config *config)
{
    memset(config, 0, sizeof *config);
    config->settings.min_size = 1ull << 20;
    config->settings.track = CDM_TRACK_AUTO;
    config->settings.epoch_ns = 100 * 1000000ull;
    config->settings.report = CDM_REPORT_STDERR;
    /* Predefined so that every rule may say `cdm` or `dram`; [nodes] may redefine them. */
    node_name_default(&config->node_names[0], "cdm");
    node_name_default(&config->node_names[1], "dram");
    config->n_node_names = 2;
}

const char *cdm__config_locate(void)
{
    const char *path = cdm__env("CDMPLACE_CONFIG");
    if (path && *path)
        return path;
    if (access("/etc/cdmplace.conf", F_OK) == 0)
        return "/etc/cdmplace.conf";
    return NULL;
}

/* Position of the first '%' not followed by a known conversion, or -1. */
static long template_error(const char *template)
{
    for (const char *p = template; *p; p++) {
        if (*p != '%')
            continue;
        if (p[1] == '\0' || !strchr("pherjl%", p[1]))
            return p - template;
        p++;
    }
    return -1;
}

static int parse_bool(const char *text)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    if (lookup(yes, COUNT(yes), text) >= 0)
        return 1;
    if (lookup(no, COUNT(no), text) >= 0)
        return 0;
    return -1;
}

/* A path template from the environment into `out`. */
static bool env_template(struct cdm_config *config, const char *variable, const char *value,
                         char *out, size_t size)
{
    if (template_error(value) >= 0) {
        env_error(config, variable, "invalid path template '%.128s'; expected %s", value,
                  EXPECT_TEMPLATE);
        return false;
    }
    if (strlen(value) >= size) {
        env_error(config, variable, "path is too long; expected at most %zu characters",
                  size - 1);
        return false;
    }
    copy_string(out, size, value);
    return true;
}

void cdm__config_apply_env(struct cdm_config *config)
{
    struct cdm_settings *settings = &config->settings;
    const char *log = cdm__env("CDMPLACE_LOG");
    if (log && *log) {
        if (strcmp(log, "off") == 0)
            settings->log[0] = '\0';
        else
            env_template(config, "CDMPLACE_LOG", log, settings->log, sizeof settings->log);
    }
    const char *report = cdm__env("CDMPLACE_REPORT");
    if (report && *report) {
        if (strcmp(report, "stderr") == 0)
            settings->report = CDM_REPORT_STDERR;
        else if (strcmp(report, "off") == 0)
            settings->report = CDM_REPORT_OFF;
        else if (env_template(config, "CDMPLACE_REPORT", report, settings->report_path,
                              sizeof settings->report_path))
            settings->report = CDM_REPORT_PATH;
    }
    const char *dry_run = cdm__env("CDMPLACE_DRY_RUN");
    if (dry_run && *dry_run) {
        int value = parse_bool(dry_run);
        if (value < 0)
            env_error(config, "CDMPLACE_DRY_RUN", "invalid value '%.64s'; expected 1 or 0",
                      dry_run);
        else
            settings->dry_run = value;
    }
}

/* ---------------------------------------------------------------- the parser */

enum section { SECTION_NONE, SECTION_NODES, SECTION_SETTINGS, SECTION_RULE, SECTION_SKIPPED };

enum settings_key { KEY_MIN_SIZE, KEY_TRACK, KEY_EPOCH, KEY_LOG, KEY_REPORT, KEY_DRY_RUN,
                    KEY_STRICT, N_SETTINGS_KEYS };
enum rule_key { KEY_SIZE, KEY_CALLER, KEY_KIND, KEY_PROGRAM, KEY_POLICY, KEY_ON_FULL, KEY_BUDGET,
                KEY_MIGRATE, KEY_IDLE, KEY_HOT_SET, N_RULE_KEYS };

struct parser {
    struct cdm_config *config;
    int line;
    enum section section;
    struct cdm_rule *rule;            /* the rule being read in SECTION_RULE */
    char label[CDM_NAME_MAX + 8];     /* "[rule NAME]", for messages */
    int settings_seen[N_SETTINGS_KEYS]; /* line where each key was set, 0 if not yet */
    int rule_seen[N_RULE_KEYS];
    bool too_many_rules_reported;
};

struct key {
    const char *name;
    const char *what;     /* what the value is, for "invalid WHAT 'VALUE'" */
    const char *expected; /* what it should have been */
    void (*parse)(struct parser *parser, const struct key *key, const char *value);
};

#define error_at(parser, ...) cdm__config_error((parser)->config, (parser)->line, __VA_ARGS__)

static void invalid(struct parser *parser, const struct key *key, const char *value)
{
    /* "invalid size '12Q' for budget", but "invalid size window '1x-' " for the key size. */
    size_t len = strlen(key->name);
    bool same = strncmp(key->what, key->name, len) == 0 &&
                (key->what[len] == '\0' || key->what[len] == ' ');
    error_at(parser, "invalid %s '%.80s'%s%s; expected %s", key->what, value, same ? "" : " for ",
             same ? "" : key->name, key->expected);
}

/* Each value_* helper stores a valid value into *out or reports why it is not one. */
static bool value_size(struct parser *parser, const struct key *key, const char *value,
                       uint64_t *out)
{
    enum number_status status = size_status(value, out);
    if (status == NUMBER_RANGE)
        error_at(parser, "invalid size '%.80s' for %s; expected at most 16777215T", value,
                 key->name);
    else if (status == NUMBER_SYNTAX)
        invalid(parser, key, value);
    return status == NUMBER_OK;
}

static bool value_duration(struct parser *parser, const struct key *key, const char *value,
                           uint64_t *out)
{
    enum number_status status = duration_status(value, out);
    if (status == NUMBER_RANGE)
        error_at(parser, "invalid duration '%.80s' for %s; expected at most 18446744073s", value,
                 key->name);
    else if (status == NUMBER_SYNTAX)
        invalid(parser, key, value);
    return status == NUMBER_OK;
}

/* An enum value from its names; false after reporting an invalid one. */
static bool value_enum(struct parser *parser, const struct key *key, const char *value,
                       const char *const *names, size_t count, unsigned *out)
{
    int index = lookup(names, count, value);
    if (index < 0) {
        invalid(parser, key, value);
        return false;
    }
    *out = (unsigned)index;
    return true;
}

static void value_bool(struct parser *parser, const struct key *key, const char *value, bool *out)
{
    int parsed = parse_bool(value);
    if (parsed < 0)
        invalid(parser, key, value);
    else
        *out = parsed;
}

static bool value_template(struct parser *parser, const struct key *key, const char *value,
                           char *out, size_t size)
{
    long bad = template_error(value);
    if (bad >= 0) {
        error_at(parser, "invalid path template '%.80s' for %s at '%.2s'; expected %s", value,
                 key->name, value + bad, EXPECT_TEMPLATE);
        return false;
    }
    if (!copy_slice(out, size, value, strlen(value))) {
        error_at(parser, "%s is too long; expected at most %zu characters", key->name, size - 1);
        return false;
    }
    return true;
}

/* A glob must fit and have its brackets closed ("[ab" is almost always a typo). */
static void value_glob(struct parser *parser, const struct key *key, const char *value, char *out,
                       size_t size)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '[') {
            const char *q = p + 1;
            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']')
                q++;
            q = strchr(q, ']');
            if (q == NULL) {
                error_at(parser, "invalid glob '%.80s' for %s: '[' is not closed; expected %s",
                         value, key->name, key->expected);
                return;
            }
            p = q;
        }
    }
    if (!copy_slice(out, size, value, strlen(value)))
        error_at(parser, "%s is too long; expected a glob of at most %zu characters", key->name,
                 size - 1);
}

/* ---------------------------------------------------------------- [settings] */

static void parse_min_size(struct parser *parser, const struct key *key, const char *value)
{
    value_size(parser, key, value, &parser->config->settings.min_size);
}

static void parse_track(struct parser *parser, const struct key *key, const char *value)
{
    unsigned track;
    if (value_enum(parser, key, value, track_names, COUNT(track_names), &track))
        parser->config->settings.track = track;
}

static void parse_epoch(struct parser *parser, const struct key *key, const char *value)
{
    uint64_t ns;
    if (!value_duration(parser, key, value, &ns))
        return;
    /* The tracker and the migrator wake every epoch: 0 would make them spin. */
    if (ns == 0)
        error_at(parser, "epoch is 0; expected a duration greater than 0, such as 100ms");
    else
        parser->config->settings.epoch_ns = ns;
}

static void parse_log(struct parser *parser, const struct key *key, const char *value)
{
    struct cdm_settings *settings = &parser->config->settings;
    if (strcmp(value, "off") == 0)
        settings->log[0] = '\0';
    else
        value_template(parser, key, value, settings->log, sizeof settings->log);
}

static void parse_report(struct parser *parser, const struct key *key, const char *value)
{
    struct cdm_settings *settings = &parser->config->settings;
    if (strcmp(value, "stderr") == 0)
        settings->report = CDM_REPORT_STDERR;
    else if (strcmp(value, "off") == 0)
        settings->report = CDM_REPORT_OFF;
    else if (value_template(parser, key, value, settings->report_path,
                            sizeof settings->report_path))
        settings->report = CDM_REPORT_PATH;
}

static void parse_dry_run(struct parser *parser, const struct key *key, const char *value)
{
    value_bool(parser, key, value, &parser->config->settings.dry_run);
}

static void parse_strict(struct parser *parser, const struct key *key, const char *value)
{
    value_bool(parser, key, value, &parser->config->settings.strict);
}

static const struct key settings_keys[N_SETTINGS_KEYS] = {
    [KEY_MIN_SIZE] = {"min_size", "size", EXPECT_SIZE, parse_min_size},
    [KEY_TRACK] = {"track", "tracker", "auto, wp-async, wp, missing, damon or off", parse_track},
    [KEY_EPOCH] = {"epoch", "duration", EXPECT_DURATION, parse_epoch},
    [KEY_LOG] = {"log", "log", "off or a path template", parse_log},
    [KEY_REPORT] = {"report", "report", "stderr, off or a path template", parse_report},
    [KEY_DRY_RUN] = {"dry_run", "dry_run", EXPECT_BOOL, parse_dry_run},
    [KEY_STRICT] = {"strict", "strict", EXPECT_BOOL, parse_strict},
};

/* ---------------------------------------------------------------- [rule NAME] */

static void parse_size_window(struct parser *parser, const struct key *key, const char *value)
{
    struct cdm_rule *rule = parser->rule;
    const char *dash = strchr(value, '-');
    char low[64] = "", high[64] = "";
    const char *text = value;
    size_t len = dash ? (size_t)(dash - value) : strlen(value);
    trim(&text, &len);
    bool fits = copy_slice(low, sizeof low, text, len);
    if (dash) {
        text = dash + 1;
        len = strlen(text);
        trim(&text, &len);
        fits = fits && copy_slice(high, sizeof high, text, len);
    }
    if (!fits || (low[0] == '\0' && high[0] == '\0') || (dash && strchr(dash + 1, '-'))) {
        invalid(parser, key, value);
        return;
    }
    uint64_t min = 0, max = UINT64_MAX;
    const char *bad = NULL;
    if (low[0] && !cdm__parse_size(low, &min))
        bad = low;
    else if (high[0] && !cdm__parse_size(high, &max))
        bad = high;
    if (bad) {
        error_at(parser, "invalid size '%.40s' in size window '%.80s'; expected " EXPECT_SIZE,
                 bad, value);
        return;
    }
    if (!dash)
        max = min; /* a bare size is that size exactly */
    if (min > max) {
        error_at(parser, "size window '%.80s' is empty; expected MIN-MAX with MIN at most MAX",
                 value);
        return;
    }
    rule->size_min = min;
    rule->size_max = max;
}

static void parse_caller(struct parser *parser, const struct key *key, const char *value)
{
    value_glob(parser, key, value, parser->rule->caller, sizeof parser->rule->caller);
}

static void parse_program(struct parser *parser, const struct key *key, const char *value)
{
    value_glob(parser, key, value, parser->rule->program, sizeof parser->rule->program);
}

static void parse_kind(struct parser *parser, const struct key *key, const char *value)
{
    unsigned kinds = 0;
    const char *item = value;
    for (;;) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        const char *word = item;
        trim(&word, &len);
        unsigned bits = 0;
        for (size_t i = 0; i < COUNT(kind_names); i++)
            if (slice_is(word, len, kind_names[i].name))
                bits = kind_names[i].kinds;
        if (bits == 0) {
            if (len == 0)
                error_at(parser, "empty item in kind '%.80s'; expected %s", value, key->expected);
            else
                error_at(parser, "invalid kind '%.*s'; expected %s", (int)(len > 40 ? 40 : len),
                         word, key->expected);
            return;
        }
        kinds |= bits;
        if (!comma)
            break;
        item = comma + 1;
    }
    parser->rule->kinds = kinds;
}

static void parse_policy(struct parser *parser, const struct key *key, const char *value)
{
    struct cdm_rule *rule = parser->rule;
    size_t word_len = 0;
    while (value[word_len] && !is_blank(value[word_len]))
        word_len++;
    const char *nodes = value + word_len;
    size_t nodes_len = strlen(nodes);
    trim(&nodes, &nodes_len);
    int mode = -1;
    for (size_t i = 0; i < COUNT(policy_names); i++)
        if (slice_is(value, word_len, policy_names[i]))
            mode = (int)i;
    if (mode < 0) {
        error_at(parser, "invalid policy '%.80s'; expected %s", value, key->expected);
        return;
    }
    bool wants_nodes = mode != CDM_POLICY_LOCAL && mode != CDM_POLICY_DEFAULT;
    if (wants_nodes && nodes_len == 0) {
        error_at(parser, "policy '%s' needs a node set; expected '%s NODES', e.g. '%s cdm' or "
                         "'%s 0-1'",
                 policy_names[mode], policy_names[mode], policy_names[mode], policy_names[mode]);
        return;
    }
    if (!wants_nodes && nodes_len > 0) {
        error_at(parser, "policy '%s' takes no node set, found '%.*s'; expected just '%s'",
                 policy_names[mode], (int)(nodes_len > 40 ? 40 : nodes_len), nodes,
                 policy_names[mode]);
        return;
    }
    char spec[CDM_SPEC_MAX];
    if (!copy_slice(spec, sizeof spec, nodes, nodes_len)) {
        error_at(parser, "node set is too long; expected at most %d characters",
                 CDM_SPEC_MAX - 1);
        return;
    }
    /* A list is checked now; a name may be defined by a [nodes] further down the file, so it
     * is checked once the whole file is read (check_rule_node_sets). */
    char why[160];
    if (is_digit(spec[0]) && !cdm__nodeset_check(parser->config, spec, why, sizeof why)) {
        error_at(parser, "%s", why);
        return;
    }
    rule->policy = mode;
    memcpy(rule->policy_nodes, spec, sizeof spec);
    rule->policy_line = parser->line;
}

static void parse_on_full(struct parser *parser, const struct key *key, const char *value)
{
    unsigned on_full;
    if (value_enum(parser, key, value, on_full_names, COUNT(on_full_names), &on_full))
        parser->rule->on_full = on_full;
}

static void parse_budget(struct parser *parser, const struct key *key, const char *value)
{
    value_size(parser, key, value, &parser->rule->budget);
}

static void parse_migrate(struct parser *parser, const struct key *key, const char *value)
{
    unsigned migrate;
    if (value_enum(parser, key, value, migrate_names, COUNT(migrate_names), &migrate))
        parser->rule->migrate = migrate;
}

static void parse_idle(struct parser *parser, const struct key *key, const char *value)
{
    value_duration(parser, key, value, &parser->rule->idle_ns);
}

static void parse_hot_set(struct parser *parser, const struct key *key, const char *value)
{
    value_size(parser, key, value, &parser->rule->hot_set);
}

static const struct key rule_keys[N_RULE_KEYS] = {
    [KEY_SIZE] = {"size", "size window",
                  "MIN-, MIN-MAX, -MAX or an exact SIZE, e.g. 64M-, 4K-1M or -2M",
                  parse_size_window},
    [KEY_CALLER] = {"caller", "glob", "a glob over \"object:function\", e.g. *libmodel.so:load_*",
                    parse_caller},
    [KEY_KIND] = {"kind", "kind", "a comma list of heap, anon, shared, file or any", parse_kind},
    [KEY_PROGRAM] = {"program", "glob", "a glob over the program name, e.g. python3*",
                     parse_program},
    [KEY_POLICY] = {"policy", "policy", EXPECT_POLICY, parse_policy},
    [KEY_ON_FULL] = {"on_full", "on_full", "fallback or fail", parse_on_full},
    [KEY_BUDGET] = {"budget", "size", EXPECT_SIZE, parse_budget},
    [KEY_MIGRATE] = {"migrate", "migrate", "none, follow-cpu, tier or kernel", parse_migrate},
    [KEY_IDLE] = {"idle", "duration", EXPECT_DURATION, parse_idle},
    [KEY_HOT_SET] = {"hot_set", "size", EXPECT_SIZE, parse_hot_set},
};

/* ---------------------------------------------------------------- [nodes] */

/* Names start with a letter so that they never read as node numbers. */
static bool valid_node_set_name(const char *name)
{
    if (!is_alpha(name[0]) && name[0] != '_')
        return false;
    for (const char *p = name; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && *p != '_' && *p != '-')
            return false;
    return strcmp(name, "auto") != 0;
}

static void parse_node_name(struct parser *parser, const char *name, const char *value)
{
    struct cdm_config *config = parser->config;
    if (!valid_node_set_name(name) || strlen(name) >= CDM_NAME_MAX) {
        error_at(parser, "invalid node set name '%.64s'; expected a word of letters, digits, "
                         "'_' or '-' starting with a letter (not 'auto')",
                 name);
        return;
    }
    struct cdm_node_name *entry = NULL;
    for (int i = 0; i < config->n_node_names; i++)
        if (strcmp(config->node_names[i].name, name) == 0)
            entry = &config->node_names[i];
    if (entry && entry->line > 0) {
        error_at(parser, "duplicate node set name '%s' (first defined on line %d); expected each "
                         "name once",
                 name, entry->line);
        return;
    }
    bool builtin = strcmp(name, "cdm") == 0 || strcmp(name, "dram") == 0;
    char why[160];
    if (value[0] == '\0') {
        error_at(parser, "missing node set for '%s'; expected %sa node list like 0-1,3", name,
                 builtin ? "auto or " : "");
        return;
    }
    if (strcmp(value, "auto") == 0) {
        if (!builtin) {
            error_at(parser, "node set '%s' cannot be auto (only cdm and dram can); expected a "
                             "node list like 0-1,3",
                     name);
            return;
        }
    } else if (!is_digit(value[0])) {
        error_at(parser, "invalid node set '%.64s' for '%s'; expected %sa node list like 0-1,3",
                 value, name, builtin ? "auto or " : "");
        return;
    } else if (strlen(value) >= CDM_SPEC_MAX) {
        error_at(parser, "node set is too long; expected at most %d characters",
                 CDM_SPEC_MAX - 1);
        return;
    } else if (!cdm__nodeset_check(config, value, why, sizeof why)) {
        error_at(parser, "%s", why);
        return;
    }
    if (!entry) {
        if (config->n_node_names == CDM_MAX_NODE_NAMES) {
            error_at(parser, "too many node set names; expected at most %d", CDM_MAX_NODE_NAMES);
            return;
        }
        entry = &config->node_names[config->n_node_names++];
        copy_string(entry->name, sizeof entry->name, name);
    }
    copy_string(entry->spec, sizeof entry->spec, value);
    entry->line = parser->line;
}

/* ---------------------------------------------------------------- sections and lines */

static void finish_section(struct parser *parser)
{
    /* A policy line with an invalid value has been reported already. */
    if (parser->section == SECTION_RULE && parser->rule_seen[KEY_POLICY] == 0)
        cdm__config_error(parser->config, parser->rule->line,
                          "rule '%s' has no policy; expected " EXPECT_POLICY, parser->rule->name);
    parser->section = SECTION_NONE;
    parser->rule = NULL;
}

static bool valid_rule_name(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!is_alpha(*p) && !is_digit(*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    return name[0] != '\0';
}

static void begin_rule(struct parser *parser, const char *name, size_t len)
{
    struct cdm_config *config = parser->config;
    parser->section = SECTION_SKIPPED;
    char word[CDM_NAME_MAX];
    if (len == 0) {
        error_at(parser, "rule section has no name; expected [rule NAME]");
        return;
    }
    if (!copy_slice(word, sizeof word, name, len) || !valid_rule_name(word)) {
        error_at(parser, "invalid rule name '%.*s'; expected one word of at most %d letters, "
                         "digits, '_', '-' or '.'",
                 (int)(len > 64 ? 64 : len), name, CDM_NAME_MAX - 1);
        return;
    }
    if (config->n_rules == CDM_MAX_RULES) {
        if (!parser->too_many_rules_reported)
            error_at(parser, "too many rules; expected at most %d", CDM_MAX_RULES);
        parser->too_many_rules_reported = true;
        return;
    }
    /* A duplicate is still read, so that errors inside it are reported too. */
    for (int i = 0; i < config->n_rules; i++)
        if (strcmp(config->rules[i].name, word) == 0)
            error_at(parser, "duplicate rule name '%s' (first defined on line %d); expected each "
                             "rule to have its own name",
                     word, config->rules[i].line);
    struct cdm_rule *rule = &config->rules[config->n_rules++];
    memset(rule, 0, sizeof *rule);
    memcpy(rule->name, word, sizeof word);
    rule->line = parser->line;
    rule->size_max = UINT64_MAX;
    rule->kinds = CDM_KIND_HEAP | CDM_KIND_ANON;
    rule->policy = CDM_POLICY_DEFAULT;
    rule->on_full = CDM_ON_FULL_FALLBACK;
    rule->migrate = CDM_MIGRATE_NONE;
    rule->idle_ns = 200 * 1000000ull;
    parser->rule = rule;
    parser->section = SECTION_RULE;
    memset(parser->rule_seen, 0, sizeof parser->rule_seen);
    snprintf(parser->label, sizeof parser->label, "[rule %s]", word);
}

static void parse_section(struct parser *parser, const char *text, size_t len)
{
    finish_section(parser);
    if (len < 2 || text[len - 1] != ']') {
        error_at(parser, "unterminated section header '%.*s'; expected " EXPECT_SECTION,
                 (int)(len > 64 ? 64 : len), text);
        parser->section = SECTION_SKIPPED;
        return;
    }
    const char *inner = text + 1;
    size_t inner_len = len - 2;
    trim(&inner, &inner_len);
    if (slice_is(inner, inner_len, "nodes")) {
        parser->section = SECTION_NODES;
        copy_string(parser->label, sizeof parser->label, "[nodes]");
    } else if (slice_is(inner, inner_len, "settings")) {
        parser->section = SECTION_SETTINGS;
        copy_string(parser->label, sizeof parser->label, "[settings]");
    } else if (inner_len >= 4 && memcmp(inner, "rule", 4) == 0 &&
               (inner_len == 4 || is_blank(inner[4]))) {
        const char *name = inner + 4;
        size_t name_len = inner_len - 4;
        trim(&name, &name_len);
        begin_rule(parser, name, name_len);
    } else {
        error_at(parser, "unknown section '%.*s'; expected " EXPECT_SECTION,
                 (int)(len > 64 ? 64 : len), text);
        parser->section = SECTION_SKIPPED;
    }
}

static void unknown_key(struct parser *parser, const char *key, const struct key *keys,
                        size_t count)
{
    char names[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", keys[i].name);
        if (n > 0 && (size_t)n < sizeof names - used)
            used += (size_t)n;
    }
    error_at(parser, "unknown key '%.40s' in %s; expected one of %s", key, parser->label, names);
}

static void parse_keyed(struct parser *parser, const char *key, const char *value,
                        const struct key *keys, size_t count, int *seen)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(keys[i].name, key) != 0)
            continue;
        if (seen[i]) {
            error_at(parser, "duplicate key '%s' in %s (first set on line %d); expected each key "
                             "once",
                     key, parser->label, seen[i]);
            return;
        }
        seen[i] = parser->line;
        if (value[0] == '\0')
            error_at(parser, "missing value for '%s'; expected %s", key, keys[i].expected);
        else
            keys[i].parse(parser, &keys[i], value);
        return;
    }
    unknown_key(parser, key, keys, count);
}

static void parse_assignment(struct parser *parser, const char *text, size_t len)
{
    const char *equals = memchr(text, '=', len);
    if (equals == NULL) {
        error_at(parser, "expected 'key = value' or a section header, found '%.*s'",
                 (int)(len > 64 ? 64 : len), text);
        return;
    }
    const char *key_text = text;
    size_t key_len = (size_t)(equals - text);
    trim(&key_text, &key_len);
    const char *value_text = equals + 1;
    size_t value_len = (size_t)(text + len - value_text);
    trim(&value_text, &value_len);
    if (key_len == 0) {
        error_at(parser, "missing key before '='; expected 'key = value'");
        return;
    }
    if (parser->section == SECTION_NONE) {
        error_at(parser, "'%.*s' is outside any section; expected a section header first: "
                 EXPECT_SECTION, (int)(key_len > 40 ? 40 : key_len), key_text);
        return;
    }
    char key[CDM_NAME_MAX];
    if (!copy_slice(key, sizeof key, key_text, key_len)) {
        error_at(parser, "key '%.40s...' is too long; expected a key of %s", key_text,
                 parser->label);
        return;
    }
    char value[CDM_PATH_MAX];
    if (!copy_slice(value, sizeof value, value_text, value_len)) {
        error_at(parser, "value of '%s' is too long; expected at most %d characters", key,
                 CDM_PATH_MAX - 1);
        return;
    }
    switch (parser->section) {
    case SECTION_NODES:
        parse_node_name(parser, key, value);
        break;
    case SECTION_SETTINGS:
        parse_keyed(parser, key, value, settings_keys, N_SETTINGS_KEYS, parser->settings_seen);
        break;
    case SECTION_RULE:
        parse_keyed(parser, key, value, rule_keys, N_RULE_KEYS, parser->rule_seen);
        break;
    case SECTION_NONE:
    case SECTION_SKIPPED:
        break;
    }
}

/* A comment starts with '#' or ';' at the start of the line or after whitespace, so that
 * "log = /tmp/run#1" keeps its '#'. */
static size_t strip_comment(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((text[i] == '#' || text[i] == ';') && (i == 0 || is_blank(text[i - 1])))
            return i;
    return len;
}

static void parse_line(struct parser *parser, const char *text, size_t len)
{
    if (memchr(text, '\0', len)) {
        error_at(parser, "line holds a NUL byte; expected text");
        return;
    }
    len = strip_comment(text, len);
    trim(&text, &len);
    if (len == 0)
        return;
    if (text[0] == '[')
        parse_section(parser, text, len);
    else if (parser->section != SECTION_SKIPPED)
        parse_assignment(parser, text, len);
}

/* Node set names used by rules, now that every [nodes] has been read. */
static void check_rule_node_sets(struct cdm_config *config)
{
    for (int i = 0; i < config->n_rules; i++) {
        struct cdm_rule *rule = &config->rules[i];
        char why[160];
        if (rule->policy_nodes[0] && !is_digit(rule->policy_nodes[0]) &&
            !cdm__nodeset_check(config, rule->policy_nodes, why, sizeof why))
            cdm__config_error(config, rule->policy_line, "%s", why);
    }
}

int cdm__config_parse(struct cdm_config *config, const char *path, const char *text, size_t len)
{
    cdm__config_default(config);
    copy_string(config->path, sizeof config->path, path ? path : "");
    struct parser parser = {.config = config};
    const char *end = text ? text + len : NULL;
    for (const char *line = text; line && line < end;) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = newline ? newline : end;
        parser.line++;
        parse_line(&parser, line, (size_t)(line_end - line));
        line = newline ? newline + 1 : NULL;
    }
    finish_section(&parser);
    check_rule_node_sets(config);
    return config->n_errors;
}

/* ---------------------------------------------------------------- files */

static int read_all(int fd, char *buf, size_t size, size_t *len)
{
    *len = 0;
    while (*len < size) {
        ssize_t n = read(fd, buf + *len, size - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    return 0;
}

int cdm__config_load(struct cdm_config *config, const char *path)
{
    cdm__config_default(config);
    copy_string(config->path, sizeof config->path, path);
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        file_error(config, "cannot open the config file", errno);
        return config->n_errors;
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        file_error(config, "cannot read the config file", EISDIR);
        return config->n_errors;
    }
    /* One byte more than the limit tells a file at the limit from a larger one. */
    size_t capacity = CONFIG_FILE_MAX + 1;
    void *buf;
    int err = plat_mmap(NULL, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                        0, &buf);
    if (err) {
        close(fd);
        file_error(config, "cannot map a buffer for the config file", err);
        return config->n_errors;
    }
    size_t len;
    err = read_all(fd, buf, capacity, &len);
    close(fd);
    if (err)
        file_error(config, "cannot read the config file", err);
    else if (len > CONFIG_FILE_MAX)
        cdm__config_error(config, 0, "the config file is larger than 1 MiB; expected a config "
                                     "file of at most 1 MiB");
    else
        cdm__config_parse(config, path, buf, len);
    plat_munmap(buf, capacity);
    return config->n_errors;
}
