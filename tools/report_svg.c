/* SPDX-License-Identifier: MIT */
/* cdmplace report --svg FILE: pages per node over time, one panel per rule, with the rule's
 * migrations marked under its time axis (design.md "The end-of-run report").
 *
 * Many processes (the ranks of a job) are drawn as their sum, per rule, on the time since
 * each one's start: a panel per rank would not fit a screen for a thousand ranks, the ranks
 * of a job run the same phases at about the same times, and the text table already names the
 * ranks at the extremes.
 *
 * Each node keeps one color in every panel, blues for DRAM and warm colors for CDM, and its
 * name is written where its line ends. A rule without epochs (not tracked) shows its live
 * bytes from placements and frees instead, so that its panel still says something; the
 * legend under the title names only what the panels draw. Values are gathered per pixel
 * column (first, lowest, highest, last), so the file stays small however long the run.
 * Migrations are summed over a few columns, a bar each, whose height is in proportion to the
 * pages it moved: an epoch's moves come as one `migrate` event per range moved (the seed
 * flow's 16 MiB buffer moves as four of 1022 pages), so a bar per event, or per column, would
 * give every burst one height whatever it moved.
 * Plain SVG 1.1, written with stdio. */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 960
#define PLOT_LEFT 84
#define PLOT_WIDTH 736 /* one column per pixel; the right margin holds the line labels */
#define PLOT_HEIGHT 170
#define LINE_HEIGHT 16 /* of the header's and the headings' lines of 12 pixels */
#define RIGHT_MARGIN 8
#define PANEL_HEIGHT 340 /* heading, plot, time labels, the migration strip and its scale, a gap */
#define PANEL_HEADING 44 /* the rule's line, what the plot shows, a gap */
#define STRIP_HEIGHT 60
#define BAR_COLUMNS 8 /* plot columns summed into one migration bar */
#define N_BARS (PLOT_WIDTH / BAR_COLUMNS)
#define MAX_LINES 64 /* nodes drawn; a node past these is left out of the picture */
#define LABEL_SPACING 13

enum direction { TO_DRAM, TO_CDM };
static const char *const moved_color[] = {"#6c9be0", "#f3a65f"};
static const char *const moved_label[] = {"to DRAM \xe2\x86\x91", "to CDM \xe2\x86\x93"};
static const char *const dram_colors[] = {"#1f5fbf", "#17a2b8", "#5b3fa8", "#2e8b57"};
static const char *const cdm_colors[] = {"#e8710a", "#c0392b", "#c2185b", "#b8860b"};
static const char live_color[] = "#444444";
static const char other_color[] = "#888888";

/* ---------------------------------------------------------------- nodes */

struct node_style {
    int node;
    const char *kind; /* "DRAM", "CDM", or "" when the trace does not say */
    const char *color;
};

struct nodes {
    struct node_style style[MAX_LINES];
    int n;
};

/* Every node some rule had pages on, by number, each with its kind and color. */
static void find_nodes(const struct trace_set *set, struct nodes *nodes)
{
    enum { MOST = 1024 }; /* node numbers looked for, as the table's rows */
    bool seen[MOST] = {false};
    for (size_t i = 0; i < set->n_processes; i++)
        for (int r = 0; r < set->processes[i]->n_rules; r++) {
            const struct trace_rule *rule = &set->processes[i]->rules[r];
            for (size_t k = 0; k < rule->n_counts; k++)
                if (rule->counts[k].node >= 0 && rule->counts[k].node < MOST)
                    seen[rule->counts[k].node] = true;
        }
    int n_dram = 0, n_cdm = 0;
    nodes->n = 0;
    for (int node = 0; node < MOST && nodes->n < MAX_LINES; node++) {
        if (!seen[node])
            continue;
        struct node_style *style = &nodes->style[nodes->n++];
        style->node = node;
        style->kind = "";
        style->color = other_color;
        for (size_t i = 0; i < set->n_processes && !*style->kind; i++)
            if (trace_node_listed(set->processes[i]->dram_nodes, node)) {
                style->kind = "DRAM";
                style->color = dram_colors[n_dram++ % 4];
            } else if (trace_node_listed(set->processes[i]->cdm_nodes, node)) {
                style->kind = "CDM";
                style->color = cdm_colors[n_cdm++ % 4];
            }
    }
}

