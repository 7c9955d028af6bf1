"""Sampling of the embedded model without the model: the prefilter patch, its guard, the text cap.

The patch (dilemma.models.local.server_main) matches the grammar against the most likely tokens
only.
These tests drive `PrefilterSampler` with llama.cpp's own samplers on made-up logits (a small
vocabulary, a logit-bias sampler standing in for the grammar) and compare every step with
llama-cpp-python's order, the grammar over the whole vocabulary first.
"""

from __future__ import annotations

import ctypes
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import HumanMessage

from dilemma.core.decision import decision_reply_model, negotiation_reply_model, schema_of
from dilemma.models.local import model as local_model
from dilemma.models.local import server as local_server
from dilemma.models.local import server_main as lsm
from dilemma.models.types import ModelSpecError

needs_extra = pytest.mark.skipif(
    bool(local_model.missing_modules()), reason="needs the `local` extra"
)
N_VOCAB = 2000
NEG_INF = float("-inf")


# --- mode and guard -------------------------------------------------------------------------


def test_sampling_mode_defaults_to_forced_and_refuses_unknown_modes() -> None:
    assert lsm.sampling_mode({}) == lsm.FORCED
    assert lsm.sampling_mode({lsm.SAMPLING_ENV: " stock "}) == lsm.STOCK
    assert lsm.sampling_mode({lsm.SAMPLING_ENV: "prefilter"}) == lsm.PREFILTER
    with pytest.raises(ValueError, match="forced, prefilter, stock"):
        lsm.sampling_mode({lsm.SAMPLING_ENV: "fast"})


def test_server_config_takes_the_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lsm.SAMPLING_ENV, "stock")
    assert local_server.LocalServerConfig(model_path=Path("m")).sampling == "stock"
    monkeypatch.setenv(lsm.SAMPLING_ENV, "nonsense")
    with pytest.raises(ModelSpecError, match=lsm.SAMPLING_ENV):
        local_server.LocalServerConfig(model_path=Path("m"))


def test_child_env_names_the_sampling_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lsm.SAMPLING_ENV, "stock")
    env = local_server._child_env(1, sampling="prefilter")
    assert env[lsm.SAMPLING_ENV] == "prefilter"


def test_prefilter_goes_before_top_k_or_greedy() -> None:
    chain = ["penalties", "top-k", "typical", "top-p", "min-p", "temp", "dist"]
    assert lsm.prefilter_at(chain, 40) == 1
    assert lsm.prefilter_at(chain, 0) is None  # top-k disabled: the whole vocabulary is wanted
    assert lsm.prefilter_at(["penalties", "greedy"], 40) == 1
    assert lsm.prefilter_at(["penalties", "mirostat-v2"], 40) is None


class _FakeLlama:
    def _init_sampler(self, top_k: int = 40, grammar: Any = None) -> Any:
        return self._sampler.sample(1, 2)  # type: ignore[attr-defined]

    def generate(self, tokens: list[int]) -> Any:
        tokens_or_none = yield 1
        tokens.extend(tokens_or_none)

    def tokenize(self) -> None: ...

    def detokenize(self) -> None: ...

    def token_eos(self) -> None: ...


class _ChangedLlama:
    def _init_sampler(self, top_k: int = 40) -> Any:
        self._sampler.reset()  # type: ignore[attr-defined]


class _Sampler:
    def add_grammar(self) -> None: ...

    def add_top_k(self) -> None: ...


class _Rule:
    def __init__(self, content: str) -> None:
        self.content = content


def _lib(**changes: Any) -> Any:
    class TokenData(ctypes.Structure):
        _fields_ = [("id", ctypes.c_int32), ("logit", ctypes.c_float), ("p", ctypes.c_float)]

    class TokenDataArray(ctypes.Structure):
        _fields_ = [
            ("data", ctypes.c_void_p),
            ("size", ctypes.c_size_t),
            ("selected", ctypes.c_int64),
            ("sorted", ctypes.c_bool),
        ]

    names: dict[str, Any] = {name: object() for name in lsm._LIB_NAMES}
    names.update(llama_token_data=TokenData, llama_token_data_array=TokenDataArray)
    names.update(changes)
    return type("Lib", (), names)


