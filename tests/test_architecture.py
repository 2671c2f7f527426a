"""The house rules that keep the packages apart, checked on the source itself."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "model", "bridge", "training")
# What each package may import from the others: arrows point one way.
ALLOWED = {"protocol": set(), "model": set(), "bridge": {"protocol", "model"}, "training": {"model"}}
# Modules of model/ that the daemon loads: every one but the torch network that training uses.
TRAINING_ONLY_MODEL = {"layers", "network"}
TORCH_FREE_MODEL = tuple(sorted(path.stem for path in (ROOT / "model").glob("*.py")
                                if path.stem not in TRAINING_ONLY_MODEL | {"__init__"}))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_each_other_only_along_the_allowed_arrows(package):
    for path in (ROOT / package).rglob("*.py"):
        used = _imports(path) & set(PACKAGES) - {package}
        assert used <= ALLOWED[package], f"{path.relative_to(ROOT)} imports {sorted(used - ALLOWED[package])}"


def test_protocol_imports_neither_torch_nor_numpy():
    for path in (ROOT / "protocol").rglob("*.py"):
        assert not _imports(path) & {"torch", "numpy"}, path


def test_the_daemons_model_modules_do_not_import_torch():
    for name in TORCH_FREE_MODEL:
        assert "torch" not in _imports(ROOT / "model" / f"{name}.py"), name


def test_starting_the_predictor_loads_no_torch():
    # every torch-free module imported by name, so none is covered only through the predictor's imports
    modules = ", ".join(f"model.{name}" for name in TORCH_FREE_MODEL)
    code = (f"import sys, {modules}; from model.predictor import Predictor; Predictor().load(); "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.stdout.strip() == "False", result.stderr


def test_every_module_opens_with_a_docstring_that_says_what_it_owns():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
            assert docstring and len(docstring) > 20, f"{path.relative_to(ROOT)} has no module docstring"


def test_the_tree_is_ruff_clean():
    # ruff is in the [test] extra and .ci/run lints only through this test, so a missing ruff fails here
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
