"""The msgids a page builds at run time ('request_state.' ~ state, a macro's argument, a name chosen from data):
listed here so that `make messages` (pybabel extract) finds them like the literal ones. A value a domain can produce
without its line here shows as its msgid, and tests/console/test_catalogs.py fails on it."""

from __future__ import annotations

from .i18n import N_

BUILT_AT_RUN_TIME = (
    N_("assess.key_compromised"), N_("assess.minors"), N_("assess.sensitive"),
    N_("calendar_view.agenda"), N_("calendar_view.month"),
    N_("weekday.0"), N_("weekday.1"), N_("weekday.2"), N_("weekday.3"), N_("weekday.4"), N_("weekday.5"), N_("weekday.6"),
    N_("calendar_kind.duty"), N_("calendar_kind.incident"), N_("calendar_kind.plan"), N_("calendar_kind.request"),
    N_("clock_stopped.completed"), N_("clock_stopped.duplicate"), N_("clock_stopped.refused"), N_("clock_stopped.withdrawn"),
    N_("ccpa_status.exposed"), N_("ccpa_status.not_exposed"),
    N_("containment.disable_principal"), N_("containment.other"), N_("containment.rotate_master_key"),
    N_("delivery_state.delivered"), N_("delivery_state.failed"), N_("delivery_state.pending"),
    N_("done.acknowledge"), N_("done.approve"), N_("done.assess"), N_("done.assign"), N_("done.complete"), N_("done.contain"), N_("done.duty_recorded"), N_("done.extend"), N_("done.letters"), N_("done.lift_objection"), N_("done.open"), N_("done.pause"), N_("done.refuse"), N_("done.requeue"), N_("done.resume"), N_("done.run"), N_("done.scope"), N_("done.sent"), N_("done.times"), N_("done.transition"), N_("done.verify"),
    N_("duty_status.done"), N_("duty_status.due"), N_("duty_status.met"), N_("duty_status.never_done"), N_("duty_status.not_applicable"), N_("duty_status.not_met"), N_("duty_status.overdue"),
    N_("field.email"), N_("field.id_card_number"), N_("field.mobile"),
    N_("incident_event.assessment"), N_("incident_event.assigned"), N_("incident_event.containment"), N_("incident_event.letters"), N_("incident_event.opened"), N_("incident_event.scope"), N_("incident_event.sent"), N_("incident_event.times"), N_("incident_event.transition"),
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
    # the erasure certificate (certificate_pdf): the subject's status after it, the method by that status, how each recipient is told
    N_("erasure_method.erased"), N_("erasure_method.restricted"), N_("erasure_method.already_erased"), N_("erasure_method.rows_deleted_after"),
    N_("erasure_earlier_time"), N_("erasure_reason.erasure_request"), N_("erasure_reason.account_closure"), N_("erasure_reason.retention_purge"),
    N_("erasure_reason.retention_replay"), N_("erasure_reason.unknown"), N_("kept_legal_hold"),
    N_("subject_status.erased"), N_("subject_status.restricted"),
    N_("told_by.disproportionate_effort"), N_("told_by.impossible"), N_("told_by.manual"), N_("told_by.webhook"),
    # words a view passes by name (a macro's argument, an error page's message)
    N_("aware_from"), N_("aware_to"), N_("chain_broken"), N_("chain_ok"), N_("chart_requests_completed_by_jurisdiction"), N_("chart_requests_completed_by_type"), N_("chart_requests_received_by_jurisdiction"), N_("chart_requests_received_by_type"), N_("created_from"), N_("created_to"), N_("csrf_failed"), N_("forbidden"), N_("last_sign_in"), N_("open_requests"), N_("purged_fields"), N_("purged_records"), N_("purged_subjects"), N_("received_from"), N_("received_to"), N_("show_closed_too"), N_("show_open_only"),
    # a request's timeline: what happened (govern/subject_requests RequestEvent.kind)
    N_("request_event.received"), N_("request_event.duplicate"), N_("request_event.acknowledged"), N_("request_event.started"),
    N_("request_event.identity_pending"), N_("request_event.otp_issued"), N_("request_event.verification_failed"), N_("request_event.locked"),
    N_("request_event.verified"), N_("request_event.extended"), N_("request_event.paused"), N_("request_event.resumed"),
    N_("request_event.objection_lifted"), N_("request_event.download_token"), N_("request_event.package"), N_("request_event.subject_told"),
    N_("request_event.lifted"), N_("request_event.assigned"), N_("request_event.completed"), N_("request_event.refused"), N_("request_event.withdrawn"),
    N_("request_event.closed_unverified"),
    # an incident's suspected source (govern/breach SOURCE_KINDS and its window)
    N_("source.principals"), N_("source.export_id"), N_("source.recipient_id"), N_("source.from"), N_("source.to"), N_("source.description"),
    N_("language_name.zh"), N_("language_name.en"),
    # why an erasure keeps an item (erasure preview): a legal hold (an obligation or rule of retention.yaml by its own label there)
    N_("kept_reason.legal_hold"),
    # retention: the rules fixed in code by name (those of retention.yaml by their label there), purge runs' states, periods
    N_("retention_rule.closed_accounts"), N_("retention_rule.consent_withdrawn"), N_("retention_rule.left_with_nothing"),
    N_("run_status.running"), N_("run_status.completed"), N_("run_status.interrupted"), N_("run_status.failed"),
    N_("period.y"), N_("period.m"), N_("period.w"), N_("period.d"), N_("period.wd"), N_("period.h"),
    N_("principal_kind.staff"), N_("principal_kind.service"), N_("principal_kind.operator"),
    # why a notification is (not) required (govern/console/pages_breach.py reason_text)
    N_("breach_reason.requires"), N_("breach_reason.unlikely"), N_("breach_reason.unassessed_required"), N_("breach_reason.unassessed_if_high"),
    N_("breach_reason.not_high"), N_("breach_reason.assessed"), N_("breach_reason.below_threshold"), N_("breach_reason.threshold_met"),
    N_("breach_reason.always"),
    # an incident event's details (govern/console/pages_breach.py event_details)
    N_("event_field.version"), N_("event_field.method"), N_("event_field.subjects"), N_("event_field.action"), N_("event_field.executed"),
    N_("event_field.description"), N_("event_field.risk"), N_("event_field.notify"), N_("event_field.notification"), N_("event_field.letters"),
    N_("event_field.skipped_erased"), N_("event_field.by_language"), N_("event_field.changed"), N_("event_field.channel"), N_("event_field.reference"),
    N_("event_field.phase"),
)
