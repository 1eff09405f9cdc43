// tests/browser/retry.mjs: a failed job's page, its log and "Run again"
// (issue 11, item 7) in a real headless Chromium, with JavaScript off and
// on.  Driven by tests/e2e/admin.test:
//
//	node retry.mjs ORIGIN ARTIFACTS_DIR
//
// ORIGIN serves spoolcgi at /app with the task "flaky" (field "text"),
// which fails the first time it runs for a text, writing a few lines to
// its log, and succeeds the next time.  Prints "ok - NAME" or
// "not ok - NAME", then "# " lines of detail; the wrapper numbers them.
// Synchronisation is Playwright's waiting with a deadline, never a fixed
// sleep; the run stops itself after 100 s.  Screenshots go to
// ARTIFACTS_DIR as NN-name.png.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const [origin, outdir] = process.argv.slice(2);
if (!origin || !outdir) {
	console.error('usage: node retry.mjs ORIGIN ARTIFACTS_DIR');
	process.exit(2);
}
const APP = `${origin}/app`;
const ID = /\/app\/jobs\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const ACCEPT = { Accept: 'application/json' };
let failed = 0;
mkdirSync(outdir, { recursive: true });

function result(name, ok, diag) {
	process.stdout.write(`${ok ? 'ok' : 'not ok'} - ${name}\n`);
	if (!ok) {
		failed++;
		for (const l of String(diag || '').split('\n').slice(0, 8))
			if (l)
				process.stdout.write(`# ${l}\n`);
	}
}

/* A test passes when fn neither throws nor returns false or a string. */
async function check(name, fn) {
	try {
		const r = await fn();
		result(name, r !== false && typeof r !== 'string', r);
	} catch (e) {
		result(name, false, e && e.message || e);
	}
}

setTimeout(() => {
	result('retry.mjs finished within 100 s', false);
	process.exit(3);
}, 100_000).unref();

let shot = 0;
async function screenshot(page, name) {
	const file = path.join(outdir, `${String(++shot).padStart(2, '0')}-${name}.png`);
	try {
		await page.screenshot({ path: file, fullPage: true, animations: 'disabled',
		    timeout: 10_000 });
	} catch (e) {
		process.stdout.write(`# screenshot ${file}: ${e.message.split('\n')[0]}\n`);
	}
}

