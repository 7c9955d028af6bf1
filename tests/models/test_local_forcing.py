"""Grammar-forced stretches (dilemma.models.local.forcing) on a made-up grammar and vocabulary.

The grammar here is a finite language: what may follow a prefix is the next character of every
word extending it, and the end when the prefix is itself a word. A stretch is forced exactly
when every word still possible continues the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dilemma.models.local.forcing import (
    PROBE_CHARS,
    ProbeTable,
    allowed_chars,
    forced_text,
    forced_tokens,
    probe_table,
    single_token,
)


class Language:
    """A grammar admitting exactly `words`, advanced one character at a time."""

    def __init__(self, words: Sequence[str], prefix: str = "") -> None:
        self.words = list(words)
        self.prefix = prefix

    def allowed(self) -> set[str | None]:
        """Next characters (non-probe characters and the end as None)."""
        out: set[str | None] = set()
        for word in self.words:
            if word == self.prefix:
                out.add(None)
            elif word.startswith(self.prefix):
                char = word[len(self.prefix)]
                out.add(char if char in PROBE_CHARS else None)
        return out

    def accept(self, char: str) -> None:
        assert char in {
            w[len(self.prefix)]
            for w in self.words
            if w.startswith(self.prefix) and len(w) > len(self.prefix)
        }, "accepted a character the grammar rejects"
        self.prefix += char


def test_json_keys_and_punctuation_are_forced_up_to_the_first_choice() -> None:
    words = [
        '{"threat":[{"state":"Dunmar","level":1}]}',
        '{"threat":[{"state":"Dunmar","level":2}]}',
    ]
    grammar = Language(words)
    assert forced_text(grammar.allowed, grammar.accept) == '{"threat":[{"state":"Dunmar","level":'
    assert grammar.prefix == '{"threat":[{"state":"Dunmar","level":'
    grammar.accept("1")
    assert forced_text(grammar.allowed, grammar.accept) == "}]}"
    assert forced_text(grammar.allowed, grammar.accept) == ""  # only the end is left


def test_nothing_is_forced_where_a_non_ascii_character_or_the_end_may_come() -> None:
    assert forced_text(Language(["é", "x"]).allowed, Language([]).accept) == ""
    grammar = Language(["ab", "abc"])
    assert forced_text(grammar.allowed, grammar.accept) == "ab"  # then: end or "c"


def test_the_stretch_stops_at_the_limit() -> None:
    grammar = Language(["a" * 50])
    assert forced_text(grammar.allowed, grammar.accept, limit=8) == "a" * 8
    assert forced_text(grammar.allowed, grammar.accept, limit=100) == "a" * 42


words = st.lists(st.text(alphabet='ab{}":,é', min_size=0, max_size=12), min_size=1, max_size=6)


@given(words, st.integers(min_value=0, max_value=12))
def test_forced_text_is_exactly_the_common_continuation(ws: list[str], cut: int) -> None:
    prefix = ws[0][:cut]
    grammar = Language(ws, prefix)
    forced = forced_text(grammar.allowed, grammar.accept)
    alive = [w for w in ws if w.startswith(prefix)]
    # sound: every word still possible continues with the forced text
    assert all(w.startswith(prefix + forced) for w in alive)
    # maximal: after it, the words part, one may end, or a non-probe character comes
    rest = {w[len(prefix + forced) : len(prefix + forced) + 1] for w in alive}
    assert len(rest) != 1 or rest == {""} or not (rest <= set(PROBE_CHARS))


# --- the vocabulary side ----------------------------------------------------------------------

VOCAB = [*PROBE_CHARS, "é", '{"', "threat", '":', "state", "ab"]
END = len(VOCAB)


def tokenize(text: str) -> list[int]:
    """Greedy longest match over VOCAB (characters outside it become one unknown token)."""
    out, i = [], 0
    while i < len(text):
        match = max((v for v in VOCAB if text.startswith(v, i)), key=len, default=None)
        if match is None:
            out.append(END + 1)
            i += 1
        else:
            out.append(VOCAB.index(match))
            i += len(match)
    return out


def detokenize(tokens: Sequence[int]) -> str:
    return "".join(VOCAB[t] if t < len(VOCAB) else "\ufffd" for t in tokens)


def test_probe_table_has_one_token_per_character_a_non_ascii_one_and_the_end() -> None:
    table = probe_table(tokenize, detokenize, END)
    assert set(table.chars) == set(PROBE_CHARS)
    assert all(detokenize([t]) == c for c, t in table.chars.items())
    assert table.other == VOCAB.index("é")
    assert table.tokens()[-2:] == [VOCAB.index("é"), END]
    assert single_token("threat", tokenize, detokenize) == VOCAB.index("threat")
    assert single_token("thr", tokenize, detokenize) is None


def test_probe_table_refuses_a_vocabulary_missing_a_probe_character() -> None:
    def no_x(text: str) -> list[int]:
        return [END + 1] if text == "x" else tokenize(text)

    with pytest.raises(ValueError, match="'x'"):
        probe_table(no_x, detokenize, END)


def test_forced_tokens_spell_the_text_in_the_vocabulary_or_character_by_character() -> None:
    table = probe_table(tokenize, detokenize, END)
    tokens = forced_tokens('{"threat":', tokenize, detokenize, table)
    assert detokenize(tokens) == '{"threat":' and len(tokens) == 3
    assert forced_tokens("", tokenize, detokenize, table) == []

    def lossy(text: str) -> list[int]:  # a tokenizer that does not read back
        return [END + 1]

    assert forced_tokens("ab", lossy, detokenize, table) == [table.chars["a"], table.chars["b"]]


def test_allowed_chars_reads_admitted_tokens() -> None:
    table = ProbeTable({"a": 1, "b": 2}, other=3, end=4)
    assert allowed_chars(table, [1]) == {"a"}
    assert allowed_chars(table, [1, 3]) == {"a", None}
    assert allowed_chars(table, [4]) == {None}
    assert allowed_chars(table, []) == set()