/* ---------------------------------------------------------------- one panel's data */

struct column {
    bool set;
    double first, low, high, last;
};

struct panel {
    const char *name;
    const struct trace_rule *rule; /* the first process's that placed: its policy, nodes */
    size_t processes;              /* that have the rule */
    bool tracked;                  /* epochs: pages per node; else live MiB */
    bool no_node;                  /* a placement found its node set empty on its host */
    int n_lines;                   /* nodes->n when tracked, else 1 */
    struct column *columns;        /* n_lines * PLOT_WIDTH */
    double top;
    uint64_t moved[2][N_BARS]; /* pages migrated per bar, by direction */
    uint64_t moved_total[2];
};

static int column_of(uint64_t t, uint64_t t_max)
{
    int column = (int)((double)t / (double)t_max * (PLOT_WIDTH - 1) + 0.5);
    return column < PLOT_WIDTH ? column : PLOT_WIDTH - 1;
}

static void column_add(struct panel *panel, int line, int column, double value)
{
    struct column *c = &panel->columns[line * PLOT_WIDTH + column];
    if (!c->set)
        *c = (struct column){true, value, value, value, value};
    c->low = value < c->low ? value : c->low;
    c->high = value > c->high ? value : c->high;
    c->last = value;
    if (value > panel->top)
        panel->top = value;
}

/* A change of a process's pages per node: an epoch, or its end (the `totals` at exit, else
 * the last epoch held to the process's last event). */
struct step {
    uint64_t t;
    size_t order, holder;
    const struct trace_node_count *counts;
    size_t n;
};

