"""A headless Chromium driven over the DevTools protocol through a pipe (no websocket, no port, no extra package).

Chromium started with ``--remote-debugging-pipe`` reads protocol messages (JSON, each ending in a NUL byte)
from file descriptor 3 and writes its answers and events to descriptor 4. That is all this needs: the
page's console messages, uncaught exceptions, every request it makes, DOM queries and a full-page
screenshot, with the system's ``chromium`` (the Debian package) and nothing downloaded.

Example:
    >>> with Browser(find_chromium()) as browser:
    ...     page = browser.open(path)           # waits for the load event
    ...     page.evaluate("document.title")
    ...     page.screenshot(out / "page.png")
    ...     page.console_errors(), page.requests()
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/lib/chromium/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where the sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    """``$NEURONLLM_TL_CHROMIUM``, else the first Chromium on the PATH (None: not installed)."""
    if os.environ.get("NEURONLLM_TL_CHROMIUM"):
        return os.environ["NEURONLLM_TL_CHROMIUM"]
    return next((shutil.which(c) for c in CANDIDATES if shutil.which(c)), None)


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or more (so that moving it to 3 or 4 in the child cannot clobber the other)."""
    out = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return out


class Browser:
    def __init__(self, executable: str, *, width: int = 1280, height: int = 900, timeout: float = 60.0) -> None:
        self.executable, self.size, self.timeout = executable, (width, height), timeout
        self.events: list[dict[str, Any]] = []
        self._buffer, self._id = b"", 0

    def __enter__(self) -> Browser:
        self._profile = tempfile.mkdtemp(prefix="neuronllm-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        to_chrome_r, from_chrome_w = _high_fd(to_chrome_r), _high_fd(from_chrome_w)

        def child_fds() -> None:  # runs in the child before exec: the protocol's fds 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        args = [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "--window-size={},{}".format(*self.size)]
        self._log = Path(self._profile) / "chromium.log"
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(
                [*args, "about:blank"],
                preexec_fn=child_fds,
                close_fds=False,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        try:
            self.version = self.call("Browser.getVersion")["product"]
        except (OSError, RuntimeError, TimeoutError) as e:
            log_tail = self._log.read_text(errors="replace")[-2000:]
            self.__exit__(None, None, None)
            raise RuntimeError(f"{self.executable} did not start ({e}); its output:\n{log_tail}") from e
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    # ----- the protocol
    def _read(self, deadline: float) -> None:
        """Read what Chromium wrote into ``self.events`` (answers are kept there too, by id)."""
        ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, min(0.5, deadline - time.time())))
        if not ready:
            return
        chunk = os.read(self._from_chrome, 1 << 20)
        if not chunk:
            raise RuntimeError(f"Chromium exited (code {self.process.poll()}) while a reply was awaited.")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        self.events += [json.loads(m) for m in messages if m]

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None, timeout=None):
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.time() + (timeout or self.timeout)
        while time.time() < deadline:
            for m in self.events:
                if m.get("id") == self._id:
                    self.events.remove(m)
                    if "error" in m:
                        raise RuntimeError(f"{method} failed: {m['error']}")
                    return m.get("result", {})
            self._read(deadline)
        raise TimeoutError(f"no reply to {method} within {timeout or self.timeout} s")

    def wait_for(self, method: str, session: str, *, timeout: float | None = None) -> dict[str, Any]:
        deadline = time.time() + (timeout or self.timeout)
        while time.time() < deadline:
            for m in self.events:
                if m.get("method") == method and m.get("sessionId") == session:
                    return m["params"]
            self._read(deadline)
        raise TimeoutError(f"no {method} event within {timeout or self.timeout} s")

    def open(self, path: str | Path) -> Page:
        """A new tab on ``path`` (a local file), with console, log and network recorded from the start."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable", session=session)
        width, height = self.size
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        url = Path(path).resolve().as_uri()
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        return Page(self, session, url)


class Page:
    def __init__(self, browser: Browser, session: str, url: str) -> None:
        self.browser, self.session, self.url = browser, session, url

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        return [e for e in self.browser.events if e.get("sessionId") == self.session and e.get("method") in methods]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        result = self.browser.call("Runtime.evaluate", params, session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads, blocked content)."""
        out = []
        for e in self._events("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"):
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requests(self) -> list[str]:
        """The URL of every request the page made (data: URLs shortened), in order."""
        urls = [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]
        return [u[:40] + "…" if u.startswith("data:") else u for u in urls]

    def screenshot(self, path: str | Path) -> Path:
        """A PNG of the whole page (not only the window)."""
        size = self.browser.call("Page.getLayoutMetrics", session=self.session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        params = {"format": "png", "clip": clip, "captureBeyondViewport": True}
        data = self.browser.call("Page.captureScreenshot", params, session=self.session)["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out
