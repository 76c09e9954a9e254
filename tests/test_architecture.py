"""Layering rules from DESIGN.md, enforced."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py") if "streamlit" in imported_modules(p)]
    assert offenders == []


def test_pages_never_import_torch_or_transformers():
    heavy = {"torch", "transformers", "peft", "accelerate"}
    offenders = [
        str(p.relative_to(ROOT)) for p in [*(ROOT / "pages").glob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "app.py"]
        if imported_modules(p) & heavy
    ]
    assert offenders == []


def test_no_pickle_loading_anywhere_in_core():
    for path in (ROOT / "core").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "pickle.load" not in source and "joblib.load" not in source and "torch.load(" not in source, path


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def core_import_graph() -> dict[str, set[str]]:
    """{module: modules of core it imports} for every module under core/, read with ast (imports
    inside functions count too). Importing ``core.a.b`` also runs ``core.a``'s __init__, so that
    edge is added too, except from inside the package itself (Python's own package order)."""
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "core").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        package = name.split(".") if is_package else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                if node.module:
                    targets.add(".".join([*base, node.module]))
                else:  # from . import a, b
                    targets.update(".".join([*base, alias.name]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core"):
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("core"))
        edges = set()
        for target in targets:
            while "." in target and not _is_module(target):
                target = target.rsplit(".", 1)[0]  # "from .models import SavedModel": the module is core.models
            edges.add(target)
            parent = target.rsplit(".", 1)[0]
            while parent != "core" and name != parent and not name.startswith(parent + "."):
                edges.add(parent)
                parent = parent.rsplit(".", 1)[0]
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def test_the_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_inside_core():
    graph = core_import_graph()
    assert {"core.training", "core.fewshot", "core.models", "core.models.folder"} <= set(graph)
    assert "core.progress" in graph["core.fewshot"] and "core.models.fewshot" in graph["core.fewshot"]
    assert find_cycle(graph) == []


def test_the_models_wing_imports_only_the_ground_floor():
    """core/models holds, predicts, saves and loads models: it never reaches up into a trainer
    or an analysis module (targeting, the response comparison, Ad Copy Lab, dashboard).
    core.base_models is the catalog lookup (it imports only core.words and, to build a model,
    core.multilingual, neither of which imports core): the embedding kind loads its frozen encoder
    through that one resolver instead of copying it into the folder."""
    allowed = {"core.calibration", "core.data", "core.config", "core.files", "core.progress", "core.base_models", "core.multilabel"}
    graph = core_import_graph()
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module == "core.models" or module.startswith("core.models.")
        for target in targets
        if target not in allowed and not target.startswith("core.models")
    }
    assert upward == set()


def test_no_importlib_string_loading_in_core():
    """Modules are imported by name in the source, so the import graph above is the whole truth."""
    offenders = []
    for path in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("import_module", "__import__"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


MAX_PAGE_LINES = 150


def test_pages_stay_thin():
    """A page reads widgets, calls core or a ui renderer, and renders (DESIGN: 40-120 lines);
    form logic lives in ui/ (ui/train_form.py, ui/predict.py, ui/label.py, ui/dashboard.py),
    computation in core."""
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "pages").glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_PAGE_LINES} == {}


def test_no_page_reads_another_pages_session_keys():
    """Keys shared between pages are declared in ui/state.py; a page's own keys carry its prefix."""
    shared = ("last_prediction_path", "train_data")
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py")
        if any(f'"{key}"' in p.read_text(encoding="utf-8") for key in shared)
    ]
    assert offenders == []


def private_imports() -> set[tuple[str, str, str]]:
    """(module, imported module, name) for every ``_private`` name imported from another core module."""
    found = set()
    for path in (ROOT / "core").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("core")):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.add((module, "." * node.level + (node.module or ""), alias.name))
    return found


def test_no_private_names_cross_core_modules():
    """A name starting with _ is its module's own business: another module that needs it should
    get a public name (fewshot once imported training's _cancel_check and _natural_key)."""
    assert private_imports() == set()


