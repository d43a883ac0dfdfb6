/*
 * nprof web UI: one page, four views chosen by the URL's hash
 * (#overview, #flame?p=NAME&si=N&seconds=N&focus=F, #diff?p=NAME&seconds=N,
 * #threads). Data comes only from this origin: the profiles themselves
 * (gzipped profile.proto, decoded here), leaks?format=json,
 * goroutine?debug=2 and ui/data/history.
 *
 * Every string that comes from the program (function, file and thread
 * names, wait reasons) reaches the page through textContent or canvas
 * fillText, never through innerHTML, so a function named "<script>" is
 * shown, not run.
 */
'use strict';
(function () {
const BASE = '/debug/pprof/';
const main = document.getElementById('main');
const statusEl = document.getElementById('status');
const tip = document.getElementById('tip');
let timer = null;       // the overview's refresh
let generation = 0;     // bumped on every view change; late replies are dropped

/* ---------------------------------------------------------------- */
/* DOM helpers (text only)                                           */
/* ---------------------------------------------------------------- */

function el(tag, attrs, ...kids) {
	const e = document.createElement(tag);
	for (const k in attrs || {}) {
		if (k === 'class') e.className = attrs[k];
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), attrs[k]);
		else e.setAttribute(k, attrs[k]);
	}
	for (const c of kids) {
		if (c == null) continue;
		e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
	}
	return e;
}

function status(text, isErr) {
	statusEl.textContent = text || '';
	statusEl.className = isErr ? 'err' : '';
}

async function getText(url) {
	const r = await fetch(url, { credentials: 'same-origin' });
	const t = await r.text();
	if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + t.trim());
	return t;
}

async function getJSON(url) {
	return JSON.parse(await getText(url));
}

/* A profile as decoded bytes: gunzipped in the browser when gzipped. */
async function getProfile(url) {
	const r = await fetch(url, { credentials: 'same-origin' });
	if (!r.ok) throw new Error(url + ': ' + r.status + ' ' + (await r.text()).trim());
	let buf = new Uint8Array(await r.arrayBuffer());
	if (buf.length > 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
		const s = new Blob([buf]).stream().pipeThrough(new DecompressionStream('gzip'));
		buf = new Uint8Array(await new Response(s).arrayBuffer());
	}
	return decodeProfile(buf);
}

/* ---------------------------------------------------------------- */
/* profile.proto                                                     */
/* ---------------------------------------------------------------- */

class Reader {
	constructor(b, p, end) { this.b = b; this.p = p; this.end = end; }
	/* A varint as a Number; int64 two's complement negatives come out
	 * negative (values and ids here are far below 2^53). */
	varint() {
		const b = this.b;
		let lo = 0, hi = 0, c;
		for (let s = 0; s < 28; s += 7) {
			c = b[this.p++];
			lo |= (c & 0x7f) << s;
			if (c < 128) return lo >>> 0;
		}
		c = b[this.p++];
		lo |= (c & 0x0f) << 28;
		hi = (c & 0x7f) >> 4;
		if (c >= 128) {
			for (let s = 3; s < 39; s += 7) {
				c = b[this.p++];
				hi |= (c & 0x7f) << s;
				if (c < 128) break;
			}
		}
		return (hi | 0) * 4294967296 + (lo >>> 0);
	}
	sub() {
		const n = this.varint();
		const r = new Reader(this.b, this.p, this.p + n);
		this.p += n;
		return r;
	}
	skip(wt) {
		if (wt === 0) this.varint();
		else if (wt === 1) this.p += 8;
		else if (wt === 2) { const n = this.varint(); this.p += n; }
		else if (wt === 5) this.p += 4;
		else throw new Error('bad wire type ' + wt);
	}
	/* Repeated integers, packed or not. */
	ints(wt, out) {
		if (wt === 2) {
			const r = this.sub();
			while (r.p < r.end) out.push(r.varint());
		} else out.push(this.varint());
	}
	*fields() {
		while (this.p < this.end) {
			const k = this.varint();
			yield [Math.floor(k / 8), k & 7];
		}
	}
}

