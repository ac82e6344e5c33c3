/* SPDX-License-Identifier: MIT */
// Lines of a trace to events (see trace.h): the one place that knows JSON.
//
// simdjson's DOM parser reads each line in place (the file is read whole into a buffer
// padded as simdjson needs), so a line costs one parse and no allocation; json-c or jansson
// would build a tree of allocated values per line, several times slower over the millions
// of lines of a job's traces. Fields are read in one pass over each object, whatever their
// order; a field's meaning may depend on its JSON type ("from" is an address in `remap`, a
// node in `migrate`), never on the event, so unknown events and fields cost nothing.
#include <simdjson.h>

#include <cstring>
#include <string_view>

#include "trace.h"

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

trace_str str_of(std::string_view view)
{
    return trace_str{view.data(), view.size()};
}

// "0x7f..." as printf's %p and %lx write it; "(nil)" is 0.
bool address_of(std::string_view text, uint64_t *out)
{
    if (text == "(nil)") {
        *out = 0;
        return true;
    }
    if (text.size() < 3 || text.size() > 18 || text[0] != '0' || text[1] != 'x')
        return false;
    uint64_t value = 0;
    for (char c : text.substr(2)) {
        int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0)
            return false;
        value = value << 4 | (uint64_t)digit;
    }
    *out = value;
    return true;
}

bool number_of(element value, uint64_t *out)
{
    return value.get_uint64().get(*out) == simdjson::SUCCESS;
}

// {"0":12,"1":40}: pages per node; other objects (the start event's {"cdm":..}) are not.
int counts_of(element value, trace_event *event)
{
    simdjson::dom::object object;
    if (value.get_object().get(object))
        return 0;
    int dropped = 0;
    for (auto field : object) {
        std::string_view key = field.key;
        uint64_t pages;
        std::string_view list;
        if ((key == "cdm" || key == "dram") && !field.value.get_string().get(list)) {
            *(key == "cdm" ? &event->cdm_nodes : &event->dram_nodes) = str_of(list);
            continue;
        }
        if (key.empty() || key.size() > 4 || key.find_first_not_of("0123456789") != key.npos)
            return dropped; // not a node count
        if (!number_of(field.value, &pages))
            continue;
        if (event->n_counts == TRACE_EVENT_NODES) {
            dropped++;
            continue;
        }
        event->counts[event->n_counts++] = {atoi(std::string(key).c_str()), pages};
    }
    return dropped;
}

// Fields that some event needs; a missing one skips the line with a warning.
enum field_bit : unsigned {
    F_T = 1u << 0, F_PID = 1u << 1, F_ADDR = 1u << 2, F_SIZE = 1u << 3, F_RULE = 1u << 4,
    F_RESULT = 1u << 5, F_FROM = 1u << 6, F_TO = 1u << 7, F_OLD_SIZE = 1u << 8,
    F_PAGES = 1u << 9, F_NODES = 1u << 10,
};

struct required_fields {
    unsigned bits;
    const char *names; // said in the warning
};

const required_fields required[TRACE_N_KINDS] = {
    /* start */ {F_T | F_PID, "t, pid"},
    /* place */ {F_T | F_PID | F_SIZE | F_RULE | F_RESULT, "t, pid, size, rule, result"},
    /* free */ {F_T | F_PID | F_ADDR | F_SIZE | F_RULE, "t, pid, addr, size, rule"},
    /* remap */ {F_T | F_PID | F_FROM | F_TO | F_OLD_SIZE | F_SIZE | F_RULE,
                 "t, pid, from, to, old_size, size, rule"},
    /* advise */ {F_T | F_PID, "t, pid"},
    /* migrate */ {F_T | F_PID | F_FROM | F_TO | F_PAGES | F_RULE, "t, pid, from, to, pages, rule"},
    /* epoch */ {F_T | F_PID | F_RULE | F_NODES, "t, pid, rule, nodes"},
    /* totals */ {F_T | F_PID | F_RULE, "t, pid, rule"},
    /* error */ {F_T | F_PID, "t, pid"},
    /* exit */ {F_T | F_PID, "t, pid"},
    /* access */ {F_T | F_PID | F_ADDR | F_PAGES | F_RULE, "t, pid, addr, pages, rule"},
};

const char *const kind_names[TRACE_N_KINDS] = {
    "start", "place", "free", "remap", "advise", "migrate", "epoch", "totals", "error", "exit",
    "access",
};

