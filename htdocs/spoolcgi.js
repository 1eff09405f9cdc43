/*
 * spoolcgi.js: the browser client of spoolcgi (README "How a request flows").
 *
 * Plain ES2017, no framework, no build step.  Load it with
 *
 *	<script src="{base}/static/spoolcgi.js" defer></script>
 *
 * and every form that posts to a spoolcgi "/jobs" URL (its action ends in
 * /jobs, or it carries data-spoolcgi; data-spoolcgi="off" opts out) starts
 * its job with fetch() instead of leaving the page.  A panel after the form
 * then shows a <progress> bar, the task's message, its place in the queue,
 * how long it has run and an estimate of the time left, the last lines of
 * its log, a Cancel button and, at the end, the result, the error or
 * "Cancelled"; a failed or cancelled job gets a "Run again" button, which
 * starts the same job anew (POST links.retry) and follows it in the panel.
 * It polls as the server's Retry-After says, backs off on
 * network errors, 429 and 503, and shows a refused field beside the field.
 *
 * On a job page of the program (an element with data-spoolcgi-job) it
 * updates the bar, the times and the log (data-spoolcgi-log) in place
 * instead of letting the page reload itself.
 *
 * Without JavaScript the same forms work as they are: post, 303 to the job
 * page, which refreshes itself until the result is there.  Nothing here
 * uses innerHTML, inline scripts, inline event handlers or inline styles,
 * so it runs under a Content-Security-Policy of script-src 'self' and
 * style-src 'self'.  The few rules it needs of a page are a block of
 * spoolcgi.css ("What the client needs"); a page of your own that loads
 * this client without that stylesheet copies the block.
 */
