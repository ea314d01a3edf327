"""The msgids a page builds at run time ('request_state.' ~ state, a macro's argument, a name chosen from data):
listed here so that `make messages` (pybabel extract) finds them like the literal ones. A value a domain can produce
without its line here shows as its msgid, and tests/console/test_catalogs.py fails on it."""

from __future__ import annotations

from .i18n import N_

BUILT_AT_RUN_TIME = (
    N_("assess.key_compromised"), N_("assess.minors"), N_("assess.sensitive"),
    N_("calendar_kind.duty"), N_("calendar_kind.incident"), N_("calendar_kind.plan"), N_("calendar_kind.request"),
    N_("ccpa_status.exposed"), N_("ccpa_status.not_exposed"),
    N_("containment.disable_principal"), N_("containment.other"), N_("containment.rotate_master_key"),
    N_("delivery_state.delivered"), N_("delivery_state.failed"), N_("delivery_state.pending"),
    N_("done.acknowledge"), N_("done.approve"), N_("done.assess"), N_("done.assign"), N_("done.complete"), N_("done.contain"), N_("done.duty_recorded"), N_("done.extend"), N_("done.letters"), N_("done.lift_objection"), N_("done.open"), N_("done.pause"), N_("done.refuse"), N_("done.requeue"), N_("done.resume"), N_("done.run"), N_("done.scope"), N_("done.sent"), N_("done.times"), N_("done.transition"), N_("done.verify"),
    N_("duty_status.done"), N_("duty_status.due"), N_("duty_status.met"), N_("duty_status.never_done"), N_("duty_status.not_applicable"), N_("duty_status.not_met"), N_("duty_status.overdue"),
    N_("field.email"), N_("field.id_card_number"), N_("field.mobile"),
    N_("incident_event.assessment"), N_("incident_event.containment"), N_("incident_event.letters"), N_("incident_event.opened"), N_("incident_event.scope"), N_("incident_event.sent"), N_("incident_event.times"), N_("incident_event.transition"),
    N_("incident_state.assessing"), N_("incident_state.closed"), N_("incident_state.detected"), N_("incident_state.notified"), N_("incident_state.notifying"),
    N_("notification_status.exempt"), N_("notification_status.not_required"), N_("notification_status.required"), N_("notification_status.unknown"),
    N_("notify.no"), N_("notify.unknown"), N_("notify.yes"),
    N_("outcome.allowed"), N_("outcome.denied"), N_("outcome.failed"),
    N_("owner.principal"), N_("owner.recipient"),
    N_("phase.final"), N_("phase.initial"), N_("phase.supplementary"),
    N_("plan_group.all"), N_("plan_group.awaiting"),
    N_("plan_status.approved"), N_("plan_status.draft"), N_("plan_status.dry_run"), N_("plan_status.executed"), N_("plan_status.expired"),
    N_("refusal.excessive"), N_("refusal.identity_not_verified"), N_("refusal.legal_exception"), N_("refusal.manifestly_unfounded"), N_("refusal.not_applicable"), N_("refusal.other"),
    N_("report_section.audit"), N_("report_section.consent"), N_("report_section.purges"), N_("report_section.requests"),
    N_("request_state.completed"), N_("request_state.duplicate"), N_("request_state.identity_pending"), N_("request_state.in_progress"), N_("request_state.received"), N_("request_state.refused"), N_("request_state.withdrawn"),
    N_("request_type.access"), N_("request_type.account_closure"), N_("request_type.complaint"), N_("request_type.erasure"), N_("request_type.objection"), N_("request_type.portability"), N_("request_type.rectification"), N_("request_type.restriction"), N_("request_type.withdrawal"),
    N_("risk.high"), N_("risk.risk"), N_("risk.unknown"), N_("risk.unlikely"),
    N_("scope_method.export"), N_("scope_method.principals"), N_("scope_method.recipient"),
    N_("state.locked"),
    N_("state_group.all"), N_("state_group.closed"), N_("state_group.open"),
    N_("text.cause"), N_("text.consequences"), N_("text.measures"), N_("text.what_happened"), N_("text.what_you_can_do"),
    N_("webhook_event.subject.erased"), N_("webhook_event.subject.processing_resumed"), N_("webhook_event.subject.processing_stopped"), N_("webhook_event.subject.rectified"), N_("webhook_event.subject.restricted"), N_("webhook_event.subject.restriction_lifted"),
    # words a view passes by name (a macro's argument, an error page's message)
    N_("aware_from"), N_("aware_to"), N_("chain_broken"), N_("chain_ok"), N_("chart_requests_completed_by_jurisdiction"), N_("chart_requests_completed_by_type"), N_("chart_requests_received_by_jurisdiction"), N_("chart_requests_received_by_type"), N_("created_from"), N_("created_to"), N_("csrf_failed"), N_("forbidden"), N_("last_sign_in"), N_("open_requests"), N_("purged_fields"), N_("purged_records"), N_("purged_subjects"), N_("received_from"), N_("received_to"), N_("show_closed_too"), N_("show_open_only"),
)
