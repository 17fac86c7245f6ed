"""The console adapter: a local channel in the terminal, images saved to disk."""

from adapters.console.chat import ConsoleChat
from adapters.console.repl import ConsoleSession

__all__ = ["ConsoleChat", "ConsoleSession"]
