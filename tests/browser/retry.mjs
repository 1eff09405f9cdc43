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

import { ID_URL, args, check, deadline, diag, failures, launch, panel,
    result, screenshots, taskForm } from './lib.mjs';

const [origin, outdir] = args('retry.mjs', 'ORIGIN', 'ARTIFACTS_DIR');
const APP = `${origin}/app`;
const ACCEPT = { Accept: 'application/json' };
deadline('retry.mjs', 100);
const screenshot = screenshots(outdir, { onError: diag });

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

const browser = await launch();
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
		return a.status === 303 && b.status === 303 && la === lb && ID_URL.test(la) ||
		    `${a.status} ${la}, ${b.status} ${lb}`;
	});
	let again = null;
	await check('no JS: Run again posts, and lands on a new job\'s page (303)', async () => {
		await Promise.all([page.waitForURL(ID_URL),
		    page.click('form[action$="/retry"] button')]);
		again = page.url().match(ID_URL)[1];
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
	const form = taskForm(js, 'flaky');
	await check('JS: the flaky form on /app/tasks fails, and the panel offers Run again',
	    async () => {
		await js.goto(`${APP}/tasks`);
		await js.waitForFunction(() => window.spoolcgi && window.spoolcgi.version);
		await form.locator('input[name="text"]').fill('https://example.org/js');
		await form.locator('button').click();
		await panel(js, 'failed');
		const b = js.locator('.spoolcgi-job .spoolcgi-again');
		await b.waitFor({ state: 'visible' });
		return await b.textContent() === 'Run again' || 'no Run again button';
	});
	await screenshot(js, 'js-failed-run-again');
	await check('JS: Run again follows the new job in the panel to its result',
	    async () => {
		const first = await js.getAttribute('.spoolcgi-job a.spoolcgi-link', 'href');
		await js.click('.spoolcgi-job .spoolcgi-again');
		await panel(js, 'succeeded');
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
process.exitCode = failures() > 0 ? 1 : 0;
