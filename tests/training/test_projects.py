"""Corpus packages as projects: an index per package, and each import sample's context within it."""

from pathlib import Path

from training.datasets import DataConfig, ImportSample
from training.projects import package_projects, sample_contexts


def _tree(root: Path) -> None:
    for relative, text in {
        "shop/__init__.py": "",
        "shop/text.py": "def slugify(title):\n    return title.lower()\n",
        "shop/views.py": "from shop.text import slugify\n\ndef show(t):\n    return slugify(t)\n",
        "other/__init__.py": "def slugify(x):\n    return x\n",
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_each_package_is_indexed_from_its_own_files_only(tmp_path):
    _tree(tmp_path)
    projects = package_projects(DataConfig(roots=(str(tmp_path),)), {"shop"})
    assert set(projects) == {"shop"}
    assert projects["shop"].names["slugify"] == {"shop.text": 1.0}
    assert projects["shop"].root == tmp_path.resolve()


def test_a_sample_s_context_names_its_own_module_and_samples_without_a_project_get_none(tmp_path):
    _tree(tmp_path)
    projects = package_projects(DataConfig(roots=(str(tmp_path),)), {"shop"})
    views = str(tmp_path.resolve() / "shop" / "views.py")
    inside = ImportSample("def show(t):\n    return slugify(t)\n", ("shop.text",), ("from shop.text import slugify",),
                          "test", "shop", views)
    outside = ImportSample("x = 1\n", (), (), "test", "elsewhere", "/elsewhere/x.py")
    context, missing = sample_contexts([inside, outside], projects)
    assert missing is None
    assert context.own_module == "shop.views"
    assert context.evidence({"slugify"}) == {"shop.text": 1.0}
