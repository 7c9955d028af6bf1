"""Forced stretches and saved prompt states on the real model (Gemma 3 270M, `local` extra).

Run in .ci/run (marker `local_model`): each test loads the model in this process with the
`forced` patches applied and removed again afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dilemma.models.local import model as local_model
from dilemma.models.local import server_main as lsm
from dilemma.models.local.prefix_state import MIN_PREFIX, SLOTS_ENV, STATE_DIR_ENV

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(bool(local_model.missing_modules()), reason="needs the `local` extra"),
]
SHARED = "CRISIS SIMULATION LOG\n" + "".join(
    f"Entry {i}. Round {i} of 9: state S{i} kept its arms at {100 + i} and chose status_quo.\n"
    for i in range(40)
)
SCHEMA = {
    "type": "object",
    "properties": {
        "threat": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["Dunmar"]},
                    "level": {"type": "integer", "minimum": 0, "maximum": 10},
                },
                "required": ["state", "level"],
            },
            "minItems": 1,
            "maxItems": 1,
        },
        "action": {"type": "string", "enum": ["status_quo", "public_warning"]},
    },
    "required": ["threat", "action"],
}


@pytest.fixture
def patched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The `forced` patches, undone after the test; saved states go to a folder of its own."""
    from llama_cpp import llama_grammar
    from llama_cpp.llama import Llama

    monkeypatch.setattr(Llama, "_init_sampler", Llama._init_sampler)
    monkeypatch.setattr(Llama, "generate", Llama.generate)
    monkeypatch.setattr(llama_grammar, "SPACE_RULE", llama_grammar.SPACE_RULE)
    monkeypatch.setitem(
        llama_grammar.PRIMITIVE_RULES, "char", llama_grammar.PRIMITIVE_RULES["char"]
    )
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path))
    lsm.patch_llama_cpp(lsm.FORCED)
    yield tmp_path


def _llama() -> Any:
    from llama_cpp import Llama

    from dilemma.models.local.server import ensure_model_file

    return Llama(str(ensure_model_file()), n_ctx=2048, n_threads=1, verbose=False, seed=1)


def test_forced_stretches_are_fed_and_the_reply_fits_the_schema(
    patched: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    llm = _llama()
    grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA), verbose=False)
    out = llm.create_completion(
        "Decision as JSON: ", grammar=grammar, max_tokens=80, temperature=0.0
    )
    text = out["choices"][0]["text"]
    reply = json.loads(text)
    assert reply["threat"][0]["state"] == "Dunmar"  # the only value: forced
    assert reply["action"] in ("status_quo", "public_warning")
    assert text.startswith('{"threat":[{"state":"Dunmar","level":')  # no optional spaces
    sampler = llm._sampler
    assert isinstance(sampler, lsm.PrefilterSampler)
    assert sampler.forced >= 3  # keys and punctuation came without sampling
    assert out["choices"][0]["finish_reason"] == "stop"  # the last step sampled the end
    assert out["usage"]["completion_tokens"] == sampler.forced + sampler.steps - 1
    # The server's log says the same, once per reply (bench_local_model reads it).
    assert lsm.parse_reply_stats(capsys.readouterr().err) == [(sampler.steps, sampler.forced)]


def test_saved_prompt_state_is_loaded_by_a_fresh_model_and_answers_alike(
    patched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _llama()
    first.create_completion(SHARED + "Next: S1 chose", max_tokens=1, temperature=0.0)
    first.create_completion(SHARED + "Next: S2 chose", max_tokens=1, temperature=0.0)
    (saved,) = patched.glob("*.state")
    shared = int(saved.name.split(".")[1])
    assert MIN_PREFIX <= shared < len(first.tokenize((SHARED + "Next: S").encode())) + 1

    fresh = _llama()
    loaded = fresh.create_completion(SHARED + "Next: S3 chose", max_tokens=6, temperature=0.0)
    monkeypatch.setenv(STATE_DIR_ENV, "off")
    cold = _llama().create_completion(SHARED + "Next: S3 chose", max_tokens=6, temperature=0.0)
    assert loaded["choices"][0]["text"] == cold["choices"][0]["text"]
    assert list(patched.glob("*.state")) == [saved]  # nothing saved twice


def _last_logits(llm: Any) -> Any:
    """The logits of the last token the model evaluated (numpy copy)."""
    import numpy as np
    from llama_cpp import llama_cpp as lib

    pointer = lib.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


def test_a_state_resumes_from_its_kept_prompt_state(
    patched: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    # Two "states" take turns; each prompt is the shared log, the state's own long entry, then
    # what changed. The third call (state A again) starts from A's kept prompt state.
    own = {
        s: "".join(f"{s} note {i}: arms {200 + i}, doctrine {s * 3}.\n" for i in range(12))
        for s in "AB"
    }

    def prompt(state: str, rnd: int) -> str:
        return f"{SHARED}Entry of {state}.\n{own[state]}Round {rnd}: {state} chose"

    def last_logits(slots: str, calls: list[tuple[str, int]]) -> Any:
        monkeypatch.setenv(SLOTS_ENV, slots)
        llm = _llama()
        for state, rnd in calls[:-1]:
            llm.create_completion(prompt(state, rnd), max_tokens=2, temperature=0.0)
        llm.create_completion(prompt(*calls[-1]), max_tokens=1, temperature=0.0)
        return _last_logits(llm)

    monkeypatch.setenv(STATE_DIR_ENV, "off")
    calls = [("A", 1), ("B", 1), ("A", 2)]
    kept = last_logits("4", calls)
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "resumed" in x]
    shared = int(line.split("(")[1].split()[0])
    llm = _llama()
    own_start = len(llm.tokenize(f"{SHARED}Entry of A.\n{own['A']}Round ".encode()))
    assert shared >= own_start - 1  # A's own entry was not evaluated again
    cold = last_logits("0", calls)
    assert "resumed" not in capsys.readouterr().err
    other = last_logits("0", [("B", 2)])
    # What the model would say next is A's, up to batch arithmetic (which differs in the last
    # bits, as with a saved state: docs/models.md), not B's.
    top = list(np.argsort(-cold)[:5])
    assert list(np.argsort(-kept)[:5]) == top
    assert np.max(np.abs(kept - cold)) < 0.25 * np.max(np.abs(other - cold))
