"""The docs stay true: every test a doc names exists, and the README's configuration
table lists every variable the settings model reads."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import EnvSettings, every_variable

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = re.compile(r"(tests/[\w/]+\.py)(?:::(\w+))?")
SHORT = re.compile(r"`::(\w+)`")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_test_a_doc_names_exists() -> None:
    missing = []
    for doc in documents():
        text = doc.read_text()
        for line in text.splitlines():
            refs = REFERENCE.findall(line)
            for path, name in refs:
                source = ROOT / path
                if not source.is_file():
                    missing.append(f"{doc.name}: {path}")
                    continue
                names = [name, *SHORT.findall(line)] if name else []
                body = source.read_text()
                for test in names:
                    if not re.search(rf"def {test}\b", body):
                        missing.append(f"{doc.name}: {path}::{test}")
    assert missing == []


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    variables = [name.upper() for name in EnvSettings.model_fields]
    unlisted = [v for v in variables if f"`{v}`" not in readme]
    knobs = [v for v in every_variable() if v not in variables]
    # The knob table lists each shared knob once, by its SUPERDUPER_ name.
    listed = {v.split("_", 1)[1] for v in re.findall(r"`((?:SUPERDUPER|COMFYUI)_\w+)`", readme)}
    unlisted += [v for v in knobs if v.split("_", 1)[1] not in listed]
    assert unlisted == []
