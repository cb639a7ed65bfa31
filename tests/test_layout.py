"""The code's layout holds what DESIGN.md section 1 says of it (issue 21).

import-linter (`make lint`) checks the layers; these check what it cannot: the readers' table
names modules that import, a reader process loads the plain-Python core and nothing else, and
no module or class outgrows the sizes this project set itself.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import import_module

from scanner.core.readers.dispatch import READERS
from tests import media
from tests.procs import ROOT


def test_every_reader_named_in_the_table_imports():
    """The table holds "module:function" strings: a stale one would make every file of its
    kind count as failed, quietly, instead of failing here."""
    for name in sorted(set(READERS.values())):
        module, function = name.split(":")
        assert callable(getattr(import_module(module), function)), name


def test_a_reader_process_loads_only_the_core(tmp_path):
    """What a spawned reader imports to read each kind of file: never Django, the apps, or the
    scanner's database layers (a reader would pay for them at every start, and could touch them)."""
    files = [media.write_mp3(tmp_path / "a.mp3"), media.write_video(tmp_path / "v.mkv"),
             media.write_photo(tmp_path / "p.jpg")]
    script = (
        "import sys\n"
        "from scanner.core.readers import child\n"  # what a reader process unpickles first
        f"results = child.read_many({[str(path) for path in files]!r})\n"
        "assert all(not error for _, error in results), results\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    modules = loaded.stdout.split()
    assert "scanner.core.readers.video" in modules  # it did read: the check below is not vacuous
    foreign = [name for name in modules if name.split(".")[0] in ("django", "rest_framework", "libraries",
                                                                    "mediaserver", "common")
               or (name.startswith("scanner.") and not name.startswith("scanner.core"))]
    assert foreign == []


MAX_MODULE_LINES = 250
MAX_CLASS_LINES = 150
SIZED = ("scanner", "libraries", "mediaserver", "common")  # the product's code, less migrations


def test_modules_and_classes_stay_small():
    """A module past 250 lines or a class past 150 holds more than one thing: split it by what
    it holds (DESIGN.md 1), rather than raise the limit."""
    too_big = []
    for package in SIZED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = path.read_text()
            name = str(path.relative_to(ROOT))
            if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
                too_big.append(f"{name}: {lines} lines")
            too_big += [f"{name}: class {node.name} {node.end_lineno - node.lineno + 1} lines"
                        for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ClassDef)
                        and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES]
    assert too_big == []
