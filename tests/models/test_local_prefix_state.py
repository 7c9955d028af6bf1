"""Saved prompt-start states (dilemma.models.local.prefix_state) without the model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dilemma.models.local.prefix_state import (
    DEFAULT_SLOTS,
    KEEP,
    SLOT_MIN_GAIN,
    SLOTS_ENV,
    STATE_DIR_ENV,
    PrefixStore,
    SlotStore,
    common_prefix,
    slot_count,
    state_dir,
    store_key,
    tokens_hash,
)

tokens = st.lists(st.integers(min_value=0, max_value=300_000), max_size=40)


@given(tokens, tokens)
def test_common_prefix_is_the_longest_shared_start(a: list[int], b: list[int]) -> None:
    n = common_prefix(a, b)
    assert a[:n] == b[:n]
    assert n == min(len(a), len(b)) or a[n] != b[n]


def test_state_dir_defaults_to_the_cache_and_can_be_turned_off(tmp_path: Path) -> None:
    assert state_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "dilemma" / "local-states"
    assert state_dir({STATE_DIR_ENV: str(tmp_path / "s")}) == tmp_path / "s"
    assert state_dir({STATE_DIR_ENV: "off"}) is None


def test_store_key_has_no_dots_so_file_names_parse() -> None:
    key = store_key("/x/gemma-3.q4.gguf", 123, "0.3.36", 8192)
    assert "." not in key and "123" in key and "8192" in key


def test_the_longest_saved_prefix_of_a_prompt_is_found_and_others_are_not(tmp_path: Path) -> None:
    store = PrefixStore(tmp_path, "k")
    prompt = list(range(100))
    store.save(prompt[:10], b"ten")
    store.save(prompt[:30], b"thirty")
    store.save([*prompt[:20], 999], b"other")  # not a prefix of the prompt
    PrefixStore(tmp_path, "other-key").save(prompt[:50], b"other model")
    n, path = store.best(prompt) or (0, Path())
    assert n == 30 and path.read_bytes() == b"thirty"
    assert store.best(prompt[:30]) == (10, tmp_path / f"k.10.{tokens_hash(prompt[:10])}.state")
    assert store.best([5, 6, 7]) is None
    assert store.has(prompt[:10]) and not store.has(prompt[:11])


def test_save_is_atomic_and_keeps_only_the_newest(tmp_path: Path) -> None:
    store = PrefixStore(tmp_path, "k")
    for i in range(KEEP + 2):
        path = store.save([i] * 3, bytes([i]))
        os.utime(path, (i, i))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == KEEP and not any(n.endswith(".tmp") for n in names)
    assert not store.has([0] * 3) and store.has([KEEP + 1] * 3)


def test_slot_count_from_the_environment() -> None:
    assert slot_count({}) == DEFAULT_SLOTS
    assert slot_count({SLOTS_ENV: "0"}) == 0 and slot_count({SLOTS_ENV: " 7 "}) == 7
    for bad in ("-1", "many"):
        with pytest.raises(ValueError, match=SLOTS_ENV):
            slot_count({SLOTS_ENV: bad})


def test_slots_keep_the_most_recent_prompts() -> None:
    store = SlotStore(2, [])
    for n in range(3):
        store.add([n] * 5, f"state{n}")
    assert not store.has([0] * 5) and store.has([1] * 5) and store.has([2] * 5)
    SlotStore(0, []).add([1], "x")  # no slots: nothing kept, no error


def test_the_slot_sharing_most_is_loaded_only_when_it_saves_enough() -> None:
    examples = list(range(1000))
    a = [*examples, *range(5000, 5200)]
    b = [*examples, *range(6000, 6200)]
    store = SlotStore(4, [])
    store.add([*a, 1, 2, 3], "A")
    store.add([*b, 4], "B")
    # A's next prompt: the context in place (B's) shares only the examples.
    found = store.best([*a, 9, 9], here=len(examples))
    assert found is not None and found.state == "A"
    assert store.slots[-1].state == "A"  # most recently used now
    # Already shared by the context in place, or too little more: nothing to load.
    assert store.best([*a, 9, 9], here=len(a)) is None
    assert store.best([*a, 9], here=len(a) - SLOT_MIN_GAIN + 1) is None
    assert store.best([7, 7, 7], here=0) is None
