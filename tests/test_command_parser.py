"""The /imagine command language: flags, quoting, typed options, errors, properties."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.command import CommandDefaults, CommandError, ImagineParams
from bot.command_parser import format_imagine, parse_imagine, size_for_aspect_ratio

D = CommandDefaults()
PROPERTY = settings(deadline=None, max_examples=200)


def parse(text: str, options: Mapping[str, str | int] | None = None) -> ImagineParams:
    return parse_imagine(text, D, options)


# --------------------------------------------------------------------------- accepted input

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    # the prompt and the optional /imagine
    ("a cat", {"prompt": "a cat", "width": 1024, "height": 1024, "steps": 20, "count": 1}),
    ("/imagine a cat", {"prompt": "a cat"}),
    ("  /IMAGINE   a cat", {"prompt": "a cat"}),
    ("/imaginary cat", {"prompt": "/imaginary cat"}),
    ("a cat /imagine", {"prompt": "a cat /imagine"}),
    # each flag
    ("a cat --ar 3:2", {"width": 1280, "height": 832, "aspect_ratio": "3:2"}),
    ("a cat --size 768x512", {"width": 768, "height": 512, "aspect_ratio": None}),
    ("a cat --seed 42", {"seed": 42}),
    ("a cat --seed 0", {"seed": 0}),
    ("a cat --seed 4294967295", {"seed": 4294967295}),
    ("a cat --steps 30", {"steps": 30}),
    ("a cat --no blurry", {"negative_prompt": "blurry", "prompt": "a cat"}),
    ("a cat --style photo", {"style": "photo"}),
    ("a cat --n 3", {"count": 3}),
    ("a cat --n 4", {"count": 4}),
    # aliases
    ("a cat --aspect 16:9", {"width": 1344, "height": 768, "aspect_ratio": "16:9"}),
    ("a cat --aspect-ratio 2:3", {"aspect_ratio": "2:3"}),
    ("a cat --aspect_ratio 2:3", {"aspect_ratio": "2:3"}),
    ("a cat --negative blurry", {"negative_prompt": "blurry"}),
    ("a cat --negative-prompt blurry", {"negative_prompt": "blurry"}),
    ("a cat --count 2", {"count": 2}),
    # case-insensitive names and styles
    ("a cat --AR 3:2 --Seed 7 --STYLE PHOTO", {"aspect_ratio": "3:2", "seed": 7, "style": "photo"}),
    ("a cat --style Real-Estate", {"style": "real_estate"}),
    # --flag=value
    ("a cat --seed=7", {"seed": 7}),
    ("a cat --ar=2:3 --n=2", {"aspect_ratio": "2:3", "count": 2}),
    ('a cat --no="text, watermark" outside', {"negative_prompt": "text, watermark"}),
    ('a cat --no="text" outside', {"prompt": "a cat outside"}),
    # quote styles
    ('a cat --no "text, watermark" --seed 1', {"negative_prompt": "text, watermark", "seed": 1}),
    ("a cat --no 'text, watermark'", {"negative_prompt": "text, watermark"}),
    ("a cat --no \u201ctext, watermark\u201d", {"negative_prompt": "text, watermark"}),
    ("a cat --no \u2018text, watermark\u2019", {"negative_prompt": "text, watermark"}),
    ('a cat --style "real estate"', {"style": "real_estate"}),
    ('a cat --no "blurry" in a hat', {"negative_prompt": "blurry", "prompt": "a cat in a hat"}),
    ('"a cat --n 3" --n 2', {"prompt": "a cat --n 3", "count": 2}),
    ("\u201ca cat\u201d --n 2", {"prompt": "a cat", "count": 2}),
    ('a sign saying "OPEN" --ar 1:1', {"prompt": 'a sign saying "OPEN"'}),
    ("the dog's ball --seed 3", {"prompt": "the dog's ball", "seed": 3}),
    ("'90s poster --seed 3", {"prompt": "'90s poster", "seed": 3}),
    ("rock 'n' roll --n 2", {"prompt": "rock 'n' roll", "count": 2}),
    ('a 12" record --n 2', {"prompt": 'a 12" record', "count": 2}),
    ("the dogs' toys --no people's faces", {"negative_prompt": "people's faces"}),
    # em and en dashes from autocorrect
    ("a cat \u2014ar 3:2", {"aspect_ratio": "3:2", "prompt": "a cat"}),
    ("a cat \u2014seed 5 \u2014no dogs", {"seed": 5, "negative_prompt": "dogs"}),
    ("a cat \u2013n 2", {"count": 2}),
    ("a cat \u2014-ar 3:2", {"aspect_ratio": "3:2"}),
    ("a cat \u2014Seed=9", {"seed": 9}),
    ("a cat \u2014 in the rain", {"prompt": "a cat \u2014 in the rain"}),
    ("a cat \u2014or a dog", {"prompt": "a cat \u2014or a dog"}),
    ("pride\u2014no prejudice", {"prompt": "pride\u2014no prejudice", "negative_prompt": ""}),
    # flags anywhere; --no runs to the next flag
    ("a cat --seed 5 in the rain", {"prompt": "a cat in the rain", "seed": 5}),
    ("--ar 3:2 a cat", {"prompt": "a cat", "aspect_ratio": "3:2"}),
    ("a cat --no dogs, birds --seed 3", {"negative_prompt": "dogs, birds", "seed": 3}),
    ("a cat -- sleeping", {"prompt": "a cat -- sleeping"}),
    ("a cat -x --9", {"prompt": "a cat -x --9"}),
    # whitespace, control characters, Unicode
    ("  a\t\tcat \n\n on   a mat  ", {"prompt": "a cat on a mat"}),
    ("a\x00 ca\x1bt\u202e\x7f", {"prompt": "a cat"}),
    ("a cat --no  dogs \n\t birds", {"negative_prompt": "dogs birds"}),
    ("\u72d0 \U0001f98a in der Stra\u00dfe", {"prompt": "\u72d0 \U0001f98a in der Stra\u00dfe"}),
    ("\U0001f469\u200d\U0001f680 astronaut", {"prompt": "\U0001f469\u200d\U0001f680 astronaut"}),
    # --size: multiples of 8 rounded down, separators
    ("a cat --size 1023x767", {"width": 1016, "height": 760}),
    ("a cat --size 2048x256", {"width": 2048, "height": 256}),
    ("a cat --size 1024X768", {"width": 1024, "height": 768}),
    ("a cat --size 1024\u00d7768", {"width": 1024, "height": 768}),
    ("a cat --size=640x480", {"width": 640, "height": 480}),
    # --ar: as typed for captions, leading zeros dropped
    ("a cat --ar 03:02", {"aspect_ratio": "3:2"}),
    ("a cat --ar 4:1", {"width": 2048, "height": 512}),
    ("a cat --ar 1:4", {"width": 512, "height": 2048}),
    ("a cat --ar 1:1", {"width": 1024, "height": 1024, "aspect_ratio": "1:1"}),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_commands(text: str, expected: dict[str, Any]) -> None:
    params = parse(text)
    actual = {field: getattr(params, field) for field in expected}
    assert actual == expected


def test_defaults_fill_everything_not_given() -> None:
    assert parse("a cat") == ImagineParams(
        prompt="a cat", width=1024, height=1024, steps=20, style="default"
    )


def test_channel_defaults_are_used() -> None:
    channel = replace(D, width=768, height=512, steps=35, style="anime", count=2)
    params = parse_imagine("a cat", channel)
    assert (params.width, params.height, params.steps, params.style, params.count) == (
        768,
        512,
        35,
        "anime",
        2,
    )


@pytest.mark.parametrize(
    ("ratio", "defaults", "size"),
    [
        ((3, 2), D, (1280, 832)),
        ((2, 3), D, (832, 1280)),
        ((16, 9), D, (1344, 768)),
        ((1, 1), D, (1024, 1024)),
        ((16, 9), replace(D, width=512, height=512), (704, 384)),
        ((4, 1), replace(D, max_side=1024), (1024, 512)),  # clamped into the limits
        ((1, 4), replace(D, width=512, height=512, min_side=512), (512, 1024)),
    ],
)
def test_size_for_aspect_ratio(
    ratio: tuple[int, int], defaults: CommandDefaults, size: tuple[int, int]
) -> None:
    assert size_for_aspect_ratio(*ratio, defaults) == size


# --------------------------------------------------------------------------- typed options

TYPED: list[tuple[str, dict[str, str | int], dict[str, Any]]] = [
    ("ignored text", {"prompt": "a fox --seed 3"}, {"prompt": "a fox", "seed": 3}),
    ("", {"prompt": "/imagine a fox"}, {"prompt": "a fox"}),
    ("", {"prompt": "a fox --seed 3", "seed": 9}, {"seed": 9}),
    ("", {"prompt": "a fox", "seed": "9"}, {"seed": 9}),
    ("", {"prompt": "a fox", "steps": "25", "count": 2}, {"steps": 25, "count": 2}),
    ("", {"prompt": 12345}, {"prompt": "12345"}),
    ("", {"prompt": "fox --size 512x512", "aspect_ratio": "3:2"}, {"width": 1280, "height": 832}),
    ("", {"prompt": "fox --ar 3:2", "size": "512x768"}, {"width": 512, "aspect_ratio": None}),
    ("", {"prompt": "fox --no dogs", "negative_prompt": "cats"}, {"negative_prompt": "cats"}),
    ("", {"prompt": "fox --style anime", "style": "Photo"}, {"style": "photo"}),
    ("", {"prompt": "fox", "negative_prompt": "   "}, {"negative_prompt": ""}),
    ("a fox --seed 1", {"steps": 5}, {"prompt": "a fox", "seed": 1, "steps": 5}),
    ("a fox --seed 1", {"seed": 2}, {"seed": 2}),
    ("a fox", {"aspect_ratio": " 16 : 9 "}, {"aspect_ratio": "16:9", "width": 1344}),
    ("a fox", {"count": True}, {"count": 1}),
]


@pytest.mark.parametrize(("text", "options", "expected"), TYPED)
def test_typed_options(text: str, options: dict[str, str | int], expected: dict[str, Any]) -> None:
    params = parse(text, options)
    assert {field: getattr(params, field) for field in expected} == expected


# --------------------------------------------------------------------------- errors

ERRORS: list[tuple[str, dict[str, str | int] | None, list[str]]] = [
    ("", None, ["prompt is empty", "/imagine a watercolor fox"]),
    ("/imagine", None, ["prompt is empty"]),
    ("   \n\t ", None, ["prompt is empty"]),
    ("--ar 3:2 --seed 4", None, ["prompt is empty"]),
    ("\x00\x01", None, ["prompt is empty"]),
    ('""', None, ["prompt is empty"]),
    ("", {"prompt": "  "}, ["prompt is empty"]),
    ("a" * 1001, None, ["1,001 characters", "1,000"]),
    ("a cat --no " + "b" * 1001, None, ["negative prompt", "1,001", "1,000"]),
    ("a cat --sead 4", None, ["Unknown option `--sead`", "Did you mean `--seed`?"]),
    ("a cat --stpes 4", None, ["`--stpes`", "`--steps`"]),
    ("a cat --sytle anime", None, ["`--style`"]),
    ("a cat --negativ x", None, ["`--negative`"]),
    ("a cat --v 6", None, ["Unknown option `--v`", "--ar, --size, --seed"]),
    ("a cat --seed", None, ["`--seed` needs a value", "--seed 42"]),
    ("a cat --seed --steps 4", None, ["`--seed` needs a value"]),
    ("a cat --seed=", None, ["`--seed` needs a value"]),
    ("a cat --seed= 5", None, ["`--seed` needs a value"]),
    ("a cat --ar", None, ["`--ar` needs a value", "--ar 3:2"]),
    ("a cat --size", None, ["`--size` needs a value", "1024x768"]),
    ("a cat --no", None, ["`--no` needs a value"]),
    ("a cat --style", None, ["`--style` needs a value"]),
    ("a cat --n", None, ["`--n` needs a value"]),
    ("a cat \u2014steps", None, ["`--steps` needs a value"]),
    ('a cat --no ""', None, ["`--no` needs something to leave out"]),
    ("a cat --no ''", None, ["`--no` needs something to leave out"]),
    ("a cat --seed abc", None, ["`--seed`", "0 to 4294967295", "`abc`"]),
    ("a cat --seed -1", None, ["`--seed`", "0 to 4294967295"]),
    ("a cat --seed 4294967296", None, ["`--seed`", "4294967295"]),
    ("a cat --seed 1.5", None, ["`--seed`", "whole number"]),
    ("a cat --seed " + "9" * 5000, None, ["`--seed`", "\u2026"]),
    ("a cat --steps 0", None, ["`--steps`", "1 to 100", "`0`"]),
    ("a cat --steps 101", None, ["`--steps`", "1 to 100", "`101`"]),
    ("a cat --n 5", None, ["`--n`", "1 to 4", "`5`"]),
    ("a cat --count 0", None, ["`--count`", "1 to 4"]),
    ("a cat --size 100x100", None, ["`--size`", "256 and 2048", "100x100"]),
    ("a cat --size 1024x4096", None, ["`--size`", "256 and 2048"]),
    ("a cat --size 1024", None, ["`--size` takes WxH", "1024x768", "`1024`"]),
    ("a cat --ar 3", None, ["`--ar` takes W:H, like 3:2", "`3`"]),
    ("a cat --ar 3/2", None, ["`--ar` takes W:H"]),
    ("a cat --ar wide", None, ["`--ar` takes W:H"]),
    ("a cat --ar 0:1", None, ["`--ar`", "at least 1"]),
    ("a cat --ar 9:2", None, ["9:2", "1:4 to 4:1"]),
    ("a cat --aspect 1:5", None, ["1:5", "`--aspect`", "1:4 to 4:1"]),
    ("a cat --style watercolour", None, ["`watercolour`", "Did you mean `watercolor`?"]),
    ("a cat --style oil", None, ["`oil`", "default, photo, watercolor, anime, sketch"]),
    ("a cat --ar 3:2 --size 512x512", None, ["`--ar`", "`--size`", "one of them"]),
    ("a cat --seed 1 --seed 2", None, ["`--seed` twice"]),
    ("a cat --Seed 1 --SEED 2", None, ["`--seed` twice"]),
    ("a cat --n 1 --count 2", None, ["twice", "`--n`", "`--count`"]),
    ("", {"prompt": "fox --seed 1 --seed 2", "seed": 5}, ["`--seed` twice"]),
    ("a cat --no x --negative y", None, ["twice", "`--negative`"]),
    ('a "cat --ar 3:2', None, ["opening quote", "no closing"]),
    ("a \u201ccat --ar 3:2", None, ["opening quote (\u201c)"]),
    ("a cat --style 'anime", None, ["`--style`", "never closes"]),
    ("a cat --no 'dogs --seed 3", None, ["`--no`", "never closes"]),
    ("a `cat` --ar x`y", None, ["`x'y`"]),  # backticks in echoed values can't break markdown
    ("", {"prompt": "fox", "aspect_ratio": "3:2", "size": "512x512"}, ["aspect_ratio", "size"]),
    ("", {"prompt": "fox", "steps": 500}, ["`steps`", "1 to 100", "500"]),
    ("", {"prompt": "fox", "seed": -4}, ["`seed`", "0 to 4294967295"]),
    ("", {"prompt": "fox", "seed": 10**5000}, ["`seed`", "a very long number"]),
    ("", {"prompt": "fox", "count": "many"}, ["`count`", "1 to 4", "`many`"]),
    ("", {"prompt": "fox", "size": 1024}, ["`size` takes WxH"]),
    ("", {"prompt": "fox", "style": "oil"}, ["Unknown style `oil`"]),
    ("", {"prompt": "fox --sead 3"}, ["Did you mean `--seed`?"]),
]


@pytest.mark.parametrize(("text", "options", "fragments"), ERRORS)
def test_errors_tell_the_user_what_to_fix(
    text: str, options: dict[str, str | int] | None, fragments: list[str]
) -> None:
    with pytest.raises(CommandError) as caught:
        parse(text, options)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message


def test_error_messages_stay_short_for_huge_values() -> None:
    with pytest.raises(CommandError) as caught:
        parse("a cat --style " + "x" * 10_000)
    assert len(str(caught.value)) < 300


def test_prompt_limit_follows_the_defaults() -> None:
    short = replace(D, max_prompt_chars=10)
    assert parse_imagine("0123456789 --seed 1", short).prompt == "0123456789"
    with pytest.raises(CommandError, match="11 characters long; the limit is 10"):
        parse_imagine("0123456789a", short)


def test_styles_follow_the_defaults() -> None:
    custom = replace(D, styles=("neon", "noir"))
    assert parse_imagine("a cat --style NEON", custom).style == "neon"
    with pytest.raises(CommandError, match="Available styles: neon, noir"):
        parse_imagine("a cat --style photo", custom)


# --------------------------------------------------------------------------- properties

FRAGMENTS = st.sampled_from(
    [
        "--ar", "--size", "--seed", "--steps", "--no", "--style", "--n", "--aspect", "--count",
        "--negative", "\u2014ar", "\u2014n", "\u2013seed", "--sead", "--seed=", "--no=", "--x",
        "3:2", "1:9", "0:0", "1024x768", "8x8", "512x512", "42", "-1", "0", "5", "101",
        "99999999999999999999", "photo", "Real-Estate", "oil", '"', "'", "\u201c", "\u201d",
        '"a b"', "'c d'", "it's", "/imagine", "a", "cat", "\U0001f98a", "\x00", "\t", "\n", "=",
    ]
)  # fmt: skip
COMMANDS = st.one_of(
    st.text(),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=12).map(" ".join),
)
OPTION_KEYS = st.sampled_from(
    ["prompt", "negative_prompt", "aspect_ratio", "size", "seed", "steps", "style", "count", "x"]
)
OPTION_VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(),
    st.integers(min_value=-(10**6), max_value=10**6),
    COMMANDS,
    st.sampled_from(["3:2", "512x768", "photo", "a fox --seed 3", "4"]),
)
OPTIONS = st.none() | st.dictionaries(OPTION_KEYS, OPTION_VALUES, max_size=6)


@st.composite
def limits(draw: st.DrawFn) -> CommandDefaults:
    """Consistent but varied defaults, as a channel's settings could make them."""
    min_side = draw(st.integers(16, 1024))
    max_side = draw(st.integers(min_side, 4096))
    min_steps = draw(st.integers(1, 50))
    max_steps = draw(st.integers(min_steps, 200))
    return CommandDefaults(
        width=draw(st.integers(min_side, max_side)),
        height=draw(st.integers(min_side, max_side)),
        steps=draw(st.integers(min_steps, max_steps)),
        count=1,
        max_prompt_chars=draw(st.integers(1, 2000)),
        min_side=min_side,
        max_side=max_side,
        min_steps=min_steps,
        max_steps=max_steps,
        max_count=draw(st.integers(1, 8)),
    )


