"""The layout, as the imports draw it: the project package is wiring that
nothing below it depends on, and no module leans on another in a circle."""

import ast

from tests.support.servers import ROOT

PACKAGES = ("toastsite", "apps", "scripts", "tests")


def imports() -> dict[str, set[str]]:
    """Each of the project's modules, and the project's modules it imports."""
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_the_project_package_imports_nothing_from_the_apps():
    wrong = {
        (module, imported)
        for module, imported_ in imports().items()
        if module.startswith("toastsite")
        for imported in imported_
        if imported.startswith("apps")
    }
    assert not wrong  # settings and urls name apps by dotted strings only


def test_nothing_imports_a_management_command():
    wrong = {
        (module, imported)
        for module, imported_ in imports().items()
        for imported in imported_
        if ".management.commands." in imported and module.split(".")[0] in {"scripts", "tests"}
    }
    assert not wrong


def test_no_module_imports_itself_in_a_circle():
    graph = imports()
    circles, done, path = [], set(), []

    def visit(module: str) -> None:
        if module in path:
            circles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        path.append(module)
        for imported in graph[module]:
            # `from apps.toasts import selectors` names the package and the
            # module; the module is what is imported.
            if not any(other.startswith(f"{imported}.") for other in graph[module]):
                visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert not circles


def test_the_graph_sees_the_imports():
    # The checks above would pass on an empty graph: this one would not.
    graph = imports()
    assert "toastsite.telemetry.setup" in graph["toastsite.wsgi"]
    assert "apps.pages.traffic" in graph["apps.pages.management.commands.traffic"]
    assert len(graph) > 50
