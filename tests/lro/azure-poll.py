"""tests/lro/azure-poll.py: azure-core's generic long-running-operation
poller (LROPoller with LROBasePolling and its default strategies, no code
of our own in between) against a spoolcgi site.  Run by
tests/e2e/azure.test with Debian's /usr/bin/python3 and python3-azure.

    azure-poll.py ORIGIN BASE GATE_DIR

Prints "ok - WHAT" or "not ok - WHAT" (then "#" lines of detail) per
check on stdout; the test numbers them and writes the plan.
"""
import sys
import threading
import time

from azure.core import PipelineClient
from azure.core.exceptions import HttpResponseError
from azure.core.polling import LROPoller
from azure.core.polling.base_polling import LROBasePolling
from azure.core.rest import HttpRequest

ORIGIN, BASE, GATES = sys.argv[1], sys.argv[2], sys.argv[3]


def ok(cond, what, detail=""):
    print(("ok - %s" if cond else "not ok - %s") % what)
    if not cond and detail:
        for line in str(detail).splitlines()[:12]:
            print("#   " + line)
    sys.stdout.flush()


class Polling(LROBasePolling):
    """LROBasePolling, recording each delay and the Retry-After it followed.

    The default polling interval is 30 s, so a poller that ignored
    Retry-After would sleep 30 s a time and miss the deadlines below."""

    def __init__(self):
        super().__init__(timeout=30)
        self.sleeps = []

    def _sleep(self, delay):
        hdr = self._pipeline_response.http_response.headers.get("Retry-After")
        self.sleeps.append((delay, hdr))
        super()._sleep(delay)


def start(endpoint, path, body):
    """POST the job through the client; returns (poller, polling, initial)."""
    client = PipelineClient(endpoint)
    # As generated Azure clients do: the path joined onto the endpoint.
    req = HttpRequest("POST", client.format_url(path), json=body,
                      headers={"Accept": "application/json"})
    initial = client.send_request(req, _return_pipeline_response=True)
    polling = Polling()
    poller = LROPoller(client, initial,
                       lambda pr: pr.http_response.text(), polling)
    return poller, polling, initial.http_response


def obeyed(polling):
    """Every sleep was the Retry-After of the answer before it."""
    return polling.sleeps and all(
        h is not None and float(h) == d for d, h in polling.sleeps)


# Success, with the endpoint holding the base path and without it: the
# Operation-Location is absolute, so neither doubles nor loses /app.
for endpoint, path, what in ((ORIGIN + BASE, "jobs", "endpoint with the base path"),
                             (ORIGIN, BASE + "/jobs", "endpoint without it")):
    t0 = time.monotonic()
    poller, polling, first = start(endpoint, path,
                                   {"task": "progress", "seconds": "3"})
    ok(first.status_code == 202, what + ": the start answers 202",
       first.status_code)
    ok(first.headers.get("Operation-Location", "").startswith("http"),
       what + ": an absolute Operation-Location",
       first.headers.get("Operation-Location"))
    try:
        result = poller.result(timeout=40)
        err = None
    except HttpResponseError as e:
        result, err = None, e
    took = time.monotonic() - t0
    ok(err is None and poller.status() == "Succeeded",
       what + ": the poller reports Succeeded", err or poller.status())
    ok(result == "done 10 steps\n",
       what + ": result() returns the task's output", repr(result))
    ok(took >= 2.5, what + ": not done before the job (%.1f s)" % took)
    ok(took < 20, what + ": done within 20 s, not 30 s a poll (%.1f s)" % took)
    ok(obeyed(polling), what + ": every wait was the Retry-After given",
       polling.sleeps)

# A failing task: the poller raises with spoolcgi's error code and message.
poller, polling, first = start(ORIGIN + BASE, "jobs", {"task": "fail"})
try:
    poller.result(timeout=30)
    ok(False, "failing task: the poller raises")
    ok(False, "failing task: with spoolcgi's error code")
except HttpResponseError as e:
    ok(poller.status() == "Failed", "failing task: the poller raises, "
       "status Failed", poller.status())
    ok(e.error is not None and e.error.code == "exit" and
       "the last words of the failing task" in str(e) and
       "exit" in str(e) and e.error.message and e.error.message in str(e),
       "failing task: the error carries spoolcgi's code (exit) and message",
       "%s / %s" % (e.error and e.error.code, e))

# A cancelled job ends Canceled.
poller, polling, first = start(ORIGIN + BASE, "jobs",
                               {"task": "gate", "gate": GATES + "/never"})
cancel_url = first.json()["links"]["cancel"]
client = PipelineClient(ORIGIN)
res = client.send_request(HttpRequest("POST", ORIGIN + cancel_url,
                          headers={"Accept": "application/json"}, data={}))
ok(res.status_code == 200, "cancel: 200", res.status_code)
try:
    poller.result(timeout=30)
    ok(False, "cancelled job: the poller raises", poller.status())
except HttpResponseError as e:
    ok(poller.status() == "Canceled", "cancelled job: the poller ends "
       "Canceled", poller.status())
