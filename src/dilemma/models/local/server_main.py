"""Entry point of the local llama.cpp server: `python -m dilemma.models.local.server_main ARGS`.

It registers our Gemma 3 chat format, drops environment variables that llama_cpp.server's
settings would read instead of our arguments (HOST, PORT, API_KEY, ...), starts a watchdog that
ends the process (and removes its log folder) when its parent dies, so a killed sandbox
never leaves a server behind, then
runs llama_cpp.server's own main with the given arguments.

Sampling under a grammar (`DILEMMA_LOCAL_SAMPLING`, default `forced`): llama-cpp-python
0.3.x puts the grammar sampler first in its sampler chain (repetition penalties, grammar, top-k,
top-p, min-p, temperature, dist), so at every step the grammar is matched against all 262k
tokens of Gemma 3's vocabulary; that made constrained generation about 4x slower than free
generation. `prefilter` cuts the candidates to the `PREFILTER_K` (256) most likely tokens after
the repetition penalties, matches the grammar against those only, and continues the chain
unchanged from its top-k on (greedy: from greedy on). When the grammar rejects every one of them
the step is sampled as before, with the grammar over the whole vocabulary. Every emitted token is
accepted by the grammar, as before, and the sample is the same as llama-cpp-python's whenever at
least top-k (40) allowed tokens are among the 256 most likely, as in free text, or every allowed
token that top-k, top-p and min-p would keep is (greedy: whenever the most likely allowed token
is among them). Only tokens ranked beyond the 256th can be lost, where their probability is
negligible. (llama.cpp's own `common_sampler` instead samples unconstrained, checks the one
chosen token and resamples under the grammar over the whole vocabulary when it is rejected;
with this base model over half of the first choices were rejected. A cut at top-k itself, 40,
still fell back to the whole vocabulary on about 15% of steps.)

The same mode makes JSON strings in grammars from JSON schemas refuse raw control characters
(newline, tab, ...), as JSON and llama.cpp's own converter do: llama-cpp-python's converter
allowed them, and a reply holding one is not valid JSON, so it was re-asked. The model can still
write them escaped (`\\n`). `stock` keeps llama-cpp-python's behaviour unchanged. Both patches
are checked against the internals they rely on (`internals_problems`); if those differ, the
server refuses to start and says so.

`forced`, the default, is `prefilter` plus two changes. Text the grammar admits as the only
continuation (JSON keys, the punctuation between them, an enum value that is the only one left)
is not sampled token by token but appended after each sampled token and evaluated with it in one
batch, at prompt speed (dilemma.models.local.forcing; `Llama.generate` is wrapped to send those
tokens into its own loop, which evaluates whatever is sent to it). And the grammar's optional
space between JSON tokens is dropped (llama-cpp-python's converter allows one; the prompt's
examples use none), so that keys and punctuation form long forced stretches. Neither changes
which values the model may write.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

from dilemma.models.local.forcing import (
    ProbeTable,
    allowed_chars,
    forced_text,
    forced_tokens,
    probe_table,
)
from dilemma.models.local.prefix_state import (
    MIN_PREFIX,
    PrefixStore,
    SlotStore,
    common_prefix,
    slot_count,
    state_dir,
    store_key,
)

PARENT_PID_ENV = "DILEMMA_PARENT_PID"
LOG_DIR_ENV = "DILEMMA_SERVER_LOG_DIR"
WATCH_INTERVAL_S = 0.5
SAMPLING_ENV = "DILEMMA_LOCAL_SAMPLING"
FORCED = "forced"
"""`prefilter` plus grammar-forced stretches fed in one batch, JSON without optional spaces:
the default."""
PREFILTER = "prefilter"
"""The grammar over the most likely tokens only (and JSON strings without raw control
characters)."""
STOCK = "stock"
"""llama-cpp-python as shipped: the grammar over the whole vocabulary at every step."""
SAMPLING_MODES = (FORCED, PREFILTER, STOCK)
PATCHED_MODES = (FORCED, PREFILTER)
"""Modes that patch llama-cpp-python."""
PATCHED_SERIES = (0, 3)
"""llama-cpp-python release series whose internals the patches fit (tested with 0.3.36); another
series is refused even if its internals look the same."""
PREFILTER_K = 256
"""Candidates matched against the grammar first (at least the request's top-k)."""
STOCK_CHAR_RULE = (
    r'[^"\\] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
"""llama-cpp-python 0.3.x's rule for one character of a JSON string (raw control chars pass)."""
JSON_CHAR_RULE = (
    r'[^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
"""The same rule without U+0000-U+001F, which JSON strings may only hold escaped."""
STOCK_SPACE_RULE = '" "?'
"""llama-cpp-python 0.3.x's optional space between JSON tokens."""
COMPACT_SPACE_RULE = '""'
"""No space between JSON tokens (`forced`)."""
GENERATE_HOOK = "tokens.extend(tokens_or_none)"
"""What `Llama.generate` must do with tokens sent into it for `forced` to work."""
_LIB_NAMES = (
    "llama_get_logits_ith",
    "llama_sampler_apply",
    "llama_sampler_accept",
    "llama_sampler_chain_n",
    "llama_sampler_chain_get",
    "llama_sampler_name",
    "llama_vocab_n_tokens",
    "llama_token_data",
    "llama_token_data_array",
    "llama_token_data_p",
)
_NEG_INF = float("-inf")


class SamplerPatchError(RuntimeError):
    """llama-cpp-python's internals are not those the sampling patches wrap."""


def sampling_mode(env: Mapping[str, str]) -> str:
    """The sampling mode named by `SAMPLING_ENV` in `env` (default `FORCED`)."""
    mode = env.get(SAMPLING_ENV, "").strip() or FORCED
    if mode not in SAMPLING_MODES:
        raise ValueError(f"{SAMPLING_ENV}={mode!r}: expected one of {', '.join(SAMPLING_MODES)}")
    return mode


def _series(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:2])


def internals_problems(
    version: str, llama_cls: Any, sampler_cls: Any, lib: Any, grammar_module: Any
) -> list[str]:
    """What differs from the llama-cpp-python internals the patches rely on (empty: nothing)."""
    problems: list[str] = []
    if _series(version) != PATCHED_SERIES:
        problems.append(
            f"version {version} is not of the {'.'.join(map(str, PATCHED_SERIES))}.x series"
        )
    init = getattr(llama_cls, "_init_sampler", None)
    if init is None or not {"top_k", "grammar"} <= set(inspect.signature(init).parameters):
        problems.append("Llama._init_sampler(..., top_k=..., grammar=...) is gone")
    try:
        source = inspect.getsource(llama_cls)
    except (OSError, TypeError):
        source = ""
    uses = set(re.findall(r"self\._sampler\.(\w+)", source))
    if uses != {"sample"}:
        problems.append(f"Llama uses its sampler's {sorted(uses) or 'nothing'}, not only .sample")
    for method in ("add_grammar", "add_top_k"):
        if not callable(getattr(sampler_cls, method, None)):
            problems.append(f"LlamaSampler.{method} is gone")
    missing = [name for name in _LIB_NAMES if not hasattr(lib, name)]
    if missing:
        problems.append(f"llama_cpp lacks {', '.join(missing)}")
    else:
        fields = [f[0] for f in getattr(lib.llama_token_data_array, "_fields_", [])]
        if fields != ["data", "size", "selected", "sorted"]:
            problems.append(f"llama_token_data_array has fields {fields}")
        if ctypes.sizeof(lib.llama_token_data) != 12:
            problems.append("llama_token_data is no longer (int32 id, float logit, float p)")
    char = getattr(grammar_module, "PRIMITIVE_RULES", {}).get("char")
    if getattr(char, "content", None) not in (STOCK_CHAR_RULE, JSON_CHAR_RULE):
        problems.append("llama_grammar.PRIMITIVE_RULES['char'] is not the rule it patches")
    if getattr(grammar_module, "SPACE_RULE", None) not in (STOCK_SPACE_RULE, COMPACT_SPACE_RULE):
        problems.append("llama_grammar.SPACE_RULE is not the rule it patches")
    generate_fn = getattr(llama_cls, "generate", None)
    try:
        generate = inspect.getsource(generate_fn) if generate_fn is not None else ""
    except (OSError, TypeError):
        generate = ""
    if GENERATE_HOOK not in generate and not getattr(generate_fn, "_dilemma_forced", False):
        problems.append(f"Llama.generate no longer does {GENERATE_HOOK}")
    for name in ("tokenize", "detokenize", "token_eos"):
        if not callable(getattr(llama_cls, name, None)):
            problems.append(f"Llama.{name} is gone")
    return problems


def prefilter_at(names: list[str], top_k: int) -> int | None:
    """Where the prefilter and the grammar go in a chain of samplers named `names`.

    The index of the sampler they precede (the chain's top-k, or greedy); None when the chain
    keeps llama-cpp-python's order: top-k disabled (`top_k` <= 0, the whole vocabulary is
    wanted) or no top-k and no greedy (mirostat).
    """
    if "top-k" in names:
        return names.index("top-k") if top_k > 0 else None
    if names and names[-1] == "greedy":
        return len(names) - 1
    return None


class PrefilterSampler:
    """Samples one token per step, matching the grammar against a prefilter (module doc).

    `chain` is llama-cpp-python's sampler chain built without the grammar, `grammar` a chain
    holding only the grammar sampler, `prefilter` a chain holding the top-k cut; all are
    `llama_cpp._internals.LlamaSampler` objects owning their native samplers. The grammar and
    the prefilter go before the chain's sampler at index `at`.
    """

    def __init__(
        self,
        chain: Any,
        grammar: Any,
        prefilter: Any,
        n_vocab: int,
        at: int,
        forcing: Forcing | None = None,
    ) -> None:
        import numpy as np
        from llama_cpp import llama_cpp as lib

        self._lib: Any = lib
        self._np = np
        self.chain, self.grammar, self.prefilter = chain, grammar, prefilter
        self.n_vocab = n_vocab
        stages = [
            lib.llama_sampler_chain_get(chain.sampler, i)
            for i in range(lib.llama_sampler_chain_n(chain.sampler))
        ]
        self._before = [*stages[:at], prefilter.sampler, grammar.sampler]
        self._after = stages[at:]
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._buf = np.zeros(
            n_vocab, dtype=np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
        )
        self._cur: Any = lib.llama_token_data_array()
        self.steps = 0
        """Tokens sampled."""
        self.fallbacks = 0
        """Steps where the grammar rejected every prefiltered token (whole vocabulary matched)."""
        self.forcing = forcing
        """How to find grammar-forced stretches (None: every token is sampled)."""
        self.forced = 0
        """Tokens of forced stretches (returned without sampling)."""
        self._queue: list[int] = []
        self._just_sampled = False

    def _fill(self, logits: Any) -> Any:
        buf, cur = self._buf, self._cur
        buf["id"] = self._ids
        buf["logit"] = logits
        buf["p"] = 0.0
        cur.data = buf.ctypes.data_as(self._lib.llama_token_data_p)
        cur.size = self.n_vocab
        cur.selected = -1
        cur.sorted = False
        return ctypes.byref(cur)

    def _apply(self, samplers: list[Any], cur: Any) -> None:
        for sampler in samplers:
            self._lib.llama_sampler_apply(sampler, cur)

    def _keep_allowed(self) -> int:
        """Drop the candidates the grammar rejected, keeping their order; how many are left."""
        cur = self._cur
        data, kept = cur.data, 0
        for i in range(cur.size):
            if data[i].logit != _NEG_INF:
                if kept != i:
                    data[kept] = data[i]
                kept += 1
        cur.size = kept
        return kept

    def _chosen(self) -> int:
        cur = self._cur
        if not 0 <= cur.selected < cur.size:
            raise SamplerPatchError(f"sampler chain selected no token ({cur.selected})")
        return int(cur.data[cur.selected].id)

    def sample_logits(self, logits: Any) -> int:
        """One step on a float32 array of `n_vocab` logits: choose, then accept the token."""
        lib = self._lib
        cur = self._fill(logits)
        self._apply(self._before, cur)
        self.steps += 1
        if self._keep_allowed():
            self._apply(self._after, cur)
        else:  # llama-cpp-python's own order: the grammar over the whole vocabulary first
            self.fallbacks += 1
            cur = self._fill(logits)
            lib.llama_sampler_apply(self.grammar.sampler, cur)
            lib.llama_sampler_apply(self.chain.sampler, cur)
        token = self._chosen()
        lib.llama_sampler_accept(self.grammar.sampler, token)
        lib.llama_sampler_accept(self.chain.sampler, token)
        return token

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """`LlamaSampler.sample`'s interface: one step on the logits of `ctx` at `idx`, or the
        next token of the forced stretch handed out by `take_forced` (its logits unread)."""
        if self._queue:
            token = self._queue.pop(0)
            self._lib.llama_sampler_accept(self.chain.sampler, token)
            self.forced += 1
            return token
        pointer = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        token = self.sample_logits(self._np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)))
        self._just_sampled = True
        return token

    def take_forced(self) -> list[int]:
        """The tokens the grammar forces after the token just sampled, which `sample` will then
        return one by one; the caller must evaluate them right after that token. Empty when
        forcing is off, nothing is forced, or the last token was itself forced."""
        if self.forcing is None or not self._just_sampled:
            return []
        self._just_sampled = False
        self._queue = self.forcing.stretch(self.grammar.sampler)
        return list(self._queue)


