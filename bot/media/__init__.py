"""Checking, fitting and composing images and videos (Pillow; platform- and backend-free)."""
