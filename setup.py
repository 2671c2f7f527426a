"""Compiles the feature extractor with mypyc when it can; everything else is in pyproject.toml.

The extractor (`model.hashing`, `model.scan`, `model.features`, `model.sites`) is the daemon's hot path: pure
Python that walks every AST node. mypyc compiles those same sources to C extensions, about 1.7x
faster with no change to what they compute. The build is optional: without mypy or a C compiler,
or with ``YANTRA_PURE_PYTHON=1`` in the environment, the package installs as pure Python and gives
the same features, only slower. After editing one of these files, reinstall (``pip install -e .``):
a compiled module shadows its source, and `model.native` says when one is stale (by the source
digests this build records).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext


def _load_native():
    """model/native.py by its path (the package is not importable while it is being built): which
    modules to compile, where to record their sources and how, all from the module that checks them."""
    path = Path(__file__).resolve().parent / "model" / "native.py"
    spec = importlib.util.spec_from_file_location("_yantra_native", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


NATIVE = _load_native()
COMPILED_MODULES = [name.replace(".", "/") + ".py" for name in NATIVE.EXTRACTOR_MODULES]
SOURCES_RECORD = NATIVE.SOURCES_RECORD.name


def _extensions() -> list:
    if os.environ.get("YANTRA_PURE_PYTHON"):
        _remove_compiled_modules()
        return []
    try:
        from mypyc.build import mypycify

        extensions = mypycify(COMPILED_MODULES, opt_level="3", group_name="yantra_extractor")
    except (Exception, SystemExit) as exc:  # no mypyc (ImportError), or mypy exits on a type error
        print(f"not compiling the extractor ({exc!r}): installing it as pure Python", file=sys.stderr)
        _remove_compiled_modules()  # an editable checkout's earlier build would shadow the new sources
        return []
    for extension in extensions:
        extension.optional = True  # no C compiler: warn and install the pure-Python sources
    return extensions


def _remove_compiled_modules() -> None:
    """An earlier in-place (editable) build's compiled modules would shadow the sources: remove them."""
    root = Path(__file__).resolve().parent
    for path in [*root.glob("model/*.so"), *root.glob("yantra_extractor__mypyc*.so"), root / "model" / SOURCES_RECORD]:
        path.unlink(missing_ok=True)


class _BuildExtRecordingSources(build_ext):
    """build_ext that records, beside the compiled modules, a digest of each source it compiled: a
    compiled module shadows its `.py` file, and `model.native` compares the two to tell a stale build
    (file times cannot: pip and git set them as they please)."""

    def run(self) -> None:
        super().run()
        if not self.extensions:
            return
        target = Path(self.get_ext_fullpath("model.scan")).parent / SOURCES_RECORD
        digests = {name: NATIVE.source_digest(Path(path))
                   for name, path in zip(NATIVE.EXTRACTOR_MODULES, COMPILED_MODULES, strict=True)}
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        os.replace(temporary, target)


setup(ext_modules=_extensions(), cmdclass={"build_ext": _BuildExtRecordingSources})