static int by_time(const void *a, const void *b)
{
    const struct step *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* The sum over processes of pages per node, as it changes, into the panel's columns. */
static void gather_pages(struct panel *panel, const struct trace_rule **rules,
                         const struct trace_process **holders, const struct nodes *nodes,
                         uint64_t t_max)
{
    size_t n_steps = 0;
    for (size_t h = 0; h < panel->processes; h++)
        n_steps += rules[h]->n_samples + 1;
    struct step *steps = cli_checked(calloc(n_steps, sizeof *steps));
    size_t k = 0;
    for (size_t h = 0; h < panel->processes; h++) {
        const struct trace_rule *rule = rules[h];
        if (!rule->n_samples)
            continue;
        for (size_t s = 0; s < rule->n_samples; s++, k++) {
            const struct trace_sample *sample = &rule->samples[s];
            steps[k] = (struct step){sample->t, k, h, &rule->counts[sample->first], sample->n};
        }
        const struct trace_sample *last = &rule->samples[rule->n_samples - 1];
        steps[k] = rule->have_totals
                       ? (struct step){holders[h]->last_t, k, h, rule->exit_counts,
                                       rule->n_exit_counts}
                       : (struct step){holders[h]->last_t, k, h, &rule->counts[last->first],
                                       last->n};
        k++;
    }
    qsort(steps, k, sizeof *steps, by_time);
    double *now = cli_checked(calloc(panel->processes * (size_t)nodes->n + 1, sizeof *now));
    double sum[MAX_LINES] = {0};
    for (size_t i = 0; i < k; i++) {
        int column = column_of(steps[i].t, t_max);
        for (int line = 0; line < nodes->n; line++) {
            double *held = &now[steps[i].holder * (size_t)nodes->n + (size_t)line];
            double pages = (double)report_pages_on(steps[i].counts, steps[i].n,
                                                   nodes->style[line].node);
            sum[line] += pages - *held;
            *held = pages;
            column_add(panel, line, column, sum[line]);
        }
    }
    free(now);
    free(steps);
}

struct change {
    uint64_t t;
    int64_t bytes;
};

/* A free sorts before a placement at the same time: no peak that never was. */
static int by_time_frees_first(const void *a, const void *b)
{
    const struct change *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

/* Live bytes, in MiB, from placements (placed at t, freed at end_t) summed over processes. */
static void gather_live(struct panel *panel, const struct trace_rule **rules, uint64_t t_max)
{
    size_t n = 0;
    for (size_t h = 0; h < panel->processes; h++)
        n += 2 * rules[h]->n_placements;
    if (!n)
        return;
    struct change *changes = cli_checked(calloc(n, sizeof *changes));
    size_t k = 0;
    for (size_t h = 0; h < panel->processes; h++)
        for (size_t p = 0; p < rules[h]->n_placements; p++) {
            const struct trace_placement *placement = &rules[h]->placements[p];
            changes[k++] = (struct change){placement->t, (int64_t)placement->size};
            changes[k++] = (struct change){placement->end_t, -(int64_t)placement->size};
        }
    qsort(changes, n, sizeof *changes, by_time_frees_first);
    double live = 0;
    column_add(panel, 0, column_of(changes[0].t, t_max), 0);
    for (size_t i = 0; i < n; i++) {
        live += (double)changes[i].bytes / (1024 * 1024);
        column_add(panel, 0, column_of(changes[i].t, t_max), live);
    }
    free(changes);
}

static void gather_migrations(struct panel *panel, const struct trace_rule **rules,
                              const struct trace_process **holders, uint64_t t_max)
{
    for (size_t h = 0; h < panel->processes; h++)
        for (size_t m = 0; m < rules[h]->n_migrations; m++) {
            const struct trace_migration *migration = &rules[h]->migrations[m];
            enum direction way =
                trace_node_listed(holders[h]->dram_nodes, migration->to) ? TO_DRAM : TO_CDM;
            panel->moved[way][column_of(migration->t, t_max) / BAR_COLUMNS] += migration->pages;
            panel->moved_total[way] += migration->pages;
        }
}

static void gather(struct panel *panel, const struct trace_set *set, const struct nodes *nodes,
                   uint64_t t_max)
{
    const struct trace_rule **rules = cli_checked(calloc(set->n_processes, sizeof *rules));
    const struct trace_process **holders = cli_checked(calloc(set->n_processes, sizeof *holders));
    for (size_t i = 0; i < set->n_processes; i++) {
        const struct trace_rule *rule = trace_process_rule(set->processes[i], panel->name);
        if (!rule)
            continue;
        if (!panel->rule || (!panel->rule->policy && rule->policy))
            panel->rule = rule;
        panel->tracked |= rule->n_samples != 0;
        for (size_t p = 0; p < rule->n_placements && !panel->no_node; p++)
            panel->no_node = !strcmp(rule->placements[p].result, "no-node");
        rules[panel->processes] = rule;
        holders[panel->processes++] = set->processes[i];
    }
    panel->n_lines = panel->tracked ? nodes->n : 1;
    panel->columns = cli_checked(calloc((size_t)(panel->n_lines ? panel->n_lines : 1) * PLOT_WIDTH,
                                    sizeof *panel->columns));
    if (panel->tracked)
        gather_pages(panel, rules, holders, nodes, t_max);
    else
        gather_live(panel, rules, t_max);
    gather_migrations(panel, rules, holders, t_max);
    free(rules);
    free(holders);
}

/* ---------------------------------------------------------------- SVG text */

/* s as XML character data: markup escaped, control characters XML 1.0 forbids dropped. */
static void put_escaped(FILE *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&')
            fputs("&amp;", out);
        else if (c == '<')
            fputs("&lt;", out);
        else if (c == '>')
            fputs("&gt;", out);
        else if (c == '"')
            fputs("&quot;", out);
        else if (c >= 0x20 || c == '\t' || c == '\n')
            fputc(c, out);
    }
}

static void put_text(FILE *out, double x, double y, const char *attributes, const char *content)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attributes);
    put_escaped(out, content);
    fputs("</text>\n", out);
}

