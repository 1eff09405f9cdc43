// tests/browser/run.mjs: spoolcgi's pages and its browser client
// (htdocs/spoolcgi.js) in a real headless Chromium, with JavaScript on and
// off.  Driven by tests/e2e/browser.test, which sets up the site:
//
//	node run.mjs ORIGIN ARTIFACTS_DIR
//
// ORIGIN serves the static demo page (index.html, spoolcgi.js) at / and
// spoolcgi at /app, with the tasks "demo" (examples/demo-task), "steps"
// (progress and a log line each second, one job at a time) and, where
// the build takes uploads, "upload" (one file field).  Prints one JSON
// object a line, which the wrapper turns into TAP:
//
//	{"ok": true|false, "name": "...", "todo": "why"?, "diag": [...]?}
//	{"skip": "why", "name": "..."}
//	{"diag": "..."}
//
// A test is marked "todo" only when a probe shows that the server lacks
// what it needs (the /static route, the CSP, multipart bodies): it then
// fails as expected, and stops being todo once the server has it.
// Synchronisation is Playwright's waiting with a deadline, never a fixed
// sleep; the whole run stops itself after 150 s.  Screenshots of
// each state go to ARTIFACTS_DIR as NN-name.png.

import { ID_URL, args, deadline, launch, panel, screenshots,
    taskForm } from './lib.mjs';

const [origin, outdir] = args('run.mjs', 'ORIGIN', 'ARTIFACTS_DIR');
const APP = `${origin}/app`;
const TEXT = 'The quick brown fox jumps over the lazy dog';	/* 9 words */

/* ---------------------------------------------------------------- TAP */

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const short = (e) => String(e && e.message || e).split('\n').slice(0, 8);

function result(name, ok, opts = {}) {
	const o = { ok: !!ok, name };
	if (opts.todo)
		o.todo = opts.todo;
	if (opts.diag && opts.diag.length)
		o.diag = opts.diag;
	emit(o);
	return !!ok;
}

/* check(name, fn, opts): a test that passes when fn neither throws nor
 * returns false; a string returned is a diagnostic. */
async function check(name, fn, opts = {}) {
	try {
		const r = await fn();
		return result(name, r !== false, { ...opts,
		    diag: typeof r === 'string' ? [r] : opts.diag });
	} catch (e) {
		return result(name, false, { ...opts, diag: short(e) });
	}
}

deadline('run.mjs', 150, result);
const screenshot = screenshots(outdir, { onError: (diag) => emit({ diag }) });

/* ---------------------------------------------------------------- probes */

async function probe() {
	const p = { static: false, scriptTag: false, csp: false, multipart: false,
	    upload: false, fileInput: false, client: null };
	const get = async (url, init) => {
		try {
			return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
		} catch (e) {
			return null;
		}
	};
	let r = await get(`${origin}/spoolcgi.js`);
	p.client = r && r.ok ? await r.text() : null;
	r = await get(`${APP}/static/spoolcgi.js`);
	p.static = !!(r && r.ok && /javascript/.test(r.headers.get('Content-Type') || ''));
	p.staticText = p.static ? await r.text() : null;
	r = await get(`${APP}/tasks`, { headers: { Accept: 'text/html' } });
	if (r && r.ok) {
		const html = await r.text();
		p.scriptTag = /<script[^>]+src="[^"]*\/static\/spoolcgi\.js"/.test(html);
		p.fileInput = /<input[^>]+type="file"/.test(html);
		p.csp = /script-src 'self'/.test(r.headers.get('Content-Security-Policy') || '');
	}
	r = await get(`${APP}/tasks?format=json`);
	p.upload = !!(r && r.ok && JSON.stringify(await r.json()).includes('"upload"'));
	const fd = new FormData();
	fd.append('task', 'no-such-task');
	r = await get(`${APP}/jobs`, { method: 'POST', body: fd,
	    headers: { Accept: 'application/json' } });
	p.multipart = !!(r && r.status !== 415);
	return p;
}

/* A job started from Node, as a script would: its status object. */
async function startJSON(body) {
	const r = await fetch(`${APP}/jobs`, { method: 'POST', body: JSON.stringify(body),
	    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
	    signal: AbortSignal.timeout(10_000) });
	if (r.status !== 202 && r.status !== 200)
		throw new Error(`start: ${r.status} ${await r.text()}`);
	return r.json();
}

/* ---------------------------------------------------------------- pages */

