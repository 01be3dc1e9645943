"""The README's fenced blocks, and running its shell blocks as a reader would.

A reader copies a ```bash block into a shell in the repository. Commands that run until Ctrl-C
(the sandbox, `make dev`, `dagster dev`, the webserver, the daemon) are what the reader leaves
running in one shell while typing the rest of the block into another: here they run in the
background until the block ends. `make` targets that CI runs itself (`make test`, ...) are only
dry-run (`make -n`); `make demo` and `make dev` run. Nothing in a command is changed but its
port: 3000 becomes a free one (for `make dev`, `DEV_PORT=<port>`).

A ```text block right after a ```bash block is what that block prints: each of its lines must
appear, in order, in the block's output, with any 127.0.0.1 port standing for any other; `...`
within a line stands for any text (a path), a line `...` for whatever lines come between.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from metapipeline.sandbox.dev_ui import ui_answers
from metapipeline.sandbox.harness import free_port

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
UI_PORT = "3000"
DRY_RUN_TARGETS = {"test", "test-slow", "test-all", "lint", "bench", "faults", "conformance", "clean"}
ANY_PORT = re.compile(r"127\.0\.0\.1:\d+")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # where it starts in the README, for messages
    prints: str | None = None  # the ```text block that follows it


def readme_blocks(readme: str) -> list[Block]:
    """The fenced blocks, each shell block with the output block that follows it."""
    blocks: list[Block] = []
    for match in FENCE.finditer(readme):
        language, text = match.group(1), match.group(2)
        line = readme.count("\n", 0, match.start()) + 1
        if language == "text" and blocks and blocks[-1].language == "bash" and blocks[-1].prints is None:
            previous = blocks.pop()
            blocks.append(Block(previous.language, previous.text, previous.line, text))
        else:
            blocks.append(Block(language, text, line))
    return blocks


def commands(script: str) -> list[str]:
    """Logical lines, backslash continuations joined, comment-only lines dropped."""
    lines, current = [], ""
    for raw in script.splitlines():
        current += raw
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip() and not current.lstrip().startswith("#"):
            lines.append(current.strip())
        current = ""
    return lines


@dataclass
class Service:
    """A command the reader leaves running: how to tell it is up."""

    process: subprocess.Popen[bytes]
    log: Path
    command: str


def _http_answers(port: str) -> Callable[[Service], bool]:
    return lambda _: ui_answers(port)


def _logged(pattern: str) -> Callable[[Service], bool]:
    return lambda service: re.search(pattern, service.log.read_text(errors="replace")) is not None


def long_running(command: str, port: str) -> Callable[[Service], bool] | None:
    """How to know this command is ready, if it is one that runs until stopped."""
    words = shlex.split(command.split(" #")[0])
    program = (Path(words[0]).name, *words[1:2]) if words else ()
    if program == ("metapipeline", "sandbox"):
        return _logged(r"sandbox running")
    if program in {("make", "dev"), ("dagster", "dev"), ("metapipeline", "dev")} or program[:1] == (
        "dagster-webserver",
    ):
        return _http_answers(port)
    if program == ("dagster-daemon", "run"):
        return _logged(r"Instance is configured with the following daemons")
    return None


@dataclass
class BlockRun:
    """A shell block typed into a shell at `cwd`; exported variables carry from one line to the next."""

    cwd: Path
    env: Mapping[str, str]
    ready_timeout: float = 600
    port: str = field(default_factory=lambda: str(free_port()))
    services: list[Service] = field(default_factory=list)
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._files = Path(tempfile.mkdtemp(prefix="readme-shell-"))  # not in the checkout it types into
        self._state = self._files / "exported"
        self._state.write_text("")

    def as_reader_types(self, command: str) -> str:
        command = command.replace(UI_PORT, self.port)
        words = shlex.split(command.split(" #")[0])
        if words[:1] == ["make"] and len(words) > 1:
            if words[1] == "dev":
                return f"make dev DEV_PORT={self.port}"
            if words[1] in DRY_RUN_TARGETS:
                return f"make -n {words[1]}"  # CI (.ci/run) runs these itself
        return command

    def run(self, script: str) -> None:
        for command in commands(script):
            typed = self.as_reader_types(command)
            ready = long_running(typed, self.port)
            if ready is None:
                self._foreground(typed)
            else:
                self._start(typed, ready)

    def _foreground(self, command: str) -> None:
        shell = f"set -eo pipefail\n. {self._state}\n{command}\ndeclare -px > {self._state}\n"
        result = subprocess.run(
            ["bash", "-c", shell], cwd=self.cwd, env=dict(self.env), capture_output=True, text=True
        )
        self.output += [result.stdout, result.stderr]
        if result.returncode != 0:
            raise AssertionError(
                f"`{command}` exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )

    def _start(self, command: str, ready: Callable[[Service], bool]) -> None:
        log = self._files / f"service-{len(self.services)}.log"
        process = subprocess.Popen(
            ["bash", "-c", f". {self._state}\nexec {command}"],
            cwd=self.cwd,
            env=dict(self.env),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, like Ctrl-C in its shell
        )
        service = Service(process, log, command)
        self.services.append(service)
        deadline = time.monotonic() + self.ready_timeout
        while not ready(service):
            if process.poll() is not None:
                raise AssertionError(f"`{command}` exited {process.returncode}:\n{log.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"`{command}` not ready in {self.ready_timeout:.0f} s:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Ctrl-C each command left running, newest first; then what it printed joins the output."""
        for service in reversed(self.services):
            if service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGINT)
                try:
                    service.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(service.process.pid, signal.SIGKILL)
                    service.process.wait()
            self.output.append(service.log.read_text(errors="replace"))
        self.services.clear()
        shutil.rmtree(self._files, ignore_errors=True)

    def printed(self) -> str:
        return "\n".join([*self.output, *(s.log.read_text(errors="replace") for s in self.services)])


def missing_from(output: str, expected: str) -> list[str]:
    """The lines of `expected` not found in order in `output`: any 127.0.0.1 port matches any
    other, `...` within a line stands for any text, a line `...` for any lines."""
    have = [ANY_PORT.sub("127.0.0.1:PORT", line.strip()) for line in output.splitlines()]
    missing, position = [], 0
    for line in expected.splitlines():
        want = ANY_PORT.sub("127.0.0.1:PORT", line.strip())
        if not want or want == "...":
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        found = next((i for i in range(position, len(have)) if pattern.fullmatch(have[i])), None)
        if found is None:
            missing.append(line)
        else:
            position = found + 1
    return missing
