"""Every domain's tables in one MetaData: Alembic's environment (migrations/env.py) compares the models with the
database through it, and the tests empty the tables in its order.

Each module that declares tables is imported by name: every domain ships with govern, so a missing one fails here
rather than leaving its tables out of a migration. It sits above the domains (with the policy loader in .importlinter).
"""

from __future__ import annotations

from sqlalchemy import MetaData

from govern import idempotency
from govern.alerts import models as alerts_models
from govern.audit import models as audit_models
from govern.breach import models as breach_models
from govern.consent import models as consent_models
from govern.crypto import models as crypto_models
from govern.db import Base
from govern.identity import models as identity_models
from govern.processing import models as processing_models
from govern.retention import models as retention_models
from govern.scheduler import models as scheduler_models
from govern.sharing import models as sharing_models
from govern.subject_requests import models as subject_requests_models
from govern.subjects import erasure as subjects_erasure
from govern.subjects import models as subjects_models
from govern.webhooks import models as webhooks_models

MODEL_MODULES = (
    audit_models, crypto_models, idempotency, identity_models, subjects_models, subjects_erasure, consent_models, sharing_models,
    subject_requests_models, retention_models, breach_models, webhooks_models, processing_models, scheduler_models, alerts_models,
)

metadata: MetaData = Base.metadata