/* Records the distinct values the job panel's progress bar takes. */
function watchProgress() {
	window.__progress = [];
	const note = () => {
		const p = document.querySelector('.spoolcgi-job progress, [data-spoolcgi-job] progress');
		if (p && p.hasAttribute('value') &&
		    window.__progress[window.__progress.length - 1] !== p.value)
			window.__progress.push(p.value);
	};
	new MutationObserver(note).observe(document.body, { subtree: true,
	    childList: true, attributes: true, attributeFilter: ['value'] });
}

function increases(values) {
	let n = 0;
	for (let i = 1; i < values.length; i++)
		if (values[i] > values[i - 1])
			n++;
	return n;
}

/* Console errors and uncaught exceptions of a page.  Chromium logs every
 * answer of 400 or more as an error: the refusals a test asks for on
 * purpose (POST /app/jobs) are no fault of the page. */
function errorsOf(page) {
	const errors = [];
	page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !(/Failed to load resource.* 4\d\d/.test(m.text()) &&
		    /\/app\/jobs$/.test(m.location().url || '')))
			errors.push(`console: ${m.text()} (${m.location().url || '?'})`);
	});
	return errors;
}

/* The start and the status polls a page makes for a job, with the
 * Retry-After each answer carried and the browser's own timing of each
 * (sent, and answered, in ms since the epoch), to check that the client
 * waits as it is told. */
function pollLog(page) {
	const log = [];
	page.on('requestfinished', async (q) => {
		if (!(q.method() === 'POST' && q.url().endsWith('/app/jobs')) &&
		    !(q.method() === 'GET' && ID_URL.test(q.url())))
			return;
		const t = q.timing();
		const r = await q.response();
		log.push({ sent: t.startTime, done: t.startTime + t.responseEnd,
		    status: r.status(), retry: Number(r.headers()['retry-after'] || 0) });
	});
	return log;
}

async function fillDemo(page, seconds, text = TEXT) {
	await page.fill('#text', text);
	await page.fill('#seconds', String(seconds));
}

/* Submits the demo form the way a click does; returns whether the Start
 * button was disabled right after (the submit handler runs at once). */
function submitDemo(page) {
	return page.evaluate(() => {
		const form = document.querySelector('form[action$="/jobs"]');
		const button = form.querySelector('button');
		form.requestSubmit(button);
		return button.disabled;
	});
}

/* ---------------------------------------------------------------- tests */