/* <text> at (x, y) with `attributes` (trusted markup), its content formatted and escaped. */
static void __attribute__((format(printf, 5, 6)))
text(FILE *out, double x, double y, const char *attributes, const char *fmt, ...)
{
    char content[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(content, sizeof content, fmt, ap);
    va_end(ap);
    put_text(out, x, y, attributes, content);
}

/* The width of s in pixels at `size`, never less than DejaVu Sans (the font asked for, and
 * wider than the fallbacks) draws it: its advances, in em, are at most 0.40 for the narrow
 * characters below, 1.0 for the wide ones and any other script, 0.80 for the other capitals
 * and 0.66 for the rest; bold adds at most a tenth. SVG 1.1 breaks no lines, and the file is
 * written without a font to measure with, so a line is fitted by this estimate. */
static double text_width(const char *s, double size, bool bold)
{
    double em = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c >= 0x80) {
            em += (*c & 0xc0) != 0x80; /* a code point's first byte */
        } else if (strchr(" !'(),-./:;I[\\]fijlrt|", *c)) {
            em += 0.40;
        } else if (strchr("%&@#+<=>^~MWmw", *c)) {
            em += 1.0;
        } else {
            em += *c >= 'A' && *c <= 'Z' ? 0.80 : 0.66;
        }
    }
    return em * size * (bold ? 1.1 : 1.0);
}

/* Cuts s (in a buffer of size bytes) at a character so that, with an ellipsis, it is at most
 * `room` pixels wide; s as it is when it fits. Returns s. */
static char *fit(char *s, size_t size, double room, int font_size, bool bold)
{
    static const char ellipsis[] = "\xe2\x80\xa6";
    if (text_width(s, font_size, bold) <= room)
        return s;
    double left = room - text_width(ellipsis, font_size, bold);
    size_t cut = strlen(s);
    while (cut > 0 && text_width(s, font_size, bold) > left) {
        do
            cut--;
        while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80);
        s[cut] = '\0';
    }
    if (cut + sizeof ellipsis <= size)
        memcpy(s + cut, ellipsis, sizeof ellipsis);
    return s;
}

/* A line of text from x to at most the canvas's right margin, its content formatted, escaped
 * and, where it would run past the margin, cut with an ellipsis. */