/* A flaky job started from Node, waited for until final: its status. */
async function failedJob(text) {
	const r = await fetch(`${APP}/jobs`, { method: 'POST',
	    body: JSON.stringify({ task: 'flaky', text }),
	    headers: { 'Content-Type': 'application/json', ...ACCEPT } });
	if (r.status !== 202)
		throw new Error(`start: ${r.status} ${await r.text()}`);
	const self = new URL((await r.json()).links.self, origin).href;
	for (const end = Date.now() + 30_000; Date.now() < end;) {
		const st = await (await fetch(self, { headers: ACCEPT })).json();
		if (['succeeded', 'failed', 'cancelled'].includes(st.state))
			return st;
		await new Promise((ok) => setTimeout(ok, 200));
	}
	throw new Error(`the job ${self} did not end within 30 s`);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ||
    '/usr/bin/chromium', timeout: 30_000, args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
try {
	/* ------------------------------------------------ without JavaScript */
	const nojs = await browser.newContext({ javaScriptEnabled: false,
	    viewport: { width: 820, height: 1000 } });
	const page = await nojs.newPage();
	page.setDefaultTimeout(20_000);
	let old = null;
	await check('a flaky job fails on its first run', async () => {
		old = await failedJob('https://example.org/report');
		return old.state === 'failed' && !!old.links.retry ||
		    `state ${old.state}, links ${JSON.stringify(old.links)}`;
	});
	await check('no JS: the failed job\'s page shows its log, escaped, and Run again',
	    async () => {
		await page.goto(new URL(old.links.self, origin).href);
		const log = await page.textContent('pre.log');
		if (!/flaky: <timeout> after 30 s & no answer/.test(log))
			return `the log: ${log}`;
		if (await page.locator('pre.log b, pre.log timeout').count() !== 0)
			return 'the log was rendered as HTML';
		const n = await page.locator('form[action$="/retry"] button',
		    { hasText: 'Run again' }).count();
		return n === 1 || `${n} Run again buttons`;
	});
	await screenshot(page, 'failed-log-run-again');
	await check('no JS: a second post of the page\'s token lands on the same job',
	    async () => {
		const token = await page.getAttribute('form[action$="/retry"] input[name="_token"]',
		    'value');
		const post = () => fetch(`${APP}/jobs/${old.id}/retry`, { method: 'POST',
		    body: new URLSearchParams({ _token: `${token}-twice` }),
		    redirect: 'manual' });
		const a = await post();
		const b = await post();
		const la = a.headers.get('Location'), lb = b.headers.get('Location');
		return a.status === 303 && b.status === 303 && la === lb && ID.test(la) ||
		    `${a.status} ${la}, ${b.status} ${lb}`;
	});
	let again = null;
	await check('no JS: Run again posts, and lands on a new job\'s page (303)', async () => {
		await Promise.all([page.waitForURL(ID),
		    page.click('form[action$="/retry"] button')]);
		again = page.url().match(ID)[1];
		return again !== old.id || 'the same job';
	});
	await check('no JS: the new job runs to its result; the page says so', async () => {
		await page.waitForSelector('.state.ok', { timeout: 40_000 });
		const t = await page.textContent('main pre');
		return /Fetched: https:\/\/example\.org\/report/.test(t) || `result: ${t}`;
	});
	await screenshot(page, 'run-again-result');
	await check('the old job keeps its record (failed)', async () => {
		const st = await (await fetch(new URL(old.links.self, origin),
		    { headers: ACCEPT })).json();
		return st.state === 'failed' || st.state;
	});
	await nojs.close();

	/* ------------------------------------------------ with the client */
	const ctx = await browser.newContext({ viewport: { width: 820, height: 1000 } });
	const js = await ctx.newPage();
	const errors = [];
	js.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
	js.setDefaultTimeout(20_000);
	const form = js.locator('form').filter({
	    has: js.locator('input[name="task"][value="flaky"]') });
	const panel = (state) => js.waitForSelector(
	    `.spoolcgi-job[data-state="${state}"]`, { timeout: 40_000 });
	await check('JS: the flaky form on /app/tasks fails, and the panel offers Run again',
	    async () => {
		await js.goto(`${APP}/tasks`);
		await js.waitForFunction(() => window.spoolcgi && window.spoolcgi.version);
		await form.locator('input[name="text"]').fill('https://example.org/js');
		await form.locator('button').click();
		await panel('failed');
		const b = js.locator('.spoolcgi-job .spoolcgi-again');
		await b.waitFor({ state: 'visible' });
		return await b.textContent() === 'Run again' || 'no Run again button';
	});
	await screenshot(js, 'js-failed-run-again');
	await check('JS: Run again follows the new job in the panel to its result',
	    async () => {
		const first = await js.getAttribute('.spoolcgi-job a.spoolcgi-link', 'href');
		await js.click('.spoolcgi-job .spoolcgi-again');
		await panel('succeeded');
		const t = await js.textContent('.spoolcgi-job pre');
		const now = await js.getAttribute('.spoolcgi-job a.spoolcgi-link', 'href');
		if (!/Fetched: https:\/\/example\.org\/js/.test(t))
			return `result: ${t}`;
		if (await js.locator('.spoolcgi-job .spoolcgi-again').isVisible())
			return 'Run again still shown after a success';
		return now !== first || 'the panel still links the old job';
	});
	await screenshot(js, 'js-run-again-result');
	await check('JS: no error in the page', () => errors.length === 0 || errors.join('\n'));
	await ctx.close();
} catch (e) {
	result('retry.mjs ran every test', false, e && e.message || e);
} finally {
	await browser.close();
}
process.exitCode = failed > 0 ? 1 : 0;
