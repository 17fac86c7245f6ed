"""What our Slack app manifests declare, read from ``docs/`` so that the fake grants an
app exactly what a user who followed docs/slack.md granted theirs.

PyYAML is not a dependency and the manifests are ours: a list is a key alone on its
line followed by ``- item  # comment`` lines."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"
SOCKET_MANIFEST = DOCS / "slack-app-manifest.yaml"
HTTP_MANIFEST = DOCS / "slack-app-manifest-http.yaml"


def listed(path: Path, key: str) -> list[str]:
    """The items of the list under the first ``key:`` of the manifest."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line.strip() != f"{key}:":
            continue
        items: list[str] = []
        for item in lines[number + 1 :]:
            text = item.strip()
            if not text.startswith("- "):
                break
            items.append(text[2:].split("#", 1)[0].strip())
        return items
    raise KeyError(f"{key} is not in {path.name}")


def bot_scopes(path: Path = SOCKET_MANIFEST) -> frozenset[str]:
    return frozenset(listed(path, "bot"))


def bot_events(path: Path = SOCKET_MANIFEST) -> frozenset[str]:
    return frozenset(listed(path, "bot_events"))


def commands(path: Path = SOCKET_MANIFEST) -> list[str]:
    """The slash commands the manifest declares, in order."""
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("- command:")
    ]


def shortcut_callback_ids(path: Path = SOCKET_MANIFEST) -> list[str]:
    return [
        line.split(":", 1)[1].strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("callback_id:")
    ]