static void __attribute__((format(printf, 7, 8)))
text_line(FILE *out, double x, double y, int size, bool bold, const char *fill, const char *fmt,
          ...)
{
    char content[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(content, sizeof content, fmt, ap);
    va_end(ap);
    char attributes[96];
    snprintf(attributes, sizeof attributes, "font-size=\"%d\"%s fill=\"%s\"", size,
             bold ? " font-weight=\"bold\"" : "", fill);
    put_text(out, x, y, attributes,
             fit(content, sizeof content, WIDTH - RIGHT_MARGIN - x, size, bold));
}

/* ---------------------------------------------------------------- axes */

/* A round step (1, 2 or 5 times a power of ten) that cuts [0, top] into about `ticks`. */
static double round_step(double top, int ticks, double smallest)
{
    static const double multiples[] = {1, 2, 5, 10};
    double raw = top / ticks, power = pow(10, floor(log10(raw)));
    size_t i = 0;
    while (power * multiples[i] < raw) /* raw < 10 * power: ends at 10 at the latest */
        i++;
    return power * multiples[i] < smallest ? smallest : power * multiples[i];
}

/* A tick value, short and in one unit along an axis that goes up to `top`: 0.25, 40, 12k,
 * 1.5M. */
static char *format_tick(double value, double step, double top, char *buf, size_t size)
{
    if (value == 0)
        snprintf(buf, size, "0");
    else if (top >= 1e6)
        snprintf(buf, size, "%gM", value / 1e6);
    else if (top >= 1e4)
        snprintf(buf, size, "%gk", value / 1e3);
    else
        snprintf(buf, size, "%.*f", step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0, value);
    return buf;
}

/* ---------------------------------------------------------------- drawing */

struct label {
    double x, y;
    const char *color;
    char text[64];
};

static int by_height(const void *a, const void *b)
{
    const struct label *x = a, *y = b;
    return (x->y > y->y) - (x->y < y->y);
}

/* Labels that would overlap are pushed apart, and kept beside the plot. */
static void draw_labels(FILE *out, struct label *labels, int n, double bottom)
{
    qsort(labels, (size_t)n, sizeof *labels, by_height);
    for (int i = 1; i < n; i++)
        if (labels[i].y < labels[i - 1].y + LABEL_SPACING)
            labels[i].y = labels[i - 1].y + LABEL_SPACING;
    for (int i = n - 1; i >= 0; i--) {
        double lowest = i == n - 1 ? bottom : labels[i + 1].y - LABEL_SPACING;
        if (labels[i].y > lowest)
            labels[i].y = lowest;
    }
    for (int i = 0; i < n; i++) {
        char attributes[96];
        snprintf(attributes, sizeof attributes, "fill=\"%s\" font-weight=\"bold\"",
                 labels[i].color);
        text(out, labels[i].x + 6, labels[i].y + 4, attributes, "%s", labels[i].text);
    }
}

static void put_point(FILE *out, double x, double y, double *last_x, double *last_y)
{
    if (x == *last_x && y == *last_y)
        return;
    fprintf(out, "%.1f,%.1f ", x, y);
    *last_x = x, *last_y = y;
}

/* One line as steps: a value holds until the next column that has one. Sets the label's
 * place at the line's end. */
static void draw_line(FILE *out, const struct panel *panel, int line, const char *color,
                      double plot_top, double y_top, struct label *label)
{
    fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                 "stroke-linejoin=\"round\" points=\"", color);
    double last_x = -1, last_y = -1, held = 0;
    bool started = false;
    for (int column = 0; column < PLOT_WIDTH; column++) {
        const struct column *c = &panel->columns[line * PLOT_WIDTH + column];
        if (!c->set)
            continue;
        double x = PLOT_LEFT + column, scale = PLOT_HEIGHT / y_top, bottom = plot_top + PLOT_HEIGHT;
        if (started)
            put_point(out, x, bottom - held * scale, &last_x, &last_y);
        put_point(out, x, bottom - c->first * scale, &last_x, &last_y);
        put_point(out, x, bottom - c->low * scale, &last_x, &last_y);
        put_point(out, x, bottom - c->high * scale, &last_x, &last_y);
        put_point(out, x, bottom - c->last * scale, &last_x, &last_y);
        held = c->last;
        started = true;
    }
    fputs("\"/>\n", out);
    label->x = last_x;
    label->y = last_y;
    label->color = color;
}

static void draw_axes(FILE *out, double plot_top, double y_top, double y_step, uint64_t t_max)
{
    fprintf(out, "<rect class=\"plot\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
                 "fill=\"#fcfcfc\" stroke=\"#bbbbbb\"/>\n",
            PLOT_LEFT, plot_top, PLOT_WIDTH, PLOT_HEIGHT);
    char tick[32];
    for (double value = 0; value <= y_top + y_step / 2; value += y_step) {
        double y = plot_top + PLOT_HEIGHT - value / y_top * PLOT_HEIGHT;
        if (value > 0)
            fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                    PLOT_LEFT, y, PLOT_LEFT + PLOT_WIDTH, y);
        text(out, PLOT_LEFT - 6, y + 4, "text-anchor=\"end\" fill=\"#555555\"", "%s",
             format_tick(value, y_step, y_top, tick, sizeof tick));
    }
    double seconds = (double)t_max / 1e9, t_step = round_step(seconds, 8, 0);
    for (double t = 0; t <= seconds * (1 + 1e-9); t += t_step) {
        double x = PLOT_LEFT + t / seconds * (PLOT_WIDTH - 1), bottom = plot_top + PLOT_HEIGHT;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#bbbbbb\"/>\n",
                x, bottom, x, bottom + 4);
        text(out, x, bottom + 15, "text-anchor=\"middle\" fill=\"#555555\"", "%s s",
             format_tick(t, t_step, seconds, tick, sizeof tick));
    }
}

