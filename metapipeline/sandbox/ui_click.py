"""Click Launch Run on the job's Launchpad in headless Chromium, then screenshot the finished run.

With `make dev` running: `python -m metapipeline.sandbox.ui_click --url http://127.0.0.1:3000 --out DIR`.
It drives the system's Chromium through the Chrome DevTools Protocol (no browser download), closes
first-visit dialogs, clicks the real button, follows the UI to the run page and waits for the run.
Saves DIR/launchpad.png and DIR/run.png; exits 0 only when the run succeeded.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from websockets.sync.client import ClientConnection, connect

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1600, 1000
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}

# A visible button whose text is exactly `text`, as the person clicking would find it.
FIND_BUTTON = """((text) => [...document.querySelectorAll('button')]
  .find(b => b.innerText.trim() === text && b.getClientRects().length > 0))"""
# Close every open dialog (Dagster's community sign-up and the like); return what they said.
DISMISS_DIALOGS = """(() => {
  const words = ['Skip', 'Dismiss', 'Close', 'Not now', 'No thanks', 'Got it', 'Done', 'OK'];
  const open = [...document.querySelectorAll('[role=dialog], [aria-modal=true], .bp5-dialog, .bp4-dialog')]
    .filter(d => d.getClientRects().length > 0);
  for (const dialog of open) {
    const close = [...dialog.querySelectorAll('button, [aria-label=Close]')].find(
      b => words.includes(b.innerText.trim()) || b.getAttribute('aria-label') === 'Close');
    if (close) close.click();
  }
  return open.map(d => d.innerText.trim().split('\\n')[0].slice(0, 80));
})()"""
# The events a real click sends, in order, on the element itself.
CLICK = """((el) => { el.scrollIntoView({block: 'center'});
  for (const type of ['pointerdown', 'mousedown', 'pointerup', 'mouseup'])
    el.dispatchEvent(new (type.startsWith('pointer') ? PointerEvent : MouseEvent)(
      type, {bubbles: true, cancelable: true, view: window, button: 0}));
  el.click(); return true; })"""
WORKSPACE = """{ workspaceOrError { __typename ... on PythonError { message }
  ... on Workspace { locationEntries { name locationOrLoadError { __typename
    ... on PythonError { message } ... on RepositoryLocation { repositories { name jobs { name } } } } } } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status }
  ... on PythonError { message } ... on RunNotFoundError { message } } }"""


class UIError(Exception):
    """The UI could not be driven to a launched, finished run."""


class Page:
    """One browser tab, over the DevTools websocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket, self.ids = socket, itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        request_id = next(self.ids)
        self.socket.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:  # no domain is enabled, so few events arrive; skip them
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == request_id:
                if "error" in message:
                    raise UIError(f"{method}: {message['error'].get('message')}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise UIError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait(self, expression: str, what: str, timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise UIError(
                    f"timed out after {timeout:.0f}s waiting for {what} on {self.evaluate('location.href')}"
                )
            time.sleep(0.5)
        return value

    def dismiss_dialogs(self, quiet: float = 3, timeout: float = 30) -> None:
        """Close dialogs until none has shown for `quiet` seconds (Dagster opens its own after a delay)."""
        deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
        while time.monotonic() - quiet_since < quiet:
            if seen := self.evaluate(DISMISS_DIALOGS):
                print(f"closed dialog: {' | '.join(seen)}", flush=True)
                quiet_since = time.monotonic()
                if time.monotonic() > deadline:
                    raise UIError(f"a dialog would not close: {seen}")
            time.sleep(0.5)

    def screenshot(self, path: Path) -> None:
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": max(WIDTH, size["width"]), "height": max(HEIGHT, size["height"])}
        shot = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip | {"scale": 1}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"screenshot: {path}", flush=True)


