"""docs/your-project.md as a test reads it: its code blocks applied to a fresh
`django-admin startproject`, its commands run on free ports of 127.0.0.1.

A block the guide wants in a file names it in its info string, as in
```python title="mysite/telemetry.py"```: that block is the whole file, or,
with the word `append` after the title, goes at the end of it. Readers see
ordinary markdown; the sentence before each block says the same in words.
"""

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import ROOT, ServerProcess

GUIDE = ROOT / "docs" / "your-project.md"
BIN = Path(sys.executable).parent

_FENCE = re.compile(r"^```(\w*)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_TITLE = re.compile(r'title="([^"]+)"')


@dataclass
class Block:
    language: str
    path: str | None  # the file it goes in, if any
    append: bool
    text: str
    before: str  # the guide's text between the previous block and this one


def blocks(markdown: str | None = None) -> list[Block]:
    markdown = GUIDE.read_text() if markdown is None else markdown
    found, end = [], 0
    for match in _FENCE.finditer(markdown):
        language, info, text = match.groups()
        title = _TITLE.search(info)
        found.append(
            Block(
                language=language,
                path=title[1] if title else None,
                append=bool(title) and "append" in info[title.end() :].split(),
                text=text,
                before=markdown[end : match.start()],
            )
        )
        end = match.end()
    return found


def command_lines() -> list[str]:
    """Every line of the guide's shell blocks, as written."""
    return [
        line.strip()
        for block in blocks()
        if block.language == "sh"
        for line in block.text.splitlines()
        if line.strip()
    ]


def command(program: str, with_env: str | None = None) -> tuple[dict[str, str], list[str]]:
    """The guide's first command line that runs `program` (e.g. "gunicorn
    mysite.wsgi"), and sets `with_env` if given: its environment and words."""
    for line in command_lines():
        words = shlex.split(line.split(" #")[0])
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = value
        if " ".join(words).startswith(program) and (with_env is None or with_env in env):
            return env, words
    raise AssertionError(f"the guide has no command `{program}` (setting {with_env})")


def make_project(folder: Path) -> Path:
    """A new project made with the guide's startproject line, the guide's
    blocks applied; returns the folder with manage.py."""
    _, words = command("django-admin startproject")
    subprocess.run([BIN / "django-admin", *words[1:]], cwd=folder, check=True)
    project = folder / words[-1]
    for block in blocks():
        if block.path is None:
            continue
        assert f"`{block.path}`" in block.before, (
            f"the text before the block for {block.path} does not name the file"
        )
        target = project / block.path
        if block.append:
            assert target.exists(), f"the guide appends to {block.path}, which is not there"
            # Two blank lines between, as a reader leaves them.
            target.write_text(target.read_text().rstrip("\n") + "\n\n\n" + block.text)
        else:
            target.write_text(block.text)
    manage(project, "migrate", "--noinput", "-v0")
    manage(project, "collectstatic", "--noinput", "-v0")
    return project


def manage(project: Path, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=project, env=clean_env(), check=True)


def copy_project(project: Path, folder: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of `project` in `folder`, with `edits`: for each file, (old, new)
    replacements of text that must be there, so that an edit follows the
    guide's code or fails."""
    copy = folder / project.name
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for name, replacements in edits.items():
        path = copy / name
        text = path.read_text()
        for old, new in replacements:
            assert old in text, f"{old!r} is not in {name}"
            text = text.replace(old, new, 1)
        path.write_text(text)
    return copy


def clean_env(**env: str) -> dict[str, str]:
    """This environment without the suite's own settings and OTEL_* variables:
    the new project's processes see only what the guide and the test set."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OTEL_") and k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
    }
    return {**base, **env}


class GuideServer(ServerProcess):
    """One of the guide's serve commands, run in `project` on a free port of
    127.0.0.1, in a process group of its own; its output in `log_path`."""

    own_session = True  # Ctrl-C reaches runserver's reloader and its child alike

    def __init__(self, project: Path, words: list[str], env: dict[str, str], log_path: Path):
        self.cwd = project
        self.words = words
        self.program = words[0] if words[0] != "python" else words[1]
        super().__init__(clean_env(**env), log_path)

    def command(self) -> list[str]:
        return self._argv(self.words)

    def name(self) -> str:
        return " ".join(self.words)

    def _argv(self, words: list[str]) -> list[str]:
        address = f"127.0.0.1:{self.port}"
        if words[:3] == ["python", "manage.py", "runserver"]:
            return [sys.executable, *words[1:], address]  # with its reloader, as you run it
        if words[0] == "gunicorn":
            return [sys.executable, "-m", "gunicorn", *words[1:], "--bind", address]
        if words[0] == "uvicorn":
            port = ["--host", "127.0.0.1", "--port", str(self.port)]
            return [sys.executable, "-m", "uvicorn", *words[1:], *port]
        raise AssertionError(f"no way to serve {words}")

    def stop(self) -> None:
        """Stops it as you would: Ctrl-C for runserver (its reloader's parent and
        serving child alike), SIGTERM for gunicorn's master and uvicorn; each
        sends its last spans on the way out."""
        if self.process.poll() is None:
            if self.program == "manage.py":
                os.killpg(self.process.pid, signal.SIGINT)
            else:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # runserver's child, gunicorn's workers: gone with their parent, or now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