async function demoWithJS(browser, p) {
	const ctx = await browser.newContext({ viewport: { width: 820, height: 900 } });
	const page = await ctx.newPage();
	const errors = errorsOf(page);
	page.setDefaultTimeout(20_000);

	await check('JS: the demo page loads the client (window.spoolcgi)', async () => {
		await page.goto(`${origin}/`);
		await page.waitForFunction(() => window.spoolcgi && window.spoolcgi.version);
	});
	await screenshot(page, 'form');

	// A refusal that names a field: the server's, not the browser's
	// constraint validation, so the form is told not to validate.
	await check('JS: a 400 naming a field shows its message beside the field', async () => {
		await page.evaluate(() => { document.querySelector('form[action$="/jobs"]').noValidate = true; });
		await fillDemo(page, 500);
		await submitDemo(page);
		const err = await page.waitForSelector('#seconds + .field-error');
		const text = await err.textContent();
		if (!/at most 120/.test(text))
			throw new Error(`the message: ${text}`);
	});
	await check('JS: the field at fault is aria-invalid, described by the message, focused',
	    async () => {
		const got = await page.evaluate(() => {
			const f = document.querySelector('#seconds');
			const ids = (f.getAttribute('aria-describedby') || '').split(/\s+/);
			const err = document.getElementById(ids[0]);
			return { invalid: f.getAttribute('aria-invalid'), ids,
			    message: !!err && err.classList.contains('field-error'),
			    focused: document.activeElement === f };
		});
		if (got.invalid !== 'true' || !got.message || !got.ids.includes('seconds-hint') ||
		    !got.focused)
			throw new Error(JSON.stringify(got));
	    });
	await check('JS: the Start button works again after a refusal', () =>
	    page.waitForFunction(() => !document.querySelector('form[action$="/jobs"] button').disabled,
		null, { timeout: 5_000 }));
	await screenshot(page, 'field-error');
	await check('JS: typing in the field clears its error', async () => {
		await page.fill('#seconds', '6');
		return page.evaluate(() => !document.querySelector('.field-error') &&
		    !document.querySelector('#seconds').hasAttribute('aria-invalid') &&
		    document.querySelector('#seconds').getAttribute('aria-describedby') === 'seconds-hint');
	});

	// A whole job: progress, estimate, result.
	await page.evaluate(() => { document.querySelector('form[action$="/jobs"]').noValidate = false; });
	await page.evaluate(watchProgress);
	const polls = pollLog(page);
	await fillDemo(page, 8);
	await check('JS: the Start button is disabled while submitting', () => submitDemo(page));
	await check('JS: a panel after the form, with a role=status aria-live=polite region', () =>
	    page.waitForFunction(() => {
		const s = document.querySelector('form[action$="/jobs"] + .spoolcgi-job [role="status"]');
		return s && s.getAttribute('aria-live') === 'polite';
	    }));
	await check('JS: a <progress> bar, the task\'s message and an estimate of the time left', async () => {
		await page.waitForFunction(() => {
			const p = document.querySelector('.spoolcgi-job progress');
			const eta = document.querySelector('.spoolcgi-job .spoolcgi-eta');
			return p && p.value >= 20 && p.value < 100 && eta && !eta.hidden &&
			    / left\.$/.test(eta.textContent);
		}, null, { timeout: 20_000, polling: 50 });
		const t = await page.innerText('.spoolcgi-job [role="status"]');
		if (!/counting words/.test(t) || !/left/.test(t))
			throw new Error(`status text: ${t}`);
		return t.replace(/\s+/g, ' ').trim();
	});
	await screenshot(page, 'progress');
	await check('JS: the job succeeds and the result text shows in a <pre>', async () => {
		await panel(page, 'succeeded');
		const pre = await page.waitForSelector('.spoolcgi-job pre');
		const t = await pre.textContent();
		if (!/Words:\s+9\b/.test(t))
			throw new Error(`result: ${t}`);
		if (await pre.evaluate((e) => e.children.length) !== 0)
			throw new Error('the result was rendered as HTML');
	});
	await check('JS: the progress bar advanced at least twice', async () => {
		const v = await page.evaluate(() => window.__progress);
		return increases(v) >= 2 ? `values: ${v.join(' ')}` : (() => {
			throw new Error(`values: ${v.join(' ')}`);
		})();
	});
	await check('JS: a download link for the result, and the Start button enabled again',
	    () => page.evaluate(() => !!document.querySelector('.spoolcgi-job a[download][href$="/result"]') &&
		!document.querySelector('form[action$="/jobs"] button').disabled));
	await check('JS: polls wait as long as Retry-After says', () => {
		const done = polls.slice().sort((a, b) => a.sent - b.sent);
		const lines = [];
		let ok = done.length >= 2;
		for (let i = 1; i < done.length; i++) {
			const gap = done[i].sent - done[i - 1].done;
			const want = (done[i - 1].retry || 2) * 1000;
			lines.push(`${done[i - 1].status} Retry-After ${done[i - 1].retry}: ` +
			    `next after ${Math.round(gap)} ms`);
			if (gap < want - 150)
				ok = false;
		}
		if (!ok)
			throw new Error(lines.join('\n') || 'no polls');
		return lines.join('\n');
	});
	await screenshot(page, 'result');

	// Cancel a running job.
	await fillDemo(page, 60);
	await submitDemo(page);
	await check('JS: Cancel stops a running job and the panel says cancelled', async () => {
		await panel(page, 'running');
		await page.click('.spoolcgi-job .spoolcgi-cancel');
		await panel(page, 'cancelled');
		const t = await page.textContent('.spoolcgi-job');
		if (!/Cancelled\./.test(t))
			throw new Error(t);
	});
	await check('JS: the server says the job is cancelled', async () => {
		const href = await page.getAttribute('.spoolcgi-job a.spoolcgi-link', 'href');
		const r = await fetch(new URL(href, origin), { headers: { Accept: 'application/json' } });
		const st = await r.json();
		return st.state === 'cancelled' || (() => { throw new Error(st.state); })();
	});
	await screenshot(page, 'cancelled');
	await check('JS: no error in the console or the page', () =>
	    errors.length === 0 || (() => { throw new Error(errors.join('\n')); })());
	await ctx.close();
}

