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


def test_model_module_does_not_import_training():
    for path in (ROOT / "core" / "models").glob("*.py"):
        source = path.read_text()
        assert "from ..training" not in source and "import training" not in source, path


def test_no_pickle_loading_anywhere_in_core():
    for path in (ROOT / "core").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert "pickle.load" not in source and "joblib.load" not in source and "torch.load(" not in source, path
