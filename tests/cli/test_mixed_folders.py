"""Every evaluating command accepts any folder a researcher may have (hypothesis).

A folder is a random mix of plain runs, runs of two experiments (a regime x transparency 2x2,
and one on regime alone), unfinished runs (failed, stopped, interrupted, without run_end, cut
mid-line), attempts set aside under failed/, and files that are no record. `score`, `compare`,
`report`, `export`, `show` and the viewer's listing run in-process on it: each either succeeds
or exits with a one-line error (exit 2, never a traceback), and `compare` accounts for every
readable run: compared, or left out with a reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from dilemma.cli.main import app
from dilemma.web.viewer.data import RunIndex
from tests.helpers.mixed_runs import JUNK, junk_file, plain_record, sweep_record

STATUSES = ("completed", "failed", "stopped", "interrupted", "no_run_end", "cut")
FINISHED = ("completed",)  # RecordBuilder's moves never start a war


@dataclass(frozen=True)
class Item:
    """One file of the folder."""

    kind: str  # plain, rt (2x2 sweep), rg (regime only), junk
    regime: str
    transparency: str
    seed: int
    status: str
    aside: bool  # under failed/ (a resumed sweep's earlier attempt)


items = st.builds(
    Item,
    kind=st.sampled_from(["plain", "rt", "rt", "rt", "rg", "junk"]),
    regime=st.sampled_from(["democracy", "autocracy"]),
    transparency=st.sampled_from(["transparent", "secretive"]),
    seed=st.integers(0, 2),
    status=st.sampled_from(STATUSES),
    aside=st.booleans(),
)


def _write(folder: Path, n: int, item: Item) -> tuple[bool, bool]:
    """Write one item; (readable record, has a level of regime) as the commands should see it."""
    where = folder / "failed" if item.aside else folder
    if item.kind == "junk":
        junk_file(where, JUNK[item.seed % len(JUNK)], n)
        return False, False
    outcome = item.status if item.status in ("failed", "stopped", "interrupted") else None
    run_end = item.status not in ("no_run_end", "cut")
    args = {"outcome": outcome, "run_end": run_end, "seed": item.seed}
    sub = where / f"{n}"  # one folder per file: run ids may repeat across items
    if item.kind == "plain":
        path = plain_record(sub, **args)  # type: ignore[arg-type]
    else:
        conds = {"regime": item.regime}
        if item.kind == "rt":
            conds["transparency"] = item.transparency
        path = sweep_record(sub, item.kind, conds, **args)  # type: ignore[arg-type]
    if item.status == "cut":  # a crash mid-write: the last line is cut in half
        text = path.read_bytes()
        path.write_bytes(text[: len(text) - 40])
    return not item.aside, item.kind != "plain" and not item.aside


def _ok_or_clean_error(result: Result) -> bool:
    """True on success; asserts that a failure is a clean one-line error."""
    if result.exit_code == 0:
        return True
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "error:" in result.output and "Traceback" not in result.output
    return False


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mix=st.lists(items, min_size=1, max_size=9))
@example(  # three runs of a 2x2 sweep beside a plain run: the report once crashed on this
    mix=[
        Item("rt", "democracy", "transparent", 0, "completed", False),
        Item("rt", "autocracy", "transparent", 0, "completed", False),
        Item("rt", "democracy", "secretive", 0, "completed", False),
        Item("plain", "democracy", "transparent", 0, "completed", False),
    ]
)
@example(  # unfinished runs of every kind, junk and a set-aside attempt
    mix=[
        Item("rt", "democracy", "transparent", 0, "completed", False),
        Item("rt", "autocracy", "transparent", 0, "failed", False),
        Item("rt", "autocracy", "transparent", 1, "stopped", False),
        Item("rg", "autocracy", "secretive", 0, "interrupted", False),
        Item("rg", "democracy", "secretive", 0, "no_run_end", False),
        Item("rt", "democracy", "secretive", 2, "cut", False),
        Item("rt", "autocracy", "transparent", 0, "completed", True),
        Item("junk", "democracy", "transparent", 1, "completed", False),
    ]
)
def test_every_command_accepts_any_mix(mix: list[Item]) -> None:
    runner = CliRunner()
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "runs"
        folder.mkdir()
        seen = [_write(folder, n, item) for n, item in enumerate(mix)]
        readable = sum(r for r, _ in seen)
        with_regime = [
            item
            for item, (r, has) in zip(mix, seen, strict=True)
            if r and has
        ]  # fmt: skip
        finished = sum(item.status in FINISHED for item in with_regime)

        scored = runner.invoke(app, ["score", str(folder), "--json"])
        assert _ok_or_clean_error(scored) == (readable > 0)
        if readable:
            assert len(json.loads(scored.stdout)) == readable

        compared = runner.invoke(app, ["compare", str(folder), "--by", "regime", "--json"])
        assert _ok_or_clean_error(compared) == bool(with_regime)
        if with_regime:
            runs = json.loads(compared.stdout)["runs"]
            assert runs["compared"] == finished
            assert sum(runs["outcomes"].values()) == len(with_regime)
            assert runs["compared"] + sum(x["runs"] for x in runs["left_out"]) == readable
            both = runner.invoke(
                app,
                ["compare", str(folder), "--by", "regime", "--interaction", "transparency"],
            )
            assert _ok_or_clean_error(both) == any(i.kind == "rt" for i in with_regime)

        report = runner.invoke(app, ["report", str(folder), "-o", str(root / "r.html")])
        assert _ok_or_clean_error(report) == (readable > 0)
        assert (root / "r.html").exists() == (readable > 0)

        export = runner.invoke(app, ["export", str(folder), "-o", str(root / "tables")])
        assert _ok_or_clean_error(export) == (readable > 0)

        for path in sorted(folder.rglob("*.jsonl"))[:3]:
            _ok_or_clean_error(runner.invoke(app, ["show", str(path)]))

        listing = RunIndex(folder).scan()
        assert len(listing.rows) == readable