def assert_within_limits(params: ImagineParams, defaults: CommandDefaults) -> None:
    assert params.prompt and params.prompt == " ".join(params.prompt.split())
    assert len(params.prompt) <= defaults.max_prompt_chars
    assert len(params.negative_prompt) <= defaults.max_prompt_chars
    assert defaults.min_side <= params.width <= defaults.max_side
    assert defaults.min_side <= params.height <= defaults.max_side
    assert defaults.min_steps <= params.steps <= defaults.max_steps
    assert 1 <= params.count <= defaults.max_count
    assert params.seed is None or 0 <= params.seed <= 2**32 - 1
    assert params.style in (*defaults.styles, defaults.style)
    text = params.prompt + params.negative_prompt
    assert not any(unicodedata.category(ch) in ("Cc", "Cs") or ch == "\u202e" for ch in text)


@PROPERTY
@given(text=COMMANDS, options=OPTIONS)
def test_any_input_gives_params_or_a_command_error(
    text: str, options: dict[str, str | int] | None
) -> None:
    try:
        params = parse(text, options)
    except CommandError as exc:
        assert str(exc)
    else:
        assert_within_limits(params, D)


@PROPERTY
@given(defaults=limits(), text=COMMANDS, options=OPTIONS)
def test_results_always_lie_within_the_configured_limits(
    defaults: CommandDefaults, text: str, options: dict[str, str | int] | None
) -> None:
    try:
        params = parse_imagine(text, defaults, options)
    except CommandError:
        return
    assert_within_limits(params, defaults)