function decodeProfile(buf) {
	const r = new Reader(buf, 0, buf.length);
	const P = { types: [], samples: [], locs: new Map(), funcs: new Map(), strings: [],
		    defaultType: 0 };
	const td = new TextDecoder();
	for (const [f, wt] of r.fields()) {
		if (f === 1 && wt === 2) {
			const m = r.sub(), vt = { type: 0, unit: 0 };
			for (const [g, w] of m.fields()) {
				if (g === 1) vt.type = m.varint();
				else if (g === 2) vt.unit = m.varint();
				else m.skip(w);
			}
			P.types.push(vt);
		} else if (f === 2 && wt === 2) {
			const m = r.sub(), s = { locs: [], values: [] };
			for (const [g, w] of m.fields()) {
				if (g === 1) m.ints(w, s.locs);
				else if (g === 2) m.ints(w, s.values);
				else m.skip(w);
			}
			P.samples.push(s);
		} else if (f === 4 && wt === 2) {
			const m = r.sub(), l = { id: 0, addr: 0, lines: [] };
			for (const [g, w] of m.fields()) {
				if (g === 1) l.id = m.varint();
				else if (g === 3) l.addr = m.varint();
				else if (g === 4) {
					const n = m.sub(), ln = { fn: 0, line: 0 };
					for (const [h, x] of n.fields()) {
						if (h === 1) ln.fn = n.varint();
						else if (h === 2) ln.line = n.varint();
						else n.skip(x);
					}
					l.lines.push(ln);
				} else m.skip(w);
			}
			P.locs.set(l.id, l);
		} else if (f === 5 && wt === 2) {
			const m = r.sub(), fn = { id: 0, name: 0, file: 0 };
			for (const [g, w] of m.fields()) {
				if (g === 1) fn.id = m.varint();
				else if (g === 2) fn.name = m.varint();
				else if (g === 4) fn.file = m.varint();
				else m.skip(w);
			}
			P.funcs.set(fn.id, fn);
		} else if (f === 6 && wt === 2) {
			const n = r.varint();
			P.strings.push(td.decode(buf.subarray(r.p, r.p + n)));
			r.p += n;
		} else if (f === 14 && wt === 0) {
			P.defaultType = r.varint();
		} else r.skip(wt);
	}
	P.typeNames = P.types.map(t => P.strings[t.type] || '?');
	P.unitNames = P.types.map(t => P.strings[t.unit] || '');
	return P;
}

/* The frames of one sample, outermost first; a location's inlined calls
 * (several lines, innermost first in the proto) become frames of their own. */
function frames(P, s, memo) {
	const out = [];
	for (let i = s.locs.length - 1; i >= 0; i--) {
		const id = s.locs[i];
		let fr = memo.get(id);
		if (fr === undefined) {
			fr = [];
			const l = P.locs.get(id);
			if (l && l.lines.length) {
				for (let j = l.lines.length - 1; j >= 0; j--) {
					const fn = P.funcs.get(l.lines[j].fn) || {};
					fr.push({ name: P.strings[fn.name] || '?', file: P.strings[fn.file] || '',
						  line: l.lines[j].line, inlined: j < l.lines.length - 1 });
				}
			} else fr.push({ name: '0x' + (l ? l.addr : 0).toString(16), file: '', line: 0 });
			memo.set(id, fr);
		}
		for (const f of fr) out.push(f);
	}
	return out;
}

/* The call tree of (frames outermost first, value) pairs: nodes are
 * (function, file, line). In a difference, `total` is the sum of
 * magnitudes (widths) and `net` the signed sum (colour). */
function buildTreeFrom(items) {
	const root = { name: 'all', file: '', line: 0, total: 0, net: 0, self: 0, kids: new Map() };
	for (const [frs, v] of items) {
		if (v === 0) continue;
		let n = root;
		n.total += Math.abs(v); n.net += v;
		for (const f of frs) {
			const key = f.name + '\0' + f.file + '\0' + f.line;
			let c = n.kids.get(key);
			if (!c) {
				c = { name: f.name, file: f.file, line: f.line, inlined: f.inlined, total: 0,
				      net: 0, self: 0, kids: new Map() };
				n.kids.set(key, c);
			}
			c.total += Math.abs(v); c.net += v;
			n = c;
		}
		n.self += v;
	}
	(function fin(n, parent, depth) {
		n.parent = parent; n.depth = depth;
		n.children = [...n.kids.values()].sort((a, b) => b.total - a.total);
		delete n.kids;
		for (const c of n.children) fin(c, n, depth + 1);
	})(root, null, 0);
	return root;
}

