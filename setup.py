"""Compiles the feature extractor with mypyc when it can; everything else is in pyproject.toml.

The extractor (`model.hashing`, `model.scan`, `model.features`) is the daemon's hot path: pure
Python that walks every AST node. mypyc compiles those same sources to C extensions, about 1.7x
faster with no change to what they compute. The build is optional: without mypy or a C compiler,
or with ``YANTRA_PURE_PYTHON=1`` in the environment, the package installs as pure Python and gives
the same features, only slower. After editing one of these files, reinstall (``pip install -e .``):
a compiled module shadows its source, and `model.native` says when one is stale (by the source
digests this build records).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

COMPILED_MODULES = ["model/hashing.py", "model/scan.py", "model/features.py"]
SOURCES_RECORD = "compiled_sources.json"
"""Written beside the compiled modules: the sha256 of each source as compiled (read by model.native)."""


def _extensions() -> list:
    if os.environ.get("YANTRA_PURE_PYTHON"):
        _remove_compiled_modules()
        return []
    try:
        from mypyc.build import mypycify

        extensions = mypycify(COMPILED_MODULES, opt_level="3", group_name="yantra_extractor")
    except (Exception, SystemExit) as exc:  # no mypyc (ImportError), or mypy exits on a type error
        print(f"not compiling the extractor ({exc!r}): installing it as pure Python", file=sys.stderr)
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
        digests = {path[:-3].replace("/", "."): hashlib.sha256(Path(path).read_bytes()).hexdigest()
                   for path in COMPILED_MODULES}
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
        os.replace(temporary, target)


setup(ext_modules=_extensions(), cmdclass={"build_ext": _BuildExtRecordingSources})
