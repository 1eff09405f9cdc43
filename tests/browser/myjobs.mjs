// tests/browser/myjobs.mjs: "my jobs" ({base}/jobs, issue 11 item 3) in a
// real headless Chromium.  Driven by tests/e2e/myjobs.test:
//
//	node myjobs.mjs ORIGIN ARTIFACTS SPOOL
//
// ORIGIN serves spoolcgi at /app with lib.sh's "echo" task.  One browser
// (JavaScript off: plain form posts) starts two jobs and finds them in its
// list, newest first, through the "My jobs" link; the owner cookie is
// HttpOnly, SameSite=Lax and scoped to /app.  A second browser sees an
// empty list; one whose cookie was forged gets 400, the cookie cleared,
// and the spool unchanged; a third (JavaScript on) starts a job through
// the page's client (fetch) and finds it listed.  Screenshots go to
// ARTIFACTS.  Prints "ok - NAME" or "not ok - NAME", then "# " lines of
// detail; the wrapper numbers them.  Synchronisation is Playwright's
// waiting with a deadline, never a fixed sleep; the run stops itself
// after 80 s.

import { ID_URL, args, check, deadline, failures, launch, listing, posted,
    screenshots, taskForm } from './lib.mjs';

const [origin, artifacts, spool] = args('myjobs.mjs', 'ORIGIN', 'ARTIFACTS', 'SPOOL');
deadline('myjobs.mjs', 80);
const shot = screenshots(artifacts, { numbered: false });
const browser = await launch();

/* Start a job of task (no fields but those given) from its form; returns
 * the job's path. */
async function startTask(page, task, fields) {
	await page.goto(`${origin}/app/tasks`);
	const form = taskForm(page, task);
	for (const [k, v] of Object.entries(fields))
		await form.locator(`[name="${k}"]`).fill(v);
	await Promise.all([page.waitForURL(ID_URL),
	    form.locator('button[type="submit"]').click()]);
	return new URL(page.url()).pathname;
}

/* The job links of the list on page, in order. */
async function rows(page) {
	return page.locator('table.jobs tbody tr td:first-child a')
	    .evaluateAll((as) => as.map((a) => a.getAttribute('href')));
}

const a = await browser.newContext({ javaScriptEnabled: false,
    viewport: { width: 900, height: 700 } });
const pa = await a.newPage();
pa.setDefaultTimeout(20_000);
let first, second;

await check('a browser starts two jobs from the task form', async () => {
	first = await startTask(pa, 'echo', { text: 'the first job' });
	second = await startTask(pa, 'echo', { text: 'the second job' });
	return first !== second || 'the same job twice';
});
await check('the owner cookie is HttpOnly, SameSite=Lax, Path=/app', async () => {
	const c = (await a.cookies()).filter((x) => x.name === 'spoolcgi_owner');
	if (c.length !== 1)
		return `${c.length} owner cookies`;
	const k = c[0];
	return (k.httpOnly && k.sameSite === 'Lax' && k.path === '/app' &&
	    !k.secure && /^[0-9a-f]{64}$/.test(k.value) &&
	    k.expires > Date.now() / 1000 + 300 * 86400) ||
	    JSON.stringify(k);
});
await check('the job page links "My jobs", which lists both, newest first', async () => {
	await pa.goto(`${origin}${second}`);
	await Promise.all([pa.waitForURL(/\/app\/jobs$/),
	    pa.click('footer a:text("My jobs")')]);
	const r = await rows(pa);
	return (r.length === 2 && r[0] === second && r[1] === first) ||
	    `rows: ${r.join(' ')}`;
});
await check('the list shows each job\'s state and times', async () => {
	await pa.waitForFunction(() => document.querySelectorAll(
	    'table.jobs tbody tr').length === 2);
	const t = await pa.textContent('table.jobs');
	return (/queued|running|succeeded/.test(t) && /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(t)) ||
	    t.slice(0, 300);
});
/* Settled: a screenshot of finished jobs, with their result links. */
await check('once the jobs are done, the list links their results', async () => {
	for (let i = 0; i < 60; i++) {
		await pa.goto(`${origin}/app/jobs`);
		if (await pa.locator('table.jobs a[download]').count() === 2)
			break;
		await pa.waitForTimeout(250);	// a poll's pause, bounded by the loop
	}
	await shot(pa, 'list');
	return await pa.locator('table.jobs a[download]').count() === 2 ||
	    'no result links';
});

