// ui_test.js - drives Debian's chromium (playwright-core, no browser
// download) through nprof's web UI of live examples.
//
//   node ui_test.js OUTDIR LEAK_URL BUSY_URL NAMES_URL LEAK_LINE
//
// LEAK_URL: examples/timer_leak under nprof (here through `nprof ui`);
// BUSY_URL: examples/busy; NAMES_URL: a program whose thread and file
// names are HTML. Each is an origin (http://127.0.0.1:PORT). Fails on any
// console error, page error, dialog, or request to another origin.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const path = require('path');

const [outdir, leakURL, busyURL, namesURL, leakLine] = process.argv.slice(2);
const failures = [];
const shots = [];

function check(cond, what) {
	if (cond) console.log('ok: ' + what);
	else { console.log('FAIL: ' + what); failures.push(what); }
}

async function shot(page, name) {
	const p = path.join(outdir, name + '.png');
	await page.screenshot({ path: p, fullPage: true });
	shots.push(p);
	console.log('screenshot: ' + p);
}

/* A page that records everything that must not happen. */
async function open(browser, origin) {
	const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
	page.on('console', m => { if (m.type() === 'error') failures.push('console error on ' + origin + ': ' + m.text()); });
	page.on('pageerror', e => failures.push('page error on ' + origin + ': ' + e.message));
	page.on('dialog', d => { failures.push('dialog opened: ' + d.message()); d.dismiss(); });
	page.on('request', r => {
		const u = r.url();
		if (!u.startsWith(origin + '/') && !u.startsWith('data:'))
			failures.push('request off the origin ' + origin + ': ' + u);
	});
	return page;
}

async function ready(page, view, timeout) {
	await page.waitForSelector(`main[data-ready="${view}"]`, { timeout: timeout || 60000 });
}