async function demoWithoutJS(browser) {
	const ctx = await browser.newContext({ javaScriptEnabled: false,
	    viewport: { width: 820, height: 900 } });
	const page = await ctx.newPage();
	page.setDefaultTimeout(20_000);
	let loads = 0;
	page.on('load', () => loads++);

	await check('no JS: the demo form posts and lands on the job page (303)', async () => {
		await page.goto(`${origin}/`);
		await fillDemo(page, 5);
		await Promise.all([page.waitForURL(ID_URL), page.click('form[action$="/jobs"] button')]);
	});
	await check('no JS: the job page has a meta refresh and a <progress> bar', async () => {
		const n = await page.locator('meta[http-equiv="refresh"]').count();
		const bar = await page.locator('progress').count();
		if (n !== 1 || bar !== 1)
			throw new Error(`meta refresh: ${n}, progress: ${bar}`);
	});
	await screenshot(page, 'nojs-progress');
	await check('no JS: the page refreshes itself into the result', async () => {
		await page.waitForSelector('.state.ok', { timeout: 40_000 });
		const t = await page.textContent('main pre');
		if (!/Words:\s+9\b/.test(t))
			throw new Error(`result: ${t}`);
		if (await page.locator('meta[http-equiv="refresh"]').count() !== 0)
			throw new Error('the result page still refreshes');
		return `${loads} page loads`;
	});
	await screenshot(page, 'nojs-result');

	// The server's refusal as a page.  form.submit() skips the browser's
	// own validation (Playwright's evaluate runs with page scripts off).
	await check('no JS: a refused field answers a 400 page that names the field', async () => {
		await page.goto(`${origin}/`);
		await fillDemo(page, 500);
		const [res] = await Promise.all([page.waitForNavigation(),
		    page.evaluate(() => document.querySelector('form[action$="/jobs"]').submit())]);
		const t = await page.textContent('main');
		if (res.status() !== 400 || !/seconds/.test(t) || !/at most 120/.test(t))
			throw new Error(`${res.status()}: ${t.replace(/\s+/g, ' ')}`);
	});
	await screenshot(page, 'nojs-error');
	await ctx.close();
}

/* Uploads through the form of {base}/tasks, with and without the client. */
async function upload(browser, p) {
	const todo = !p.upload ? 'this build refuses a task with "files"' :
	    !p.multipart ? 'multipart/form-data answers 415' :
	    !p.fileInput ? 'the forms on /app/tasks have no file input yet' : undefined;
	const file = { name: 'notes.txt', mimeType: 'text/plain',
	    buffer: Buffer.from('first line of the upload\nsecond line\n') };
	const want = /File: notes\.txt[\s\S]*Size: 37 bytes[\s\S]*First line: first line of the upload/;
	const form = (page) => taskForm(page, 'upload');

	for (const js of [false, true]) {
		const tag = js ? 'JS' : 'no JS';
		const ctx = await browser.newContext({ javaScriptEnabled: js, bypassCSP: js && !p.scriptTag,
		    viewport: { width: 820, height: 900 } });
		const page = await ctx.newPage();
		page.setDefaultTimeout(15_000);
		await check(`${tag}: upload a file through the form on /app/tasks`, async () => {
			await page.goto(`${APP}/tasks`);
			if (js && !p.scriptTag)		/* until page.html loads it */
				await page.addScriptTag({ content: p.client });
			await form(page).locator('input[type="file"]').setInputFiles(file, { timeout: 5_000 });
			if (js) {
				await form(page).locator('button').click();
				await panel(page, 'succeeded');
				const t = await page.textContent('.spoolcgi-job pre');
				if (!want.test(t))
					throw new Error(`result: ${t}`);
			} else {
				await Promise.all([page.waitForURL(ID_URL), form(page).locator('button').click()]);
				await page.waitForSelector('.state.ok, .state.bad', { timeout: 30_000 });
				const t = await page.textContent('main');
				if (!want.test(t))
					throw new Error(`result page: ${t.replace(/\s+/g, ' ')}`);
			}
		}, { todo });
		await screenshot(page, `${js ? 'js' : 'nojs'}-upload`);
		await ctx.close();
	}
}

/* The lead's side: the client served by the program, the CSP that lets it
 * run, the program's own pages enhanced. */