def _grammar_module(rule: str = lsm.STOCK_CHAR_RULE, space: str = lsm.STOCK_SPACE_RULE) -> Any:
    return type("Grammar", (), {"PRIMITIVE_RULES": {"char": _Rule(rule)}, "SPACE_RULE": space})


def test_internals_guard_accepts_what_the_patch_expects() -> None:
    assert lsm.internals_problems("0.3.36", _FakeLlama, _Sampler, _lib(), _grammar_module()) == []
    patched = _grammar_module(lsm.JSON_CHAR_RULE, lsm.COMPACT_SPACE_RULE)  # patched once already
    assert lsm.internals_problems("0.3.99", _FakeLlama, _Sampler, _lib(), patched) == []


def test_internals_guard_names_every_change() -> None:
    class OneField(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p)]

    problems = lsm.internals_problems(
        "0.4.1",
        _ChangedLlama,
        object,
        _lib(llama_token_data_array=OneField),
        _grammar_module('[^"] | "x"', '" "*'),
    )
    text = "; ".join(problems)
    assert "0.4.1 is not of the 0.3.x series" in text
    assert "grammar=" in text
    assert "['reset']" in text  # Llama uses its sampler for more than .sample
    assert "add_grammar" in text and "add_top_k" in text
    assert "llama_token_data_array has fields ['data']" in text
    assert "PRIMITIVE_RULES['char']" in text
    assert "SPACE_RULE" in text
    assert "Llama.generate no longer does tokens.extend(tokens_or_none)" in text
    assert "Llama.tokenize is gone" in text
    missing = _lib()
    delattr(missing, "llama_sampler_chain_get")
    (problem,) = lsm.internals_problems("0.3.1", _FakeLlama, _Sampler, missing, _grammar_module())
    assert problem == "llama_cpp lacks llama_sampler_chain_get"


@needs_extra
def test_installed_llama_cpp_python_fits_the_patch() -> None:
    import llama_cpp
    from llama_cpp import _internals, llama_grammar
    from llama_cpp import llama_cpp as lib
    from llama_cpp.llama import Llama

    assert (
        lsm.internals_problems(
            llama_cpp.__version__, Llama, _internals.LlamaSampler, lib, llama_grammar
        )
        == []
    )


def test_json_char_rule_differs_from_the_stock_rule_by_control_characters_only() -> None:
    assert lsm.JSON_CHAR_RULE.replace("\\x00-\\x1F", "") == lsm.STOCK_CHAR_RULE


@needs_extra
def test_patch_applies_once_and_makes_json_strings_refuse_control_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llama_cpp import llama_grammar
    from llama_cpp.llama import Llama

    monkeypatch.setattr(Llama, "_init_sampler", Llama._init_sampler)  # restored afterwards
    monkeypatch.setattr(Llama, "generate", Llama.generate)
    monkeypatch.setattr(llama_grammar, "SPACE_RULE", llama_grammar.SPACE_RULE)
    monkeypatch.setitem(
        llama_grammar.PRIMITIVE_RULES, "char", llama_grammar.PRIMITIVE_RULES["char"]
    )
    lsm.patch_llama_cpp()
    patched, generate = Llama._init_sampler, Llama.generate
    lsm.patch_llama_cpp()
    assert Llama._init_sampler is patched and Llama.generate is generate
    grammar = llama_grammar.json_schema_to_gbnf(json.dumps({"type": "string", "maxLength": 3}))
    assert f"char ::= {lsm.JSON_CHAR_RULE}" in grammar
    obj = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    assert 'space ::= ""' in llama_grammar.json_schema_to_gbnf(json.dumps(obj))


