"""The fast pre-checks in `redact` never skip a key-shaped string or a bearer token.

`redact` only runs its key and bearer patterns when cheap literal searches say they could match.
Here it is compared with applying those patterns unconditionally, on text built to sit near the
edges: key prefixes in any case, `Bearer` spelled in mixed case or with non-ASCII spaces, lone
surrogates, non-ASCII letters and JSON escapes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dilemma.core.safe_text import _BEARER, _KEY_SHAPED, REDACTED, redact

PIECES = [
    "sk-",
    "SK-",
    "sk_",
    "AIza",
    "aiza",
    "hf_",
    "HF_",
    "bearer ",
    "Bearer\t",
    "BEARER\u00a0",
    "beArEr\u2003",
    "bear",
    "er ",
    "k-",
    "\\n",
    '"',
    "\ud800",
    "\u0130",
    "\u212a",
    "é",
]
TOKEN_CHARS = "abcXYZ0189_-.~+/="


def unconditional(text: str) -> str:
    """What `redact` must give when no secret values are known: both patterns, always."""
    text = _KEY_SHAPED.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


texts = st.lists(
    st.one_of(
        st.sampled_from(PIECES),
        st.text(alphabet=TOKEN_CHARS, min_size=10, max_size=40),
        st.text(max_size=8),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_prechecks_agree_with_the_patterns_applied_unconditionally(text: str) -> None:
    assert redact(text) == unconditional(text)


def test_each_kind_of_key_is_still_caught() -> None:
    key_body = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
    for text in (
        f"key sk-{key_body} here",
        f"key AIza{key_body} here",
        f"key hf_{key_body} here",
        f"Authorization: BeArEr {key_body}",
    ):
        assert key_body not in redact(text)
        assert REDACTED in redact(text)
