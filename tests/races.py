"""Two staff changing the same item at once: `race` runs two units of work on the runtime's database, the first
holding its transaction open (its change made, not yet committed) while the second starts, and returns what each
call returned or raised. On PostgreSQL the second waits for the first's row lock; SQLite serialises writers anyway."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from sqlalchemy.orm import Session

HOLD_SECONDS = 0.5


def race(runtime, first: Callable[[Session], Any], second: Callable[[Session], Any]) -> tuple[Any, Any]:
    """(first's result or exception, second's result or exception); the first commits HOLD_SECONDS after its change."""
    holding = threading.Event()
    outcome: dict[str, Any] = {}

    def run(key: str, call: Callable[[Session], Any], hold: bool) -> None:
        try:
            with runtime.database.unit_of_work() as session:
                outcome[key] = call(session)
                if hold:  # keep the first transaction open while the second one starts
                    holding.set()
                    time.sleep(HOLD_SECONDS)
        except BaseException as exc:  # handed back to the test
            outcome[key] = exc
        finally:
            holding.set()

    a = threading.Thread(target=run, args=("first", first, True))
    a.start()
    assert holding.wait(10)
    b = threading.Thread(target=run, args=("second", second, False))
    b.start()
    a.join(30)
    b.join(30)
    return outcome.get("first"), outcome.get("second")
