// trace_check.js - checks a Chrome Trace Event Format file from
// /debug/pprof/trace against the format's rules, then loads it into a real
// consumer: Chrome DevTools' own trace model (SDK.TracingModel, from the
// devtools-frontend code base, as npm's tracelib 1.0.1 packages it).
//
//   node trace_check.js TRACE.json SECONDS TIDS EXPECT...
//
// TIDS: comma-separated thread ids the process had during the window
// (each must have a named track). EXPECT: THREADNAME=WAIT[@FILE:LINE-ish]
// pairs: the track whose name starts with THREADNAME must have a slice
// named WAIT, and when @TEXT is given, a slice of it whose args.line
// contains TEXT.
'use strict';
const fs = require('fs');
const TracingModel = require('tracelib/build/devtools/tracingModel/index').default;

const [file, seconds, tidList, ...expect] = process.argv.slice(2);
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const failures = [];
function check(cond, what) {
	if (cond) console.log('ok: ' + what);
	else { console.log('FAIL: ' + what); failures.push(what); }
}

const ev = doc.traceEvents;
check(Array.isArray(ev) && ev.length > 0, 'traceEvents is a non-empty array (' + (ev || []).length + ' events)');
const window = +seconds * 1e6;
const phases = new Set(['X', 'B', 'E', 'i', 'I', 'C', 'M', 's', 't', 'f']);
let bad = 0, badTs = 0;
const names = new Map(), slices = new Map(), tids = new Set();
for (const e of ev) {
	if (!phases.has(e.ph) || !Number.isInteger(e.pid) || !Number.isInteger(e.tid)) { bad++; continue; }
	if (e.ph === 'M') {
		if (e.name === 'thread_name') names.set(e.tid, e.args && e.args.name);
		continue;
	}
	// Timestamps are microseconds from the window's start; the last
	// samples may land a tick (10 ms) after it.
	if (typeof e.ts !== 'number' || e.ts < 0 || e.ts > window + 200000) badTs++;
	if (e.tid !== 0) tids.add(e.tid);
	if (e.ph === 'X') {
		if (!Number.isInteger(e.dur) || e.dur < 0 || e.ts + e.dur > window + 200000) badTs++;
		if (!slices.has(e.tid)) slices.set(e.tid, []);
		slices.get(e.tid).push(e);
	}
}
check(bad === 0, 'every event has a known ph and integer pid/tid (' + bad + ' bad)');
check(badTs === 0, 'every ts/dur is in microseconds inside the ' + seconds + ' s window (' + badTs + ' outside)');
// Nesting: on one thread, a slice that starts inside another ends inside it.
let overlaps = 0;
for (const [tid, list] of slices) {
	list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
	const stack = [];
	for (const s of list) {
		while (stack.length && stack[stack.length - 1].ts + stack[stack.length - 1].dur <= s.ts) stack.pop();
		if (stack.length && s.ts + s.dur > stack[stack.length - 1].ts + stack[stack.length - 1].dur) overlaps++;
		stack.push(s);
	}
}
check(overlaps === 0, 'slices nest on every thread (' + overlaps + ' partial overlaps)');
const unnamed = [...tids].filter(t => !names.has(t));
check(unnamed.length === 0, 'every thread with events has an M thread_name (' + unnamed.join(',') + ')');
const missing = tidList.split(',').filter(Boolean).map(Number).filter(t => !names.has(t));
check(missing.length === 0, 'every thread of the process has a named track (missing: ' + missing.join(',') + ')');
for (const ph of ['C', 'i', 's', 'f'])
	check(ev.some(e => e.ph === ph), 'has ' + ph + ' events');
for (const c of ['threads', 'heap in use', 'descriptors'])
	check(ev.some(e => e.ph === 'C' && e.name === c), 'counter track ' + c);

// The real consumer.
const model = new TracingModel();
model.addEvents(ev);
model.tracingComplete();
const threads = [];
for (const p of model.sortedProcesses()) for (const t of p.sortedThreads()) threads.push(t);
check(threads.length >= names.size, 'DevTools TracingModel loads ' + threads.length + ' threads');
for (const x of expect) {
	const [tname, rest] = x.split('=');
	const [wait, line] = rest.split('@');
	const t = threads.find(th => th.name().startsWith(tname + ' '));
	const hits = t ? t.events().filter(e => e.name === wait && e.duration > 0) : [];
	check(hits.length > 0, `thread ${tname}: DevTools sees a "${wait}" slice`);
	if (line)
		check(hits.some(e => e.args && String(e.args.line || '').includes(line)),
		      `thread ${tname}: the ${wait} slice names the program line (${line})`);
}
if (failures.length) { console.log('FAILURES:\n  ' + failures.join('\n  ')); process.exit(1); }
console.log('trace checks passed');
