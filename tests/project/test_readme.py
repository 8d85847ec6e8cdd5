"""The README as a test: every ```sh, ```bash and ```python block of README.md runs, in
order, in a temporary directory, as a new user following it would run it.

- Shell blocks run in bash (``set -eo pipefail``) one after the other as if typed into one
  terminal: the directory (``cd``) and the variables a block sets carry over to the next.
  ``troth`` is the one of this checkout; no ``TROTH_*`` variable leaks in from outside.
- Python blocks run in one shared namespace, in the directory the shell is in.
- A server the README starts in the background (``troth serve --port 8000 &``) gets a free
  port instead of 8000 (every ``127.0.0.1:8000`` / ``--port 8000`` of the block is changed to
  it) and is stopped at the end, with everything else the blocks left running.
- A block that cannot run here is marked by the line before it:
  ``<!-- readme-test: skip (the reason) -->``. Keep them few: they are counted and printed.

A failing block fails the test with the README line it starts on, its text and its output.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from repo_paths import README
from served import free_port

RUNS = ("sh", "bash", "python")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<why>[^)]*)\)\s*-->")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
BLOCK_TIMEOUT = 120


@dataclass
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    skip: str | None = None


def blocks_of(markdown: str) -> list[Block]:
    """The fenced blocks in a language that runs, with their skip marks."""
    lines = markdown.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent, lang = i, m.group("indent"), m.group("lang")
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1
        if lang not in RUNS:
            continue
        before = next((x for x in reversed(lines[:start]) if x.strip()), "")
        mark = SKIP.search(before)
        out.append(Block(start + 1, lang, "\n".join(body) + "\n", mark and mark["why"]))
    return out


class Runner:
    """Runs blocks as one reader would: one terminal, one Python session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.state = workdir.parent / "readme-state"
        self.state.mkdir(exist_ok=True)
        (self.state / "cwd").write_text(str(workdir))
        (self.state / "env.sh").write_text("")
        self.port = free_port()
        self.sessions: list[int] = []
        self.namespace: dict[str, object] = {"__name__": "__readme__"}
        bin_dir = str(Path(sys.executable).parent)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TROTH_")}
        self.env.update(PATH=f"{bin_dir}:{self.env.get('PATH', '')}", COLUMNS="100")
        self.env.pop("VIRTUAL_ENV", None)

    def ports(self, text: str) -> str:
        text = re.sub(r"(127\.0\.0\.1|localhost):8000\b", rf"\g<1>:{self.port}", text)
        return re.sub(r"--port 8000\b", f"--port {self.port}", text)

    def run(self, block: Block) -> None:
        if block.lang == "python":
            self._python(block)
        else:
            self._shell(block)

    def _shell(self, block: Block) -> None:
        script = self.state / f"block-{block.line}.sh"
        script.write_text(
            "set -a\n"
            f'. "{self.state}/env.sh"\n'
            f'cd "$(cat "{self.state}/cwd")"\n'
            f'trap \'export -p > "{self.state}/env.sh"; pwd > "{self.state}/cwd"\' EXIT\n'
            "set -eo pipefail\n" + self.ports(block.text)
        )
        log = self.state / f"block-{block.line}.log"
        # Output to a file, not a pipe: a server left running in the background keeps a
        # pipe open, and the block is done when its shell is.
        with log.open("w") as fh:
            proc = subprocess.Popen(
                ["bash", str(script)],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.sessions.append(proc.pid)
        try:
            rc = proc.wait(timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            self._fail(block, f"timed out after {BLOCK_TIMEOUT} s", log.read_text())
        if rc != 0:
            self._fail(block, f"exit status {rc}", log.read_text())

    def _python(self, block: Block) -> None:
        here = Path.cwd()
        os.chdir((self.state / "cwd").read_text().strip())
        failure = None
        try:
            code = compile(self.ports(block.text), f"README.md:{block.line}", "exec")
            exec(code, self.namespace)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            os.chdir(here)
        if failure is not None:
            self._fail(block, failure, "")

    def _fail(self, block: Block, why: str, output: str) -> None:
        pytest.fail(
            f"README.md line {block.line}: the ```{block.lang} block fails ({why})\n"
            f"{textwrap.indent(block.text, '    ')}\n--- its output ---\n{output[-6000:]}",
            pytrace=False,
        )

    def stop(self) -> None:
        """Stop what the blocks left running (a server started with &)."""
        for t in self.namespace.values():
            close = getattr(t, "close", None)
            if type(t).__name__ == "Troth" and callable(close):
                close()
        for pid in self.sessions:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)


def run_markdown(
    markdown: str, workdir: Path, timings: dict[int, float] | None = None
) -> tuple[int, list[Block]]:
    """Run every block; returns how many ran and the skipped ones (``timings``: seconds
    per block, by line)."""
    runner = Runner(workdir)
    ran, skipped = 0, []
    try:
        for block in blocks_of(markdown):
            if block.skip is not None:
                skipped.append(block)
                continue
            began = time.monotonic()
            runner.run(block)
            if timings is not None:
                timings[block.line] = time.monotonic() - began
            ran += 1
    finally:
        runner.stop()
    return ran, skipped


def test_readme_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    work.mkdir()
    timings: dict[int, float] = {}
    ran, skipped = run_markdown(README.read_text(), work, timings)
    with capsys.disabled():
        slow = ", ".join(f"line {n}: {s:.0f} s" for n, s in timings.items() if s > 5)
        print(f"\nREADME.md: {ran} blocks ran, {len(skipped)} skipped; slowest: {slow or '-'}")
        for b in skipped:
            print(f"  skipped: line {b.line} ({b.skip})")
    assert ran >= 10
    assert len(skipped) <= 3, "keep the README's skipped blocks very few"


# -- the runner itself --------------------------------------------------------------------
SAMPLE = """# t

```sh
mkdir a && cd a
X=42
```

Text.

<!-- readme-test: skip (needs a printer) -->
```sh
lpr nothing
```

```yaml
not: run
```

```python
import os
here = os.getcwd()
```

```bash
test "$X" = 42 && test "$(basename "$PWD")" = a
false
```
"""


def test_blocks_carry_state_and_a_failure_names_its_line(tmp_path: Path) -> None:
    blocks = blocks_of(SAMPLE)
    assert [(b.line, b.lang, b.skip) for b in blocks] == [
        (3, "sh", None),
        (11, "sh", "needs a printer"),
        (19, "python", None),
        (24, "bash", None),
    ]
    work = tmp_path / "w"
    work.mkdir()
    with pytest.raises(pytest.fail.Exception) as failed:
        run_markdown(SAMPLE, work)
    message = str(failed.value)
    assert message.startswith("README.md line 24: the ```bash block fails (exit status 1)")
    assert "false" in message


def test_a_server_port_is_replaced_by_a_free_one(tmp_path: Path) -> None:
    runner = Runner(tmp_path / "w")
    text = runner.ports("troth serve --port 8000 &\ncurl http://127.0.0.1:8000/docs\n")
    assert "8000" not in text and text.count(str(runner.port)) == 2
