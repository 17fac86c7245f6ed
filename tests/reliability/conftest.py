from __future__ import annotations

import warnings

# discord.py imports the stdlib ``audioop`` (deprecated since 3.11); with
# filterwarnings=error that import must happen once with the warning silenced
# (as in tests/discord/conftest.py) before test_secrets imports the Discord stack.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401