@needs_extra
def test_prefilter_mode_keeps_the_optional_space(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llama_cpp import llama_grammar
    from llama_cpp.llama import Llama

    monkeypatch.setattr(Llama, "_init_sampler", Llama._init_sampler)
    monkeypatch.setattr(Llama, "generate", Llama.generate)
    monkeypatch.setattr(llama_grammar, "SPACE_RULE", llama_grammar.SPACE_RULE)
    monkeypatch.setitem(
        llama_grammar.PRIMITIVE_RULES, "char", llama_grammar.PRIMITIVE_RULES["char"]
    )
    lsm.patch_llama_cpp(lsm.PREFILTER)
    assert llama_grammar.SPACE_RULE == lsm.STOCK_SPACE_RULE


@needs_extra
def test_patch_refuses_changed_internals_and_says_how_to_run_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llama_cpp import llama_grammar
    from llama_cpp.llama import Llama

    original = Llama._init_sampler
    monkeypatch.setattr(lsm, "internals_problems", lambda *args: ["Llama.sample changed"])
    with pytest.raises(lsm.SamplerPatchError) as info:
        lsm.patch_llama_cpp()
    message = str(info.value)
    assert "Llama.sample changed" in message and f"{lsm.SAMPLING_ENV}=stock" in message
    assert Llama._init_sampler is original  # nothing patched
    assert llama_grammar.PRIMITIVE_RULES["char"].content == lsm.STOCK_CHAR_RULE
    assert llama_grammar.SPACE_RULE == lsm.STOCK_SPACE_RULE


# --- the sampler on made-up logits ------------------------------------------------------------


def _sampler() -> Any:
    """An empty llama.cpp sampler chain (llama-cpp-python's LlamaSampler)."""
    from llama_cpp import _internals

    cls: Any = _internals.LlamaSampler
    return cls()


def _chain(kind: str, seed: int = 7) -> Any:
    chain = _sampler()
    chain.add_penalties(N_VOCAB, 64, 1.1, 0.0, 0.0)
    if kind == "greedy":
        chain.add_greedy()
    else:
        chain.add_top_k(40)
        chain.add_typical(1.0, 1)
        chain.add_top_p(0.95, 1)
        chain.add_min_p(0.05, 1)
        chain.add_temp(0.8)
        chain.add_dist(seed)
    return chain


def _grammar(banned: set[int]) -> Any:
    """A stand-in for the grammar sampler: the banned tokens get a logit of -inf."""
    grammar = _sampler()
    grammar.add_logit_bias(N_VOCAB, dict.fromkeys(banned, NEG_INF))
    return grammar


def _names(chain: Any) -> list[str]:
    from llama_cpp import llama_cpp as lib

    return [
        lib.llama_sampler_name(lib.llama_sampler_chain_get(chain.sampler, i)).decode()
        for i in range(lib.llama_sampler_chain_n(chain.sampler))
    ]


def _prefilter(kind: str, banned: set[int]) -> lsm.PrefilterSampler:
    chain = _chain(kind)
    cut = _sampler()
    cut.add_top_k(lsm.PREFILTER_K)
    at = lsm.prefilter_at(_names(chain), 40)
    assert at is not None
    return lsm.PrefilterSampler(chain, _grammar(banned), cut, N_VOCAB, at)


def _stock_step(chain: Any, grammar: Any, logits: np.ndarray[Any, Any]) -> int:
    """One step in llama-cpp-python's order: grammar over every token, then the chain."""
    from llama_cpp import llama_cpp as lib

    data = (lib.llama_token_data * N_VOCAB)(
        *(lib.llama_token_data(i, float(x), 0.0) for i, x in enumerate(logits))
    )
    cur = lib.llama_token_data_array(data, N_VOCAB, -1, False)
    lib.llama_sampler_apply(grammar.sampler, ctypes.byref(cur))
    lib.llama_sampler_apply(chain.sampler, ctypes.byref(cur))
    token = int(cur.data[cur.selected].id)
    lib.llama_sampler_accept(grammar.sampler, token)
    lib.llama_sampler_accept(chain.sampler, token)
    return token


@needs_extra
@pytest.mark.parametrize("kind", ["greedy", "dist"])
def test_prefilter_samples_exactly_as_the_grammar_first_order(kind: str) -> None:
    rng = np.random.default_rng(11)
    banned = {int(t) for t in rng.choice(N_VOCAB, N_VOCAB // 10, replace=False)}
    fast, chain, grammar = _prefilter(kind, banned), _chain(kind), _grammar(banned)
    for _ in range(60):
        logits = rng.normal(0, 3, N_VOCAB).astype(np.float32)
        expected = _stock_step(chain, grammar, logits)
        token = fast.sample_logits(logits)
        assert token == expected and token not in banned
    assert fast.steps == 60 and fast.fallbacks == 0


@needs_extra
@pytest.mark.parametrize("kind", ["greedy", "dist"])
def test_grammar_rejecting_every_prefiltered_token_falls_back_to_the_whole_vocabulary(
    kind: str,
) -> None:
    logits = np.linspace(10, -10, N_VOCAB, dtype=np.float32)  # token i is the i-th most likely
    allowed = {900, 1500}  # far beyond the prefilter's 256 candidates
    banned = set(range(N_VOCAB)) - allowed
    fast, chain, grammar = _prefilter(kind, banned), _chain(kind), _grammar(banned)
    for _ in range(5):
        expected = _stock_step(chain, grammar, logits)
        assert fast.sample_logits(logits) == expected
    assert fast.fallbacks == 5
    if kind == "greedy":
        assert expected == 900


@needs_extra
def test_rejected_candidates_are_dropped_before_min_p() -> None:
    # min-p stops at the first candidate below its threshold in a sorted list: a rejected
    # (-inf) candidate left in place would hide the allowed ones ranked after it.
    logits = np.full(N_VOCAB, -20, dtype=np.float32)
    logits[:6] = [9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    fast = _prefilter("dist", banned={0, 2})
    seen = {fast.sample_logits(logits) for _ in range(200)}
    assert seen == {1, 3, 4, 5}


# --- free-text cap of the embedded model -------------------------------------------------------


def test_text_cap_lowers_every_max_length_and_leaves_the_schema() -> None:
    schema = schema_of(decision_reply_model(["B", "C"], 10, ["P1"]))
    before = json.dumps(schema)
    capped = local_model.cap_text_lengths(schema, 160)
    assert json.dumps(schema) == before  # cached schemas are shared: never mutated
    assert set(map(int, re.findall(r'"maxLength": (\d+)', json.dumps(capped)))) == {160}
    assert set(map(int, re.findall(r'"maxLength": (\d+)', before))) == {160, 400}
    message = local_model.cap_text_lengths(schema_of(negotiation_reply_model(["B"])), 100)
    text = message["$defs"]["Message"]["properties"]["text"]
    assert text["maxLength"] == 100 and text["minLength"] == 1


def test_local_client_sends_the_capped_schema() -> None:
    chat = local_model.LocalChatOpenAI(
        model="m", base_url="http://127.0.0.1:9/v1", api_key="x", text_max=120
    )
    schema = schema_of(decision_reply_model(["B"], 10, []))
    tool = {**schema, "title": "reply", "description": "Your reply."}
    bound: Any = chat.bind_tools([tool], tool_choice="reply")
    payload = chat._get_request_payload([HumanMessage("Decide.")], **bound.kwargs)
    sent = json.dumps(payload["tools"])
    assert set(re.findall(r'"maxLength": (\d+)', sent)) == {"120"}
    assert '"perceived_intent"' in sent and '"private_rationale"' in sent  # no field dropped
    uncapped = local_model.LocalChatOpenAI(model="m", base_url="http://127.0.0.1:9/v1", api_key="x")
    payload = uncapped._get_request_payload([HumanMessage("Decide.")], **bound.kwargs)
    assert set(re.findall(r'"maxLength": (\d+)', json.dumps(payload["tools"]))) == {"160", "400"}


def test_server_keeps_only_the_last_logits_unless_asked() -> None:
    args = local_server.LocalServerConfig(model_path=Path("m"), sampling="forced").args(1234)
    assert args[args.index("--logits_all") + 1] == "False"
    config = local_server.LocalServerConfig(model_path=Path("m"), logits_all=True)
    assert config.args(1)[config.args(1).index("--logits_all") + 1] == "True"


def test_server_runs_flash_attention_unless_asked_not_to() -> None:
    config = local_server.LocalServerConfig(model_path=Path("m"), n_threads=1)
    assert config.args(1)[config.args(1).index("--flash_attn") + 1] == "True"
    config = local_server.LocalServerConfig(model_path=Path("m"), n_threads=1, flash_attn=False)
    assert config.args(1)[config.args(1).index("--flash_attn") + 1] == "False"


def test_reply_stats_lines_are_found_among_the_server_log() -> None:
    class Counts:
        steps, forced = 41, 97

    line = lsm.reply_stats(Counts())  # type: ignore[arg-type]
    log = f"INFO: started\n{line}\nllama_perf: 12 ms\n{lsm.STATS_PREFIX} sampled=3 forced=0\n"
    assert lsm.parse_reply_stats(log) == [(41, 97), (3, 0)]
    assert lsm.parse_reply_stats("no stats here\n") == []