await check('every state in the list: running with its progress, failed, succeeded', async () => {
	const failedJob = await startTask(pa, 'fail', {});
	const running = await startTask(pa, 'progress', { seconds: '40' });
	let ok = false;
	for (let i = 0; i < 80 && !ok; i++) {
		await pa.goto(`${origin}/app/jobs`);
		ok = await pa.locator('tr[data-state="running"]').filter({
		    hasText: '%' }).count() === 1 &&
		    await pa.locator('tr[data-state="failed"]').count() === 1;
		if (!ok)
			await pa.waitForTimeout(250);	// a poll's pause, bounded
	}
	if (ok)
		await shot(pa, 'list-states');
	const r = await rows(pa);
	/* Stop the running job: the page's own Cancel button. */
	await pa.goto(`${origin}${running}`);
	await Promise.all([pa.waitForURL(`${origin}${running}`),
	    pa.click('button:text("Cancel")')]);
	return (ok && r[0] === running && r[1] === failedJob) ||
	    `running and failed rows seen: ${ok}; rows ${r.join(' ')}`;
});

const b = await browser.newContext({ javaScriptEnabled: false,
    viewport: { width: 900, height: 500 } });
const pb = await b.newPage();
pb.setDefaultTimeout(20_000);
await check('another browser: an empty list that says so', async () => {
	const res = await pb.goto(`${origin}/app/jobs`);
	await shot(pb, 'empty');
	const t = await pb.textContent('main');
	return (res.status() === 200 && /not started a job from this browser/.test(t)
	    && await pb.locator('table.jobs').count() === 0) || t.slice(0, 200);
});

const before = listing(spool);
await check('a forged owner cookie: 400, nothing listed, the cookie cleared', async () => {
	const host = new URL(origin).hostname;
	await b.addCookies([{ name: 'spoolcgi_owner', value: '7'.repeat(64),
	    domain: host, path: '/app', httpOnly: true, sameSite: 'Lax' }]);
	const res = await pb.goto(`${origin}/app/jobs`);
	await shot(pb, 'forged');
	const t = await pb.textContent('main');
	const left = (await b.cookies()).filter((x) => x.name === 'spoolcgi_owner');
	return (res.status() === 400 && /not one this server gave out/.test(t) &&
	    !t.includes(first) && left.length === 0) ||
	    `status ${res.status()}, cookies ${JSON.stringify(left)}: ${t.slice(0, 200)}`;
});
await check('the forged cookie left the spool as it was', async () =>
    listing(spool) === before || 'the spool changed');

const c = await browser.newContext({ viewport: { width: 900, height: 700 } });
const pc = await c.newPage();
pc.setDefaultTimeout(20_000);
await check('with JavaScript, a start through the page\'s client is listed', async () => {
	await pc.goto(`${origin}/app/tasks`);
	const form = taskForm(pc, 'echo');
	await form.locator('textarea[name="text"]').fill('started by fetch');
	const res = await posted(pc, () => form.locator('button[type="submit"]').click());
	const loc = res.headers()['location'] || '';
	await pc.goto(`${origin}/app/jobs`);
	const r = await rows(pc);
	const id = loc.split('/').pop();
	return (id && r.length === 1 && r[0].endsWith(id)) ||
	    `status ${res.status()}, location ${loc}, rows ${r.join(' ')}`;
});

await browser.close();
process.exit(failures() ? 1 : 0);
