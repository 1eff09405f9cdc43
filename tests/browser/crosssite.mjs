// tests/browser/crosssite.mjs: cross-site form posts in a real headless
// Chromium (issue 13).  Driven by tests/e2e/crosssite.test:
//
//	node crosssite.mjs ORIGIN PORT SPOOL
//
// ORIGIN serves spoolcgi at /app with the "echo" task and lists
// http://127.0.0.3:PORT in allowed_origins.  This script serves one page
// with the echo task's form (posting to ORIGIN) on 127.0.0.2:PORT, another
// site to the browser, and on 127.0.0.3:PORT, the allowed one.  Prints
// "ok - NAME" or "not ok - NAME", then "# " lines of detail, one a line;
// the wrapper numbers them.  Synchronisation is Playwright's waiting with
// a deadline, never a fixed sleep; the run stops itself after 50 s.

import { createServer } from 'node:http';
import { ID_URL, args, check, deadline, failures, launch, listing, posted,
    taskForm } from './lib.mjs';

const [origin, port, spool] = args('crosssite.mjs', 'ORIGIN', 'PORT', 'SPOOL');
deadline('crosssite.mjs', 50);

/* The other sites' page: the echo task's form, posting to spoolcgi. */
const page = `<!doctype html><meta charset="utf-8"><title>elsewhere</title>
<form method="post" action="${origin}/app/jobs">
<input type="hidden" name="task" value="echo">
<textarea name="text">from another site</textarea>
<button type="submit">Start</button></form>`;
const servers = [];
for (const host of ['127.0.0.2', '127.0.0.3']) {
	const s = createServer((req, res) => {
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
		res.end(page);
	});
	await new Promise((ok, bad) => { s.once('error', bad); s.listen(Number(port), host, ok); });
	servers.push(s);
}

const browser = await launch();
const ctx = await browser.newContext();
const tab = await ctx.newPage();
tab.setDefaultTimeout(15_000);

/* Submit the form on the page at url; returns the answer to the post. */
async function post(url) {
	await tab.goto(url);
	const res = await posted(tab, () => tab.click('button[type="submit"]'));
	await tab.waitForLoadState();
	return res;
}

const before = listing(spool);
await check('a form on another site (127.0.0.2) posting here: 403', async () => {
	const res = await post(`http://127.0.0.2:${port}/`);
	const sent = await res.request().allHeaders();
	if (res.status() !== 403)
		return `status ${res.status()}, Sec-Fetch-Site ${sent['sec-fetch-site']}`;
	return sent['sec-fetch-site'] === 'cross-site' ||
	    `Chromium sent Sec-Fetch-Site ${sent['sec-fetch-site']}`;
});
await check('the refusal is a page that says why', async () => {
	const t = await tab.textContent('main');
	return /another site/.test(t) || `the page says: ${t.slice(0, 300)}`;
});
await check('the refused post left the spool as it was', async () =>
    listing(spool) === before || 'the spool changed');

await check('the same form from an allowed origin (127.0.0.3) starts a job', async () => {
	const res = await post(`http://127.0.0.3:${port}/`);
	if (res.status() !== 303)
		return `status ${res.status()}`;
	await tab.waitForURL(ID_URL);
});

await check('the task form on the site itself starts a job (same-origin)', async () => {
	// A page of its own: the job page the last step left refreshes
	// itself (meta refresh), which would interrupt a navigation here.
	const own = await ctx.newPage();
	own.setDefaultTimeout(15_000);
	await own.goto(`${origin}/app/tasks`);
	const form = taskForm(own, 'echo');
	await form.locator('textarea[name="text"]').fill('from this site');
	const res = await posted(own, () => form.locator('button[type="submit"]').click());
	// 202 when the page's client (spoolcgi.js) posts it with fetch,
	// 303 when the browser posts the form itself.
	if (res.status() === 303)
		await own.waitForURL(ID_URL);
	else if (res.status() !== 202)
		return `status ${res.status()}`;
	const sent = await res.request().allHeaders();
	return sent['sec-fetch-site'] === 'same-origin' ||
	    `Chromium sent Sec-Fetch-Site ${sent['sec-fetch-site']}`;
});

await browser.close();
for (const s of servers)
	s.close();
process.exit(failures() ? 1 : 0);