/* The call tree of sample type `si` of a decoded profile. */
function buildTree(P, si) {
	const memo = new Map();
	return buildTreeFrom(P.samples.map(s => [s.values[si] ? frames(P, s, memo) : [], s.values[si] || 0]));
}

/* The tree of ui/data/diff rows (frames innermost first; the wait reason
 * or descriptor kind as a last frame of its own). */
function diffTree(d) {
	return buildTreeFrom(d.rows.map(r => {
		const frs = r.frames.slice().reverse().map(f => ({ name: f.function, file: f.file, line: f.line, inlined: !!f.inlined }));
		if (r.label) frs.push({ name: '[' + r.label + ']', file: '', line: 0 });
		return [frs, r.delta];
	}));
}

function fmtValue(v, unit) {
	const a = Math.abs(v), sign = v < 0 ? '-' : '';
	if (unit === 'bytes') {
		const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let x = a, i = 0;
		while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
		return sign + (i ? x.toFixed(1) : x) + ' ' + u[i];
	}
	if (unit === 'nanoseconds') {
		if (a >= 1e9) return sign + (a / 1e9).toFixed(2) + ' s';
		if (a >= 1e6) return sign + (a / 1e6).toFixed(1) + ' ms';
		return sign + (a / 1e3).toFixed(1) + ' µs';
	}
	return sign + a.toLocaleString('en') + (unit && unit !== 'count' ? ' ' + unit : '');
}

function place(n) {
	return n.file ? n.file + (n.line ? ':' + n.line : '') : '';
}

/* ---------------------------------------------------------------- */
/* Icicle (canvas)                                                   */
/* ---------------------------------------------------------------- */

const ROW = 18;

function hashHue(s) {
	let h = 0;
	for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
	return h;
}

