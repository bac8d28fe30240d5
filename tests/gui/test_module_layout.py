"""The architecture written as tests. Arrows point one way: no module of core/ or gui/ imports,
however indirectly, one that imports it back (every import counts, also those inside functions
and type-checking blocks). core/ is laid out in subsystems; the window and the benchmarks are
clients of core's public API; no module reaches for another's private names; no module is
longer than a newcomer reads in one go."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "gui")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (a name imported from a package may be a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    return {name: imports_of(path, known) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            # A package importing its own submodule (or the reverse) is how packages work.
            if nxt == node.rpartition(".")[0] or node == nxt.rpartition(".")[0]:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_core_and_gui_modules_import_each_other_without_cycles():
    graph = import_graph()
    assert "gui.window" in graph and "gui.session" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def subsystem(module: str) -> str:
    """core.decode.gpu -> core.decode; core.engine -> core.engine (a top-level module)."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_core_subsystems_depend_on_each_other_one_way():
    """The library builds on teaching (reteach), so teaching must not need the library: every
    arrow between core's subpackages and top-level modules points one way."""
    graph: dict[str, set[str]] = {}
    for name, deps in import_graph().items():
        if name.startswith("core.") and name.count(".") >= 1:
            graph.setdefault(subsystem(name), set()).update(
                subsystem(d) for d in deps if d.startswith("core.")
            )
    graph = {a: deps - {a} for a, deps in graph.items()}
    assert "core.teach" in graph and "core.library" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "subsystem cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}}) == [
        "a.x",
        "a.y",
        "a.z",
        "a.x",
    ]


def test_gui_never_is_imported_by_core():
    graph = import_graph()
    back = {m: sorted(i for i in deps if i.startswith("gui")) for m, deps in graph.items()}
    assert {m: d for m, d in back.items() if m.startswith("core") and d} == {}


MAX_LINES = 400  # core/ and gui/ alike, no exemption (teach_dialog.py was split on teach-model)
WINDOW_MAX_LINES = 350


def test_no_module_of_core_or_gui_is_longer_than_a_newcomer_reads_in_one_go():
    lengths = {
        p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
    }
    too_long = {name: n for name, n in lengths.items() if n > MAX_LINES}
    assert too_long == {}, f"split these along their responsibilities (over {MAX_LINES} lines)"
    assert lengths["gui/window.py"] <= WINDOW_MAX_LINES, (
        f"gui/window.py has {lengths['gui/window.py']} lines: it should only lay out and wire "
        f"(at most {WINDOW_MAX_LINES}); move the rest to a module named for what it does"
    )


# ---- core's subsystems and its public API ----------------------------------------------------
SUBSYSTEMS = {
    "core/decode": {"images", "files", "budget", "settings", "preprocess", "jpeg_header",
                    "batch", "decoder", "pillow", "gpu", "gpu_decode", "gpu_pipeline", "gpu_run"},
    "core/teach": {"class_folders", "training", "head_training", "taught_model"},
    "core/scale": {"cluster", "record_file"},
    "core/cli": {"classify", "train", "output", "progress"},
    "core/library": {"keywords", "sorting", "file_moves", "unsure", "corrections", "reteach"},
}  # fmt: skip
TOP_LEVEL = {"engine", "model", "checkpoint", "weights", "devices", "grad_cam", "export",
             "results", "errors", "imports", "cancel", "gpu_memory", "version", "resources",
             "checkpoint_checks", "printable"}  # fmt: skip


def test_core_is_laid_out_in_subsystems():
    for folder, modules in SUBSYSTEMS.items():
        found = {p.stem for p in (ROOT / folder).glob("*.py")} - {"__init__"}
        assert modules <= found, f"{folder} lacks {sorted(modules - found)}"
        assert (ROOT / folder / "__init__.py").is_file()
    top = {p.stem for p in (ROOT / "core").glob("*.py")} - {"__init__", "__main__"}
    assert top == TOP_LEVEL, (
        "a module at the top of core/ is the engine and what every subsystem shares; "
        f"put the others in a subsystem (new: {sorted(top - TOP_LEVEL)}, gone: "
        f"{sorted(TOP_LEVEL - top)}); update this test with the layout"
    )


def imports_from(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of each `from X import name` and `import X` in `path`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(alias.name, "", node.lineno) for alias in node.names]
    return out


def test_the_window_and_the_benchmarks_use_only_cores_public_api():
    import core

    public = set(core.__all__)
    wrong = []
    for pkg in ("gui", "benchmarks"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for module, name, line in imports_from(path):
                where = f"{path.relative_to(ROOT)}:{line}"
                if module.startswith("core."):
                    wrong.append(f"{where} imports from {module} (import it from core)")
                elif module == "core" and name and name not in public:
                    wrong.append(f"{where} imports {name}, which core does not export")
    assert wrong == [], "\n".join(wrong)


def test_every_public_name_of_core_is_what_its_module_defines():
    """Also once every submodule is imported: a submodule of the same name must not shadow it."""
    import importlib
    import pkgutil

    import core

    for m in pkgutil.walk_packages(core.__path__, "core."):
        if not m.name.endswith("__main__"):
            importlib.import_module(m.name)
    assert len(core.__all__) == len(set(core.__all__))
    wrong = [
        name
        for name, where in core._EXPORTS.items()
        if getattr(core, name)
        is not getattr(
            importlib.import_module(where.partition(":")[0]), where.partition(":")[2] or name
        )
    ]
    assert wrong == []


def test_modules_in_core_import_their_neighbours_not_the_public_api():
    """The public API is for clients; inside core/ a module imports the module that defines
    a name, so that importing `core` never imports the engine back."""
    wrong = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in sorted((ROOT / "core").rglob("*.py"))
        if p.name != "__init__.py"
        for module, _name, line in imports_from(p)
        if module == "core"
    ]
    assert wrong == []