class Forcing:
    """Finds grammar-forced stretches with llama.cpp's grammar sampler (see
    dilemma.models.local.forcing) and spells them in tokens of the model."""

    def __init__(
        self,
        table: ProbeTable,
        tokenize: Callable[[str], Sequence[int]],
        detokenize: Callable[[Sequence[int]], str],
    ) -> None:
        import numpy as np
        from llama_cpp import llama_cpp as lib

        self._lib: Any = lib
        self.table, self.tokenize, self.detokenize = table, tokenize, detokenize
        self._ids = np.array(table.tokens(), dtype=np.int32)
        self._buf = np.zeros(
            len(self._ids),
            dtype=np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)]),
        )
        self._cur: Any = lib.llama_token_data_array()

    def _admitted(self, grammar: Any) -> set[str | None]:
        buf, cur = self._buf, self._cur
        buf["id"] = self._ids
        buf["logit"] = 0.0
        buf["p"] = 0.0
        cur.data = buf.ctypes.data_as(self._lib.llama_token_data_p)
        cur.size = len(buf)
        cur.selected = -1
        cur.sorted = False
        self._lib.llama_sampler_apply(grammar, ctypes.byref(cur))
        admitted = buf["id"][buf["logit"] != _NEG_INF]
        return allowed_chars(self.table, admitted.tolist())

    def stretch(self, grammar: Any) -> list[int]:
        """The forced stretch from `grammar`'s state, in tokens; `grammar` (a native sampler
        chain holding the grammar) is advanced past it."""
        text = forced_text(
            lambda: self._admitted(grammar),
            lambda char: self._lib.llama_sampler_accept(grammar, self.table.chars[char]),
        )
        return forced_tokens(text, self.tokenize, self.detokenize, self.table)