@contextlib.contextmanager
def chromium() -> Iterator[Page]:
    """Headless Chromium on a fresh temporary profile, with a tab open on about:blank."""
    binary = next(filter(None, map(shutil.which, BROWSERS)), None)
    if binary is None:
        raise UIError(f"no Chromium found (looked for {', '.join(BROWSERS)}): apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="ui_click-", ignore_cleanup_errors=True) as tmp:
        profile, log = Path(tmp) / "profile", Path(tmp) / "chromium.log"
        flags = ["--headless", "--remote-debugging-port=0", f"--user-data-dir={profile}", "--no-first-run"]
        flags += [f"--window-size={WIDTH},{HEIGHT}", "--no-default-browser-check", "--disable-dev-shm-usage"]
        flags += ["--hide-scrollbars", "--no-sandbox"] if os.geteuid() == 0 else ["--hide-scrollbars"]
        with log.open("w") as out:
            browser = subprocess.Popen(
                [binary, *flags, "about:blank"], stdout=out, stderr=out, start_new_session=True
            )
        try:
            port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
            while not (port_file.exists() and port_file.read_text().strip()):
                if browser.poll() is not None or time.monotonic() > deadline:
                    raise UIError(f"{binary} did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.2)
            port = port_file.read_text().split()[0]
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            tab = next(t for t in targets if t["type"] == "page")
            with connect(tab["webSocketDebuggerUrl"], max_size=None, proxy=None) as socket:
                yield Page(socket)
        finally:
            stop_group(browser)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the browser's process group, wait for all of it (renderers linger), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            process.poll()  # reap the leader, or the group never empties
            os.killpg(process.pid, 0)  # raises ProcessLookupError once the group is gone
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGKILL)


def graphql(url: str, query: str, **variables: Any) -> dict[str, Any]:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise UIError(f"GraphQL: {body['errors']}")
    return body["data"]


def repo_path(url: str, job: str) -> str:
    """The job's repository as the UI writes it in URLs: `location`, or `repo@location`."""
    try:
        workspace = graphql(url, WORKSPACE)["workspaceOrError"]
    except requests.RequestException as error:
        raise UIError(f"no Dagster UI at {url} ({error}); start it with `make dev`") from error
    for entry in workspace.get("locationEntries", []):
        location = entry["locationOrLoadError"] or {}
        if location.get("__typename") == "PythonError":
            print(f"code location {entry['name']} failed to load: {location['message']}", file=sys.stderr)
        for repo in location.get("repositories", []):
            if job in {j["name"] for j in repo["jobs"]}:
                name = entry["name"]
                return name if repo["name"] == "__repository__" else f"{repo['name']}@{name}"
    raise UIError(f"no job {job!r} in the workspace at {url}")


def click_launch(url: str, job: str, out: Path, timeout: float) -> str:
    """Launch `job` from its Launchpad like a person would; return the run's final status."""
    launchpad = f"{url}/locations/{quote(repo_path(url, job))}/jobs/{quote(job)}/playground"
    launch = f"{FIND_BUTTON}('Launch Run')"
    with chromium() as page:
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=HEIGHT,
            deviceScaleFactor=1,
            mobile=False,
        )
        print(f"opening {launchpad}", flush=True)
        page.call("Page.navigate", url=launchpad)
        page.wait(f"{launch} && !{launch}.disabled", "an enabled 'Launch Run' button")
        page.dismiss_dialogs()
        page.screenshot(out / "launchpad.png")
        page.evaluate(f"{CLICK}({launch})")
        try:
            run_id = page.wait(
                r"(location.pathname.match(/\/runs\/([0-9a-f-]{36})/) || [])[1]", "the run page"
            )
        except UIError:
            page.screenshot(out / "launch-error.png")
            raise
        print(f"run {run_id} launched: {page.evaluate('location.href')}", flush=True)
        status, deadline = "", time.monotonic() + timeout
        while status not in TERMINAL:
            if time.monotonic() > deadline:
                page.screenshot(out / "run.png")
                raise UIError(f"run {run_id} still {status} after {timeout:.0f}s")
            time.sleep(2)
            run = graphql(url, RUN, id=run_id)["runOrError"]
            if "status" not in run:
                raise UIError(f"run {run_id}: {run['__typename']}: {run.get('message')}")
            if run["status"] != status:
                status = run["status"]
                print(f"run {run_id}: {status}", flush=True)
        label = status.capitalize()  # the run page's status tag reads Success / Failure / Canceled
        page.wait(f"document.body.innerText.includes({json.dumps(label)})", f"{label!r} on the run page", 30)
        time.sleep(1)  # let the last log lines and the Gantt chart render
        page.dismiss_dialogs(quiet=1)
        page.screenshot(out / "run.png")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ui_click", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="the Dagster UI")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="where the screenshots go")
    parser.add_argument("--job", default="metapipeline")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the run may take")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        status = click_launch(args.url.rstrip("/"), args.job, args.out, args.timeout)
    except UIError as error:
        print(f"ui_click: {error}", file=sys.stderr)
        return 2
    print(f"run finished: {status}", flush=True)
    return 0 if status == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main())