enum trace_kind kind_of(std::string_view name)
{
    for (int k = 0; k < TRACE_N_KINDS; k++)
        if (name == kind_names[k])
            return (enum trace_kind)k;
    return TRACE_N_KINDS;
}

// "stack": [{"at":"object:function","off":"0x1234"}, ...], innermost first: the offset of
// the caller's frame (the first named as "caller"), and every frame when the model keeps
// stacks (reading them all costs a report over a job's traces time it mostly does not need).
void frames_of(element stack, trace_event *event, bool every_frame)
{
    simdjson::dom::array frames;
    if (stack.get_array().get(frames))
        return;
    std::string_view caller = event->caller.s ? std::string_view(event->caller.s, event->caller.len)
                                              : std::string_view();
    bool caller_found = false;
    for (element frame : frames) {
        std::string_view at, off;
        uint64_t offset;
        if (frame["at"].get_string().get(at) || frame["off"].get_string().get(off) ||
            !address_of(off, &offset))
            continue;
        if (!caller_found && event->caller.s && at == caller) {
            event->caller_offset = offset;
            caller_found = true;
        }
        if (!every_frame && caller_found)
            return;
        if (every_frame && event->n_frames < TRACE_EVENT_FRAMES)
            event->frames[event->n_frames++] = {str_of(at), offset};
    }
}

class line_reader {
public:
    explicit line_reader(trace_reader *reader) : reader_(reader) {}
    void read(const char *line, size_t len, int number, bool last_unterminated);

private:
    bool fill(simdjson::dom::object object, trace_event *event, unsigned *seen, int number);
    trace_reader *reader_;
    simdjson::dom::parser parser_;
};

bool line_reader::fill(simdjson::dom::object object, trace_event *event, unsigned *seen,
                       int number)
{
    element stack;
    bool have_stack = false;
    for (auto field : object) {
        std::string_view key = field.key;
        element value = field.value;
        std::string_view text;
        bool is_string = value.get_string().get(text) == simdjson::SUCCESS;
        uint64_t n = 0;
        bool is_number = !is_string && number_of(value, &n);
        switch (key.size() ? key[0] : 0) { // a cheap first cut before comparing names
        case 'a':
            if (key == "addr" && is_string && address_of(text, &event->addr))
                *seen |= F_ADDR;
            else if (key == "absent" && is_number)
                event->absent = n;
            break;
        case 'b':
            if (key == "busy" && is_number)
                event->busy = n;
            break;
        case 'c':
            if (key == "caller" && is_string)
                event->caller = str_of(text);
            else if (key == "config" && is_string)
                event->config = str_of(text);
            break;
        case 'd':
            if (key == "dry_run")
                event->dry_run = value.is_bool() && value.get_bool().value_unsafe();
            break;
        case 'e':
            if (key == "ev" && is_string) {
                event->ev = str_of(text);
                event->kind = kind_of(text);
            } else if (key == "exe" && is_string) {
                event->exe = str_of(text);
            } else if (key == "epoch_ns" && is_number) {
                event->epoch_ns = n;
            } else if (key == "epochs" && is_number) {
                event->epochs = n;
            }
            break;
        case 'f':
            if (key == "from" && is_string && address_of(text, &event->old_addr))
                *seen |= F_FROM;
            else if (key == "from" && value.is_int64())
                event->from = (int)value.get_int64().value_unsafe(), *seen |= F_FROM;
            else if (key == "failed" && is_number)
                event->failed = n;
            else if (key == "faults" && is_number)
                event->faults = n;
            break;
        case 'h':
            if (key == "host" && is_string)
                event->host = str_of(text);
            break;
        case 'j':
            if (key == "job" && is_string)
                event->job = str_of(text);
            break;
        case 'k':
            if (key == "kind" && is_string)
                event->kind_name = str_of(text);
            break;
        case 'l':
            if (key == "library_ns" && is_number)
                event->library_ns = n;
            break;
        case 'm':
            if (key == "mapped" && is_number)
                event->mapped = n;
            else if (key == "message" && is_string)
                event->message = str_of(text);
            else if (key == "min_size" && is_number)
                event->min_size = n;
            break;
        case 'n':
            if (key == "ns" && is_number) {
                event->ns = n;
            } else if (key == "nodes" && is_string) {
                event->nodes = str_of(text);
            } else if (key == "nodes" && value.is_object()) {
                *seen |= F_NODES;
                if (counts_of(value, event))
                    trace_warn(reader_, number, "more than %d nodes in one event: the rest are "
                                                "not counted", TRACE_EVENT_NODES);
            }
            break;
        case 'o':
            if (key == "old_size" && is_number)
                event->old_size = n, *seen |= F_OLD_SIZE;
            break;
        case 'p':
            if (key == "pid" && is_number)
                event->pid = (int)n, *seen |= F_PID;
            else if (key == "pages" && is_number)
                event->pages = n, *seen |= F_PAGES;
            else if (key == "policy" && is_string)
                event->policy = str_of(text);
            else if (key == "program" && is_string)
                event->program = str_of(text);
            else if (key == "page_epochs" && is_number)
                event->page_epochs = n;
            break;
        case 'r':
            if (key == "rule" && (is_string || value.is_null())) {
                event->rule = is_string ? str_of(text) : trace_str{nullptr, 0};
                *seen |= F_RULE;
            } else if (key == "result" && is_string) {
                event->result = str_of(text);
                *seen |= F_RESULT;
            } else if (key == "reason" && is_string) {
                event->reason = str_of(text);
            } else if (key == "rank" && is_number) {
                event->rank = (int)n;
            } else if (key == "rules") {
                simdjson::dom::array names;
                if (value.get_array().get(names))
                    break;
                for (element name : names) {
                    std::string_view rule;
                    if (event->n_rules < TRACE_EVENT_RULES && !name.get_string().get(rule))
                        event->rules[event->n_rules++] = str_of(rule);
                }
            }
            break;
        case 's':
            if (key == "size" && is_number) {
                event->size = n, *seen |= F_SIZE;
            } else if (key == "sees" && is_string) {
                event->sees = str_of(text);
            } else if (key == "stack") {
                stack = value;
                have_stack = true;
            }
            break;
        case 't':
            if (key == "t" && is_number)
                event->t = n, *seen |= F_T;
            else if (key == "to" && is_string && address_of(text, &event->addr))
                *seen |= F_TO;
            else if (key == "to" && value.is_int64())
                event->to = (int)value.get_int64().value_unsafe(), *seen |= F_TO;
            else if (key == "tracker" && is_string)
                event->tracker = str_of(text);
            else if (key == "touched" && is_number)
                event->touched = n;
            break;
        case 'v':
            if (key == "version" && is_string)
                event->version = str_of(text);
            break;
        default:
            break;
        }
    }
    if (have_stack)
        frames_of(stack, event, trace_model_wants_frames(reader_));
    return event->ev.s != nullptr;
}

