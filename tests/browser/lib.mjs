// tests/browser/lib.mjs: what the browser scripts share.  myjobs.mjs,
// retry.mjs and crosssite.mjs print "ok - NAME" or "not ok - NAME", then
// "# " lines of detail, which their wrappers (tests/e2e/myjobs.test,
// admin.test, crosssite.test) number into TAP; run.mjs prints JSON lines
// of its own and takes only the rest: the run's deadline, Chromium,
// screenshots and the pages' parts.  Nothing here sleeps: every wait is
// Playwright's, with a deadline.

import { chromium } from 'playwright-core';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';

/* A job page's path; the group is the job's id. */
export const ID_URL =
    /\/app\/jobs\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/* The script's arguments, as many as names; a missing one prints the
 * usage line and exits 2. */
export function args(script, ...names) {
	const v = process.argv.slice(2, 2 + names.length);
	if (v.length < names.length || v.some((x) => !x)) {
		console.error(`usage: node ${script} ${names.join(' ')}`);
		process.exit(2);
	}
	return v;
}

/* ---------------------------------------------------------------- results */

let failed = 0;

/* A "# " line of detail. */
export function diag(line) {
	process.stdout.write(`# ${line}\n`);
}

/* One test's line; a failed one is followed by up to 8 lines of diag. */
export function result(name, ok, why) {
	process.stdout.write(`${ok ? 'ok' : 'not ok'} - ${name}\n`);
	if (!ok) {
		failed++;
		for (const l of String(why || '').split('\n').slice(0, 8))
			if (l)
				diag(l);
	}
}

/* A test passes when fn neither throws nor returns false or a string;
 * the string says why it failed. */
export async function check(name, fn) {
	try {
		const r = await fn();
		result(name, r !== false && typeof r !== 'string', r);
	} catch (e) {
		result(name, false, e && e.message || e);
	}
}

/* How many tests failed so far. */
export const failures = () => failed;

/* Stop the whole run after seconds, as a failed test of its own (report
 * has result's shape; run.mjs passes its own), exiting 3. */
export function deadline(script, seconds, report = result) {
	setTimeout(() => {
		report(`${script} finished within ${seconds} s`, false);
		process.exit(3);
	}, seconds * 1000).unref();
}

/* ---------------------------------------------------------------- files */

/* Every path under dir, sorted, one a line: a refusal must leave the
 * spool as it was. */
export function listing(dir, rel = '') {
	let out = [];
	for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
		const r = path.join(rel, e.name);
		out.push(r);
		if (e.isDirectory())
			out = out.concat(listing(dir, r));
	}
	return out.sort().join('\n');
}

/*
 * A function (page, name) that saves a full-page screenshot into dir
 * (made if need be): NN-name.png, numbered in the order taken, or
 * name.png when numbered is false.  With onError, a screenshot that
 * fails (or takes over 10 s) is a line passed to it; without, it throws,
 * and fails the test it is part of.
 */
export function screenshots(dir, { numbered = true, onError } = {}) {
	let n = 0;
	mkdirSync(dir, { recursive: true });
	return async (page, name) => {
		const file = path.join(dir, numbered ?
		    `${String(++n).padStart(2, '0')}-${name}.png` : `${name}.png`);
		const opts = { path: file, fullPage: true, animations: 'disabled' };
		if (!onError)
			return page.screenshot(opts);
		try {
			await page.screenshot({ ...opts, timeout: 10_000 });
		} catch (e) {
			onError(`screenshot ${file}: ${String(e && e.message || e).split('\n')[0]}`);
		}
	};
}

/* ---------------------------------------------------------------- browser */

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'];

/* Headless Chromium: $CHROMIUM, or /usr/bin/chromium. */
export function launch() {
	return chromium.launch({ executablePath: process.env.CHROMIUM ||
	    '/usr/bin/chromium', timeout: 30_000, args: FLAGS });
}

/* The form of task on a page of {base}/tasks. */
export function taskForm(page, task) {
	return page.locator('form').filter({
	    has: page.locator(`input[name="task"][value="${task}"]`) });
}

/* The answer to the POST that action (a click, say) makes page send. */
export async function posted(page, action) {
	const [res] = await Promise.all([
	    page.waitForResponse((r) => r.request().method() === 'POST'),
	    action()]);
	return res;
}

/* The page client's job panel, once it is in state (at most 40 s). */
export function panel(page, state) {
	return page.waitForSelector(`.spoolcgi-job[data-state="${state}"]`,
	    { timeout: 40_000 });
}
