"""Model-written text of records as one table: messages, statements, rationales, reasons.

    texts_table([read_record(p) for p in paths])   # columns: dilemma.evaluation.columns.TEXTS

Messages come from negotiation events as delivered (sender, recipients, text); public
statements, private rationales and the reason given for each threat level come from decision
events. Fallback decisions wrote nothing and have no rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from dilemma.evaluation.columns import TEXTS, conform

from dilemma.records.reader import Record
from dilemma.records.schema import DecisionEvent, NegotiationEvent


def _row(run_id: str, round_: int, state: str, kind: str, **rest: Any) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "round": round_,
        "state": state,
        "kind": kind,
        "phase": "decision",
        "subturn": None,
        "recipients": None,
        "target": None,
        "private": True,
        **rest,
    }


def record_texts(record: Record) -> list[dict[str, Any]]:
    """The rows of one record, in record order."""
    rid = record.header.run_id
    rows: list[dict[str, Any]] = []
    for ev in record.events:
        if isinstance(ev, NegotiationEvent):
            for d in ev.delivered:
                rows.append(
                    _row(
                        rid,
                        ev.round,
                        d.sender,
                        "message",
                        phase="negotiation",
                        subturn=ev.subturn,
                        recipients=",".join(d.to),
                        private=False,
                        text=d.text,
                    )
                )
        elif isinstance(ev, DecisionEvent) and ev.decision is not None:
            dec = ev.decision
            if dec.public_statement:
                rows.append(
                    _row(
                        rid,
                        ev.round,
                        ev.state,
                        "public_statement",
                        recipients="public",
                        private=False,
                        text=dec.public_statement,
                    )
                )
            if dec.private_rationale:
                rows.append(
                    _row(rid, ev.round, ev.state, "private_rationale", text=dec.private_rationale)
                )
            for t in dec.threat:
                if t.reason:
                    rows.append(
                        _row(
                            rid, ev.round, ev.state, "threat_reason", target=t.state, text=t.reason
                        )
                    )
    return rows


def texts_table(records: Iterable[Record]) -> pd.DataFrame:
    """Every text of the records, typed as documented in `TEXTS`."""
    rows = [row for record in records for row in record_texts(record)]
    return conform(pd.DataFrame(rows, columns=[c.name for c in TEXTS]), TEXTS)