class Icicle {
	constructor(parent, root, unit, diff) {
		this.root = root; this.unit = unit; this.diff = diff;
		this.zoom = root; this.search = '';
		this.canvas = el('canvas', { class: 'flame', id: 'flame-canvas' });
		parent.appendChild(this.canvas);
		this.canvas.addEventListener('mousemove', e => this.hover(e));
		this.canvas.addEventListener('mouseleave', () => { tip.hidden = true; });
		this.canvas.addEventListener('nprof-resize', () => this.draw());
		this.canvas.addEventListener('click', e => {
			const r = this.at(e);
			this.zoom = r ? r.n : this.root;
			this.draw();
		});
		let depth = 0;
		(function d(n) { depth = Math.max(depth, n.depth); n.children.forEach(d); })(root);
		this.depth = depth + 1;
		this.draw();
	}
	matches(n) {
		if (!this.search) return false;
		const q = this.search.toLowerCase();
		return n.name.toLowerCase().includes(q) || place(n).toLowerCase().includes(q);
	}
	color(n) {
		if (this.search && this.matches(n)) return '#e040fb';
		if (this.diff) {
			if (n.total === 0 || n.net === 0) return '#bdbdbd';
			const k = Math.min(1, Math.abs(n.net) / n.total);
			const l = 85 - 40 * k;
			return n.net > 0 ? `hsl(0,75%,${l}%)` : `hsl(120,55%,${l}%)`;
		}
		const h = hashHue(n.name);
		return `hsl(${20 + (h & 31)},${60 + ((h >> 5) & 15)}%,${55 + ((h >> 9) & 15)}%)`;
	}
	draw() {
		const c = this.canvas, dpr = window.devicePixelRatio || 1;
		const W = c.clientWidth || 1000;
		c.style.height = (this.depth * ROW) + 'px';
		c.width = W * dpr; c.height = this.depth * ROW * dpr;
		const g = c.getContext('2d');
		g.scale(dpr, dpr);
		g.font = '11px ui-monospace, monospace';
		g.textBaseline = 'middle';
		this.rects = [];
		const box = (n, x, w, depth) => {
			const y = depth * ROW;
			g.fillStyle = this.color(n);
			g.fillRect(x, y, Math.max(w - 1, 0.5), ROW - 1);
			this.rects.push({ n, x, w, y });
			if (w > 30) {
				g.fillStyle = '#000';
				g.save();
				g.beginPath(); g.rect(x, y, w - 2, ROW); g.clip();
				g.fillText((n.inlined ? '(inline) ' : '') + n.name, x + 3, y + ROW / 2);
				g.restore();
			}
		};
		/* The zoomed node's ancestors span the width above it. */
		const path = [];
		for (let a = this.zoom.parent; a; a = a.parent) path.unshift(a);
		path.forEach((a, i) => box(a, 0, W, i));
		const lay = (n, x, w, depth) => {
			box(n, x, w, depth);
			let cx = x;
			for (const k of n.children) {
				const kw = n.total ? w * k.total / n.total : 0;
				if (kw >= 0.5) lay(k, cx, kw, depth + 1);
				cx += kw;
			}
		};
		lay(this.zoom, 0, W, path.length);
	}
	at(e) {
		const b = this.canvas.getBoundingClientRect();
		const x = e.clientX - b.left, y = e.clientY - b.top;
		for (const r of this.rects)
			if (x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + ROW) return r;
		return null;
	}
	hover(e) {
		const r = this.at(e);
		if (!r) { tip.hidden = true; return; }
		const n = r.n;
		const share = this.root.total ? (100 * n.total / this.root.total).toFixed(2) : '0';
		tip.textContent = (n.inlined ? '(inlined) ' : '') + n.name + '\n' +
			(place(n) || '(no line information)') + '\n' +
			(this.diff ? 'change ' + fmtValue(n.net, this.unit) + ' (' + share + '% of all changes)'
				   : fmtValue(n.total, this.unit) + ' (' + share + '%)');
		tip.hidden = false;
		tip.style.left = Math.min(e.clientX + 12, window.innerWidth - 320) + 'px';
		tip.style.top = (e.clientY + 14) + 'px';
	}
	/* Search: highlight, and the share of the matching frames' totals
	 * (not counting a match below another match twice). */
	setSearch(q) {
		this.search = q;
		this.draw();
		if (!q) return '';
		let sum = 0;
		const walk = n => { if (this.matches(n)) { sum += n.total; return; } n.children.forEach(walk); };
		walk(this.root);
		return 'matched ' + fmtValue(sum, this.unit) + ' (' +
			(this.root.total ? (100 * sum / this.root.total).toFixed(1) : 0) + '%)';
	}
	/* Zooms to the biggest node matching `q`. */
	focus(q) {
		let best = null;
		const walk = n => {
			if (n !== this.root && (n.name === q || this.matchesText(n, q)) &&
			    (!best || n.total > best.total)) best = n;
			n.children.forEach(walk);
		};
		walk(this.root);
		if (best) { this.zoom = best; this.draw(); }
		return best;
	}
	matchesText(n, q) { return n.name.includes(q) || place(n).includes(q); }
}

/* ---------------------------------------------------------------- */
/* Views                                                             */
/* ---------------------------------------------------------------- */

const PROFILES = [
	['profile', 'CPU'], ['heap', 'heap'], ['allocs', 'allocs'], ['goroutine', 'threads'],
	['fd', 'descriptors'], ['block', 'block'], ['mutex', 'mutex'], ['threadcreate', 'threadcreate'],
];

function select(id, options, value) {
	const s = el('select', { id });
	for (const [v, label] of options) {
		const o = el('option', { value: v }, label);
		if (String(v) === String(value)) o.selected = true;
		s.appendChild(o);
	}
	return s;
}

function setHash(view, params) {
	const q = new URLSearchParams(params).toString();
	location.hash = view + (q ? '?' + q : '');
}

