"""`govern staff create | list | disable | unlock | password`: what an operator runs to manage console accounts."""

from click.testing import CliRunner

from .conftest import PASSWORD, sign_in


def _env(settings) -> dict:
    return {"GOVERN_HOME": str(settings.home), "GOVERN_DATABASE_URL": settings.database_url, "GOVERN_POLICIES": str(settings.policies_dir)}


def test_an_operator_creates_lists_and_disables_a_staff_account(app, settings, runtime, audit_events):
    from govern.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["staff", "create", "--name", "wang.li", "--role", "dpo", "--password-stdin"], input=PASSWORD + "\n", env=_env(settings))
    assert made.exit_code == 0, made.output
    assert "created staff account wang.li (dpo)" in made.output and PASSWORD not in made.output
    assert sign_in(app.test_client(), "wang.li").status_code == 302
    listed = runner.invoke(main, ["staff", "list"], env=_env(settings))
    assert "wang.li" in listed.output and "active" in listed.output
    assert runner.invoke(main, ["staff", "disable", "wang.li"], env=_env(settings)).exit_code == 0
    assert sign_in(app.test_client(), "wang.li").status_code == 200  # refused
    assert [e.reason for e in audit_events(action="identity:staff:sign-in")][-1] == "disabled"
    assert audit_events(action="identity:staff:create")[0].actor_name.startswith("cli:")


def test_a_weak_password_or_a_service_role_is_refused_with_a_message(settings, runtime):
    from govern.cli import main

    runner = CliRunner()
    weak = runner.invoke(main, ["staff", "create", "--name", "chen", "--role", "privacy_staff", "--password-stdin"], input="short\n", env=_env(settings))
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output
    service = runner.invoke(main, ["staff", "create", "--name", "chen", "--role", "sales_service", "--password-stdin"], input=PASSWORD + "\n", env=_env(settings))
    assert service.exit_code == 1 and "not a staff role" in service.output
