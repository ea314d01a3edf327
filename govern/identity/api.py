"""/api/v1/principals: the services and staff accounts that may call govern (admin and security roles)."""

from __future__ import annotations

from flask_smorest import Blueprint

from govern.api_lists import answer_page, moment
from govern.identity import service
from govern.identity.guard import current_actor, current_runtime, requires
from govern.identity.permissions import Permission
from govern.identity.schemas import PrincipalPageSchema, PrincipalQuerySchema

blp = Blueprint("principals", __name__, url_prefix="/api/v1/principals", description="Principals (API clients and staff)")


def as_dict(p) -> dict:
    return {
        "id": p.id, "name": p.name, "kind": p.kind, "roles": p.roles, "created_at": p.created_at,
        "last_used_at": p.last_used_at, "disabled_at": p.disabled_at, "disabled": p.disabled_at is not None,
    }


@blp.route("", methods=["GET"])
@requires(Permission.PRINCIPALS_READ)
@blp.arguments(PrincipalQuerySchema, location="query")
@blp.response(200, PrincipalPageSchema)
def list_principals(query):
    """Every principal with its roles and last use, oldest first, a page at a time; keys are never shown."""
    principals = service.list_principals(session=current_runtime().session(), actor=current_actor())
    return answer_page(current_runtime().envelope, principals, query, key=lambda p: (moment(p.created_at), str(p.id)), view=as_dict)