async function programPages(browser, p) {
	await check('GET /app/static/spoolcgi.js: 200, JavaScript, the same as htdocs/spoolcgi.js',
	    () => p.static && p.staticText === p.client,
	    { todo: p.static ? undefined : 'no /static route yet' });
	await check('HTML answers carry a CSP with script-src \'self\'', () => p.csp,
	    { todo: p.csp ? undefined : 'the CSP allows no script yet' });

	const todo = p.scriptTag && p.static ? undefined : 'page.html does not load the client yet';
	const ctx = await browser.newContext({ viewport: { width: 820, height: 900 } });
	const page = await ctx.newPage();
	const errors = errorsOf(page);
	page.setDefaultTimeout(15_000);
	let loads = 0;
	page.on('load', () => loads++);
	await check('JS: /app/tasks loads the client under its CSP, without errors', async () => {
		await page.goto(`${APP}/tasks`);
		await screenshot(page, 'tasks');
		await page.waitForFunction(() => window.spoolcgi && window.spoolcgi.version,
		    null, { timeout: 5_000 });
		if (errors.length)
			throw new Error(errors.join('\n'));
	}, { todo });
	await check('JS: the job page updates in place, then shows the result', async () => {
		const st = await startJSON({ task: 'demo', text: TEXT, seconds: '5' });
		loads = 0;
		await page.goto(new URL(st.links.self, origin).href);
		await page.evaluate(watchProgress);
		await page.waitForFunction(() => /updates itself/.test(
		    (document.querySelector('[data-spoolcgi-note]') || {}).textContent || ''),
		    null, { timeout: 5_000 });
		await page.waitForFunction(() => {
			const b = document.querySelector('[data-spoolcgi-job] progress');
			return b && b.value >= 50 && b.value < 100;
		}, null, { timeout: 15_000, polling: 50 });
		const v = await page.evaluate(() => window.__progress);
		await screenshot(page, 'jobpage-progress');
		await page.waitForSelector('.state.ok', { timeout: 30_000 });
		// One load for the progress page, one for the result: no refresh between.
		if (loads > 2 || increases(v) < 1)
			throw new Error(`${loads} page loads, progress ${v.join(' ')}`);
		return `${loads} page loads, progress ${v.join(' ')}`;
	}, { todo });
	await ctx.close();
}

/* Issue 11, item 7: the job page tells how long a job has run, the time
 * its progress says is left, a queued job's place and the log's last
 * lines, without JavaScript (the server's page) and with it (the client,
 * in place).  "steps" runs one job at a time: the second waits. */
async function jobPageTiming(browser) {
	const a = await startJSON({ task: 'steps' });
	const b = await startJSON({ task: 'steps' });
	const timing = /Running for \d+ (second|minute)s?.*; (a few seconds|about \d+ \w+) left\./;
	const flat = (t) => (t || '').replace(/\s+/g, ' ').trim();
	const nojs = await browser.newContext({ javaScriptEnabled: false,
	    viewport: { width: 820, height: 900 } });
	const np = await nojs.newPage();
	np.setDefaultTimeout(15_000);
	await check('no JS: a queued job\'s page shows its place in the queue', async () => {
		await np.goto(new URL(b.links.self, origin).href);
		const t = await np.textContent('[data-spoolcgi-job] .state');
		if (!/Waiting to start: number 1 in the queue/.test(t))
			throw new Error(`state: ${t}`);
	});
	await screenshot(np, 'nojs-jobpage-queued');
	await check('no JS: the running job\'s page shows the time run, the time left and the log', async () => {
		const url = new URL(a.links.self, origin).href;
		const until = Date.now() + 30_000;
		let t = '';
		/* The server tells an estimate after a few seconds: load the
		 * page again until then, as its meta refresh would.  That
		 * refresh may fire during our own load (it did under ASan):
		 * the page it loads is as good. */
		for (;;) {
			try {
				await np.goto(url);
			} catch (e) {
				if (!/interrupted by another navigation/.test(String(e)))
					throw e;
				await np.waitForLoadState('load');
			}
			t = flat(await np.textContent('[data-spoolcgi-job]'));
			if (timing.test(t) || Date.now() > until)
				break;
			await np.waitForTimeout(1_000);
		}
		if (!timing.test(t))
			throw new Error(`status box: ${t}`);
		const log = await np.textContent('.log-tail pre.log');
		if (!/step \d+ done/.test(log) || await np.locator('.log-tail[hidden]').count())
			throw new Error(`log: ${log}`);
		return t;
	});
	await screenshot(np, 'nojs-jobpage-timing');
	await nojs.close();

	const ctx = await browser.newContext({ viewport: { width: 820, height: 900 } });
	const page = await ctx.newPage();
	const errors = errorsOf(page);
	page.setDefaultTimeout(15_000);
	await check('JS: a queued job\'s page shows its place in the queue', async () => {
		await page.goto(new URL(b.links.self, origin).href);
		await page.waitForFunction(() => /updates itself/.test(
		    (document.querySelector('[data-spoolcgi-note]') || {}).textContent || ''),
		    null, { timeout: 5_000 });
		const t = await page.textContent('[data-spoolcgi-job] .state');
		if (!/Waiting to start: number 1 in the queue/.test(t))
			throw new Error(`state: ${t}`);
	});
	await screenshot(page, 'jobpage-queued');
	await check('JS: the running job\'s page updates the time run, the time left and the log in place', async () => {
		let loads = 0;
		page.on('load', () => loads++);
		await page.goto(new URL(a.links.self, origin).href);
		await page.waitForFunction((re) => new RegExp(re).test(
		    (document.querySelector('.spoolcgi-eta') || {}).textContent || ''),
		    timing.source, { timeout: 20_000 });
		const first = await page.textContent('.log-tail pre.log');
		await page.waitForFunction((was) => {
			const pre = document.querySelector('.log-tail pre.log');
			return pre && pre.textContent !== was && /step \d+ done$/.test(pre.textContent);
		}, first, { timeout: 20_000 });
		await screenshot(page, 'jobpage-timing');
		if (loads !== 1 || errors.length)
			throw new Error(`${loads} page loads; ${errors.join('\n')}`);
		return flat(await page.textContent('.spoolcgi-eta'));
	});
	await ctx.close();
	for (const st of [b, a])
		await fetch(new URL(st.links.cancel, origin), { method: 'POST',
		    headers: { Accept: 'application/json' } });
}

