// SPDX-License-Identifier: MIT
// node trace_engine_load.mjs ENGINE FILE: loads FILE, a trace-event JSON file, with the
// trace engine of Chrome DevTools' Performance panel (npm @paulirish/trace_engine, installed
// in the directory ENGINE) and prints what the engine made of it, one line each:
//     process PID NAME
//     thread PID TID SLICES TREE NAME
// SLICES: the thread's complete events; TREE: those the engine placed in the thread's call
// tree (it leaves out a slice that overlaps the one before it without nesting in it).
// Exits 1 when the engine throws.
import fs from 'node:fs';
import path from 'node:path';

const [engine, file] = process.argv.slice(2);
if (!engine || !file) {
  console.error('usage: node trace_engine_load.mjs ENGINE FILE');
  process.exit(2);
}
// Debian 12's Node.js (18) lacks URL.parse (Node 20.18), which the engine calls on every
// trace; this is its specified behaviour.
URL.parse ??= (url, base) => {
  try {
    return new URL(url, base);
  } catch {
    return null;
  }
};
// analyze-trace.mjs is the package's own entry for Node: it polyfills what the engine
// expects of a browser and runs every handler.
const {analyzeEvents} =
    await import(path.resolve(engine, 'node_modules/@paulirish/trace_engine/analyze-trace.mjs'));
const trace = JSON.parse(fs.readFileSync(file, 'utf8'));
const {parsedTrace} = await analyzeEvents(trace.traceEvents);
const {Meta, Renderer} = parsedTrace.data;
for (const [pid, event] of Meta.processNames)
  console.log(`process ${pid} ${event.args.name}`);
for (const [pid, renderer] of Renderer.processes) {
  for (const [tid, thread] of renderer.threads) {
    const slices = thread.entries.filter(entry => entry.ph === 'X');
    const inTree = slices.filter(entry => Renderer.entryToNode.has(entry));
    console.log(`thread ${pid} ${tid} ${slices.length} ${inTree.length} ${thread.name}`);
  }
}
