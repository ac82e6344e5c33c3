/* SPDX-License-Identifier: MIT */
// Lines of a trace to events (see trace.h): the one place that knows JSON.
//
// simdjson's DOM parser reads each line in place (the file is read whole into a buffer
// padded as simdjson needs), so a line costs one parse and no allocation; json-c or jansson
// would build a tree of allocated values per line, several times slower over the millions
// of lines of a job's traces. Fields are read in one pass over each object, whatever their
// order; a field's meaning may depend on its JSON type ("from" is an address in `remap`, a
// node in `migrate`), never on the event, so unknown events and fields cost nothing. Event
// and field names, and the fields each event needs, are the schema's (trace_schema.h).
#include <simdjson.h>

#include <bitset>
#include <cstring>
#include <string>
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
        bool cdm = key == CDM_TRACE_CDM;
        if ((cdm || key == CDM_TRACE_DRAM) && !field.value.get_string().get(list)) {
            *(cdm ? &event->cdm_nodes : &event->dram_nodes) = str_of(list);
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

// ---------------------------------------------------------------- the schema

// FIELD_t, FIELD_pid, ...: every field name of the schema.
#define FIELD_ENUM(name) FIELD_##name,
enum trace_field : uint8_t { CDM_TRACE_NAMES(FIELD_ENUM) N_FIELDS };
#define FIELD_NAME(name) #name,
constexpr std::string_view field_names[N_FIELDS] = {CDM_TRACE_NAMES(FIELD_NAME)};

// A field's name to its enumerator: a hash table built at compile time, one probe or two.
constexpr size_t FIELD_SLOTS = 128; // a power of two, at least twice the names
static_assert(N_FIELDS * 2 <= FIELD_SLOTS, "more field names: a larger FIELD_SLOTS");

// Length, first two and last characters: cheap, and 1.2 probes a name on average.
constexpr uint32_t name_hash(std::string_view name)
{
    auto at = [&](size_t i) { return (uint32_t)(unsigned char)name[i]; };
    return at(0) + at(name.size() > 1) * 3 + at(name.size() - 1) * 9 + (uint32_t)name.size() * 27;
}

struct field_table {
    uint8_t slots[FIELD_SLOTS]; // the field + 1, 0 where empty
};

constexpr field_table index_fields()
{
    field_table table{};
    for (size_t field = 0; field < N_FIELDS; field++) {
        size_t slot = name_hash(field_names[field]) & (FIELD_SLOTS - 1);
        while (table.slots[slot])
            slot = (slot + 1) & (FIELD_SLOTS - 1);
        table.slots[slot] = (uint8_t)(field + 1);
    }
    return table;
}

constexpr field_table fields_by_name = index_fields();

// Names are short: comparing in line costs less than a call to memcmp.
bool same_name(std::string_view name, std::string_view key)
{
    if (name.size() != key.size())
        return false;
    for (size_t i = 0; i < name.size(); i++)
        if (name[i] != key[i])
            return false;
    return true;
}

// N_FIELDS: a name the schema does not know.
trace_field field_of(std::string_view key)
{
    if (key.empty())
        return N_FIELDS;
    for (size_t slot = name_hash(key) & (FIELD_SLOTS - 1);; slot = (slot + 1) & (FIELD_SLOTS - 1)) {
        uint8_t entry = fields_by_name.slots[slot];
        if (!entry)
            return N_FIELDS;
        if (same_name(field_names[entry - 1], key))
            return (trace_field)(entry - 1);
    }
}

// Each event's fields and which of them it needs (a line without one is skipped with a
// warning). A field in an event and not in CDM_TRACE_NAMES does not compile.
struct schema_field {
    trace_field field;
    bool needed;
};
#define SCHEMA_FIELD(name, format, type, need) {FIELD_##name, CDM_TRACE_##need},
#define EVENT_FIELDS(KIND, name, when)                                                       \
    constexpr schema_field name##_fields[] = {CDM_TRACE_FIELDS_##name(SCHEMA_FIELD)};
CDM_TRACE_EVENTS(EVENT_FIELDS)
constexpr schema_field common_fields[] = {CDM_TRACE_FIELDS_common(SCHEMA_FIELD)};

struct event_schema {
    std::string_view name;
    const schema_field *fields;
    size_t n_fields;
};
#define EVENT_SCHEMA(KIND, name, when) {#name, name##_fields, std::size(name##_fields)},
constexpr event_schema events[TRACE_N_KINDS] = {CDM_TRACE_EVENTS(EVENT_SCHEMA)};

// CDM_TRACE_NAMES lists the names of the events' fields, and no other.
constexpr bool every_name_used()
{
    for (size_t field = 0; field < N_FIELDS; field++) {
        bool used = false;
        for (const schema_field &common : common_fields)
            used |= common.field == field;
        for (const event_schema &event : events)
            for (size_t i = 0; i < event.n_fields; i++)
                used |= event.fields[i].field == field;
        if (!used)
            return false;
    }
    return true;
}
static_assert(every_name_used(), "a name in CDM_TRACE_NAMES that no event has");

using field_set = std::bitset<N_FIELDS>;

enum trace_kind kind_of(std::string_view name)
{
    for (int k = 0; k < TRACE_N_KINDS; k++)
        if (name == events[k].name)
            return (enum trace_kind)k;
    return TRACE_N_KINDS;
}

// The fields needed among `fields`; "ev" is left out: a line without it is a pad line, not
// an event. With `names`, their names as a warning lists them.
field_set needed_of(const schema_field *fields, size_t n, std::string *names = nullptr)
{
    field_set needed;
    for (size_t i = 0; i < n; i++) {
        if (!fields[i].needed || fields[i].field == FIELD_ev)
            continue;
        needed.set(fields[i].field);
        if (names)
            *names += (names->empty() ? "" : ", ") + std::string(field_names[fields[i].field]);
    }
    return needed;
}

// Every event's needed fields, the common ones included; [TRACE_N_KINDS]: an unknown event's.
struct needed_sets {
    field_set of[TRACE_N_KINDS + 1];
    needed_sets()
    {
        field_set common = needed_of(common_fields, std::size(common_fields));
        for (int k = 0; k < TRACE_N_KINDS; k++)
            of[k] = common | needed_of(events[k].fields, events[k].n_fields);
        of[TRACE_N_KINDS] = common;
    }
};
const needed_sets needed;

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
        if (frame[CDM_TRACE_AT].get_string().get(at) ||
            frame[CDM_TRACE_OFF].get_string().get(off) || !address_of(off, &offset))
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

// The fields kept as they are, a string or a number: the member of the event each fills.
trace_str trace_event::*string_member(trace_field name)
{
    switch (name) {
    case FIELD_caller: return &trace_event::caller;
    case FIELD_config: return &trace_event::config;
    case FIELD_exe: return &trace_event::exe;
    case FIELD_host: return &trace_event::host;
    case FIELD_job: return &trace_event::job;
    case FIELD_kind: return &trace_event::kind_name;
    case FIELD_message: return &trace_event::message;
    case FIELD_policy: return &trace_event::policy;
    case FIELD_program: return &trace_event::program;
    case FIELD_reason: return &trace_event::reason;
    case FIELD_sees: return &trace_event::sees;
    case FIELD_tracker: return &trace_event::tracker;
    case FIELD_version: return &trace_event::version;
    default: return nullptr;
    }
}

uint64_t trace_event::*number_member(trace_field name)
{
    switch (name) {
    case FIELD_absent: return &trace_event::absent;
    case FIELD_busy: return &trace_event::busy;
    case FIELD_epoch_ns: return &trace_event::epoch_ns;
    case FIELD_epochs: return &trace_event::epochs;
    case FIELD_failed: return &trace_event::failed;
    case FIELD_faults: return &trace_event::faults;
    case FIELD_kept_bytes: return &trace_event::kept_bytes;
    case FIELD_library_ns: return &trace_event::library_ns;
    case FIELD_mapped: return &trace_event::mapped;
    case FIELD_min_size: return &trace_event::min_size;
    case FIELD_ns: return &trace_event::ns;
    case FIELD_page_epochs: return &trace_event::page_epochs;
    case FIELD_touched: return &trace_event::touched;
    default: return nullptr;
    }
}

class line_reader {
public:
    explicit line_reader(trace_reader *reader) : reader_(reader) {}
    void read(const char *line, size_t len, int number, bool last_unterminated);

private:
    bool fill(simdjson::dom::object object, trace_event *event, field_set *seen, int number);
    trace_reader *reader_;
    simdjson::dom::parser parser_;
};

bool line_reader::fill(simdjson::dom::object object, trace_event *event, field_set *seen,
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
        trace_field name = field_of(key);
        switch (name) {
        case FIELD_t:
        case FIELD_pid:
            if (!is_number)
                break;
            if (name == FIELD_t)
                event->t = n;
            else
                event->pid = (int)n;
            seen->set(name);
            break;
        case FIELD_ev:
            if (is_string) {
                event->ev = str_of(text);
                event->kind = kind_of(text);
            }
            break;
        case FIELD_addr:
            if (is_string && address_of(text, &event->addr))
                seen->set(name);
            break;
        case FIELD_from:
        case FIELD_to:
            // An address in `remap` (from: old_addr, to: addr), a node in `migrate`.
            if (is_string && address_of(text, name == FIELD_from ? &event->old_addr : &event->addr))
                seen->set(name);
            else if (value.is_int64())
                *(name == FIELD_from ? &event->from : &event->to) =
                    (int)value.get_int64().value_unsafe(), seen->set(name);
            break;
        case FIELD_size:
        case FIELD_old_size:
        case FIELD_pages:
            if (is_number) {
                *(name == FIELD_size ? &event->size
                  : name == FIELD_old_size ? &event->old_size : &event->pages) = n;
                seen->set(name);
            }
            break;
        case FIELD_rule:
            if (is_string || value.is_null()) {
                event->rule = is_string ? str_of(text) : trace_str{nullptr, 0};
                seen->set(name);
            }
            break;
        case FIELD_result:
            if (is_string)
                event->result = str_of(text), seen->set(name);
            break;
        case FIELD_nodes:
            if (is_string) {
                event->nodes = str_of(text);
            } else if (value.is_object()) {
                seen->set(name);
                if (counts_of(value, event))
                    trace_warn(reader_, number, "more than %d nodes in one event: the rest are "
                                                "not counted", TRACE_EVENT_NODES);
            }
            break;
        case FIELD_dry_run:
        case FIELD_reused:
        case FIELD_kept:
            *(name == FIELD_dry_run ? &event->dry_run
              : name == FIELD_reused ? &event->reused : &event->kept) =
                value.is_bool() && value.get_bool().value_unsafe();
            break;
        case FIELD_rank:
            if (is_number)
                event->rank = (int)n;
            break;
        case FIELD_rules: {
            simdjson::dom::array names;
            if (value.get_array().get(names))
                break;
            for (element rule_name : names) {
                std::string_view rule;
                if (event->n_rules < TRACE_EVENT_RULES && !rule_name.get_string().get(rule))
                    event->rules[event->n_rules++] = str_of(rule);
            }
            break;
        }
        case FIELD_stack:
            stack = value;
            have_stack = true;
            break;
        default:
            if (trace_str trace_event::*member = is_string ? string_member(name) : nullptr)
                event->*member = str_of(text);
            else if (uint64_t trace_event::*count = is_number ? number_member(name) : nullptr)
                event->*count = n;
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
    field_set seen;
    if (!fill(object, &event, &seen, number))
        return; // no "ev": a pad line, written to keep lines within pages
    const field_set &needs = needed.of[event.kind];
    if ((seen & needs) != needs) {
        std::string names;
        needed_of(common_fields, std::size(common_fields), &names);
        if (event.kind == TRACE_N_KINDS) {
            trace_warn(reader_, number, "an event without %s: line skipped", names.c_str());
            return;
        }
        const event_schema &schema = events[event.kind];
        needed_of(schema.fields, schema.n_fields, &names);
        trace_warn(reader_, number, "a '%s' event without %s: line skipped",
                   std::string(schema.name).c_str(), names.c_str());
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