/* A phone, in dark mode: the demo's progress and result, the job page. */
async function phone(browser) {
	const ctx = await browser.newContext({ viewport: { width: 390, height: 844 },
	    deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' });
	const page = await ctx.newPage();
	page.setDefaultTimeout(20_000);
	await check('phone: the demo job runs to its result', async () => {
		await page.goto(`${origin}/`);
		await page.waitForFunction(() => window.spoolcgi && window.spoolcgi.version);
		await fillDemo(page, 4);
		await submitDemo(page);
		await page.waitForFunction(() => {
			const b = document.querySelector('.spoolcgi-job progress');
			return b && b.value >= 20;
		}, null, { polling: 50 });
		await page.locator('.spoolcgi-job').scrollIntoViewIfNeeded();
		await screenshot(page, 'phone-progress');
		await panel(page, 'succeeded');
		await page.waitForSelector('.spoolcgi-job pre');
		await screenshot(page, 'phone-result');
		// No horizontal scrolling on a phone.
		const wide = await page.evaluate(() => document.documentElement.scrollWidth);
		if (wide > 390)
			throw new Error(`the page is ${wide} px wide`);
	});
	const st = await startJSON({ task: 'demo', text: TEXT, seconds: '30' });
	const nojs = await browser.newContext({ viewport: { width: 390, height: 844 },
	    deviceScaleFactor: 2, isMobile: true, javaScriptEnabled: false });
	const p2 = await nojs.newPage();
	await check('phone, no JS: the job page fits the screen', async () => {
		await p2.goto(new URL(st.links.self, origin).href);
		await p2.waitForSelector('progress');
		await screenshot(p2, 'phone-nojs-progress');
		const wide = await p2.evaluate(() => document.documentElement.scrollWidth);
		if (wide > 390)
			throw new Error(`the page is ${wide} px wide`);
		await fetch(new URL(st.links.cancel, origin), { method: 'POST',
		    headers: { Accept: 'application/json' } });
	});
	await nojs.close();
	await ctx.close();
}

/* ---------------------------------------------------------------- main */

let browser;
try {
	browser = await launch();
} catch (e) {
	result('Chromium starts', false, { diag: short(e) });
	process.exit(1);
}
result(`Chromium ${browser.version()} starts`, true);
const p = await probe();
emit({ diag: `server: static route ${p.static}, script tag ${p.scriptTag}, ` +
    `CSP script-src ${p.csp}, multipart ${p.multipart}, upload task ${p.upload}, ` +
    `file input ${p.fileInput}` });
result('the demo page serves the client (spoolcgi.js beside index.html)', !!p.client);
try {
	await demoWithJS(browser, p);
	await demoWithoutJS(browser);
	await upload(browser, p);
	await programPages(browser, p);
	await jobPageTiming(browser);
	await phone(browser);
} catch (e) {
	result('run.mjs ran every test', false, { diag: short(e) });
	process.exitCode = 1;
} finally {
	await browser.close();
}