/* Pages migrated per bar: up for those to DRAM, down for those to CDM, each in proportion to
 * the tallest, whose pages and time span are written under the strip. */
static void draw_migrations(FILE *out, const struct panel *panel, double top, uint64_t t_max)
{
    double middle = top + STRIP_HEIGHT / 2.0, reach = STRIP_HEIGHT / 2.0 - 3;
    fprintf(out, "<rect class=\"migrations\" x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%d\" "
                 "fill=\"#f4f4f4\"/>\n", PLOT_LEFT, top, PLOT_WIDTH, STRIP_HEIGHT);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#cccccc\"/>\n",
            PLOT_LEFT, middle, PLOT_LEFT + PLOT_WIDTH, middle);
    if (!panel->moved_total[TO_DRAM] && !panel->moved_total[TO_CDM]) {
        text(out, PLOT_LEFT + PLOT_WIDTH / 2.0, middle + 4,
             "text-anchor=\"middle\" fill=\"#888888\"", "no migrations");
        return;
    }
    uint64_t most = 0;
    for (int way = TO_DRAM; way <= TO_CDM; way++)
        for (int bar = 0; bar < N_BARS; bar++)
            most = panel->moved[way][bar] > most ? panel->moved[way][bar] : most;
    for (int way = TO_DRAM; way <= TO_CDM; way++) {
        for (int bar = 0; bar < N_BARS; bar++) {
            if (!panel->moved[way][bar])
                continue;
            /* A pixel at least: a few pages moved are still seen to have moved. */
            double height = fmax(1, reach * (double)panel->moved[way][bar] / (double)most);
            fprintf(out, "<rect class=\"moved\" x=\"%d\" y=\"%.2f\" width=\"%d\" "
                         "height=\"%.2f\" fill=\"%s\"/>\n",
                    PLOT_LEFT + bar * BAR_COLUMNS + 1, way == TO_DRAM ? middle - height : middle,
                    BAR_COLUMNS - 2, height, moved_color[way]);
        }
        char attributes[96];
        double y = way == TO_DRAM ? middle - 6 : middle + 14;
        snprintf(attributes, sizeof attributes, "fill=\"%s\" font-weight=\"bold\"",
                 moved_color[way]);
        text(out, PLOT_LEFT + PLOT_WIDTH + 6, y, attributes, "%llu pages",
             (unsigned long long)panel->moved_total[way]);
        text(out, PLOT_LEFT - 6, y, strcat(attributes, " text-anchor=\"end\""), "%s",
             moved_label[way]);
    }
    double bar_seconds = (double)t_max / 1e9 * BAR_COLUMNS / (PLOT_WIDTH - 1);
    text(out, PLOT_LEFT + PLOT_WIDTH, top + STRIP_HEIGHT + 14,
         "class=\"bar-scale\" text-anchor=\"end\" font-size=\"11\" fill=\"#666666\"",
         "a bar: the pages migrated in %.3g %s; the tallest, %llu pages",
         bar_seconds < 1 ? bar_seconds * 1e3 : bar_seconds, bar_seconds < 1 ? "ms" : "s",
         (unsigned long long)most);
}

/* The rule's line: its name, cut to leave room for its policy, and the policy with its nodes,
 * or that its node set was empty where it ran (the trace records no nodes then, as for
 * `local`, whose placements apply). */
static void draw_rule_line(FILE *out, const struct panel *panel, double y)
{
    const struct trace_rule *rule = panel->rule;
    char policy[256] = "";
    if (rule->no_rule) {
        text_line(out, PLOT_LEFT, y, 14, true, "#000000", "allocations no rule matched");
        return;
    }
    if (rule->policy && rule->nodes && *rule->nodes)
        snprintf(policy, sizeof policy, " (%s %s)", rule->policy, rule->nodes);
    else if (rule->policy && panel->no_node)
        snprintf(policy, sizeof policy, " (%s to an empty node set)", rule->policy);
    else if (rule->policy)
        snprintf(policy, sizeof policy, " (%s)", rule->policy);
    char name[256];
    snprintf(name, sizeof name, "%s", panel->name);
    double room = WIDTH - RIGHT_MARGIN - PLOT_LEFT - text_width("rule ", 14, true) -
                  text_width(policy, 14, true);
    text_line(out, PLOT_LEFT, y, 14, true, "#000000", "rule %s%s",
              fit(name, sizeof name, room, 14, true), policy);
}

