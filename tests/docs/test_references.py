"""The tests and files the docs name are there: a reader who looks one up finds it."""

import re

import pytest

from tests.support.servers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def defined_tests() -> set[str]:
    return {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.M)
    }


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_test_a_doc_names_is_in_the_suite(doc):
    named = set(re.findall(r"`(test_\w+)`", doc.read_text()))
    assert not named - defined_tests()


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_file_a_doc_names_is_in_the_tree(doc):
    text = doc.read_text()
    paths = set(
        re.findall(r"`((?:toastsite|apps|tests|scripts|collector|balancer|docs)/[\w./-]+)`", text)
    )
    missing = {path for path in paths if not (ROOT / path.rstrip("/")).exists()}
    assert not missing
