"""Deterministic placeholder pictures: same prompt + seed + index give the same pixels.

Shared by both emulators. The caption is drawn with the first font of a chain that has each
character (DejaVu Sans: Latin, Cyrillic, Arabic, Greek; Noto CJK; Noto Color Emoji, where
their Debian packages are installed); a character no font has is left out, never drawn as
a box.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import textwrap
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

_SHAPES = 5
_MAX_PROMPT_CHARS = 240


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """Everything the picture depends on."""

    prompt: str
    seed: int
    index: int
    width: int
    height: int


FONT_CHAIN: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
)
"""Caption fonts, first match wins (Debian: fonts-dejavu-core, fonts-noto-cjk,
fonts-noto-color-emoji). Missing files are skipped; Pillow's own font is the last resort."""
_BITMAP_SIZE = 109
"""The one size colour-bitmap fonts (Noto Color Emoji) can be opened at."""


def render_png(spec: ImageSpec) -> bytes:
    """``render_image`` encoded with fast PNG settings."""
    out = io.BytesIO()
    render_image(spec).save(out, "PNG", compress_level=1)
    return out.getvalue()


def render_image(spec: ImageSpec, fonts: Sequence[str] = FONT_CHAIN) -> Image.Image:
    """Draw a gradient, a few shapes and the prompt text (RGB)."""
    digest = hashlib.sha256(f"{spec.prompt}\x00{spec.seed}\x00{spec.index}".encode()).digest()
    size = (spec.width, spec.height)
    start = (digest[0], digest[1], digest[2])
    end = (digest[3], digest[4], digest[5])
    gradient = Image.linear_gradient("L")
    orientation = digest[6] % 5
    if orientation == 4:
        gradient = Image.radial_gradient("L")
    elif orientation:
        gradient = gradient.transpose(
            (
                Image.Transpose.FLIP_TOP_BOTTOM,
                Image.Transpose.ROTATE_90,
                Image.Transpose.ROTATE_270,
            )[orientation - 1]
        )
    mask = gradient.resize(size, Image.Resampling.BILINEAR)
    image = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)
    draw = ImageDraw.Draw(image)
    for shape in range(_SHAPES):
        b = digest[7 + shape * 5 : 12 + shape * 5]
        x0, y0 = b[0] * spec.width // 256, b[1] * spec.height // 256
        x1 = x0 + (b[2] + 32) * spec.width // 512
        y1 = y0 + (b[3] + 32) * spec.height // 512
        colour = (b[4], b[0] ^ b[3], b[1] ^ b[2])
        if b[4] % 2:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    _draw_caption(image, spec, tuple(fonts))
    return image


_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True, slots=True)
class _Run:
    text: str
    font: _Font
    bitmap: bool


@functools.lru_cache(maxsize=32)
def _open_font(path: str, size: int) -> tuple[_Font, bool] | None:
    """A chain font at ``size`` (bitmap fonts at their one size), or None if unusable."""
    if not os.path.exists(path):
        return None
    try:
        return ImageFont.truetype(path, size), False
    except OSError:
        try:
            return ImageFont.truetype(path, _BITMAP_SIZE), True
        except OSError:
            return None


def _chain(fonts: tuple[str, ...], size: int) -> list[tuple[_Font, bool]]:
    opened = [f for f in (_open_font(path, size) for path in fonts) if f is not None]
    return [*opened, (ImageFont.load_default(size=size), False)]


@functools.lru_cache(maxsize=4096)
def _has_glyph(font: _Font, char: str) -> bool:
    """Whether ``font`` draws ``char`` as something other than its missing-glyph box."""
    try:
        mask = font.getmask(char, mode="RGBA" if _is_bitmap(font) else "L")
        missing = font.getmask("\U0010fffe", mode="RGBA" if _is_bitmap(font) else "L")
    except (OSError, ValueError):
        return False
    if mask.size == (0, 0) or mask.getbbox() is None:
        return False
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def _is_bitmap(font: _Font) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont) and font.size == _BITMAP_SIZE