def patch_llama_cpp(mode: str = FORCED) -> None:
    """Apply the patches of sampling mode `mode` (`forced` or `prefilter`) to llama-cpp-python
    (once per process).

    Raises SamplerPatchError, naming what changed, if llama-cpp-python is not as expected.
    """
    import llama_cpp
    from llama_cpp import _internals, llama_grammar
    from llama_cpp import llama_cpp as lib
    from llama_cpp.llama import Llama

    if mode not in PATCHED_MODES:
        raise ValueError(f"mode {mode!r} patches nothing")
    original = Llama._init_sampler
    if getattr(original, "_dilemma_prefilter", False):
        return
    problems = internals_problems(
        llama_cpp.__version__, Llama, _internals.LlamaSampler, lib, llama_grammar
    )
    if problems:
        raise SamplerPatchError(
            f"llama-cpp-python {llama_cpp.__version__}: the {mode} sampling patch does"
            f" not fit its internals ({'; '.join(problems)}). Set {SAMPLING_ENV}={STOCK} to run"
            " without it (grammar-constrained output is then about 4x slower), or install"
            f" llama-cpp-python {'.'.join(map(str, PATCHED_SERIES))}.x."
        )
    forcing = mode == FORCED
    llama_grammar.PRIMITIVE_RULES["char"] = llama_grammar.BuiltinRule(JSON_CHAR_RULE, [])
    if forcing:
        llama_grammar.SPACE_RULE = COMPACT_SPACE_RULE
    signature = inspect.signature(original)
    sampler_cls: Any = _internals.LlamaSampler
    tables: dict[int, ProbeTable] = {}

    def _forcing(llama: Any) -> Forcing:
        def tokenize(text: str) -> list[int]:
            return list(llama.tokenize(text.encode(), add_bos=False, special=False))

        def detokenize(tokens: Sequence[int]) -> str:
            return bytes(llama.detokenize(list(tokens))).decode("utf-8", errors="replace")

        key = id(llama._model)
        if key not in tables:
            tables[key] = probe_table(tokenize, detokenize, int(llama.token_eos()))
        return Forcing(tables[key], tokenize, detokenize)

    def _init_sampler(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        grammar = bound.arguments.get("grammar")
        if grammar is None:
            return original(*bound.args, **bound.kwargs)
        bound.arguments["grammar"] = None
        chain = original(*bound.args, **bound.kwargs)
        names = [
            lib.llama_sampler_name(lib.llama_sampler_chain_get(chain.sampler, i)).decode()
            for i in range(lib.llama_sampler_chain_n(chain.sampler))
        ]
        top_k = int(bound.arguments.get("top_k", signature.parameters["top_k"].default))
        at = prefilter_at(names, top_k)
        if at is None:
            bound.arguments["grammar"] = grammar
            return original(*bound.args, **bound.kwargs)
        checker = sampler_cls()
        checker.add_grammar(self._model, grammar)
        prefilter = sampler_cls()
        prefilter.add_top_k(max(PREFILTER_K, top_k))
        n_vocab = lib.llama_vocab_n_tokens(self._model.vocab)
        return PrefilterSampler(
            chain, checker, prefilter, n_vocab, at, _forcing(self) if forcing else None
        )

    _init_sampler._dilemma_prefilter = True  # type: ignore[attr-defined]
    Llama._init_sampler = _init_sampler  # type: ignore[method-assign]
    Llama.generate = _patched_generate(Llama.generate, forcing)  # type: ignore[method-assign]


class PrefixMemo:
    """What the generate wrapper remembers between requests of one server."""

    def __init__(self, store: PrefixStore | None, slots: SlotStore | None = None) -> None:
        self.store = store
        self.prompt_len = 0
        """Tokens of the previous prompt (without its completion)."""
        self.saved = False
        self.slots = slots or SlotStore(0, [])
        """States of recent prompts, in memory (`_keep_slot`, `_load_slot`)."""


def _state_bytes(llama: Any) -> Any:
    """The context's state: a ctypes buffer of exactly its size."""
    from llama_cpp import llama_cpp as lib

    size = lib.llama_state_get_size(llama._ctx.ctx)
    buf = (ctypes.c_uint8 * size)()
    written = lib.llama_state_get_data(llama._ctx.ctx, buf, size)
    if written == size:
        return buf
    exact = (ctypes.c_uint8 * written)()
    ctypes.memmove(exact, buf, written)
    return exact


def _keep_slot(llama: Any, tokens: list[int], memo: PrefixMemo) -> None:
    """Before a prompt that leaves the previous one early (another state's call), keep the
    previous prompt's state in a slot (its completion dropped)."""
    previous = memo.prompt_len
    if memo.slots.limit <= 0 or llama.n_tokens < previous or previous == 0:
        return
    prompt = llama.input_ids[:previous].tolist()
    if common_prefix(prompt, tokens) >= previous or memo.slots.has(prompt):
        return  # a re-ask extending it, or kept already
    if not llama._ctx.kv_cache_seq_rm(-1, previous, -1):
        return
    llama.n_tokens = previous
    llama._requires_eval = True
    memo.slots.add(prompt, _state_bytes(llama))


def _load_slot(llama: Any, tokens: list[int], memo: PrefixMemo) -> None:
    """Load the kept state that shares the longest start with `tokens`, when it saves enough
    over the context in place."""
    from llama_cpp import llama_cpp as lib

    here = common_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens)
    slot = memo.slots.best(tokens, here)
    if slot is None:
        return
    buf: Any = slot.state
    if lib.llama_state_set_data(llama._ctx.ctx, buf, len(buf)) != len(buf):
        print("dilemma: could not load a kept prompt state; evaluating the prompt", file=sys.stderr)
        llama.reset()
        return
    n = len(slot.tokens)
    llama.input_ids[:n] = slot.tokens
    llama.n_tokens = n
    llama._requires_eval = True
    shared = common_prefix(slot.tokens, tokens)
    print(
        f"dilemma: resumed from a kept state of {n} prompt tokens ({shared} shared)",
        file=sys.stderr,
    )


