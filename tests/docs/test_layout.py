"""README's Layout names what the tree holds: every path it names is there, and
every top-level folder, app, script and doc of the tree is named."""

import re

from tests.support.servers import ROOT


def layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout") :]
    return section[section.index("```\n") + 4 : section.index("\n```", section.index("```\n") + 4)]


def named() -> set[str]:
    """The paths at the start of the layout's lines: toastsite/, scripts/bench.py ..."""
    return {line.split()[0] for line in layout().splitlines() if line and not line[0].isspace()}


def test_every_path_the_layout_names_is_there():
    paths = named()
    assert len(paths) > 15
    for path in paths:
        assert (ROOT / path).exists(), path


def test_the_tree_has_nothing_the_layout_does_not_name():
    paths, text = named(), layout()
    folders = {f"{p.name}/" for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    folders -= {"test-artifacts/", "staticfiles/", "bench-results/", "__pycache__/"}
    unnamed = {f for f in folders if not any(path.startswith(f) for path in paths)}
    assert not unnamed
    apps = {f"apps/{p.name}/" for p in (ROOT / "apps").iterdir() if (p / "apps.py").exists()}
    assert apps <= paths, apps - paths
    scripts = {
        f"scripts/{p.name}" for p in (ROOT / "scripts").iterdir() if p.suffix in {".py", ".sh"}
    }
    assert scripts - {"scripts/__init__.py"} <= paths, scripts - paths
    for doc in (ROOT / "docs").glob("*.md"):
        assert re.search(rf"\b{re.escape(doc.stem)}\b|{re.escape(doc.name)}", text), doc.name