WORD_CHARS = st.characters(  # quotes only come from TRICKY_WORDS, see the test below
    blacklist_categories=("Cc", "Cs", "Cf", "Zs", "Zl", "Zp"),
    blacklist_characters="\x85\"'\u201c\u201d\u201e\u2018\u2019\u201a",
)
PLAIN_WORDS = st.text(WORD_CHARS, min_size=1, max_size=8).filter(lambda w: not w.isspace())
TRICKY_WORDS = st.sampled_from(
    ["--ar", "\u2014seed", "--x", "/imagine", "it's", "'90s", "rock'n'roll", "\u201csmart\u201d",
     '"quoted"', "--", "\u2014", "a=b", "-5", "12\"", "x`y"]
)  # fmt: skip
PHRASES = st.lists(PLAIN_WORDS | TRICKY_WORDS, min_size=1, max_size=12).map(" ".join)


@st.composite
def valid_params(draw: st.DrawFn) -> ImagineParams:
    shape = draw(st.sampled_from(["default", "size", "ar"]))
    width, height, aspect_ratio = D.width, D.height, None
    if shape == "size":
        width = draw(st.integers(D.min_side // 8, D.max_side // 8)) * 8
        height = draw(st.integers(D.min_side // 8, D.max_side // 8)) * 8
    elif shape == "ar":
        w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
        if w > 4 * h or h > 4 * w:
            w = h
        width, height = size_for_aspect_ratio(w, h, D)
        aspect_ratio = f"{w}:{h}"
    return ImagineParams(
        prompt=draw(PHRASES),
        width=width,
        height=height,
        steps=draw(st.integers(D.min_steps, D.max_steps)),
        style=draw(st.sampled_from(D.styles)),
        count=draw(st.integers(1, D.max_count)),
        negative_prompt=draw(st.just("") | PHRASES),
        seed=draw(st.none() | st.integers(0, 2**32 - 1)),
        aspect_ratio=aspect_ratio,
    )


@PROPERTY
@given(params=valid_params())
def test_formatted_params_parse_back_to_the_same_params(params: ImagineParams) -> None:
    text = format_imagine(params, D)
    assert parse(text) == params
    assert parse("/imagine " + text) == params


@PROPERTY
@given(text=COMMANDS, options=OPTIONS)
def test_every_parse_result_formats_back_to_itself(
    text: str, options: dict[str, str | int] | None
) -> None:
    try:
        params = parse(text, options)
    except CommandError:
        return
    assert parse(format_imagine(params, D)) == params


def test_format_leaves_out_defaults_and_quotes_what_needs_it() -> None:
    params = ImagineParams(
        prompt="a --ar b", width=1024, height=1024, steps=20, style="default", seed=7,
        negative_prompt="text, watermark",
    )  # fmt: skip
    assert format_imagine(params, D) == '"a --ar b" --seed 7 --no "text, watermark"'
    assert format_imagine(replace(params, prompt="a b", seed=None, negative_prompt=""), D) == "a b"


@pytest.mark.parametrize(
    "prompt",
    ['"a cat"', "'90s poster", '"OPEN" sign', "--ar", "/imagine a cat", "a 'b \u2014n 12\" c"],
)
def test_format_round_trips_prompts_with_quotes_and_dashes(prompt: str) -> None:
    params = ImagineParams(
        prompt=prompt, width=512, height=512, steps=20, style="default", negative_prompt="'x' y"
    )
    assert parse(format_imagine(params, D)) == params