def _prefix_state(llama: Any, tokens: list[int], memo: PrefixMemo) -> None:
    """Load the saved state of the longest shared prompt start into a fresh context, or save
    the start this prompt shares with the previous one (dilemma.models.local.prefix_state)."""
    from llama_cpp import llama_cpp as lib

    store, previous = memo.store, memo.prompt_len
    memo.prompt_len = len(tokens)
    if store is None:
        return
    if llama.n_tokens == 0:
        hit = store.best(tokens)
        if hit is None:
            return
        n, path = hit
        data = path.read_bytes()
        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if lib.llama_state_set_data(llama._ctx.ctx, buf, len(data)) != len(data):
            print(f"dilemma: could not load {path}; evaluating the prompt", file=sys.stderr)
            llama.reset()
            return
        llama.input_ids[:n] = tokens[:n]
        llama.n_tokens = n
        llama._requires_eval = True
        print(f"dilemma: loaded the state of {n} prompt tokens from {path}", file=sys.stderr)
        return
    if memo.saved or store.best(tokens) is not None:
        return
    shared = common_prefix(llama.input_ids[: min(llama.n_tokens, previous)].tolist(), tokens)
    if shared < MIN_PREFIX or shared >= previous:  # too short, or a re-ask extending it
        return
    if not llama._ctx.kv_cache_seq_rm(-1, shared, -1):
        return
    llama.n_tokens = shared
    llama._requires_eval = True
    size = lib.llama_state_get_size(llama._ctx.ctx)
    buf = (ctypes.c_uint8 * size)()
    written = lib.llama_state_get_data(llama._ctx.ctx, buf, size)
    path = store.save(tokens[:shared], ctypes.string_at(buf, written))
    del buf
    memo.saved = True
    print(f"dilemma: saved the state of {shared} shared prompt tokens to {path}", file=sys.stderr)