(() => {
	'use strict';

	if (window.spoolcgi && window.spoolcgi.version || !window.fetch)
		return;		/* loaded twice, or a browser too old: no-JS path */

	const FINAL = ['succeeded', 'failed', 'cancelled'];
	const POLL_DEFAULT = 2;		/* s between polls without Retry-After */
	const BACKOFF_FIRST = 1;	/* s, doubled on each failure ... */
	const BACKOFF_CAP = 30;		/* ... up to this */
	const START_WAIT_MAX = 60;	/* a start told to wait longer gives up */
	const TEXT_MAX = 1 << 20;	/* larger text results: download only */
	const LOG_TAIL = 4096;		/* bytes of the log shown, as the page */
	const ACCEPT = { Accept: 'application/json' };

	/* ------------------------------------------------------ helpers */

	/* el('p', {className: 'x'}, 'text', child): a new element. */
	function el(tag, props, ...kids) {
		const e = Object.assign(document.createElement(tag), props || {});
		for (const k of kids)
			if (k != null)
				e.append(k);
		return e;
	}

	/* A promise that settles after s seconds, or early when woken. */
	function pause(s, run) {
		return new Promise((resolve) => {
			const t = setTimeout(done, Math.max(0, s) * 1000);
			function done() {
				clearTimeout(t);
				run.wake = null;
				resolve();
			}
			run.wake = done;
		});
	}

	/* Retry-After in seconds (a number or an HTTP date), or null. */
	function retryAfter(res) {
		const v = (res.headers.get('Retry-After') || '').trim();
		if (/^\d+$/.test(v))
			return Number(v);
		const d = Date.parse(v);
		return isNaN(d) ? null : Math.max(0, (d - Date.now()) / 1000);
	}

	async function readJSON(res) {
		try {
			return await res.json();
		} catch (e) {
			return null;
		}
	}

	/* The message of a {"error": {...}} body, else the HTTP status. */
	function errorText(body, res) {
		const e = body && body.error;
		if (e && typeof e.message === 'string' && e.message)
			return e.message;
		return `the server answered ${res.status} ${res.statusText}`.trim();
	}

	function capital(s) {
		return s.charAt(0).toUpperCase() + s.slice(1);
	}

	/* "must be at most 120" -> "Must be at most 120." */
	function sentence(s) {
		return capital(s) + (/[.!?…]$/.test(s) ? '' : '.');
	}

	/* Worth another try: a busy server, a proxy's gateway errors. */
	function transient(status) {
		return status === 429 || status === 502 || status === 503 ||
		    status === 504 || status >= 520;
	}

	/* A fresh Idempotency-Key: 128 random bits in hex (works on http:). */
	function newKey() {
		const b = crypto.getRandomValues(new Uint8Array(16));
		return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	}

	/* "about 40 seconds", "about 3 minutes": rough on purpose. */
	function duration(s) {
		if (s < 10)
			return 'a few seconds';
		if (s < 60)
			return `about ${Math.round(s / 5) * 5} seconds`;
		if (s < 90 * 60) {
			const m = Math.round(s / 60);
			return `about ${m} minute${m === 1 ? '' : 's'}`;
		}
		return `about ${Math.round(s / 3600)} hours`;
	}

	/* "45 seconds", "2 minutes 5 seconds", "1 hour 2 minutes": as the page. */
	function elapsed(s) {
		const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
		const n = (k, w) => `${k} ${w}${k === 1 ? '' : 's'}`;
		if (h > 0)
			return `${n(h, 'hour')} ${n(m, 'minute')}`;
		if (m > 0)
			return `${n(m, 'minute')} ${n(s % 60, 'second')}`;
		return n(s % 60, 'second');
	}

	/*
	 * Seconds left, from the progress rate.  The server's estimate (the
	 * rate since the job started, remaining_seconds) is used until this
	 * page has seen the progress move; then the rate over what this page
	 * saw, which follows a task that speeds up or slows down.  null when
	 * there is none: the server gives none too early or without progress.
	 */
	function remaining(st, res, seen) {
		const p = st.progress;
		if (!res || st.state !== 'running' || typeof p !== 'number' ||
		    p <= 0 || p >= 100)
			return null;
		const now = Date.now();
		seen.push({ t: now, p });
		const first = seen.find((x) => x.p < p);
		if (first && now - first.t >= 1000)
			return (100 - p) * (now - first.t) / 1000 / (p - first.p);
		return typeof st.remaining_seconds === 'number' ?
		    st.remaining_seconds : null;
	}

	/*
	 * The last whole lines of a log's tail, without its final newlines;
	 * cut says the tail started inside the log (its first line is part
	 * of one), as the server's page does it.
	 */
	function logLines(text, cut) {
		const nl = cut ? text.indexOf('\n') : -1;
		return text.slice(nl + 1).replace(/\n+$/, '');
	}

	/* ------------------------------------------------------ the panel */

	/*
	 * The panel after a form: a live region with the state, the bar, the
	 * message and the time left; the outcome below it; a Cancel button and
	 * a link to the job page.  On a job page, live is the page's own
	 * status box, which gets the same content, and nothing is inserted.
	 */
	class View {
		constructor(form, live, logBox) {
			this.stateEl = el('p', { className: 'state' });
			this.bar = el('progress', { max: 100 });
			this.bar.setAttribute('aria-label', 'Progress');
			this.pct = el('span', { className: 'spoolcgi-pct' });
			this.pct.setAttribute('aria-hidden', 'true');
			this.meter = el('div', { className: 'meter', hidden: true },
			    this.bar, this.pct);
			this.msg = el('p', { className: 'message', hidden: true });
			this.eta = el('p', { className: 'spoolcgi-eta timing note', hidden: true });
			this.notice = el('p', { className: 'spoolcgi-notice note', hidden: true });
			this.seen = [];
			this.live = live || el('div', { className: 'spoolcgi-status' });
			this.live.replaceChildren(this.stateEl, this.meter, this.msg,
			    this.eta, this.notice);
			this.live.setAttribute('role', 'status');
			this.live.setAttribute('aria-live', 'polite');
			this.outcome = el('div', { className: 'spoolcgi-outcome' });
			/* The log: the page's own section, or one of the panel's. */
			this.logBox = logBox || el('section', { className: 'log-tail',
			    hidden: true }, el('h2', null, 'Log'), el('pre', { className: 'log' }));
			this.logPre = this.logBox.querySelector('pre');
			/* null: from the job's link, once known; '': none (a job page without one) */
			this.logUrl = logBox ? logBox.getAttribute('data-spoolcgi-log') :
			    live ? '' : null;
			this.logBusy = false;
			this.cancel = el('button', { type: 'button',
			    className: 'spoolcgi-cancel', textContent: 'Cancel', hidden: true });
			this.again = el('button', { type: 'button',
			    className: 'spoolcgi-again', textContent: 'Run again' });
			this.againBox = el('div', { className: 'actions', hidden: true },
			    this.again);
			this.link = el('a', { className: 'spoolcgi-link', hidden: true,
			    textContent: 'Link to this job' });
			this.run = null;	/* the job shown now (runJob) */
			this.cancel.addEventListener('click', () => cancel(this, this.run));
			this.again.addEventListener('click', () => {
				const url = this.again.dataset.url;
				if (url && !this.againBox.hidden)
					runJob(this, url, null, null);
			});
			this.root = live || el('section', { className: 'spoolcgi-job' },
			    this.live, this.outcome, this.logBox, this.againBox,
			    el('div', { className: 'actions danger' },
			    this.cancel, this.link));
			if (live)
				return;
			this.root.setAttribute('aria-label', 'Job');
			const old = form.nextElementSibling;
			if (old && old.classList.contains('spoolcgi-job'))
				old.remove();	/* the panel of the form's last job */
			form.after(this.root);
		}

		say(state, text, cls) {
			this.root.dataset.state = state;
			this.stateEl.className = `state ${cls || ''}`.trim();
			this.stateEl.replaceChildren(el('strong', null, text));
		}

		note(text) {
			this.notice.textContent = text || '';
			this.notice.hidden = !text;
		}

		/* Show a status object; res is the answer that carried it. */
		render(st, res) {
			const url = st.links && st.links.self;
			if (url) {
				this.link.href = url;
				this.link.hidden = false;
				if (this.logUrl === null)
					this.logUrl = `${url}/log`;
			}
			this.cancel.hidden = FINAL.includes(st.state);
			/* links.retry: only a failed or cancelled job has one. */
			const again = FINAL.includes(st.state) && st.links && st.links.retry;
			this.againBox.hidden = !again;
			if (again)
				this.again.dataset.url = st.links.retry;
			if (st.state === 'queued')
				this.say('queued', 'Waiting to start' + (st.queue_position ?
				    `: number ${st.queue_position} in the queue` : ''));
			else if (st.state === 'running')
				this.say('running', 'Running');
			this.meter.hidden = FINAL.includes(st.state);
			if (typeof st.progress === 'number') {
				this.bar.value = st.progress;
				this.pct.textContent = `${st.progress}%`;
			} else {
				this.bar.removeAttribute('value');	/* indeterminate */
				this.pct.textContent = '';
			}
			this.msg.textContent = st.message || '';
			this.msg.hidden = !st.message || FINAL.includes(st.state);
			const left = remaining(st, res, this.seen);
			const ran = st.state === 'running' &&
			    typeof st.elapsed_seconds === 'number' ?
			    `Running for ${elapsed(st.elapsed_seconds)}` : '';
			const eta = left == null ? '' : `${duration(left)} left`;
			this.eta.textContent = ran && eta ? `${ran}; ${eta}.` :
			    ran ? `${ran}.` : eta ? `${capital(eta)}.` : '';
			this.eta.hidden = !ran && !eta;
			if (st.state === 'running' || st.state === 'failed')
				this.log();
			else if (FINAL.includes(st.state))
				this.logBox.hidden = true;	/* as the result page */
		}

		/*
		 * Show the last lines of the job's log, as the page does; a task
		 * whose log is hidden answers 404, and the log is not asked for
		 * again.  One request at a time.
		 */
		async log() {
			if (!this.logUrl || this.logBusy)
				return;
			this.logBusy = true;
			try {
				const res = await fetch(`${this.logUrl}?tail=${LOG_TAIL}`,
				    { cache: 'no-store', credentials: 'same-origin' });
				if (res.status === 404) {
					this.logUrl = '';
				} else if (res.ok) {
					const text = await res.text();
					/* The server skips at most 3 bytes of a cut character. */
					const bytes = new TextEncoder().encode(text).length;
					const lines = logLines(text, bytes >= LOG_TAIL - 3);
					if (lines) {
						this.logPre.textContent = lines;
						this.logBox.hidden = false;
					}
				}
			} catch (e) {
				/* the next poll tries again */
			}
			this.logBusy = false;
		}

		/* The outcome of a final job. */
		async finish(st) {
			this.render(st, null);
			this.note('');
			if (st.state === 'cancelled') {
				this.say(st.state, 'Cancelled.');
				this.outcome.replaceChildren(el('p', null, 'This job was ' +
				    'cancelled before it finished, so it has no result.'));
			} else if (st.state === 'failed') {
				const e = st.error || {};
				this.say(st.state, 'Failed.', 'bad');
				this.outcome.replaceChildren(
				    e.code ? el('p', null, 'Error code: ', el('code', null, e.code)) : null,
				    e.message ? el('pre', { className: 'spoolcgi-error' }, e.message) : null);
			} else {
				this.say(st.state, 'Done.', 'ok');
				await this.result(st.links.result);
			}
		}

		/* A text result inline (as text, never as HTML), else a link. */
		async result(url) {
			const link = el('a', { href: url, className: 'button',
			    textContent: 'Download the result' });
			link.setAttribute('download', '');
			const parts = [];
			try {
				const res = await fetch(url, { credentials: 'same-origin' });
				const type = res.headers.get('Content-Type') || '';
				const size = Number(res.headers.get('Content-Length') || 0);
				if (res.ok && /^(text\/|application\/json)/i.test(type) &&
				    size <= TEXT_MAX) {
					parts.push(el('h2', null, 'Result'),
					    el('pre', { className: 'spoolcgi-result',
					    textContent: await res.text() }));
					link.className = '';
				} else if (res.body) {
					res.body.cancel().catch(() => {});	/* not read */
				}
				if (!res.ok)
					parts.push(el('p', { className: 'bad' },
					    sentence(errorText(await readJSON(res), res))));
				parts.push(el('p', null, link, type ? el('span',
				    { className: 'muted' }, ` (${type.split(';')[0]}` +
				    (size ? `, ${size} bytes)` : ')')) : null));
			} catch (e) {
				parts.push(el('p', null, link));
			}
			this.outcome.replaceChildren(...parts);
		}
	}

	/* ------------------------------------------------------ field errors */

	function clearFieldErrors(form) {
		for (const p of form.querySelectorAll('.field-error'))
			p.remove();
		for (const f of form.querySelectorAll('[aria-invalid="true"]')) {
			f.removeAttribute('aria-invalid');
			const was = f.dataset.spoolcgiDescribedby;
			if (was)
				f.setAttribute('aria-describedby', was);
			else
				f.removeAttribute('aria-describedby');
			delete f.dataset.spoolcgiDescribedby;
		}
	}

	/* Show message beside form field name; false if it has no visible one. */
	function fieldError(form, name, message) {
		let f = name ? form.elements.namedItem(name) : null;
		if (f && !(f instanceof Element))
			f = f[0];		/* a RadioNodeList */
		if (!f || f.type === 'hidden' || !f.id && !f.name)
			return false;
		const id = `spoolcgi-error-${f.id || f.name}`;
		const p = el('span', { className: 'field-error', id,
		    textContent: sentence(message) });
		f.after(p);
		f.dataset.spoolcgiDescribedby = f.getAttribute('aria-describedby') || '';
		f.setAttribute('aria-describedby',
		    `${id} ${f.dataset.spoolcgiDescribedby}`.trim());
		f.setAttribute('aria-invalid', 'true');
		f.addEventListener('input', () => clearFieldErrors(form), { once: true });
		f.focus();
		return true;
	}

	/* The text of the label of field name, for the summary. */
	function labelOf(form, name) {
		const f = form.elements.namedItem(name);
		const l = f && f.labels && f.labels[0];
		return l ? l.textContent.replace(/\s*\*\s*$/, '').trim() : name;
	}

	/* ------------------------------------------------------ a job */

	/* The body of form as the browser would send it (enctype). */
	function formBody(form, submitter) {
		let fd;
		try {
			fd = new FormData(form, submitter || undefined);
		} catch (e) {
			fd = new FormData(form);	/* no submitter support */
		}
		if (form.enctype === 'multipart/form-data')
			return fd;
		const p = new URLSearchParams();
		for (const [k, v] of fd)
			p.append(k, typeof v === 'string' ? v : v.name);
		return p;
	}

	/*
	 * POST body to url: a form's action, or a job's links.retry (form
	 * null).  Returns {st, res} once a job exists, or null after showing
	 * why not.  Retries on network errors, 429 and 503 with the same
	 * Idempotency-Key, so that a retry never starts a second job.
	 */
	async function start(url, body, view, run, form) {
		const headers = Object.assign({ 'Idempotency-Key': newKey() }, ACCEPT);
		let backoff = BACKOFF_FIRST;
		view.say('starting', 'Starting…');
		for (;;) {
			let res, wait;
			try {
				res = await fetch(url, { method: 'POST', body, headers,
				    credentials: 'same-origin' });
			} catch (e) {
				res = null;
			}
			const data = res ? await readJSON(res) : null;
			const ok = res && (res.status === 202 || res.status === 200) &&
			    data && data.id && data.links;
			if (ok && run.stopped)	/* stopped while this try was under way */
				fetch(data.links.cancel, { method: 'POST', headers: ACCEPT });
			if (run.stopped)
				return null;
			if (ok)
				return { st: data, res };
			if (res && !transient(res.status)) {
				const err = (data && data.error) || {};
				if (form && err.field && fieldError(form, err.field, errorText(data, res))) {
					view.say('refused', `Please correct “${labelOf(form, err.field)}”.`, 'bad');
				} else {
					view.say('refused', 'The job was not started.', 'bad');
					view.note(sentence(errorText(data, res)));
				}
				return null;
			}
			wait = Math.max(backoff, (res && retryAfter(res)) || 0);
			backoff = Math.min(backoff * 2, BACKOFF_CAP);
			if (wait > START_WAIT_MAX) {
				view.say('refused', 'The job was not started.', 'bad');
				view.note(sentence(res ? errorText(data, res) :
				    'the server cannot be reached') + ' Please try again later.');
				return null;
			}
			view.note((res ? capital(errorText(data, res)) : 'No connection') +
			    `; trying again in ${Math.ceil(wait)} s.`);
			view.cancel.hidden = false;
			await pause(wait, run);
			if (run.stopped)
				return null;
		}
	}

	/* Poll the job's status until it is final; returns it, or null if gone. */
	async function follow(url, st, res, view, run) {
		let backoff = BACKOFF_FIRST;
		let wait = retryAfter(res);
		view.render(st, res);
		while (!FINAL.includes(st.state)) {
			await pause(wait == null ? POLL_DEFAULT : wait, run);
			try {
				res = await fetch(url, { headers: ACCEPT, cache: 'no-store',
				    credentials: 'same-origin' });
			} catch (e) {
				res = null;
			}
			const data = res ? await readJSON(res) : null;
			if (res && (res.status === 200 || res.status === 202) && data && data.state) {
				st = data;
				backoff = BACKOFF_FIRST;
				wait = retryAfter(res);
				view.note('');
				view.render(st, res);
			} else if (!res || res.status === 429 || res.status >= 500) {
				/* the job lives on in the spool: keep asking */
				wait = Math.max(backoff, (res && retryAfter(res)) || 0);
				backoff = Math.min(backoff * 2, BACKOFF_CAP);
				view.note((res ? capital(errorText(data, res)) : 'Connection lost') +
				    `; trying again in ${Math.ceil(wait)} s.`);
			} else {		/* 404, 410: the job is gone */
				view.say('gone', 'This job is gone.', 'bad');
				view.note(sentence(errorText(data, res)));
				view.cancel.hidden = true;
				view.meter.hidden = true;
				return null;
			}
		}
		return st;
	}

	/* Cancel: POST links.cancel, then poll at once to show the outcome. */
	async function cancel(view, run) {
		if (!run.st) {			/* still starting: stop trying */
			run.stopped = true;
			if (run.wake)
				run.wake();
			view.say('stopped', 'Not started.');
			view.note('');
			view.cancel.hidden = true;
			return;
		}
		view.cancel.disabled = true;
		view.note('Cancelling…');
		try {
			const res = await fetch(run.st.links.cancel, { method: 'POST',
			    headers: ACCEPT, credentials: 'same-origin' });
			if (res.ok || res.status === 409)	/* 409: already final */
				view.note('');
			else
				view.note(`Could not cancel: ${errorText(await readJSON(res), res)}.`);
		} catch (e) {
			view.note('Could not cancel: no connection. Please try again.');
		}
		view.cancel.disabled = false;
		if (run.wake)
			run.wake();
	}

	/*
	 * Start a job (start) and follow it to its end in view: the form's
	 * job, or (form null) a failed or cancelled job's run again.
	 */
	async function runJob(view, url, body, form) {
		const run = { st: null, stopped: false, wake: null };
		view.run = run;
		view.againBox.hidden = true;
		view.outcome.replaceChildren();
		view.seen = [];
		/* A new job: its own log, from its own link once known. */
		view.logUrl = null;
		view.logBox.hidden = true;
		view.logPre.textContent = '';
		try {
			const got = await start(url, body, view, run, form);
			if (got) {
				run.st = got.st;
				view.note('');
				const self = new URL(got.st.links.self ||
				    got.res.headers.get('Location'), got.res.url).href;
				const st = await follow(self, got.st, got.res, view, run);
				if (st)
					await view.finish(st);
			}
		} catch (e) {
			view.say('error', 'Something went wrong.', 'bad');
			view.note(String(e && e.message || e));
		}
	}

	function submitButtons(form) {
		return Array.from(form.elements).filter((b) =>
		    (b.tagName === 'BUTTON' || b.tagName === 'INPUT') && b.type === 'submit');
	}

	function isJobForm(form) {
		const mark = form.getAttribute('data-spoolcgi');
		if (mark === 'off')
			return false;
		if (form.method !== 'post' || !form.getAttribute('action'))
			return false;
		const u = new URL(form.action, location.href);
		return mark !== null || u.origin === location.origin &&
		    /\/jobs\/?$/.test(u.pathname);
	}

	const running = new WeakSet();		/* forms with a submission under way */

	async function onSubmit(ev) {
		const form = ev.target;
		if (ev.defaultPrevented || !(form instanceof HTMLFormElement) ||
		    !isJobForm(form))
			return;
		ev.preventDefault();
		if (running.has(form))
			return;			/* a double click */
		running.add(form);
		const body = formBody(form, ev.submitter);
		const buttons = submitButtons(form);
		for (const b of buttons)
			b.disabled = true;
		form.setAttribute('aria-busy', 'true');
		clearFieldErrors(form);
		const view = new View(form);
		try {
			await runJob(view, form.action, body, form);
		} finally {
			running.delete(form);
			form.removeAttribute('aria-busy');
			for (const b of buttons)
				b.disabled = false;
		}
	}

	/* ------------------------------------------------------ job pages */

	/*
	 * The program's progress page: stop its meta refresh and update the
	 * bar in place; once final, load the page again, which the server
	 * renders as the result.
	 */
	async function enhanceJobPage(box) {
		const url = new URL(box.getAttribute('data-spoolcgi-job'), location.href).href;
		const note = document.querySelector('[data-spoolcgi-note]');
		const run = { wake: null };
		let res, st;
		try {
			res = await fetch(url, { headers: ACCEPT, cache: 'no-store' });
			st = await res.json();
		} catch (e) {
			return;			/* leave it to the meta refresh */
		}
		if (!st || !st.state)
			return;
		/* window.stop() cancels the meta refresh; before load, the load too. */
		if (document.readyState !== 'complete')
			await new Promise((r) => window.addEventListener('load', r, { once: true }));
		window.stop();
		if (note)
			note.textContent = 'This page updates itself until the job is done.';
		const view = new View(null, box, document.querySelector('[data-spoolcgi-log]'));
		if (await follow(url, st, res, view, run))
			location.replace(url);	/* the server's result page */
	}

	/* ------------------------------------------------------ start */

	function init() {
		document.addEventListener('submit', onSubmit);
		const box = document.querySelector('[data-spoolcgi-job]');
		if (box)
			enhanceJobPage(box);
	}

	window.spoolcgi = { version: 1 };
	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
})();