/* Flame graph of any profile and sample type. */
async function viewFlame(params, gen) {
	const p = params.get('p') || 'heap';
	const seconds = params.get('seconds') || (p === 'profile' ? '5' : '');
	const controls = el('div', { class: 'controls' });
	const prof = select('flame-profile', PROFILES, p);
	const secs = el('input', { id: 'flame-seconds', type: 'number', min: '1', max: '600',
				   value: seconds, placeholder: 'seconds', class: 'secs' });
	const types = el('select', { id: 'flame-type' });
	const search = el('input', { id: 'flame-search', type: 'search', placeholder: 'search (function or file)' });
	const found = el('span', { id: 'flame-found' });
	const load = el('button', { id: 'flame-load' }, 'Load');
	controls.append('Profile ', prof, ' seconds ', secs, ' sample ', types, load, search, found);
	const box = el('div', { id: 'flame-box' });
	main.append(el('h2', {}, 'Flame graph'), controls,
		    el('p', {}, 'Hover for details; click a frame to zoom in, on the background to zoom out.'), box);
	load.addEventListener('click', () => {
		const q = { p: prof.value };
		if (secs.value) q.seconds = secs.value;
		if (types.value) q.si = types.value;
		setHash('flame', q);
	});
	prof.addEventListener('change', () => {
		secs.value = prof.value === 'profile' ? '5' : '';
		types.value = '';
		load.click();
	});
	const url = BASE + p + (seconds ? '?seconds=' + encodeURIComponent(seconds) : '');
	status(seconds ? 'profiling for ' + seconds + ' s…' : 'loading…');
	const P = await getProfile(url);
	if (gen !== generation) return;
	let si = params.has('si') ? +params.get('si') : -1;
	if (si < 0 || si >= P.types.length) {
		si = P.typeNames.indexOf(P.strings[P.defaultType]);
		if (si < 0) si = P.types.length - 1;
	}
	P.typeNames.forEach((t, i) => {
		const o = el('option', { value: String(i) }, t + (P.unitNames[i] ? ' (' + P.unitNames[i] + ')' : ''));
		if (i === si) o.selected = true;
		types.appendChild(o);
	});
	types.addEventListener('change', () => load.click());
	const root = buildTree(P, si);
	status(P.samples.length + ' samples, total ' + fmtValue(root.total, P.unitNames[si]));
	if (root.total === 0) {
		box.append(el('p', { id: 'flame-empty' }, 'No samples in this profile.'));
		return;
	}
	const ic = new Icicle(box, root, P.unitNames[si], false);
	search.addEventListener('input', () => { found.textContent = ic.setSearch(search.value); });
	const focus = params.get('focus');
	if (focus) {
		search.value = focus;
		found.textContent = ic.setSearch(focus);
		ic.focus(focus);
	}
}

/* What changed: from the snapshot history (now vs N seconds ago,
 * instant), or a fresh delta profile over the next N seconds. */
const DIFF_KIND = { heap: 'heap', goroutine: 'threads', fd: 'fds' };

