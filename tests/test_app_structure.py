"""The app's shape, read from its source with `ast` (issue 16, part 4): only `charrnn_app/server.py` touches
Gradio's internals, glibc and Gradio's cache folder; no module uses another's private names; every tab is
built by one function of the same shape; `app.py` only assembles; functions stay short.

Each scanner is first shown a planted violation, so a scanner that finds nothing cannot pass by accident.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "charrnn_app").glob("*.py"), ROOT / "app.py"])
BOUNDARY = ROOT / "charrnn_app" / "server.py"

# What only the boundary may name: Gradio's queue, its session store, its cache folder and context, glibc.
INTERNAL_NAMES = {"_queue", "event_queue_per_concurrency_id", "active_jobs", "enqueue_time", "state_holder",
                  "session_data", "state_data", "server_app", "GRADIO_CACHE", "root_block", "Context",
                  "malloc_trim", "mallopt", "CDLL"}
INTERNAL_MODULES = ("ctypes", "gradio.")  # any gradio submodule (gradio.context, gradio.queueing, …)
SHORT, LAYOUT = 45, 60  # body lines of a function ("handler bodies ≤ ~40"); of a tab's layout


def internals(tree: ast.AST) -> list[str]:
    """What in `tree` reaches into Gradio's or glibc's internals."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name == "ctypes" or a.name.startswith("gradio.")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(INTERNAL_MODULES):
            found.append(node.module)
        elif isinstance(node, ast.Attribute) and node.attr in INTERNAL_NAMES:
            found.append(f".{node.attr}")
        elif isinstance(node, ast.Name) and node.id in INTERNAL_NAMES:
            found.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value in INTERNAL_NAMES or "libc.so" in node.value):  # getattr(demo, "_queue") too
            found.append(repr(node.value))
    return found


def private_uses(tree: ast.AST) -> list[str]:
    """Another module's or object's private names: `from x import _y`, and `obj._y` on anything but self/cls."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found += [f"from {'.' * node.level}{node.module or ''} import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner not in ("self", "cls"):
                found.append(f"{ast.unparse(node.value)}.{node.attr}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr") \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_") and not str(node.args[1].value).startswith("__"):
            found.append(ast.unparse(node))
    return found


def body_lines(fn: ast.FunctionDef) -> int:
    body = fn.body[1:] if ast.get_docstring(fn) and len(fn.body) > 1 else fn.body
    return fn.end_lineno - body[0].lineno + 1


def parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_the_scanners_find_what_they_look_for():
    planted = ast.parse("import ctypes\nfrom gradio.context import Context\nwaiting = demo._queue."
                        "event_queue_per_concurrency_id\nlibc = ctypes.CDLL('libc.so.6')\n"
                        "q = getattr(demo, 'state_holder', None)\n")
    found = set(internals(planted))
    assert {"ctypes", "gradio.context", "._queue", ".event_queue_per_concurrency_id", ".CDLL", "'state_holder'",
            "'libc.so.6'"} <= found
    planted = ast.parse("from .inside_text import _model\nx = plots._layout(fig)\ny = self._ok\n"
                        "z = getattr(demo, '_queue', None)\n")
    assert sorted(private_uses(planted)) == ["from .inside_text import _model", "getattr(demo, '_queue', None)",
                                             "plots._layout"]


@pytest.mark.parametrize("path", [p for p in SOURCES if p != BOUNDARY], ids=lambda p: p.name)
def test_only_the_server_module_touches_gradio_internals_and_glibc(path):
    assert internals(parsed(path)) == [], f"{path.name}: call charrnn_app/server.py instead"


def test_the_server_module_is_where_they_are():
    assert {"'event_queue_per_concurrency_id'", "'state_holder'", ".malloc_trim", ".mallopt"} <= set(
        internals(parsed(BOUNDARY)))


@pytest.mark.parametrize("path", [p for p in SOURCES if p != BOUNDARY], ids=lambda p: p.name)
def test_no_module_uses_another_modules_private_names(path):
    assert private_uses(parsed(path)) == []


def test_every_tab_is_built_by_one_function_of_the_same_shape():
    import app
    from charrnn_app.page import Page

    assert [m.LABEL for m in app.TABS.values()] == ["Train", "Write", "Compare", "Inside", "Keep"]
    for key, module in app.TABS.items():
        sig = inspect.signature(module.build)
        assert list(sig.parameters) == ["page", "tab"], module.__name__
        assert sig.return_annotation.endswith("Tab"), module.__name__  # its handles, kept as page.<key>
        assert key in Page.__dataclass_fields__ and Path(module.__file__).name == f"{key}_tab.py"
    tabs = [b.elem_id for b in app.demo.blocks.values() if type(b).__name__ == "Tab"
            and b.elem_id in {m.TAB_ID for m in app.TABS.values()}]
    assert tabs == [m.TAB_ID for m in app.TABS.values()]  # in page order, one each


def test_app_only_assembles_and_functions_stay_short():
    tree = parsed(ROOT / "app.py")
    build_demo = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "build_demo")
    assert build_demo.end_lineno - build_demo.lineno + 1 <= 100
    assert len((ROOT / "app.py").read_text().splitlines()) <= 120
    long = []
    for path in SOURCES:
        for fn in ast.walk(parsed(path)):
            if isinstance(fn, ast.FunctionDef):
                limit = LAYOUT if fn.name == "layout" and path.name.endswith("_tab.py") else SHORT
                if body_lines(fn) > limit:
                    long.append(f"{path.name}:{fn.name} {body_lines(fn)} lines")
    assert long == []