void line_reader::read(const char *line, size_t len, int number, bool last_unterminated)
{
    size_t blank = 0;
    while (blank < len && (line[blank] == ' ' || line[blank] == '\t' || line[blank] == '\r'))
        blank++;
    if (blank == len)
        return;
    element doc;
    simdjson::error_code error = parser_.parse(line, len, false).get(doc);
    simdjson::dom::object object;
    if (!error)
        error = doc.get_object().get(object);
    if (error) {
        if (last_unterminated)
            trace_warn(reader_, number, "the last line is cut short (the process was killed?): "
                                        "read up to the line before");
        else
            trace_warn(reader_, number, "not a JSON object (%s): line skipped",
                       simdjson::error_message(error));
        return;
    }
    trace_event event;
    memset(&event, 0, sizeof event);
    event.rank = -1;
    event.line = number;
    unsigned seen = 0;
    if (!fill(object, &event, &seen, number))
        return; // no "ev": a pad line, written to keep lines within pages
    if (event.kind != TRACE_N_KINDS && (seen & required[event.kind].bits) != required[event.kind].bits) {
        trace_warn(reader_, number, "a '%s' event without %s: line skipped",
                   kind_names[event.kind], required[event.kind].names);
        return;
    }
    if (event.kind == TRACE_N_KINDS && (seen & (F_T | F_PID)) != (F_T | F_PID)) {
        trace_warn(reader_, number, "an event without t, pid: line skipped");
        return;
    }
    trace_model_event(reader_, &event);
}

} // namespace

extern "C" size_t trace_parse_padding(void)
{
    return simdjson::SIMDJSON_PADDING;
}

extern "C" void trace_parse_lines(trace_reader *reader, const char *data, size_t len)
{
    line_reader lines(reader); // one parser for the file: it keeps its buffers
    const char *end = data + len;
    int number = 0;
    for (const char *line = data; line < end;) {
        const char *newline = static_cast<const char *>(memchr(line, '\n', (size_t)(end - line)));
        const char *stop = newline ? newline : end;
        lines.read(line, (size_t)(stop - line), ++number, newline == nullptr);
        line = stop + 1;
    }
}
