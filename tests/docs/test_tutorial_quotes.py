"""The code the tutorial quotes is the code it names: every block marked
`<!-- quoted from PATH -->` on the line before it is in PATH, verbatim, so an
example cannot drift from the tests and code it shows. And its introduction
counts the steps it has."""

import re

from tests.support.servers import ROOT

TUTORIAL = (ROOT / "docs" / "tutorial.md").read_text()
MARKER = re.compile(r"^<!-- quoted from (\S+) -->$", re.M)
QUOTE = re.compile(r"^<!-- quoted from (\S+) -->\n```\w*\n(.*?)^```$", re.M | re.S)


def section(title: str) -> str:
    """A step of the tutorial, whatever its number, up to the next heading."""
    start = re.search(rf"^## Step \d+: {title}$", TUTORIAL, re.M).end()
    end = TUTORIAL.find("\n## ", start)
    return TUTORIAL[start:end]


def test_every_quoted_block_is_in_the_file_it_names():
    quotes = QUOTE.findall(TUTORIAL)
    assert len(quotes) == len(MARKER.findall(TUTORIAL))  # each marker has its block
    for path, block in quotes:
        assert block in (ROOT / path).read_text(), f"not in {path}:\n{block}"


def test_test_your_traces_quotes_the_suites_own_fixtures_and_tests():
    quoted = {path for path, _ in QUOTE.findall(section("Test your traces"))}
    assert quoted == {
        "tests/conftest.py",  # the in-memory exporter and the `spans` fixture
        "tests/telemetry/test_spans.py",  # names, kinds, parents, attributes
        "tests/pages/test_home_calls.py",  # start and end times
        "tests/telemetry/test_privacy.py",  # no secret in any span
        "tests/e2e/test_zipkin.py",  # traceresponse, then the trace from Zipkin
        "tests/support/zipkin.py",  # fetch_trace
    }


def test_the_introduction_counts_the_steps_after_the_talks_five():
    steps = re.findall(r"^## Step (\d+): ", TUTORIAL, re.M)
    assert steps == [str(n) for n in range(1, 14)]
    assert "After the talk's\nfive steps come eight more:" in TUTORIAL


def test_test_your_traces_installs_pytest_before_it_runs_it():
    # make run installs the site's requirements alone; pytest is a development one.
    step = " ".join(section("Test your traces").split())
    said = "`make test` installs them before it runs the whole suite, and `make .venv/.dev`"
    assert said in step
    runtime, dev = ((ROOT / f).read_text() for f in ("requirements.txt", "requirements-dev.txt"))
    assert "\npytest==" not in runtime
    assert "\npytest==" in dev
    makefile = (ROOT / "Makefile").read_text()
    assert "test: $(VENV)/.dev lint" in makefile
    assert "$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt" in makefile
    assert "run: zipkin-launch $(VENV)/.runtime\n" in makefile
