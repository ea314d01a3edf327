"""What every long job (key rotation, purge, export) shares: its progress figures and how an operator sees them."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    rate: float  # units per second since this run started

    @property
    def seconds_left(self) -> float:
        return (self.total - self.done) / self.rate if self.rate > 0 else float("inf")


class ProgressLine:
    """Rows done, rate and time left: one rewritten line on a terminal, a line every `log_every` seconds in a log
    (cron, Kubernetes), and always the last one."""

    def __init__(self, verb: str, unit: str, log_every: float = 10.0) -> None:
        self.verb, self.unit, self.log_every = verb, unit, log_every
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if not self.tty and p.done < p.total and now - self.last < self.log_every:
            return
        self.last, self.shown = now, True
        left = f"{p.seconds_left:,.0f}s" if p.seconds_left != float("inf") else "?"
        line = f"{self.verb} {p.done:,}/{p.total:,} {self.unit} ({100 * p.done / max(p.total, 1):.1f}%)  {p.rate:,.0f} {self.unit}/s  ~{left} left"
        click.echo(("\r" + line) if self.tty else line, err=True, nl=not self.tty)

    def end(self) -> None:
        if self.tty and self.shown:
            click.echo("", err=True)


def rate_since(started: float, done: int) -> float:
    return done / max(time.monotonic() - started, 1e-6)
