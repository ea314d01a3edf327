"""The baseline for bench/read_path.py: a minimal Flask app serving the same 8-field profile, in the same JSON
shape, from a plain table (bench_plain_profiles) in the same database. No encryption, no purpose check, no
masking, no audit event, no authentication, no per-request log line: what a CRM would have without govern.

Run under the same gunicorn settings as govern:
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test_bench \
        .venv/bin/python -m gunicorn --pythonpath bench --workers 2 'baseline_app:create_app()'
"""

from __future__ import annotations

import os
import uuid

from flask import Flask, jsonify
from sqlalchemy import text

from govern.db import make_engine  # the same engine and pool settings govern uses

FIELDS = ("name", "birth_date", "gender", "mobile", "email", "address", "id_card_number", "bank_card_number")
QUERY = text(
    "SELECT id, external_ref, jurisdiction, language, status, version, " + ", ".join(FIELDS) + " FROM bench_plain_profiles WHERE id = :id"
)


def create_app() -> Flask:
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.get("/api/v1/subjects/<uuid:subject_id>")
    def read_subject(subject_id: uuid.UUID):
        with engine.connect() as conn:
            row = conn.execute(QUERY, {"id": subject_id}).mappings().first()
        if row is None:
            return jsonify({"title": "Not found"}), 404
        body = {
            "id": str(row["id"]), "external_ref": row["external_ref"], "jurisdiction": row["jurisdiction"], "language": row["language"],
            "status": row["status"], "purpose": None, "fields": {n: row[n] for n in sorted(FIELDS) if row[n] is not None},
        }
        response = jsonify(body)
        response.headers["ETag"] = f'"{row["id"].hex[:8]}-{row["version"]}"'
        return response

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