def test_the_response_comparison_passes_no_fake_columns():
    """The comparison fits the transformer on a Prepared built from its own text and split
    (core.prepare.prepared_from_texts); it never smuggles them into train() as extra columns."""
    for name in ("response.py", "training.py", "prepare.py", "fewshot.py"):
        assert "__marketune_" not in (ROOT / "core" / name).read_text(encoding="utf-8"), name
    assert "core.training" not in {t for t in core_import_graph()["core.fewshot"]}  # fits never import each other


MAX_FUNCTION_LINES = 120


def long_functions(folders: tuple[str, ...] = ("core", "ui"), limit: int = MAX_FUNCTION_LINES) -> dict[str, int]:
    """{"path:function": lines} for every function (methods and nested ones too) longer than
    ``limit`` lines, decorators and docstring included, read with ast (``folders``: folders or .py files)."""
    found = {}
    for folder in folders:
        for path in [ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        found[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    return found


def test_the_long_function_finder_sees_a_long_function():
    assert "core/response.py:train_response_models" in long_functions(("core/response.py",), limit=20)


def test_the_response_comparison_runs_in_phases_of_at_most_60_lines():
    """prepare_response_rows, fit_candidates (the fine-tune through core.pipeline.fit_and_score),
    compare: each phase, and each helper, reads on one screen."""
    assert long_functions(("core/response.py",), limit=60) == {}


def test_no_function_in_core_or_ui_is_over_120_lines():
    """One function, one job: a function that grows past 120 lines is split into named steps
    (train_response_models became prepare, fit, calibrate, record and refit)."""
    assert long_functions() == {}


def _core_and_ui_trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in [*(ROOT / "core").rglob("*.py"), *(ROOT / "ui").rglob("*.py")]]


def test_one_json_encoder():
    """core.files.json_default is the one ``default=`` for JSON (there were five encoders: numpy
    numbers became floats in one file and text in another); no JSONEncoder subclass either."""
    offenders = []
    for path, tree in _core_and_ui_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any("JSONEncoder" in ast.unparse(b) for b in node.bases):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dump", "dumps"):
                for keyword in node.keywords:
                    if keyword.arg in ("default", "cls") and ast.unparse(keyword.value) != "json_default":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {keyword.arg}={ast.unparse(keyword.value)}")
    assert offenders == []


def test_the_model_folders_file_names_are_spelled_once():
    """Every other module names a model folder's files by core.models.folder's constants
    (or asks ``is_model_folder``/``stamp``), so a renamed file is one edit."""
    from core.models import folder

    names = {folder.MANIFEST, folder.SCHEMA, folder.TRAINING_CONFIG, folder.METRICS, folder.CALIBRATION,
             folder.TEST_PREDICTIONS, folder.OOD_REFERENCE}
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value}"
        for path, tree in _core_and_ui_trees() if path.name != "folder.py"
        for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in names
    ]
    assert offenders == []


def handed_lists_filled(tree: ast.AST) -> list[str]:
    """"function(parameter)" for every function that appends to, extends or adds (+=) to a list
    it was handed, and every ``problems: list`` parameter (a form's problems are returned)."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        lists = {a.arg for a in params if a.annotation is not None and ast.unparse(a.annotation).startswith("list")}
        found += [f"{fn.name}({a.arg})" for a in params if a.arg == "problems" and a.arg in lists]
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if node.func.value.id in {a.arg for a in params} and node.func.attr in ("append", "extend", "insert"):
                    found.append(f"{fn.name}({node.func.value.id})")
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id in lists:
                found.append(f"{fn.name}({node.target.id})")
    return sorted(set(found))


def test_the_list_finder_sees_a_form_filling_a_handed_list():
    source = "def section(data, problems: list[str]):\n    problems += ['x']\n\ndef other(out):\n    out.append(1)\n"
    assert handed_lists_filled(ast.parse(source)) == ["other(out)", "section(problems)"]


def test_ui_forms_return_their_problems():
    """A form section returns what it found, problems included (ui.train_form.Columns/Settings),
    and the page combines them; no section appends to a list it was handed."""
    offenders = [f"{path.relative_to(ROOT)}:{name}" for folder in ("ui", "pages") for path in (ROOT / folder).rglob("*.py")
                 for name in handed_lists_filled(ast.parse(path.read_text(encoding="utf-8")))]
    assert offenders == []
