"""`dilemma play`: one person plays a state at the terminal; the other seats are models.

`TerminalDesk` answers each turn of the human seat by prompting field by field; every field is
re-asked until it parses (dilemma.web.seat.input), and the whole answer is validated with the turn's
reply schema before it is handed to the engine, so an invalid decision is never accepted.
Everything the prompter prints (observations with other seats' messages, the briefing with the
scenario's text, errors) goes through `safe_console`, as `dilemma show` does: control
characters are shown as escapes (`\x1b`), never sent to the terminal.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

from dilemma.agents.human_seat import SeatAnswer, SeatRequest, validate_answer
from dilemma.core.decision import (
    MAX_MESSAGES,
    MAX_PROPOSALS,
    MESSAGE_MAX,
    REASON_MAX,
    STATEMENT_MAX,
    ProposalKind,
)
from dilemma.core.observation import Phase
from dilemma.core.safe_text import safe_console
from dilemma.web.seat.input import (
    InputError,
    parse_choice,
    parse_int,
    parse_optional_int,
    parse_states,
    parse_text,
    parse_yes_no,
)
from dilemma.web.seat.view import ACTIONS, INTENTS, RUNGS, ladder_text, observation_text

T = TypeVar("T")


class InputEnded(EOFError):
    """The input stream ended before the person finished a turn."""


class Prompter:
    """Asks one question at a time on a text stream, re-asking until the answer parses."""

    def __init__(self, read: Callable[[], str] | None = None, out: IO[str] | None = None) -> None:
        self._read = read or _read_line
        self.out = out or sys.stdout

    def say(self, text: str) -> None:
        """Print a line (controls escaped, secrets redacted)."""
        print(safe_console(text), file=self.out, flush=True)

    def ask(self, label: str, parse: Callable[[str], T]) -> T:
        """Prompt with `label` until `parse` accepts the line typed."""
        while True:
            print(f"{safe_console(label)}: ", end="", file=self.out, flush=True)
            line = self._read()
            try:
                return parse(line)
            except InputError as exc:
                self.say(f"  ! {exc}")


def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise InputEnded("input ended before the turn was answered")
    return line.rstrip("\n")


def _choice(options: list[str], default: str | None = None) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not text.strip() and default is not None:
            return default
        return parse_choice(text, options)

    return parse


def decision_answer(request: SeatRequest, p: Prompter) -> dict[str, Any]:
    """Ask for every field of a decision (the reply schema's fields, in order)."""
    others = request.others
    low, high = request.arms_range
    threat, intent, perceived, forecast = [], [], [], []
    for sid in others:
        p.say(f"-- About {sid} --")
        level = p.ask(f"Threat you perceive from {sid} (0-10)", lambda t: parse_int(t, 0, 10))
        reason = p.ask(
            f"One-line reason (up to {REASON_MAX} characters)", lambda t: parse_text(t, REASON_MAX)
        )
        threat.append({"state": sid, "level": level, "reason": reason})
        names = "/".join(INTENTS)
        believed = p.ask(f"What {sid} intends toward you ({names})", _choice(INTENTS))
        perceived.append({"state": sid, "intent": believed})
        mine = p.ask(f"Your private intent toward {sid} ({names})", _choice(INTENTS))
        intent.append({"state": sid, "intent": mine})
        guess = p.ask(
            f"Forecast of {sid}'s arms change next round ({low} to {high})",
            lambda t: parse_int(t, low, high),
        )
        forecast.append({"state": sid, "arms_change": guess})
    p.say("-- Your move --")
    arms = p.ask(
        f"Your arms change this round, percent ({low} to {high})",
        lambda t: parse_int(t, low, high),
    )
    p.say("Escalation ladder (least to most escalatory):\n" + ladder_text())
    action = p.ask("Action (number or name)", _choice(ACTIONS))
    target = p.ask(
        f"State your action is directed at ({', '.join(others)}; Enter for {others[0]})",
        _choice(others, others[0]),
    )
    signals = [
        {
            "state": sid,
            "rung": p.ask(
                f"Public signal: the rung you declare toward {sid} ({'/'.join(RUNGS)})",
                _choice(list(RUNGS)),
            ),
        }
        for sid in others
    ]
    reply: dict[str, Any] = {
        "threat": threat,
        "arms_change": arms,
        "action": action,
        "target": target,
        "proposals": _proposals(request, p),
    }
    if request.offers:
        reply["responses"] = [
            {"proposal": offer, "accept": p.ask(f"Accept offer {offer}? (y/n)", parse_yes_no)}
            for offer in request.offers
        ]
    reply["public_statement"] = p.ask(
        f"Public statement (up to {STATEMENT_MAX} characters; Enter for none)",
        lambda t: parse_text(t, STATEMENT_MAX),
    )
    reply["announced_next_arms_change"] = p.ask(
        f"Arms change you announce for next round ({low} to {high}; Enter for none)",
        lambda t: parse_optional_int(t, low, high),
    )
    reply["private_rationale"] = p.ask(
        f"Private rationale, never shown to others (up to {STATEMENT_MAX} characters)",
        lambda t: parse_text(t, STATEMENT_MAX),
    )
    reply["private_intent"] = intent
    reply["perceived_intent"] = perceived
    reply["forecast"] = forecast
    reply["signals"] = signals
    return reply


def _proposals(request: SeatRequest, p: Prompter) -> list[dict[str, Any]]:
    others = request.others
    _, high = request.arms_range
    kinds = [k.value for k in ProposalKind]
    proposals: list[dict[str, Any]] = []
    while len(proposals) < MAX_PROPOSALS and p.ask(
        "Make an arms-control proposal? (y/N)", lambda t: parse_yes_no(t, False)
    ):
        kind = p.ask(f"Kind ({'/'.join(kinds)})", _choice(kinds))
        parties = p.ask(
            f"To which states ({', '.join(others)}; comma-separated, Enter for all)",
            lambda t: parse_states(t, others) if t.strip() else list(others),
        )
        value = 0
        if kind != ProposalKind.VERIFICATION.value:
            value = p.ask(f"Value, percent (0 to {high})", lambda t: parse_int(t, 0, high))
        proposals.append({"kind": kind, "parties": parties, "value": value})
    return proposals


def negotiation_answer(request: SeatRequest, p: Prompter) -> dict[str, Any]:
    """Ask for up to MAX_MESSAGES messages (an empty text ends the turn)."""
    recipients = ["all", *request.others]
    messages: list[dict[str, Any]] = []
    while len(messages) < MAX_MESSAGES:
        text = p.ask(
            f"Message {len(messages) + 1} (up to {MESSAGE_MAX} characters; Enter to send no more)",
            lambda t: parse_text(t, MESSAGE_MAX),
        )
        if not text:
            break
        to = p.ask(
            f"To ({', '.join(recipients)}; comma-separated, Enter for all)",
            lambda t: parse_states(t, recipients) if t.strip() else ["all"],
        )
        messages.append({"to": to, "text": text})
    return {"messages": messages}


class TerminalDesk:
    """The terminal front-end of one human seat: prints the observation, prompts, validates."""

    def __init__(self, prompter: Prompter | None = None) -> None:
        self.prompter = prompter or Prompter()
        self._briefed = False

    def turn(self, request: SeatRequest) -> SeatAnswer:
        """Play one turn (blocking): re-asks the whole turn if the answer does not validate."""
        p = self.prompter
        if not self._briefed:
            p.say("=== Briefing (what a model in your seat is told) ===\n" + request.briefing)
            self._briefed = True
        p.say(observation_text(request))
        while True:
            if request.observation.phase is Phase.NEGOTIATION:
                data = negotiation_answer(request, p)
            else:
                data = decision_answer(request, p)
            answer, errors = validate_answer(request.schema, data)
            if answer is not None:
                p.say("Recorded.")
                return answer
            p.say("That answer does not fit the rules, please answer again:")
            for error in errors:
                p.say(f"  ! {error}")

    async def ask(self, request: SeatRequest) -> SeatAnswer | None:
        """Prompt in a worker thread, so the other seats' model calls go on meanwhile."""
        return await asyncio.to_thread(self.turn, request)
