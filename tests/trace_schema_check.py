#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""trace_schema_check.py FIELDS TRACE...: does every event of the traces carry exactly the
fields of the schema, in its order?

FIELDS is `build/tests/trace_schema --fields` (preload/trace_schema.h). Pad lines (objects
without "ev") are skipped; an event whose fields did not fit has "truncated" in their place.
The start event's node sets and the place event's stack frames are held to their members.
Prints "ok EVENT (N lines)" per event seen and a problem per line on stderr, then
"skip EVENT (...)" for each event no trace holds; exits 1 on any problem.
Only the standard library: the test machines have python3, not PyPI.
"""
import json
import sys


def main(fields_path, traces):
    with open(fields_path, encoding="utf-8") as listed:
        schema = {words[0]: words[1:] for words in (line.split() for line in listed) if words}
    common = schema.pop("common")
    seen = dict.fromkeys(schema, 0)
    problems = 0
    for path in traces:
        with open(path, encoding="utf-8") as trace:
            for number, line in enumerate(trace, 1):
                if not line.strip():
                    continue
                pairs = json.loads(line, object_pairs_hook=lambda pairs: pairs)
                event = dict(pairs)
                if "ev" not in event:
                    continue
                keys = [key for key, _ in pairs]
                name = event["ev"]
                expected = common + schema.get(name, [])
                why = None
                if name not in schema:
                    why = "an event the schema does not list"
                elif keys != expected and keys != common + ["truncated"]:
                    why = "fields %s, the schema's %s" % (keys, expected)
                elif name == "start" and [k for k, _ in event["nodes"]] != ["cdm", "dram"]:
                    why = "node sets %s" % event["nodes"]
                elif name == "place" and any([k for k, _ in frame] != ["at", "off"]
                                             for frame in event["stack"]):
                    why = "stack frames %s" % event["stack"]
                if why:
                    problems += 1
                    print("%s:%d: %s: %s" % (path, number, name, why), file=sys.stderr)
                else:
                    seen[name] += 1
    for name, lines in seen.items():
        if lines:
            print("ok %s (%d lines)" % (name, lines))
    for name, lines in seen.items():
        if not lines:
            print("skip %s (no run here wrote one)" % name)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: trace_schema_check.py FIELDS TRACE...")
    sys.exit(main(sys.argv[1], sys.argv[2:]))
