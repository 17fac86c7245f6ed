"""The arrows point one way (read from the source, statically):

* the core (``bot/``) and ``storage/`` import no chat platform library and no adapter or app;
* the core imports no backend package: only ``bot/backend/<name>/`` knows its service;
* a backend imports no other backend."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = sorted(
    p.name for p in (ROOT / "bot" / "backend").iterdir() if (p / "__init__.py").exists()
)
PLATFORM_LIBRARIES = ("discord", "slack_bolt", "slack_sdk", "adapters", "app")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_there_are_backends_to_check() -> None:
    assert BACKENDS == ["comfyui", "superduper"]


@pytest.mark.parametrize("layer", ["bot", "storage"])
def test_the_core_and_storage_import_no_platform_adapter_or_app(layer: str) -> None:
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(ROOT / layer)
        for name in imports(path)
        if name.split(".")[0] in PLATFORM_LIBRARIES
    }
    assert offending == set()


def test_the_core_imports_no_backend_package() -> None:
    backend_packages = tuple(f"bot.backend.{name}" for name in BACKENDS)
    core = [
        path
        for path in modules(ROOT / "bot")
        if not any(path.is_relative_to(ROOT / "bot" / "backend" / name) for name in BACKENDS)
    ]
    core += modules(ROOT / "storage")
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in core
        for name in imports(path)
        if name.startswith(backend_packages)
    }
    assert offending == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backend_imports_no_other_backend(backend: str) -> None:
    others = tuple(f"bot.backend.{name}" for name in BACKENDS if name != backend)
    offending = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in modules(ROOT / "bot" / "backend" / backend)
        for name in imports(path)
        if name.startswith(others)
    }
    assert offending == set()
