"""Moved to ``emulator.render`` (shared by both emulators); kept for existing imports."""

from emulator.render import ImageCache, ImageSpec, render_png

__all__ = ["ImageCache", "ImageSpec", "render_png"]
