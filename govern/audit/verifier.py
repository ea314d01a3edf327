"""The auditor's offline verifier, audit/verify.py, loaded as a module: govern checks its live log, builds its
exports and signs its checkpoints with the very code an auditor runs, so the two can never drift apart.

audit/verify.py needs nothing of govern (standard library and `cryptography`), which is why it lives outside the
package and is loaded from its path rather than imported.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING

from govern.config import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "audit" / "verify.py"
_NAME = "govern_audit_offline_verify"

if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, SOURCE)
    assert _spec is not None and _spec.loader is not None, f"cannot load {SOURCE}"
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module  # dataclasses resolve their module through sys.modules
    _spec.loader.exec_module(_module)

globals().update({k: v for k, v in vars(sys.modules[_NAME]).items() if not k.startswith("__")})

if TYPE_CHECKING:  # what the update above brings in, for the type checker (audit/ is on its path, not in the wheel's)
    from audit.verify import *  # noqa: F403

