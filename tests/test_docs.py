"""The docs stay true: every test a doc names exists, and the README's configuration
table lists every variable the settings model reads."""

from __future__ import annotations

import re
from pathlib import Path

from app.config import SUPERDUPER_KNOBS_EXCLUDED, EnvSettings, knob_variables
from bot.backend.superduper.settings import SuperDuperSettings

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
    variables += knob_variables(SuperDuperSettings, "SUPERDUPER_", SUPERDUPER_KNOBS_EXCLUDED)
    unlisted = [v for v in variables if f"`{v}`" not in readme]
    assert unlisted == []