def caption_runs(text: str, fonts: Sequence[str], size: int) -> list[tuple[str, str | None]]:
    """The caption split into (text, font path or None for left out) — for tests."""
    chain = _chain(tuple(fonts), size)
    paths = [p for p in fonts if _open_font(p, size) is not None] + ["<pillow>"]
    runs = _runs(text, chain)
    by_font = {id(font): path for (font, _), path in zip(chain, paths, strict=True)}
    out: list[tuple[str, str | None]] = []
    covered = "".join(r.text for r in runs)
    for run in runs:
        out.append((run.text, by_font[id(run.font)]))
    dropped = "".join(c for c in text if c not in covered and not c.isspace())
    if dropped:
        out.append((dropped, None))
    return out


def _runs(text: str, chain: list[tuple[_Font, bool]]) -> list[_Run]:
    runs: list[_Run] = []
    for char in text:
        if unicodedata.category(char) in ("Mn", "Me", "Cf") and runs:
            runs[-1] = _Run(runs[-1].text + char, runs[-1].font, runs[-1].bitmap)
            continue
        if char.isspace():
            choice: tuple[_Font, bool] | None = (
                (runs[-1].font, runs[-1].bitmap) if runs else chain[0]
            )
        else:
            choice = next(((f, b) for f, b in chain if _has_glyph(f, char)), None)
        if choice is None:
            continue  # no font draws it: leave it out rather than draw a box
        font, bitmap = choice
        if runs and runs[-1].font is font:
            runs[-1] = _Run(runs[-1].text + char, font, bitmap)
        else:
            runs.append(_Run(char, font, bitmap))
    return runs