def test_no_module_imports_another_modules_private_names():
    wrong = []
    for pkg in ("core", "gui", "benchmarks"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for module, name, line in imports_from(path):
                parts = [*module.split("."), name]
                if module.split(".")[0] in ("core", "gui", "benchmarks") and any(
                    part.startswith("_") and not part.startswith("__") for part in parts if part
                ):
                    wrong.append(f"{path.relative_to(ROOT)}:{line}: {module} {name}")
    assert wrong == []


def test_no_module_of_gui_imports_another_modules_private_names():
    """As for core/: what a module of gui/ offers another is public; a name with an underscore
    stays in its module."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line}: {module} {name}"
        for path in sorted((ROOT / "gui").rglob("*.py"))
        for module, name, line in imports_from(path)
        if module.split(".")[0] in ("core", "gui")
        and any(p.startswith("_") and not p.startswith("__") for p in [*module.split("."), name])
    ]
    assert wrong == []


def private_attributes(source: str, where: str) -> list[str]:
    """`x._name` in `source` where `x` is not `self` or `cls`, nor a module from outside the
    project (`os._exit`): another object's private attribute, read or written."""
    tree = ast.parse(source)
    outside = {
        (alias.asname or alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] not in ("core", "gui", "benchmarks")
    }
    return [
        f"{where}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls", *outside})
    ]


def test_no_module_of_gui_reaches_into_another_objects_private_attributes():
    wrong = [
        hit
        for p in sorted((ROOT / "gui").rglob("*.py"))
        for hit in private_attributes(p.read_text(encoding="utf-8"), p.relative_to(ROOT).as_posix())
    ]
    assert wrong == [], "ask the object through a public method or signal instead"


def test_the_private_attribute_finder_finds_one():
    source = "import os\nos._exit(0)\nself._ok = 1\nwindow._filter = 1\n"
    assert private_attributes(source, "probe.py") == ["probe.py:4: window._filter"]


# ---- gui's layout ----------------------------------------------------------------------------
# The session is made of small models without widgets, as napari's ViewerModel; the window and
# its panels observe them. One responsibility per module, named for it.
SESSION_MODELS = {"session", "items", "current_item", "run", "model_state"}
GUI_MODULES = SESSION_MODELS | {
    "app", "window", "worker", "image_loader", "messages", "file_job",  # start, wire, threads
    "menus", "intake", "drops", "model_control", "export", "library", "corrections", "unsure",
    "review", "results_area", "results_model", "results_panel", "table_follow",
    "current_item_view", "image_view", "prediction_panel", "status", "widgets", "plain_text",
    "accuracy_curve", "confusion_model", "dialogs", "devices_dialog", "help_dialog",
    "keywords_dialog", "similar_dialog", "sort_dialog", "teach_dialog", "teach_naming",
    "teach_worker", "teach_classes", "teach_messages", "teach_model", "teach_result", "settings", "resources", "compat", "imports", "reporting", "platform_check",
    "single_instance", "hand_over", "instance_name", "file_open",
}  # fmt: skip


def test_gui_is_laid_out_one_responsibility_a_module():
    found = {p.stem for p in (ROOT / "gui").glob("*.py")} - {"__init__", "__main__"}
    assert found == GUI_MODULES, (
        f"update this test with the layout (new: {sorted(found - GUI_MODULES)}, gone: "
        f"{sorted(GUI_MODULES - found)})"
    )


def test_the_sessions_models_import_only_qtcore():
    """They hold the state and emit what changed; widgets and pictures are the window's."""
    wrong = [
        f"gui/{name}.py:{line}: {module}"
        for name in sorted(SESSION_MODELS)
        for module, _name, line in imports_from(ROOT / "gui" / f"{name}.py")
        if module.startswith("PySide6")
        and module != "PySide6.QtCore"
        and not _type_checking_only(ROOT / "gui" / f"{name}.py", line)
    ]
    assert wrong == []


def _type_checking_only(path: Path, line: int) -> bool:
    """Whether the import on `line` sits in an `if TYPE_CHECKING:` block."""
    return any(
        isinstance(node, ast.If)
        and ast.unparse(node.test) == "TYPE_CHECKING"
        and any(getattr(n, "lineno", 0) == line for n in ast.walk(node))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
    )


def test_tests_import_nothing_from_the_benchmarks():
    wrong = [
        f"{p.relative_to(ROOT)}:{line}"
        for p in sorted((ROOT / "tests").rglob("*.py"))
        for module, _name, line in imports_from(p)
        if module.split(".")[0] == "benchmarks"
    ]
    assert wrong == []


def test_benchmarks_import_each_other_without_cycles():
    files = {module_name(p): p for p in (ROOT / "benchmarks").glob("*.py")}
    graph = {name: imports_of(path, set(files)) - {name} for name, path in files.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_benchmark_results_hold_one_current_result_per_benchmark():
    """Superseded runs and logs leave `benchmarks/results/`; their figures go to the docs."""
    programs = {p.stem for p in (ROOT / "benchmarks").glob("*.py")} - {"__init__", "__main__"}
    variants = {"throughput", "cpu", "cuda"}  # gpu_decode --throughput; training per device
    stray = [
        f.name
        for f in (ROOT / "benchmarks" / "results").iterdir()
        if f.suffix not in (".json", ".md", ".png")
        or not (f.stem in programs or any(f.stem == f"{p}_{v}" for p in programs for v in variants))
    ]
    assert stray == []
