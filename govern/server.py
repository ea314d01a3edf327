"""gunicorn, embedded: `govern serve` runs the app factory in each worker (no shared state between workers)."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class GovernServer(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from govern.app import create_app

        return create_app()


def run_gunicorn(*, host: str, port: int, workers: int, threads: int = 4) -> None:
    GovernServer({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "accesslog": None,  # govern logs each request itself, with ids and without query strings
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 60,
        "graceful_timeout": 20,
    }).run()