(async () => {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
	});
	try {
		/* Overview of the timer leak: charts drawn, then the suspect. */
		let page = await open(browser, leakURL);
		await page.goto(leakURL + '/debug/pprof/ui#overview');
		await ready(page, 'overview');
		for (const id of ['chart-threads', 'chart-heap', 'chart-fds']) {
			const n = await page.locator(`#${id} canvas`).count();
			check(n === 1, `overview draws chart ${id}`);
		}
		// The heap line must be a drawn path: uPlot sizes the canvas and
		// the series has points.
		const heapPoints = await page.evaluate(async () => {
			const r = await fetch('/debug/pprof/ui/data/history');
			return (await r.json()).heap.length;
		});
		check(heapPoints >= 2, `history has ${heapPoints} heap points`);
		await page.waitForSelector('#suspect-stack-0', { timeout: 90000 });
		const site = await page.locator('#suspects-table tr.suspect').first().innerText();
		check(site.includes('timer_leak.c:' + leakLine), 'first suspect is timer_leak.c:' + leakLine + ': ' + site.replace(/\s+/g, ' '));
		await page.waitForSelector('#chart-suspect-0 canvas');
		check(true, 'the suspect has its growth chart');
		await shot(page, 'overview');
		check(!(await page.locator('#suspect-stackrow-0').isVisible()), 'stack hidden before the click');
		await page.click('#suspect-stack-0');
		await page.waitForSelector('#suspect-stackrow-0', { state: 'visible' });
		const stack = await page.locator('#suspect-stackrow-0').innerText();
		check(/after\s+examples\/timer_leak\.c:/.test(stack) && stack.includes('receive'), 'clicking the suspect opens its stack');
		await shot(page, 'suspect-stack');
		await page.click('#suspect-flame-0');
		await ready(page, 'flame');
		const found = await page.locator('#flame-found').innerText();
		check(/matched .*\((\d+\.\d)%\)/.test(found), 'flame graph focused on the suspect: ' + found);
		await shot(page, 'suspect-flame');

		/* Difference, both ways: from the snapshot history (now vs 20 s
		 * ago, instant) and from two fresh profiles 4 s apart. The leaking
		 * line grows, in red, at the top of the lines that changed. */
		for (const [mode, hash] of [['history', '#diff?p=heap&seconds=20'], ['profile', '#diff?p=heap&mode=profile&seconds=4']]) {
			await page.goto(leakURL + '/debug/pprof/ui' + hash);
			await ready(page, 'diff', 60000);
			const rows = await page.$$eval('#diff-table tr.grow', trs => trs.map(t => ({
				text: t.innerText, color: getComputedStyle(t).color })));
			const leak = rows.find(r => r.text.includes('timer_leak.c:' + leakLine));
			check(leak !== undefined, mode + ': difference lists timer_leak.c:' + leakLine + ' as grown');
			check(leak && leak.color === 'rgb(198, 40, 40)', mode + ': the leaking line is red: ' + (leak && leak.color));
			check(rows.length > 0 && rows[0].text.includes('timer_leak.c:' + leakLine), mode + ': top growth (flat) is timer_leak.c:' + leakLine + ': ' + ((rows[0] || {}).text || '').replace(/\s+/g, ' '));
			await shot(page, 'difference-' + mode);
		}
		await page.close();

		/* CPU flame graph of busy: the hot function is the widest. */
		page = await open(browser, busyURL);
		await page.goto(busyURL + '/debug/pprof/ui#flame?p=profile&seconds=3');
		await ready(page, 'flame', 60000);
		await page.fill('#flame-search', 'checksum_block');
		const share = await page.locator('#flame-found').innerText();
		const pct = +((/\((\d+(?:\.\d+)?)%\)/.exec(share) || [0, 0])[1]);
		check(pct >= 50, 'CPU flame graph: checksum_block has ' + pct + '% of samples');
		await page.fill('#flame-search', 'mix');
		const mix = await page.locator('#flame-found').innerText();
		check(/\((\d+\.\d)%\)/.test(mix) && !mix.includes('(0.0%)'), 'inlined mix() appears as its own frame: ' + mix);
		// Hover the widest frame of the deepest busy row: the tip names it.
		const box = await page.locator('#flame-canvas').boundingBox();
		await page.mouse.move(box.x + 20, box.y + 9);
		const tipText = await page.locator('#tip').innerText();
		check(tipText.includes('100.00%'), 'hover over the root shows its share: ' + tipText.replace(/\n/g, ' | '));
		await shot(page, 'cpu-flame');
		// Zoom by clicking: the clicked frame then spans the whole width.
		await page.fill('#flame-search', '');
		let row = -1;
		for (let d = 1; d < 12 && row < 0; d++) {
			await page.mouse.move(box.x + 20, box.y + d * 18 + 9);
			if (await page.locator('#tip').isVisible() &&
			    (await page.locator('#tip').innerText()).startsWith('checksum_block')) row = d;
		}
		check(row > 0, 'hover finds checksum_block at depth ' + row);
		await page.mouse.click(box.x + 20, box.y + row * 18 + 9);
		await page.mouse.move(box.x + box.width - 5, box.y + row * 18 + 9);
		const right = (await page.locator('#tip').isVisible()) ? await page.locator('#tip').innerText() : '(no frame)';
		check(right.startsWith('checksum_block'), 'after a click checksum_block spans the width: ' + right.split('\n')[0]);
		await page.close();

		/* Threads with HTML in their names: shown as text, never markup. */
		page = await open(browser, namesURL);
		await page.goto(namesURL + '/debug/pprof/ui#threads');
		await ready(page, 'threads');
		const text = await page.locator('#threads-table').innerText();
		check(text.includes('<script>alert('), 'a thread named <script>alert( is shown as text');
		check(text.includes('<img src=x onerror=alert(1)>.c'), 'a file named <img ...>.c is shown as text');
		const injected = await page.evaluate(() => document.querySelectorAll('main img, main script, main b').length);
		check(injected === 0, 'no element was created from a program name');
		await shot(page, 'threads-escaped');
		await page.fill('#threads-filter', 'blocker');
		const filtered = await page.locator('#threads-table tr').count();
		check(filtered === 2, 'the filter keeps the header and the one matching group: ' + filtered);
		await shot(page, 'threads-filtered');
		await page.goto(namesURL + '/debug/pprof/ui#flame?p=goroutine');
		await ready(page, 'flame');
		await page.fill('#flame-search', 'onerror');
		const esc = await page.locator('#flame-found').innerText();
		check(!esc.includes('(0.0%)'), 'the flame graph finds the <img> file by name: ' + esc);
		await shot(page, 'names-flame');
		await page.close();
	} catch (e) {
		failures.push('exception: ' + (e.stack || e));
	} finally {
		await browser.close();
	}
	console.log('screenshots:\n  ' + shots.join('\n  '));
	if (failures.length) {
		console.log('FAILURES:\n  ' + failures.join('\n  '));
		process.exit(1);
	}
	console.log('all UI checks passed');
})();