def _draw_caption(image: Image.Image, spec: ImageSpec, fonts: tuple[str, ...]) -> None:
    font_size = max(8, min(spec.width, spec.height) // 20)
    chain = _chain(fonts, font_size)
    chars_per_line = max(4, int(spec.width / (font_size * 0.6)) - 2)
    max_lines = max(1, spec.height // (font_size + 4) - 1)
    text = spec.prompt[:_MAX_PROMPT_CHARS]
    lines = textwrap.wrap(text, chars_per_line)[:max_lines] or [""]
    line_height = font_size + max(2, font_size // 4)
    margin = font_size // 2
    laid_out = [_runs(line, chain) for line in lines]
    widths = [sum(_advance(run, font_size) for run in runs) for runs in laid_out]
    pad = max(2, font_size // 4)
    draw = ImageDraw.Draw(image)
    right = margin + max(widths, default=0)
    bottom = margin + line_height * len(lines)
    draw.rectangle((margin - pad, margin - pad, right + pad, bottom), fill=(0, 0, 0))
    for row, runs in enumerate(laid_out):
        x = float(margin)
        y = margin + row * line_height
        for run in runs:
            if run.bitmap:
                _paste_bitmap(image, run, (x, y), font_size)
            else:
                draw.text((x, y), run.text, font=run.font, fill=(255, 255, 255))
            x += _advance(run, font_size)


def _advance(run: _Run, font_size: int) -> float:
    if run.bitmap:
        return float(font_size * len(run.text))
    return float(run.font.getlength(run.text))


def _paste_bitmap(image: Image.Image, run: _Run, at: tuple[float, float], size: int) -> None:
    """Colour glyphs exist at one size only: draw each at it, scale to the caption's."""
    for offset, char in enumerate(run.text):
        glyph = Image.new("RGBA", (_BITMAP_SIZE * 4 // 3, _BITMAP_SIZE * 4 // 3))
        ImageDraw.Draw(glyph).text((0, 0), char, font=run.font, embedded_color=True)
        box = glyph.getbbox()
        if box is None:
            continue
        small = glyph.crop(box)
        small.thumbnail((size, size), Image.Resampling.LANCZOS)
        image.paste(small, (int(at[0]) + offset * size, int(at[1])), small)


def render_from_reference(spec: ImageSpec, reference: bytes, weight: float) -> bytes:
    """An image-to-image result: the seed's picture blended with ``reference`` (resized to
    the asked size); ``weight`` is the reference's share (1 = the reference itself, so an
    upscale is the same picture at the new size)."""
    with Image.open(io.BytesIO(reference), formats=("PNG", "JPEG", "WEBP")) as opened:
        source = opened.convert("RGB").resize((spec.width, spec.height), Image.Resampling.LANCZOS)
    picture = source if weight >= 1 else Image.blend(render_image(spec), source, weight)
    out = io.BytesIO()
    picture.save(out, "PNG", compress_level=1)
    return out.getvalue()


CacheKey = Hashable


class ImageCache:
    """A small LRU of rendered PNGs (rendering happens only on download)."""

    def __init__(self, max_entries: int = 16) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()

    def get(self, spec: CacheKey) -> bytes | None:
        data = self._entries.get(spec)
        if data is not None:
            self._entries.move_to_end(spec)
        return data

    def put(self, spec: CacheKey, data: bytes) -> None:
        self._entries[spec] = data
        self._entries.move_to_end(spec)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


VIDEO_FPS = 8


def render_video(
    spec: ImageSpec,
    seconds: float,
    *,
    reference: bytes | None = None,
    weight: float = 0.5,
    fps: int = VIDEO_FPS,
) -> bytes:
    """A deterministic MP4 (H.264) clip: the prompt's picture (or its blend with a
    reference, the clip's first frame) with a bright disc sweeping across it, so that
    it visibly moves and differs per prompt and seed. Encoded by the ffmpeg that ships in
    the ``imageio-ffmpeg`` wheel; CPU-bound (run it in a thread)."""
    width, height = spec.width - spec.width % 2, spec.height - spec.height % 2
    sized = ImageSpec(spec.prompt, spec.seed, spec.index, width, height)
    if reference is not None:
        with Image.open(io.BytesIO(render_from_reference(sized, reference, weight))) as opened:
            base = opened.convert("RGB")
    else:
        base = render_image(sized)
    count = max(2, round(seconds * fps))
    frames = [moving_frame(base, spec.prompt, spec.seed, n, count) for n in range(count)]
    return encode_mp4(frames, fps)


def moving_frame(base: Image.Image, prompt: str, seed: int, n: int, count: int) -> Image.Image:
    """Frame ``n`` of ``count`` of a clip made from ``base``: a disc of the prompt's and
    seed's colour sweeps from off the left edge (frame 0 is ``base`` itself) to off the
    right one, at a height the prompt and seed choose."""
    width, height = base.size
    digest = hashlib.sha256(f"{prompt}\x00{seed}".encode()).digest()
    colour = (digest[0] | 0x80, digest[1] | 0x40, digest[2])
    radius = max(4, min(width, height) // 8)
    frame = base.copy()
    x = int((width + 2 * radius) * n / max(count - 1, 1)) - radius
    y = height // 2 + int((digest[3] - 128) / 256 * height / 2)
    ImageDraw.Draw(frame).ellipse((x - radius, y - radius, x + radius, y + radius), colour)
    return frame


def encode_mp4(
    frames: Sequence[Image.Image], fps: float, *, metadata: dict[str, str] | None = None
) -> bytes:
    """``frames`` (one size, even sides) as an H.264 MP4 at ``fps``, by the bundled ffmpeg;
    ``metadata`` becomes the container's tags. CPU-bound (run it in a thread)."""
    import subprocess

    import imageio_ffmpeg

    width, height = frames[0].size
    raw = b"".join(frame.convert("RGB").tobytes() for frame in frames)
    tags = [
        arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")
    ]
    with tempfile.TemporaryDirectory(prefix="emulator-video-") as folder:
        target = os.path.join(folder, "clip.mp4")
        raw_input = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}"]
        encoding = ["-c:v", "libx264", "-preset", "veryfast", "-threads", "1"]
        flags = "+faststart+use_metadata_tags" if tags else "+faststart"
        output = ["-pix_fmt", "yuv420p", "-movflags", flags]
        done = subprocess.run(  # noqa: S603 - the bundled ffmpeg, fixed arguments
            [
                imageio_ffmpeg.get_ffmpeg_exe(),
                *("-hide_banner", "-loglevel", "error", "-nostdin"),
                *raw_input,
                *("-r", f"{fps:g}", "-i", "-"),
                *encoding,
                *tags,
                *output,
                *("-y", target),
            ],
            input=raw,
            capture_output=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {done.stderr.decode(errors='replace')[-200:]}")
        with open(target, "rb") as clip:
            return clip.read()
