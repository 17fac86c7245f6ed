"""Parse the /imagine command language into :class:`ImagineParams`.

Grammar (one free-text field, as Slack delivers it; Discord's typed options go on top)::

    [/imagine] <prompt> [--ar W:H | --size WxH] [--seed N] [--steps N]
                        [--no NEGATIVE...] [--style NAME] [--n 1-4]

- Flags may appear anywhere (usually at the end). Names are case-insensitive;
  ``--flag value`` and ``--flag=value`` both work. Aliases: ``--aspect`` /
  ``--aspect-ratio`` = ``--ar``, ``--negative`` / ``--negative-prompt`` = ``--no``,
  ``--count`` = ``--n``.
- An em or en dash counts as ``--`` (macOS, iOS and Slack autocorrect ``--ar`` to
  ``—ar``), but only before a known flag name, so "a cat —or a dog" stays prompt text.
  A word starting with ``--`` and a letter is always a flag: unknown ones are errors.
- Values may be quoted with "double", 'single' or “smart” quotes. A quote opens at
  the start of a word and closes at a quote of the same kind that ends a word, so
  apostrophes (it's, dogs' toys) never close one. An unclosed double quote is an
  error; an unclosed single quote in the prompt is an apostrophe ('90s poster).
- ``--no`` takes every word up to the next flag (Midjourney style:
  ``--no text, watermark``) unless its value is quoted.
- A prompt that is exactly one quoted string is unwrapped; quotes inside a longer
  prompt are kept as written (``a sign saying "OPEN"``).
- ``--size``: both sides must lie within the limits; each is then rounded down to a
  multiple of 8 (what diffusion models need) rather than rejected.
- ``--ar``: keeps about the area of the default size, rounds each side to a multiple
  of 64 and clamps into the limits; ratios from 1:4 to 4:1.
- Typed options (Discord) win over flags in the text; a typed ``aspect_ratio`` or
  ``size`` replaces both ``--ar`` and ``--size`` from the text.
- Whitespace is collapsed, control characters are dropped, other Unicode is kept.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from bot.backend.types import Task
from bot.command import CommandDefaults, CommandError, ImagineParams

__all__ = ["format_imagine", "parse_imagine", "size_for_aspect_ratio"]

MAX_SEED: Final = 2**32 - 1
MIN_SECONDS: Final = 2
MAX_SECONDS: Final = 8
DEFAULT_SECONDS: Final = 4
VIDEO_SIDE: Final = 512
MAX_RATIO: Final = 4
EXAMPLE: Final = "/imagine a watercolor fox"

_DOUBLE: Final = frozenset('"\u201c\u201d\u201e')  # straight and curly double quotes
_SINGLE: Final = frozenset("'\u2018\u2019\u201a")  # straight and curly single quotes
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


@dataclass(frozen=True, slots=True)
class _FlagSpec:
    name: str  # canonical flag, without dashes
    option: str  # key of the same value in typed options
    example: str  # shown when the value is missing


_FLAGS: Final = (
    _FlagSpec("ar", "aspect_ratio", "--ar 3:2"),
    _FlagSpec("size", "size", "--size 1024x768"),
    _FlagSpec("seed", "seed", "--seed 42"),
    _FlagSpec("steps", "steps", "--steps 30"),
    _FlagSpec("no", "negative_prompt", "--no text, watermark"),
    _FlagSpec("style", "style", "--style watercolor"),
    _FlagSpec("n", "count", "--n 2"),
    _FlagSpec("iw", "image_weight", "--iw 1.5"),
    _FlagSpec("seconds", "seconds", "--seconds 4"),
)
_SPECS: Final[Mapping[str, _FlagSpec]] = MappingProxyType({s.name: s for s in _FLAGS})
_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        **{s.name: s.name for s in _FLAGS},
        "aspect": "ar",
        "aspect-ratio": "ar",
        "negative": "no",
        "negative-prompt": "no",
        "count": "n",
        "image-weight": "iw",
        "duration": "seconds",
    }
)
_FLAG_RE: Final = re.compile(r"(--|[\u2014\u2013]-?)([A-Za-z][A-Za-z0-9_-]*)(?:(=)|(?=\s|$))")
_PREFIX_RE: Final = re.compile(r"\s*/(?:imagine|animate)(?=\s|$)", re.IGNORECASE)
_INT_RE: Final = re.compile(r"[+-]?[0-9]+")
_RATIO_RE: Final = re.compile(r"([0-9]{1,6})\s*[:\uff1a]\s*([0-9]{1,6})")
_SIZE_RE: Final = re.compile(r"([0-9]{1,6})\s*[xX\u00d7*]\s*([0-9]{1,6})")


# --------------------------------------------------------------------------- lexing


@dataclass(frozen=True, slots=True)
class _Token:
    raw: str  # as written, quotes included
    value: str  # quotes removed
    flag: str | None = None  # lower-case flag name (no dashes) when this is a flag
    has_equals: bool = False  # flag written as --flag=value
    attached: bool = False  # the value right after "--flag="
    quoted: bool = False
    unclosed: bool = False  # started with a single quote that never closes


def _clean(text: str) -> str:
    """Whitespace of any kind becomes a space; control characters go."""
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(" ")
        elif not _is_control(ch) and ch not in _BIDI_CONTROLS:
            out.append(ch)
    return "".join(out)


def _is_control(ch: str) -> bool:
    """C0/C1 controls (category Cc) and lone surrogates."""
    code = ord(ch)
    return code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000


def _flag_key(name: str) -> str:
    return name.lower().replace("_", "-")


class _Lexer:
    """Splits cleaned text into words, quoted strings and flags."""

    def __init__(self, text: str) -> None:
        self._text = text
        # Positions of quotes that can close a string: a quote that ends a word.
        self._closers: dict[frozenset[str], list[int]] = {_DOUBLE: [], _SINGLE: []}
        for i, ch in enumerate(text):
            if i + 1 == len(text) or text[i + 1] == " ":
                for family, positions in self._closers.items():
                    if ch in family:
                        positions.append(i)

    def tokens(self) -> list[_Token]:
        text, i = self._text, 0
        out: list[_Token] = []
        while i < len(text):
            if text[i] == " ":
                i += 1
                continue
            m = _FLAG_RE.match(text, i)
            if m and (m.group(1) == "--" or _flag_key(m.group(2)) in _ALIASES):
                out.append(
                    _Token(
                        raw="--" + m.group(2),
                        value="",
                        flag=_flag_key(m.group(2)),
                        has_equals=m.group(3) is not None,
                    )
                )
                i = m.end()
                if m.group(3) is not None and i < len(text) and text[i] != " ":
                    token, i = self._word(i, attached=True)
                    out.append(token)
                continue
            token, i = self._word(i, attached=False)
            out.append(token)
        return out

    def _word(self, i: int, *, attached: bool) -> tuple[_Token, int]:
        text = self._text
        family = _DOUBLE if text[i] in _DOUBLE else _SINGLE if text[i] in _SINGLE else None
        unclosed = False
        if family is not None:
            closers = self._closers[family]
            k = bisect.bisect_right(closers, i)
            if k < len(closers):
                end = closers[k]
                token = _Token(text[i : end + 1], text[i + 1 : end], attached=attached, quoted=True)
                return token, end + 1
            if family is _DOUBLE:
                raise CommandError(
                    f"There's an opening quote ({text[i]}) with no closing one. "
                    "Close the quote or remove it."
                )
            unclosed = True
        end = text.find(" ", i)
        end = len(text) if end < 0 else end
        return _Token(text[i:end], text[i:end], attached=attached, unclosed=unclosed), end


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class _Given:
    value: str | int
    label: str  # how the user wrote the option: "--aspect", or "aspect_ratio" when typed


def _show(value: str | int, limit: int = 40) -> str:
    """A user's value, safe to put between backticks in a reply."""
    try:
        text = str(value)
    except ValueError:  # an int too long to print
        return "a very long number"
    text = " ".join(_clean(text).replace("`", "'").split())
    if not text:
        return "nothing"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _as_text(given: _Given) -> str:
    try:
        return str(given.value)
    except ValueError:
        raise CommandError(f"`{given.label}` is far too long.") from None


