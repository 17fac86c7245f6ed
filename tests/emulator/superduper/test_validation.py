"""Properties of the generation-body checks behind the 422 answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.superduper.validation import RequestInvalid, parse_generation

SIZE_FIELDS = st.sampled_from(["width", "height"])


@given(field=SIZE_FIELDS, value=st.integers(64, 4096))
def test_sizes_in_range_are_kept(field: str, value: int) -> None:
    params = parse_generation({"prompt": "p", field: value})
    assert getattr(params, field) == value


@given(field=SIZE_FIELDS, value=st.integers().filter(lambda v: not 64 <= v <= 4096))
def test_sizes_out_of_range_are_refused_naming_the_field(field: str, value: int) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_generation({"prompt": "p", field: value})
    [error] = refused.value.errors
    assert error["loc"] == ["body", field]
    assert error["input"] == value


@settings(max_examples=40)
@given(
    value=st.one_of(
        st.text(max_size=5),
        st.floats(),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_non_integers_are_never_taken_as_steps(value: Any) -> None:
    with pytest.raises(RequestInvalid) as refused:
        parse_generation({"prompt": "p", "steps": value})
    assert refused.value.errors[0]["type"] == "int_type"


@given(prompt=st.text(min_size=1), seed=st.integers(-(2**63), 2**63))
def test_any_non_empty_prompt_and_int_seed_pass(prompt: str, seed: int) -> None:
    params = parse_generation({"prompt": prompt, "seed": seed, "project_id": None})
    assert (params.prompt, params.seed, params.project_id, params.batch_size) == (
        prompt,
        seed,
        None,
        1,
    )