async function viewDiff(params, gen) {
	const p = params.get('p') || 'heap';
	const seconds = params.get('seconds') || '30';
	const mode = params.get('mode') === 'profile' ? 'profile' : 'history';
	const controls = el('div', { class: 'controls' });
	const prof = select('diff-profile', [['heap', 'heap in use'], ['goroutine', 'threads'], ['fd', 'descriptors']], p);
	const how = select('diff-mode', [['history', 'now vs. N seconds ago (snapshots)'],
					 ['profile', 'now vs. N seconds later (fresh profiles)']], mode);
	const secs = el('input', { id: 'diff-seconds', type: 'number', min: '1', max: '3600', value: seconds, class: 'secs' });
	const go = el('button', { id: 'diff-go' }, 'Compare');
	controls.append('Profile ', prof, ' ', how, ' N = ', secs, ' s ', go);
	go.addEventListener('click', () => setHash('diff', { p: prof.value, mode: how.value, seconds: secs.value, run: Date.now() }));
	const box = el('div', { id: 'diff-box' });
	main.append(el('h2', {}, 'Difference'), controls,
		    el('p', {}, 'Red grew, green shrank; widths are the size of the change.'), box);
	let root, unit, what;
	if (mode === 'history') {
		status('comparing snapshots…');
		const d = await getJSON(BASE + 'ui/data/diff?kind=' + DIFF_KIND[p] + '&ago=' + encodeURIComponent(seconds));
		if (gen !== generation) return;
		root = diffTree(d);
		unit = d.unit === 'bytes' ? 'bytes' : '';
		what = d.kind + ', last ' + d.seconds + ' s of ' + d.snapshots + ' snapshots';
	} else {
		status('comparing: waiting ' + seconds + ' s…');
		const P = await getProfile(BASE + p + '?seconds=' + encodeURIComponent(seconds));
		if (gen !== generation) return;
		let si = P.typeNames.indexOf(P.strings[P.defaultType]);
		if (p === 'heap') si = Math.max(si, P.typeNames.indexOf('inuse_space'));
		if (si < 0) si = P.types.length - 1;
		unit = P.unitNames[si];
		root = buildTree(P, si);
		what = P.typeNames[si] + ' over the next ' + seconds + ' s';
	}
	status('change: ' + fmtValue(root.net, unit) + ' (' + what + ')');
	/* The lines that changed most: by their own change (flat: where the
	 * memory, thread or descriptor was created), then cumulative (every
	 * sample whose stack passes through the line, once). */
	const lines = new Map();
	(function walk(n, seen) {
		if (n.parent) {
			const key = n.name + '\0' + place(n);
			let e = lines.get(key);
			if (!e) lines.set(key, e = { name: n.name, place: place(n), net: 0, self: 0 });
			if (!seen.has(key)) e.net += n.net;
			e.self += n.self;
			seen = new Set(seen); seen.add(key);
		}
		n.children.forEach(k => walk(k, seen));
	})(root, new Set());
	const rows = [...lines.values()].filter(e => e.net !== 0)
		.sort((a, b) => Math.abs(b.self) - Math.abs(a.self) || Math.abs(b.net) - Math.abs(a.net)).slice(0, 40);
	const t = el('table', { id: 'diff-table' },
		el('tr', {}, el('th', {}, 'change (cum)'), el('th', {}, 'change (flat)'), el('th', {}, 'function'), el('th', {}, 'line')));
	for (const e of rows)
		t.append(el('tr', { class: e.net > 0 ? 'grow' : 'shrink' },
			el('td', { class: 'num' }, (e.net > 0 ? '+' : '') + fmtValue(e.net, unit)),
			el('td', { class: 'num' }, e.self ? (e.self > 0 ? '+' : '') + fmtValue(e.self, unit) : ''),
			el('td', { class: 'mono' }, e.name), el('td', { class: 'mono' }, e.place)));
	if (root.total > 0) new Icicle(box, root, unit, true);
	else box.append(el('p', {}, 'Nothing changed.'));
	box.append(el('h2', {}, 'Lines that changed most'), t);
}

/* Threads: the debug=2 dump, grouped by stack and wait. */
function parseDump(text) {
	const out = [];
	for (const block of text.split(/\n\n+/)) {
		const lines = block.split('\n');
		const m = /^thread (\d+) "(.*)" \[(.*)\]:$/.exec(lines[0]);
		if (!m) continue;
		const wa = m[3];
		const comma = wa.indexOf(', ');
		const t = { tid: m[1], name: m[2], wait: comma < 0 ? wa : wa.slice(0, comma),
			    age: comma < 0 ? '' : wa.slice(comma + 2), stack: [], creator: '' };
		for (let i = 1; i < lines.length; i++) {
			const l = lines[i];
			if (l.startsWith('created by ')) {
				t.creator = l.slice(11) + (lines[i + 1] ? ' ' + lines[i + 1].trim() : '');
				break;
			}
			if (l.startsWith('\t')) {
				if (t.stack.length) t.stack[t.stack.length - 1] += '  ' + l.trim().replace(/ \+0x[0-9a-f]+$/, '');
			} else if (l) t.stack.push(l.replace(/\(\.\.\.\)$/, ''));
		}
		out.push(t);
	}
	return out;
}