STATS_PREFIX = "dilemma: reply tokens:"
"""Start of the line the server writes after each constrained reply (`reply_stats`)."""


def reply_stats(sampler: PrefilterSampler) -> str:
    """The server's log line on one constrained reply: tokens sampled and tokens forced."""
    return f"{STATS_PREFIX} sampled={sampler.steps} forced={sampler.forced}"


def parse_reply_stats(log: str) -> list[tuple[int, int]]:
    """(sampled, forced) of every `reply_stats` line in a server log, in order."""
    found = re.findall(rf"^{re.escape(STATS_PREFIX)} sampled=(\d+) forced=(\d+)$", log, re.M)
    return [(int(a), int(b)) for a, b in found]


def _flash_attn(llama: Any) -> bool:
    """Whether `llama`'s context uses flash attention."""
    from llama_cpp import llama_cpp as lib

    kind = getattr(llama.context_params, "flash_attn_type", None)
    return kind == getattr(lib, "LLAMA_FLASH_ATTN_TYPE_ENABLED", object())


def _patched_generate(original: Callable[..., Any], forcing: bool) -> Callable[..., Any]:
    """`Llama.generate` that starts from a saved prompt state when it can (`_prefix_state`)
    and, with `forcing`, sends each forced stretch into the original generator, which
    evaluates it in one batch with the token before it (no forcing when a stopping criterion
    or logits processor wants to see every step's logits)."""
    memos: dict[int, PrefixMemo] = {}

    def generate(
        self: Any, tokens: Sequence[int], *args: Any, **kwargs: Any
    ) -> Generator[int, Any, None]:
        from llama_cpp import __version__

        tokens = list(tokens)
        if id(self) not in memos:
            folder = state_dir(os.environ)
            key = store_key(
                self.model_path,
                os.path.getsize(self.model_path),
                f"{__version__}-logits{int(bool(self._logits_all))}-fa{int(_flash_attn(self))}",
                self.n_ctx(),
            )
            memos[id(self)] = PrefixMemo(
                PrefixStore(folder, key) if folder else None,
                SlotStore(slot_count(os.environ), []),
            )
        memo = memos[id(self)]
        _keep_slot(self, tokens, memo)
        _prefix_state(self, tokens, memo)
        _load_slot(self, tokens, memo)
        wants_logits = bool(kwargs.get("stopping_criteria") or kwargs.get("logits_processor"))
        inner = original(self, tokens, *args, **kwargs)
        reply: Any = None
        try:
            while True:
                try:
                    token = inner.send(reply)
                except StopIteration:
                    return
                outside = yield token
                sampler = self._sampler
                forced = []
                if forcing and not wants_logits and isinstance(sampler, PrefilterSampler):
                    forced = sampler.take_forced()
                reply = [*forced, *(outside or ())] or None
        finally:
            inner.close()
            sampler = getattr(self, "_sampler", None)
            if isinstance(sampler, PrefilterSampler):
                print(reply_stats(sampler), file=sys.stderr, flush=True)

    generate._dilemma_forced = True  # type: ignore[attr-defined]
    return generate


