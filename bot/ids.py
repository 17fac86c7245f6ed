"""Short, human-friendly job ids (no look-alike characters)."""

from __future__ import annotations

import random

ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 6  # 31**6 ≈ 887 million


def new_job_id(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(LENGTH))
