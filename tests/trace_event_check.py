#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""trace_event_check.py FILE: does FILE follow the Trace Event Format?

The rules are the format's own (the "Trace Event Format" document of the Chromium catapult
project, docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU), plus two
that the viewers cdmplace writes for add, marked "viewer" below. Prints each problem as
"FILE: event N: what" on stderr and exits 1; else prints a summary on stdout and exits 0:
    events E, processes P, threads T, counter events C, complete events X (CAT N, ...)
Only the standard library: the test machines have python3, not PyPI.
"""
import json
import math
import sys

# Every phase the format defines: duration B/E, complete X, instant i (I is its old name),
# counter C, async b/n/e and S/T/p/F (legacy), flow s/t/f, sample P, object N/O/D,
# metadata M, memory dump V/v, mark R, context ( ), clock sync c.
PHASES = set("BEXiICbneSTpFstfPNODMVvRc()")
METADATA = {
    "process_name": ("name", str),
    "process_labels": ("labels", str),
    "process_sort_index": ("sort_index", int),
    "thread_name": ("name", str),
    "thread_sort_index": ("sort_index", int),
}


def is_number(value):
    # JSON true/false load as bool, a subclass of int: not numbers here.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def reject_constant(name):
    raise ValueError("%s is not JSON" % name)


def check_event(event, problems):
    """The rules of one event on its own."""
    if not isinstance(event, dict):
        return problems.append("not an object")
    ph = event.get("ph")
    if not isinstance(ph, str) or ph not in PHASES:
        return problems.append("ph %r is not a phase of the format" % (ph,))
    if "name" not in event and ph != "E":
        problems.append("no name")
    elif "name" in event and not isinstance(event["name"], str):
        problems.append("name is not a string")
    if not is_integer(event.get("pid")):
        problems.append("pid is not an integer")
    # Thread-scoped events need their thread; counters and metadata of a process do not.
    thread_metadata = ph == "M" and str(event.get("name")).startswith("thread_")
    if "tid" in event or ph in "BEXP" or thread_metadata:
        if not is_integer(event.get("tid")):
            problems.append("tid is not an integer")
    if ph != "M":
        if not is_number(event.get("ts")):
            problems.append("ts is not a number (microseconds)")
    for field in ("cat", "cname"):
        if field in event and not isinstance(event[field], str):
            problems.append("%s is not a string" % field)
    if "args" in event and not isinstance(event["args"], dict):
        return problems.append("args is not an object")
    args = event.get("args", {})
    if ph == "X":
        if not is_number(event.get("dur")):
            problems.append("complete event without a numeric dur (microseconds)")
        elif event["dur"] < 0:
            problems.append("complete event with a negative dur")
    elif ph == "C":
        if not args:
            problems.append("counter event without series in args")
        for key, value in args.items():
            if not is_number(value):
                problems.append("counter series %r is not a number" % key)
    elif ph == "M":
        rule = METADATA.get(event.get("name"))
        if not rule:
            problems.append("metadata name %r is not one of %s"
                            % (event.get("name"), ", ".join(METADATA)))
        else:
            key, kind = rule
            if not isinstance(args.get(key), kind) or isinstance(args.get(key), bool):
                problems.append("%s needs args.%s, a %s" % (event["name"], key, kind.__name__))
    elif ph in "iI":
        if event.get("s", "t") not in ("g", "p", "t"):
            problems.append("instant event scope %r is not g, p or t" % (event.get("s"),))
    elif ph in "bne":
        if "id" not in event and "id2" not in event:
            problems.append("async event without id")
        if "cat" not in event:
            problems.append("async event without cat")
    elif ph in "stf":
        if "id" not in event:
            problems.append("flow event without id")


def check_threads(events, report):
    """Rules across events: names given once, B/E balanced, slices nested."""
    owner, named, slices, marks = {}, {}, {}, {}
    for index, event in enumerate(events):
        pid, tid, ph = event["pid"], event.get("tid"), event["ph"]
        thread_metadata = ph == "M" and event["name"].startswith("thread_")
        if ph == "M":
            key = (event["name"], pid, tid if thread_metadata else None)
            if key in named:
                report(index, "%s given again (first: event %d)" % (event["name"], named[key]))
            named[key] = index
        if ph in "BEX" or thread_metadata:
            # viewer: Perfetto keys a thread by its tid alone, as Linux does.
            if owner.setdefault(tid, pid) != pid:
                report(index, "tid %d is a thread of pid %d and of pid %d" % (tid, owner[tid], pid))
        if ph == "X":
            end = event["ts"] + event["dur"]
            slices.setdefault((pid, tid), []).append((event["ts"], end, index))
        elif ph in "BE":
            marks.setdefault((pid, tid), []).append((event["ts"], index, ph))
    # B and E pair up on their thread in time order (the format: B before its E, nested).
    for (pid, tid), thread_marks in marks.items():
        stack = []
        for ts, index, ph in sorted(thread_marks):
            if ph == "B":
                stack.append(index)
            elif not stack:
                report(index, "E without its B on pid %d tid %d" % (pid, tid))
            else:
                stack.pop()
        for index in stack:
            report(index, "B without its E on pid %d tid %d" % (pid, tid))
    for (pid, tid), spans in slices.items():
        # viewer: slices of one thread nest or follow each other (the format: "complete
        # events ... logically combine a pair of B and E"; Perfetto draws overlaps wrongly,
        # Chrome DevTools drops them).
        open_ends = []
        for begin, end, index in sorted(spans, key=lambda s: (s[0], -s[1])):
            while open_ends and open_ends[-1][0] <= begin:
                open_ends.pop()
            if open_ends and end > open_ends[-1][0]:
                report(index, "overlaps event %d on pid %d tid %d without nesting in it"
                       % (open_ends[-1][1], pid, tid))
            open_ends.append((end, index))


def main(path):
    failed = []

    def report(index, what):
        failed.append(what)
        print("%s: event %s: %s" % (path, index, what), file=sys.stderr)

    try:
        with open(path, encoding="utf-8") as file:
            trace = json.load(file, parse_constant=reject_constant)
    except (OSError, ValueError) as error:
        print("%s: not JSON: %s" % (path, error), file=sys.stderr)
        return 1
    # The JSON Object Format: {"traceEvents": [...], "displayTimeUnit": "ms" | "ns", ...}.
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        print("%s: not the JSON Object Format (an object with a traceEvents array)" % path,
              file=sys.stderr)
        return 1
    if trace.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        report("-", "displayTimeUnit %r is not ms or ns" % (trace["displayTimeUnit"],))
    events = trace["traceEvents"]
    for index, event in enumerate(events):
        problems = []
        check_event(event, problems)
        for what in problems:
            report(index, what)
    if failed:
        return 1
    check_threads(events, report)
    if failed:
        return 1
    complete = {}
    for event in events:
        if event["ph"] == "X":
            complete[event.get("cat", "")] = complete.get(event.get("cat", ""), 0) + 1
    print("events %d, processes %d, threads %d, counter events %d, complete events %d (%s)" % (
        len(events),
        len({e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}),
        len({e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}),
        sum(e["ph"] == "C" for e in events), sum(complete.values()),
        ", ".join("%s %d" % item for item in sorted(complete.items()))))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: trace_event_check.py FILE")
    sys.exit(main(sys.argv[1]))