static void draw_panel(FILE *out, const struct panel *panel, const struct nodes *nodes,
                       size_t n_processes, double top, uint64_t t_max)
{
    draw_rule_line(out, panel, top + 18);
    char in[96] = "";
    if (n_processes > 1)
        snprintf(in, sizeof in, ", summed over the %zu process%s (of %zu) that ha%s it",
                 panel->processes, panel->processes == 1 ? "" : "es", n_processes,
                 panel->processes == 1 ? "s" : "ve");
    text_line(out, PLOT_LEFT, top + 18 + LINE_HEIGHT, 12, false, "#444444", "%s%s",
              panel->tracked ? "pages per node, after each epoch"
                             : "live MiB from placements and frees (no epochs: not tracked)",
              in);
    double plot_top = top + PANEL_HEADING;
    if (panel->top <= 0) {
        draw_axes(out, plot_top, 1, 1, t_max);
        text(out, PLOT_LEFT + PLOT_WIDTH / 2.0, plot_top + PLOT_HEIGHT / 2.0,
             "text-anchor=\"middle\" fill=\"#888888\"", "%s",
             panel->tracked ? "no pages in any epoch" : "nothing placed");
    } else {
        double step = round_step(panel->top, 5, panel->tracked ? 1 : 0);
        double y_top = ceil(panel->top / step) * step;
        draw_axes(out, plot_top, y_top, step, t_max);
        struct label labels[MAX_LINES];
        int n_labels = 0;
        for (int line = 0; line < panel->n_lines; line++) {
            bool drawn = false;
            for (int column = 0; column < PLOT_WIDTH && !drawn; column++)
                drawn = panel->columns[line * PLOT_WIDTH + column].high > 0;
            if (!drawn)
                continue;
            struct label *label = &labels[n_labels++];
            if (panel->tracked) {
                const struct node_style *style = &nodes->style[line];
                draw_line(out, panel, line, style->color, plot_top, y_top, label);
                snprintf(label->text, sizeof label->text, *style->kind ? "node %d (%s)" : "node %d",
                         style->node, style->kind);
            } else {
                draw_line(out, panel, line, live_color, plot_top, y_top, label);
                snprintf(label->text, sizeof label->text, "live");
            }
        }
        draw_labels(out, labels, n_labels, plot_top + PLOT_HEIGHT);
    }
    draw_migrations(out, panel, plot_top + PLOT_HEIGHT + 24, t_max);
}

/* What the panels draw, which the legend names and no more. */
struct drawn {
    bool nodes, live, migrations;
};

/* The header's height: two lines of title, a line of legend for each kind of thing drawn. */
static int header_height(const struct drawn *drawn)
{
    return 42 + LINE_HEIGHT * (drawn->nodes + drawn->live + 1) + 10;
}

/* The title: which process (or how many), the tracker, the run's length, how to read what the
 * panels draw. */