def _watch_parent(parent: int, log_dir: str | None) -> None:
    while True:
        if os.getppid() != parent:
            if log_dir:  # nobody else is left to remove it
                shutil.rmtree(log_dir, ignore_errors=True)
            os._exit(0)
        time.sleep(WATCH_INTERVAL_S)


def _scrub_settings_env() -> None:
    from llama_cpp.server.settings import Settings

    names = {name.lower() for name in Settings.model_fields} | {"config_file"}
    for key in list(os.environ):
        if key.lower() in names:
            del os.environ[key]


def main() -> None:
    """Register the format, patch sampling (unless `stock`), guard against orphaning, run."""
    parent = int(os.environ.get(PARENT_PID_ENV, "0") or 0)
    if parent:
        if os.getppid() != parent:
            sys.exit("parent process already gone")
        log_dir = os.environ.get(LOG_DIR_ENV)
        threading.Thread(target=_watch_parent, args=(parent, log_dir), daemon=True).start()
    from dilemma.models.local.chat_format import register

    register()
    try:
        mode = sampling_mode(os.environ)
        if mode in PATCHED_MODES:
            patch_llama_cpp(mode)
    except (ValueError, SamplerPatchError) as exc:
        sys.exit(f"dilemma: {exc}")
    _scrub_settings_env()
    from llama_cpp.server.__main__ import main as server_main

    server_main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