def _whole(value: str | int) -> int | None:
    """An integer from an int or a string of ASCII digits; None when it isn't one."""
    if isinstance(value, int):
        return int(value)  # a bool counts as 0/1, returned as a plain int
    text = value.strip()
    if not _INT_RE.fullmatch(text):
        return None
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > 30:  # far out of any range; int() of huge strings is slow or refused
        return -(10**31) if text.startswith("-") else 10**31
    return int(text)


def _int_in(given: _Given, low: int, high: int) -> int:
    number = _whole(given.value)
    if number is None or not low <= number <= high:
        raise CommandError(
            f"`{given.label}` must be a whole number from {low} to {high} "
            f"(you gave `{_show(given.value)}`)."
        )
    return number


def _normalise(text: str) -> str:
    return " ".join(_clean(text).split())


def _check_length(text: str, what: str, limit: int) -> None:
    if len(text) > limit:
        raise CommandError(
            f"Your {what} is {len(text):,} characters long; the limit is {limit:,}. "
            "Please shorten it."
        )


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


def _fit(length: float, step: int, low: int, high: int) -> int:
    """``length`` rounded to a multiple of ``step``, within ``low..high``."""
    step_low, step_high = -(-low // step) * step, high // step * step
    if step_low > step_high:  # no multiple of step fits the limits
        return _clamp(round(length), low, high)
    return _clamp(int(length / step + 0.5) * step, step_low, step_high)


def _round_down(side: int, step: int, low: int, high: int) -> int:
    """``side`` (within limits) rounded down to a multiple of ``step``, kept in limits."""
    rounded = side // step * step
    if rounded < low:
        rounded += step
    return rounded if low <= rounded <= high else side


def size_for_aspect_ratio(
    ratio_width: int, ratio_height: int, defaults: CommandDefaults
) -> tuple[int, int]:
    """Width and height for ``--ar W:H``: about the default area, sides multiples of 64."""
    low, high = defaults.min_side, defaults.max_side
    area = _clamp(defaults.width, low, high) * _clamp(defaults.height, low, high)
    ratio = ratio_width / ratio_height
    return (
        _fit(math.sqrt(area * ratio), 64, low, high),
        _fit(math.sqrt(area / ratio), 64, low, high),
    )


def _aspect_ratio(given: _Given, defaults: CommandDefaults) -> tuple[int, int, str]:
    m = _RATIO_RE.fullmatch(_as_text(given).strip())
    if m is None:
        raise CommandError(
            f"`{given.label}` takes W:H, like 3:2 (you gave `{_show(given.value)}`)."
        )
    w, h = int(m.group(1)), int(m.group(2))
    if w == 0 or h == 0:
        raise CommandError(f"Both sides of `{given.label}` must be at least 1, like 3:2.")
    if w > MAX_RATIO * h or h > MAX_RATIO * w:
        raise CommandError(
            f"The aspect ratio {w}:{h} is too extreme: `{given.label}` goes from "
            f"1:{MAX_RATIO} to {MAX_RATIO}:1."
        )
    width, height = size_for_aspect_ratio(w, h, defaults)
    return width, height, f"{w}:{h}"


def _size(given: _Given, defaults: CommandDefaults) -> tuple[int, int]:
    m = _SIZE_RE.fullmatch(_as_text(given).strip())
    if m is None:
        raise CommandError(
            f"`{given.label}` takes WxH in pixels, like 1024x768 (you gave `{_show(given.value)}`)."
        )
    low, high = defaults.min_side, defaults.max_side
    w, h = int(m.group(1)), int(m.group(2))
    if not (low <= w <= high and low <= h <= high):
        raise CommandError(
            f"`{given.label}` sides must be between {low} and {high} pixels (you gave {w}x{h})."
        )
    return _round_down(w, 8, low, high), _round_down(h, 8, low, high)


def _style_key(name: str) -> str:
    return "_".join(name.lower().replace("-", " ").replace("_", " ").split())


def _style(given: _Given, styles: Sequence[str]) -> str:
    wanted = _style_key(_as_text(given))
    by_key = {_style_key(s): s for s in styles}
    if wanted in by_key:
        return by_key[wanted]
    listing = ", ".join(styles) if styles else "none are configured"
    close = difflib.get_close_matches(wanted, list(by_key), n=1)
    hint = f" Did you mean `{by_key[close[0]]}`?" if close else ""
    raise CommandError(f"Unknown style `{_show(given.value)}`.{hint} Available styles: {listing}.")


# --------------------------------------------------------------------------- parsing


def _unknown_flag(token: _Token) -> CommandError:
    close = difflib.get_close_matches(token.flag or "", list(_ALIASES), n=1)
    if close:
        return CommandError(f"Unknown option `{_show(token.raw)}`. Did you mean `--{close[0]}`?")
    known = ", ".join(f"--{s.name}" for s in _FLAGS)
    return CommandError(f"Unknown option `{_show(token.raw)}`. The options are: {known}.")


def _joined(tokens: Sequence[_Token]) -> str:
    """One quoted string stands for its content; anything longer is kept as written."""
    if len(tokens) == 1 and tokens[0].quoted:
        return tokens[0].value
    return " ".join(t.raw for t in tokens)


def _split_flags(tokens: list[_Token]) -> tuple[str, dict[str, _Given]]:
    prompt: list[_Token] = []
    given: dict[str, _Given] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.flag is None:
            prompt.append(token)
            continue
        name = _ALIASES.get(token.flag)
        if name is None:
            raise _unknown_flag(token)
        spec = _SPECS[name]
        values: list[_Token] = []
        if token.has_equals:
            if i < len(tokens) and tokens[i].attached:
                values.append(tokens[i])
                i += 1
        elif i < len(tokens) and tokens[i].flag is None:
            values.append(tokens[i])
            i += 1
        if not values:
            raise CommandError(f"`{token.raw}` needs a value, like `{spec.example}`.")
        if values[0].unclosed:
            raise CommandError(
                f"The value of `{token.raw}` opens a quote ({values[0].raw[0]}) "
                "that never closes. Close the quote or remove it."
            )
        if name == "no" and not values[0].quoted:
            while i < len(tokens) and tokens[i].flag is None:
                values.append(tokens[i])
                i += 1
        if name in given:
            first = given[name].label
            same = first.lower() == token.raw.lower()
            again = "twice" if same else f"twice (`{first}` and `{token.raw}`)"
            raise CommandError(f"You gave `--{name}` {again}. Keep just one.")
        given[name] = _Given(_joined(values), token.raw)
    return _joined(prompt), given


def _merge_typed(given: dict[str, _Given], options: Mapping[str, str | int]) -> None:
    """Typed options win over flags from the text."""
    typed_frame = [
        s.option
        for s in _FLAGS
        if s.name in ("ar", "size") and _typed_value(options, s.option) is not None
    ]
    if len(typed_frame) == 2:
        raise CommandError("Give either `aspect_ratio` or `size`, not both.")
    if typed_frame:
        given.pop("ar", None)
        given.pop("size", None)
    for spec in _FLAGS:
        value = _typed_value(options, spec.option)
        if value is not None:
            given[spec.name] = _Given(value, spec.option)


def _typed_value(options: Mapping[str, str | int], key: str) -> str | int | None:
    """A typed option's value; blank strings count as not given."""
    value = options.get(key)
    if value is None or isinstance(value, str | int):
        return None if isinstance(value, str) and not value.strip() else value
    return str(value)  # outside the contract, but still answered with CommandError


def parse_imagine(
    text: str,
    defaults: CommandDefaults,
    options: Mapping[str, str | int] | None = None,
    *,
    task: Task = Task.IMAGE,
    has_image: bool = False,
) -> ImagineParams:
    """Validate one /imagine request; raise :class:`CommandError` with a user-facing message.

    ``text`` is the free text (the leading ``/imagine`` is optional). ``options`` are
    typed options (keys ``prompt``, ``negative_prompt``, ``aspect_ratio``, ``size``,
    ``seed``, ``steps``, ``style``, ``count``); when ``options`` has a ``prompt`` it
    replaces ``text`` (and may carry flags of its own); typed values win over flags.
    Defaults are clamped into the limits; the result always lies within them.
    """
    options = options or {}
    if task is Task.VIDEO:  # clips are smaller than images: about 512×512 by default
        defaults = replace(defaults, width=VIDEO_SIDE, height=VIDEO_SIDE)
    source: str | int = text
    if options.get("prompt") is not None:
        source = options["prompt"]
    cleaned = _clean(_as_text(_Given(source, "prompt")))
    prefix = _PREFIX_RE.match(cleaned)
    if prefix:
        cleaned = cleaned[prefix.end() :]
    raw_prompt, given = _split_flags(_Lexer(cleaned).tokens())
    _merge_typed(given, options)

    prompt = _normalise(raw_prompt)
    if not prompt:
        raise CommandError(f"Your prompt is empty. Try `{EXAMPLE}`.")
    _check_length(prompt, "prompt", defaults.max_prompt_chars)

    negative = ""
    if "no" in given:
        negative = _normalise(_as_text(given["no"]))
        if not negative:
            raise CommandError(
                f"`{given['no'].label}` needs something to leave out, like `--no text, watermark`."
            )
        _check_length(negative, "negative prompt", defaults.max_prompt_chars)

    low, high = defaults.min_side, defaults.max_side
    width, height = _clamp(defaults.width, low, high), _clamp(defaults.height, low, high)
    aspect_ratio: str | None = None
    if "ar" in given and "size" in given:
        raise CommandError(
            f"`{given['ar'].label}` and `{given['size'].label}` both set the shape; "
            "use one of them."
        )
    if "ar" in given:
        width, height, aspect_ratio = _aspect_ratio(given["ar"], defaults)
    elif "size" in given:
        width, height = _size(given["size"], defaults)

    steps = _clamp(defaults.steps, defaults.min_steps, defaults.max_steps)
    if "steps" in given:
        steps = _int_in(given["steps"], defaults.min_steps, defaults.max_steps)
    count = _clamp(defaults.count, 1, defaults.max_count)
    if "n" in given:
        count = _int_in(given["n"], 1, defaults.max_count)
    seed = _int_in(given["seed"], 0, MAX_SEED) if "seed" in given else None
    style = _style(given["style"], defaults.styles) if "style" in given else defaults.style
    if "iw" in given and not has_image:
        raise CommandError(
            f"`{given['iw'].label}` sets how much an attached image counts: attach an image "
            "to the command, or leave it out."
        )
    weight = _image_weight(given["iw"]) / 2 if "iw" in given else 0.5
    seconds: float | None = None
    if task is Task.VIDEO:
        if "n" in given:
            raise CommandError(f"`{given['n'].label}` isn't available for /animate: one clip each.")
        seconds = float(
            _int_in(given["seconds"], MIN_SECONDS, MAX_SECONDS)
            if "seconds" in given
            else DEFAULT_SECONDS
        )
        count = 1
    elif "seconds" in given:
        raise CommandError(
            f"`{given['seconds'].label}` is for /animate (short videos); /imagine makes images."
        )

    return ImagineParams(
        prompt=prompt,
        width=width,
        height=height,
        steps=steps,
        style=style,
        count=count,
        negative_prompt=negative,
        seed=seed,
        aspect_ratio=aspect_ratio,
        task=task,
        reference_weight=weight,
        seconds=seconds,
    )


def _image_weight(given: _Given) -> float:
    """``--iw 0..2``: how much an attached image counts (Midjourney's scale)."""
    try:
        value = float(_as_text(given).strip())
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 2.0 or math.isnan(value):
        raise CommandError(
            f"`{given.label}` takes a number from 0 to 2, like `--iw 1.5` "
            f"(you gave `{_show(given.value)}`)."
        )
    return value


# --------------------------------------------------------------------------- formatting


def _quoted(value: str) -> list[str]:
    """``value`` in each kind of quote that the lexer reads back unchanged."""
    return [
        f"{mark}{value}{mark}"
        for family, mark in ((_DOUBLE, '"'), (_SINGLE, "'"))
        if not any(ch in family and nxt == " " for ch, nxt in itertools.pairwise(value))
    ]


def format_imagine(params: ImagineParams, defaults: CommandDefaults) -> str:
    """The command text (without ``/imagine``) that parses back to ``params``.

    Options equal to the defaults are left out; ``--no`` comes last. The prompt is
    written as is when that reads back, else quoted. Every result of
    :func:`parse_imagine` round-trips; for other params (a prompt that needs quotes
    but holds both kinds of quote ending a word) this is a best effort.
    """
    flags: list[str] = []
    low, high = defaults.min_side, defaults.max_side
    if params.aspect_ratio:
        flags.append(f"--ar {params.aspect_ratio}")
    elif (params.width, params.height) != (
        _clamp(defaults.width, low, high),
        _clamp(defaults.height, low, high),
    ):
        flags.append(f"--size {params.width}x{params.height}")
    if params.seed is not None:
        flags.append(f"--seed {params.seed}")
    if params.steps != _clamp(defaults.steps, defaults.min_steps, defaults.max_steps):
        flags.append(f"--steps {params.steps}")
    if params.style != defaults.style:
        style = params.style
        if " " in style:
            style = next(iter(_quoted(style)), style)
        flags.append(f"--style {style}")
    if params.count != _clamp(defaults.count, 1, defaults.max_count):
        flags.append(f"--n {params.count}")
    negatives = [""]
    if params.negative_prompt:  # quoted, or as is: --no takes the words up to the end
        negatives = [
            f" --no {v}" for v in (*_quoted(params.negative_prompt), params.negative_prompt)
        ]
    suffix = "".join(f" {flag}" for flag in flags)
    candidates = [
        f"{prompt}{suffix}{negative}"
        for prompt in (params.prompt, *_quoted(params.prompt))
        for negative in negatives
    ]
    for text in candidates:
        try:
            if parse_imagine(text, defaults) == params:
                return text
        except CommandError:
            pass
    return candidates[0]