async function viewThreads(params, gen) {
	const filter = el('input', { id: 'threads-filter', type: 'search', placeholder: 'filter (name, wait, function, file)', value: params.get('q') || '' });
	const box = el('div');
	main.append(el('h2', {}, 'Threads'), el('div', { class: 'controls' }, filter,
		el('a', { href: BASE + 'goroutine?debug=2' }, 'raw dump')), box);
	status('collecting thread dump…');
	const threads = parseDump(await getText(BASE + 'goroutine?debug=2'));
	if (gen !== generation) return;
	const groups = new Map();
	for (const t of threads) {
		const key = t.wait + '\n' + t.stack.join('\n');
		let g = groups.get(key);
		if (!g) groups.set(key, g = { wait: t.wait, stack: t.stack, threads: [] });
		g.threads.push(t);
	}
	const list = [...groups.values()].sort((a, b) => b.threads.length - a.threads.length);
	status(threads.length + ' threads in ' + list.length + ' groups');
	const render = () => {
		const q = filter.value.toLowerCase();
		const t = el('table', { id: 'threads-table' }, el('tr', {}, el('th', {}, 'threads'), el('th', {}, 'wait'),
			el('th', {}, 'age'), el('th', {}, 'names (tid)'), el('th', {}, 'created by'), el('th', {}, 'stack')));
		for (const g of list) {
			const names = g.threads.map(x => x.name + ' (' + x.tid + ')').join(', ');
			const ages = [...new Set(g.threads.map(x => x.age))].join('; ');
			const creators = [...new Set(g.threads.map(x => x.creator).filter(Boolean))].join('; ');
			const all = [g.wait, ages, names, creators, ...g.stack].join('\n').toLowerCase();
			if (q && !all.includes(q)) continue;
			t.append(el('tr', {}, el('td', { class: 'num' }, g.threads.length), el('td', {}, g.wait),
				el('td', {}, ages), el('td', {}, names), el('td', { class: 'mono' }, creators),
				el('td', {}, el('pre', {}, g.stack.join('\n')))));
		}
		box.replaceChildren(t);
	};
	filter.addEventListener('input', render);
	render();
}

/* Overview: history charts, refreshed live, and the suspects. */
const PROFILE_OF_KIND = { heap: 'heap', threads: 'goroutine', fds: 'fd' };
const UNIT_OF_KIND = { heap: 'bytes', threads: '', fds: '' };

