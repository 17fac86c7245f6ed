"""The emulator's "disk": input, output and temp files in memory.

Like the real server's folders, input and output survive a restart and temp does not.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field

FOLDER_TYPES = ("input", "output", "temp")


class UnsafePath(ValueError):
    """A subfolder or file name that would leave its folder."""


def clean_subfolder(subfolder: str) -> str:
    """Normalise a subfolder like ``os.path.normpath``; refuse one that escapes."""
    if not subfolder:
        return ""
    path = posixpath.normpath(subfolder.replace("\\", "/"))
    if path == ".":
        return ""
    if path.startswith(("/", "..")):
        raise UnsafePath(subfolder)
    return path


@dataclass(slots=True)
class FileStore:
    """Files by (folder type, subfolder, name)."""

    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)

    def get(self, folder: str, subfolder: str, name: str) -> bytes | None:
        return self.files.get((folder, subfolder, name))

    def put(self, folder: str, subfolder: str, name: str, data: bytes) -> None:
        self.files[(folder, subfolder, name)] = data

    def exists(self, folder: str, subfolder: str, name: str) -> bool:
        return (folder, subfolder, name) in self.files

    def names(self, folder: str) -> list[str]:
        """Top-level file names of a folder, sorted (what ``LoadImage`` lists)."""
        return sorted(n for f, s, n in self.files if f == folder and not s)

    def next_counter(self, folder: str, subfolder: str, prefix: str) -> int:
        """SaveImage's counter: one past the highest ``{prefix}_NNNNN_`` in the folder."""
        highest = 0
        for f, s, name in self.files:
            if f != folder or s != subfolder or not name.startswith(prefix + "_"):
                continue
            digits = name[len(prefix) + 1 :].split("_")[0]
            if digits.isdigit() and name[len(prefix) + 1 + len(digits) :].startswith("_"):
                highest = max(highest, int(digits))
        return highest + 1

    def same_content(self, folder: str, subfolder: str, name: str, data: bytes) -> bool:
        existing = self.get(folder, subfolder, name)
        return existing is not None and (
            hashlib.sha256(existing).digest() == hashlib.sha256(data).digest()
        )

    def clear_temp(self) -> None:
        for key in [k for k in self.files if k[0] == "temp"]:
            del self.files[key]
