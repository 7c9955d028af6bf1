"""Grammar-forced stretches: text the grammar admits as the only continuation.

After each sampled token the `forced` sampling mode (dilemma.models.local.server_main) asks the
grammar, one character at a time, which characters may come next. While exactly one may, that
character is forced; the stretch ends where the grammar admits two or more characters, may end,
or admits none. The forced text is then tokenized and fed to the model as one batch, at prompt
speed, instead of being sampled token by token: a JSON key, the punctuation around it, the only
enum value left, all come out exactly as the grammar would have let the model write them, only
in fewer, larger steps.

Which characters the grammar admits is asked with a probe set: one single-character token for
every printable ASCII character, tab and newline, one token of a non-ASCII character and the
end-of-generation token. That answer is exact for the grammars llama-cpp-python builds from JSON
schemas, where any position that admits a non-ASCII character (inside a free string) also admits
every ASCII letter, so it never looks forced.

Everything here works on plain callables, so it is tested with a made-up grammar and vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

PROBE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t\n"
"""Characters probed one by one (printable ASCII, tab, newline)."""
NON_ASCII_PROBES = ("é", "ü", "ß", "中")
"""Candidates for the one non-ASCII probe (the first that is a single token is used)."""
FORCE_LIMIT = 256
"""Longest stretch forced at once (characters)."""


@dataclass(frozen=True)
class ProbeTable:
    """Tokens whose text is exactly one character, used to ask the grammar what may follow.

    `chars` maps each probe character to its token; `other` is the token of one non-ASCII
    character (None when the vocabulary has none); `end` the end-of-generation token.
    """

    chars: dict[str, int]
    other: int | None
    end: int

    def tokens(self) -> list[int]:
        """Every probe token: the characters, then the non-ASCII one, then the end."""
        extra = [self.other] if self.other is not None else []
        return [*self.chars.values(), *extra, self.end]


def single_token(
    text: str, tokenize: Callable[[str], Sequence[int]], detokenize: Callable[[Sequence[int]], str]
) -> int | None:
    """The token whose text is exactly `text`, or None if `text` is not one token."""
    tokens = list(tokenize(text))
    if len(tokens) == 1 and detokenize(tokens) == text:
        return tokens[0]
    return None


def probe_table(
    tokenize: Callable[[str], Sequence[int]],
    detokenize: Callable[[Sequence[int]], str],
    end: int,
) -> ProbeTable:
    """The probe set of a vocabulary given by its `tokenize` and `detokenize` (no BOS).

    Raises ValueError when a probe character is not a token of its own: a missing one could
    hide a second continuation, and forcing would then not be exact.
    """
    chars: dict[str, int] = {}
    for char in PROBE_CHARS:
        token = single_token(char, tokenize, detokenize)
        if token is None:
            raise ValueError(f"the vocabulary has no single token for {char!r}")
        chars[char] = token
    others = (single_token(c, tokenize, detokenize) for c in NON_ASCII_PROBES)
    other = next((t for t in others if t is not None), None)
    return ProbeTable(chars, other, end)


def forced_text(
    allowed: Callable[[], Collection[str | None]],
    accept: Callable[[str], None],
    limit: int = FORCE_LIMIT,
) -> str:
    """The characters forced from the grammar's current state, accepted as they are found.

    `allowed()` returns what the grammar admits next among the probes: probe characters, and
    None for anything else (the non-ASCII probe, the end of generation). `accept(char)` advances
    the grammar by one character. The stretch ends when anything but exactly one probe character
    is admitted, or after `limit` characters.
    """
    out: list[str] = []
    while len(out) < limit:
        options = set(allowed())
        if len(options) != 1:
            break
        (only,) = options
        if only is None:
            break
        accept(only)
        out.append(only)
    return "".join(out)


def forced_tokens(
    text: str,
    tokenize: Callable[[str], Sequence[int]],
    detokenize: Callable[[Sequence[int]], str],
    table: ProbeTable,
) -> list[int]:
    """Tokens spelling `text`: its own tokenization when that reads back as `text`, else one
    probe token per character (always exact, since every forced character is a probe)."""
    if not text:
        return []
    tokens = list(tokenize(text))
    if tokens and detokenize(tokens) == text:
        return tokens
    return [table.chars[c] for c in text]


def allowed_chars(table: ProbeTable, admitted: Iterable[int]) -> set[str | None]:
    """What `forced_text` needs from the tokens a grammar admitted among `table.tokens()`:
    the probe characters, and None for the non-ASCII probe or the end."""
    by_token = {token: char for char, token in table.chars.items()}
    return {by_token.get(token) for token in admitted}