function chart(parent, id, title, xs, series, unit) {
	const opts = {
		title, width: 420, height: 200,
		series: [{}].concat(series.map((s, i) => ({
			label: s.label, stroke: ['#1565c0', '#c62828', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#5d4037'][i % 7],
			width: 1.5, value: (u, v) => v == null ? '' : fmtValue(v, unit),
		}))),
		axes: [{}, { size: 70, values: (u, vals) => vals.map(v => fmtValue(v, unit)) }],
	};
	const data = [xs].concat(series.map(s => s.values));
	const div = el('div', { class: 'chart', id });
	parent.appendChild(div);
	return new uPlot(opts, data, div);
}

async function viewOverview(params, gen) {
	const charts = el('div', { class: 'charts', id: 'charts' });
	const suspects = el('div', { id: 'suspects' });
	const open = new Set(), plots = [];
	main.append(el('h2', {}, 'Growth (background snapshots)'), charts, el('h2', {}, 'Leak suspects'), suspects);
	const refresh = async () => {
		const leaks = await getJSON(BASE + 'leaks?format=json');
		const top = leaks.suspects.slice(0, 5);
		const h = await getJSON(BASE + 'ui/data/history' +
			(top.length ? '?series=' + top.map(s => s.series).join(',') : ''));
		if (gen !== generation) return;
		const now = Date.now() / 1000;
		const xs = h.t.map(t => now + t);
		plots.forEach(p => p.destroy());
		plots.length = 0;
		charts.replaceChildren();
		plots.push(chart(charts, 'chart-threads', 'Threads', xs, [{ label: 'threads', values: h.threads }], ''));
		plots.push(chart(charts, 'chart-heap', 'Heap in use', xs, [{ label: 'in use', values: h.heap }], 'bytes'));
		const kinds = Object.keys(h.fds);
		plots.push(chart(charts, 'chart-fds', 'Descriptors by kind', xs,
			kinds.length ? kinds.map(k => ({ label: k, values: h.fds[k] })) : [{ label: 'descriptors', values: xs.map(() => 0) }], ''));
		top.forEach((s, i) => {
			const vals = h.series[String(s.series)] || [];
			const site = s.site ? s.site.function + ' ' + s.site.file + ':' + s.site.line : '?';
			plots.push(chart(charts, 'chart-suspect-' + i, 'Suspect ' + (i + 1) + ': ' + s.kind + ' at ' + site, xs,
				[{ label: s.kind, values: vals }], UNIT_OF_KIND[s.kind] || ''));
		});
		status(h.snapshots + ' snapshots every ' + h.interval_s + ' s; ' + leaks.suspects.length + ' suspects');
		renderSuspects(suspects, leaks, open);
	};
	await refresh();
	const every = 2000;
	timer = setInterval(() => { refresh().catch(e => status(String(e.message || e), true)); }, every);
}

function frameText(f) {
	return f.function + '  ' + f.file + (f.line ? ':' + f.line : '');
}

function renderSuspects(box, leaks, open) {
	if (!leaks.suspects.length) {
		box.replaceChildren(el('p', { id: 'no-suspects' },
			'No suspects yet: a series needs a few snapshots of steady growth (window ' + leaks.window_seconds + ' s).'));
		return;
	}
	const t = el('table', { id: 'suspects-table' }, el('tr', {}, el('th', {}, 'kind'), el('th', {}, 'site'),
		el('th', {}, 'wait'), el('th', {}, 'from → to'), el('th', {}, 'growth/s'), el('th', {}, 'confidence'), el('th', {}, '')));
	leaks.suspects.forEach((s, i) => {
		const unit = UNIT_OF_KIND[s.kind] || '';
		const stackLink = el('a', { href: '#', class: 'act suspect-stack', id: 'suspect-stack-' + i }, 'stack');
		const focus = s.site ? s.site.function : '';
		const flameLink = el('a', { class: 'act', id: 'suspect-flame-' + i,
			href: '#flame?' + new URLSearchParams({ p: PROFILE_OF_KIND[s.kind] || 'heap', focus }) }, 'flame graph');
		const row = el('tr', { class: 'suspect' }, el('td', {}, s.kind),
			el('td', { class: 'mono' }, s.site ? frameText(s.site) : '?'), el('td', {}, s.wait || ''),
			el('td', { class: 'num' }, fmtValue(s.start, unit) + ' → ' + fmtValue(s.end, unit)),
			el('td', { class: 'num' }, fmtValue(s.growth_per_second, unit)),
			el('td', { class: 'num' }, s.confidence.toFixed(2)), el('td', {}, stackLink, flameLink));
		const stack = el('tr', { class: 'stackrow', id: 'suspect-stackrow-' + i },
			el('td', { colspan: '7' }, el('pre', {}, s.stack.map(frameText).join('\n') +
				(s.created_by && s.created_by.length ? '\ncreated by:\n' + s.created_by.map(frameText).join('\n') : ''))));
		stack.hidden = !open.has(s.series);
		stackLink.addEventListener('click', e => {
			e.preventDefault();
			if (open.has(s.series)) open.delete(s.series); else open.add(s.series);
			stack.hidden = !open.has(s.series);
		});
		t.append(row, stack);
	});
	box.replaceChildren(t);
}

/* ---------------------------------------------------------------- */
/* Routing                                                           */
/* ---------------------------------------------------------------- */

const VIEWS = { overview: viewOverview, flame: viewFlame, diff: viewDiff, threads: viewThreads };

function route() {
	const h = location.hash.slice(1);
	const q = h.indexOf('?');
	let view = q < 0 ? h : h.slice(0, q);
	if (!VIEWS[view]) view = 'overview';
	const params = new URLSearchParams(q < 0 ? '' : h.slice(q + 1));
	if (timer) { clearInterval(timer); timer = null; }
	const gen = ++generation;
	main.replaceChildren();
	tip.hidden = true;
	status('');
	for (const a of document.querySelectorAll('header nav a'))
		a.className = a.id === 'nav-' + view ? 'on' : '';
	main.dataset.view = view;
	delete main.dataset.ready;
	VIEWS[view](params, gen).then(() => { if (gen === generation) main.dataset.ready = view; },
		e => { if (gen === generation) status(String(e.message || e), true); });
}

window.addEventListener('hashchange', route);
window.addEventListener('resize', () => { /* redraw flame graphs at the new width */
	for (const c of document.querySelectorAll('canvas.flame')) c.dispatchEvent(new Event('nprof-resize'));
});
route();
})();