static void draw_header(FILE *out, const struct trace_set *set, const struct drawn *drawn,
                       uint64_t t_max)
{
    const struct trace_process *first = set->processes[0];
    bool one_program = true, one_tracker = true;
    for (size_t i = 1; i < set->n_processes; i++) {
        const struct trace_process *process = set->processes[i];
        one_program &= !strcmp(process->program ? process->program : "?",
                               first->program ? first->program : "?");
        one_tracker &= !strcmp(process->tracker ? process->tracker : "?",
                               first->tracker ? first->tracker : "?");
    }
    const char *program = first->program ? first->program : "(program unknown)";
    const char *tracker = first->tracker ? first->tracker : "?";
    if (set->n_processes == 1) {
        char name[128];
        text_line(out, 16, 24, 17, true, "#000000", "cdmplace report: %s, %s", program,
                  trace_process_name(first, name, sizeof name));
        text_line(out, 16, 42, 12, false, "#444444", "tracker %s (sees %s), config %s, %.3f s",
                  tracker, first->sees ? first->sees : "?", first->config ? first->config : "?",
                  (double)t_max / 1e9);
    } else {
        text_line(out, 16, 24, 17, true, "#000000", "cdmplace report: %s%s, %zu processes%s%s",
                  program, one_program ? "" : " and others", set->n_processes,
                  first->job ? ", job " : "", first->job ? first->job : "");
        text_line(out, 16, 42, 12, false, "#444444",
                  "tracker %s%s, longest %.3f s; time since each process's start", tracker,
                  one_tracker ? "" : " and others", (double)t_max / 1e9);
    }
    double y = 42;
    if (drawn->nodes)
        text_line(out, 16, y += LINE_HEIGHT, 12, false, "#444444",
                  "Lines: pages per node, DRAM nodes in blues, CDM nodes in warm colors, each "
                  "named at its end.");
    if (drawn->live)
        text_line(out, 16, y += LINE_HEIGHT, 12, false, "#444444",
                  "Gray line \"live\": MiB placed and not yet freed, where a rule had no epochs.");
    text_line(out, 16, y += LINE_HEIGHT, 12, false, "#444444", "%s",
              drawn->migrations ? "Under each plot: pages migrated, bars up to DRAM, down to CDM, "
                                  "as tall as the pages they moved."
                                : "Under each plot: pages migrated (none in these traces).");
}

int report_svg(const struct trace_set *set, const char *path)
{
    uint64_t t_max = 1;
    for (size_t i = 0; i < set->n_processes; i++)
        if (set->processes[i]->last_t > t_max)
            t_max = set->processes[i]->last_t;
    struct nodes nodes;
    find_nodes(set, &nodes);
    const char **names;
    int n_names = report_rule_names(set, &names), n_panels = 0;
    /* As the table: the allocations no rule matched only when there are some. */
    struct panel **panels = cli_checked(calloc((size_t)n_names + 1, sizeof *panels));
    struct drawn drawn = {false, false, false};
    for (int r = 0; r < n_names; r++) {
        bool shown = false;
        for (size_t i = 0; i < set->n_processes && !shown; i++) {
            const struct trace_rule *rule = trace_process_rule(set->processes[i], names[r]);
            shown = rule && (!rule->no_rule || rule->allocations);
        }
        if (!shown)
            continue;
        struct panel *panel = cli_checked(calloc(1, sizeof *panel));
        panel->name = names[r];
        gather(panel, set, &nodes, t_max);
        drawn.nodes |= panel->tracked;
        drawn.live |= !panel->tracked;
        drawn.migrations |= panel->moved_total[TO_DRAM] || panel->moved_total[TO_CDM];
        panels[n_panels++] = panel;
    }

    int err = 0;
    FILE *out = fopen(path, "w");
    if (!out) {
        err = errno;
        goto done;
    }
    int top = header_height(&drawn), height = top + n_panels * PANEL_HEIGHT;
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
                 "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, "
                 "Arial, sans-serif\" font-size=\"12\">\n",
            WIDTH, height, WIDTH, height);
    fputs("<title>cdmplace report: pages per node over time</title>\n", out);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", WIDTH, height);
    draw_header(out, set, &drawn, t_max);
    for (int p = 0; p < n_panels; p++)
        draw_panel(out, panels[p], &nodes, set->n_processes, top + p * PANEL_HEIGHT, t_max);
    fputs("</svg>\n", out);
    err = ferror(out) ? (errno ? errno : EIO) : 0;
    if (fclose(out) != 0 && !err)
        err = errno;
done:
    for (int p = 0; p < n_panels; p++) {
        free(panels[p]->columns);
        free(panels[p]);
    }
    free(panels);
    free(names);
    return err;
}
