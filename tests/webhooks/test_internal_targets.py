"""A webhook cannot reach inside the network: every address a target's host is or resolves to must be public —
loopback, private, link-local, cloud metadata, CGNAT, multicast, unspecified and reserved addresses are refused, v4
and v6, spelled in any form (IPv4-mapped, -compatible, 6to4, NAT64, decimal/octal/hex) — at registration and again at
every delivery, where the connection goes to the address that was checked. Exceptions only through
policies/webhooks.yaml urls.allow (never a metadata address); https outside dev mode."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import uuid
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import yaml

from govern.identity.actor import Actor
from govern.policies import load_policy
from govern.policy import PolicyError
from govern.webhooks import service as webhooks
from govern.webhooks.egress import AllowList, StaticResolver

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
PUBLIC = "93.184.215.14"


def _register(admin, owner, url):
    return admin.post("/api/v1/webhooks/endpoints", json={"url": url, "owner": {"kind": "principal", "id": str(owner)}, "event_types": ["subject.erased"]})


@pytest.mark.parametrize("url, reason", [
    # loopback
    ("https://127.0.0.1/h", "loopback"), ("https://127.8.9.10:8443/h", "loopback"), ("https://[::1]/h", "loopback"), ("https://localhost/h", "loopback"),
    ("https://LOCALHOST./h", "loopback"), ("https://app.localhost/h", "loopback"),
    # private: RFC 1918, IPv6 unique-local
    ("https://10.1.2.3/h", "private"), ("https://172.16.0.1/h", "private"), ("https://172.31.255.254/h", "private"),
    ("https://192.168.1.1/h", "private"), ("https://[fd12:3456::1]/h", "private"), ("https://[fc00::1]/h", "private"),
    # link-local
    ("https://169.254.1.1/h", "link_local"), ("https://[fe80::1]/h", "link_local"), ("https://[fe80::1%25eth0]/h", "link_local"),
    # cloud metadata, by address and by name
    ("https://169.254.169.254/latest/meta-data/", "metadata"), ("https://[fd00:ec2::254]/h", "metadata"), ("https://100.100.100.200/h", "metadata"),
    ("https://169.254.170.2/v2/credentials", "metadata"), ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ("https://metadata.tencentyun.com/h", "metadata"),
    # CGNAT, multicast, unspecified, reserved
    ("https://100.64.0.1/h", "shared"), ("https://100.127.255.254/h", "shared"),
    ("https://224.0.0.1/h", "multicast"), ("https://[ff02::1]/h", "multicast"),
    ("https://0.0.0.0/h", "unspecified"), ("https://[::]/h", "unspecified"), ("https://0.1.2.3/h", "unspecified"),
    ("https://240.0.0.1/h", "reserved"), ("https://255.255.255.255/h", "reserved"), ("https://198.18.0.1/h", "reserved"),
    ("https://192.0.2.1/h", "reserved"), ("https://[2001:db8::1]/h", "reserved"), ("https://[fec0::1]/h", "reserved"),
    # IPv4 inside IPv6: mapped, compatible, translated, 6to4, NAT64, Teredo
    ("https://[::ffff:127.0.0.1]/h", "loopback"), ("https://[::ffff:10.0.0.1]/h", "private"), ("https://[::ffff:169.254.169.254]/h", "metadata"),
    ("https://[::ffff:7f00:1]/h", "loopback"), ("https://[::127.0.0.1]/h", "loopback"), ("https://[::ffff:0:a00:1]/h", "private"),
    ("https://[2002:7f00:1::]/h", "loopback"), ("https://[2002:c0a8:101::1]/h", "private"), ("https://[2002:a9fe:a9fe::]/h", "metadata"),
    ("https://[64:ff9b::7f00:1]/h", "loopback"), ("https://[64:ff9b::a00:1]/h", "private"), ("https://[64:ff9b::a9fe:a9fe]/h", "metadata"),
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/h", "loopback"),  # Teredo: client 127.0.0.1 (stored inverted)
    # decimal, octal, hex and short IPv4 spellings
    ("https://2130706433/h", "loopback"), ("https://0x7f000001/h", "loopback"), ("https://0177.0.0.1/h", "loopback"),
    ("https://017700000001/h", "loopback"), ("https://127.1/h", "loopback"), ("https://0x7f.1/h", "loopback"),
    ("https://0xa9.0xfe.0xa9.0xfe/h", "metadata"), ("https://167772161/h", "private"), ("https://1572395022/h", "ip_spelling"),
    # names: single-label and internal suffixes, one that does not resolve
    ("https://intranet/h", "internal_name"), ("https://db.corp.internal/h", "internal_name"), ("https://printer.local/h", "internal_name"),
    ("https://nowhere.example.cn/h", "unresolvable"),
])
def test_an_internal_target_is_refused_at_registration_naming_the_reason(admin, crm_component, row_counts, shipped_policy, url, reason):
    before = row_counts()
    r = _register(admin, crm_component(), url)
    assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json", r.json
    assert r.json["code"] == "webhook_target_refused" and r.json["reason"] == reason, r.json
    assert r.json["errors"]["url"] and r.json["type"].endswith("/webhook_target_refused")
    assert row_counts()["webhook_endpoints"] == before["webhook_endpoints"]


@pytest.mark.parametrize("answers, reason", [
    (["127.0.0.1"], "loopback"), (["::1"], "loopback"), (["10.9.8.7"], "private"), (["fd00::5"], "private"),
    (["169.254.169.254"], "metadata"), (["fd00:ec2::254"], "metadata"), (["100.64.1.1"], "shared"), (["::ffff:192.168.0.1"], "private"),
    ([PUBLIC, "10.0.0.1"], "private"),  # every address must be public, not just the first
    (["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "fe80::1"], "link_local"),
])
def test_a_name_that_resolves_inside_is_refused_without_echoing_the_addresses(admin, crm_component, runtime, monkeypatch, shipped_policy, answers, reason):
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"hooks.example.cn": answers}))
    r = _register(admin, crm_component(), "https://hooks.example.cn/govern")
    assert r.status_code == 400 and r.json["reason"] == reason
    text = r.get_data(as_text=True)
    assert not any(a in text for a in answers), "the refusal told the caller what an internal name resolves to"


def test_a_public_target_over_https_is_accepted_and_http_only_in_dev_mode(admin, crm_component, runtime, monkeypatch, shipped_policy):
    owner = crm_component()
    assert _register(admin, owner, "https://x.example.cn/h").status_code == 201  # A and AAAA, both public
    assert _register(admin, owner, f"https://{PUBLIC}/h").status_code == 201
    plain = _register(admin, owner, "http://crm.example.cn/h")
    assert plain.status_code == 400 and plain.json["reason"] == "https_required"
    monkeypatch.setattr(runtime, "settings", replace(runtime.settings, dev=True))
    assert _register(admin, owner, "http://crm.example.cn/h").status_code == 201
    # dev mode relaxes the scheme, never the address
    assert _register(admin, owner, "http://127.0.0.1:8080/h").json["reason"] == "loopback"


def test_the_allow_list_admits_named_hosts_and_networks_but_never_metadata(admin, crm_component, runtime, monkeypatch, shipped_policy):
    allow = AllowList.parse(["10.20.0.0/16", "fd12::/64", "hooks.corp.example"])
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, webhooks=replace(runtime.policy.webhooks, allow=allow)))
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"hooks.corp.example": ["10.99.0.1"], "meta.corp.example": ["169.254.169.254"],
                                                             "other.corp.example": ["10.99.0.1"]}))
    owner = crm_component()
    assert _register(admin, owner, "https://10.20.3.4/h").status_code == 201
    assert _register(admin, owner, "https://[fd12::9]/h").status_code == 201
    assert _register(admin, owner, "https://[::ffff:10.20.3.5]/h").status_code == 201
    assert _register(admin, owner, "https://hooks.corp.example/h").status_code == 201
    assert _register(admin, owner, "https://10.21.0.1/h").json["reason"] == "private"  # outside the listed network
    assert _register(admin, owner, "https://other.corp.example/h").json["reason"] == "private"  # not the listed name
    allow = AllowList.parse(["meta.corp.example"])
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, webhooks=replace(runtime.policy.webhooks, allow=allow)))
    assert _register(admin, owner, "https://meta.corp.example/h").json["reason"] == "metadata"


@pytest.mark.parametrize("entry, problem", [
    ("0.0.0.0/0", "too broad"), ("::/0", "too broad"), ("169.254.0.0/16", "metadata"), ("100.64.0.0/10", "metadata"),
    ("fd00:ec2::/32", "metadata"), ("10.0.0.1/8", "not a network"), ("not a host!", "neither"), ("1.2.3", "not a network"),
])
def test_a_bad_allow_list_entry_stops_start_up(tmp_path, entry, problem):
    from govern.config import PROJECT_ROOT

    policies = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    doc = yaml.safe_load((policies / "webhooks.yaml").read_text())
    doc["webhooks"]["urls"]["allow"] = [entry]
    (policies / "webhooks.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(PolicyError, match=f"webhooks.urls.allow: .*{problem}"):
        load_policy(policies)


def _queue_one(runtime) -> uuid.UUID:
    with runtime.database.unit_of_work() as session:
        [row] = webhooks.enqueue(session=session, actor=Actor.operator(), event_type=webhooks.ERASED, subject_id=uuid.uuid4(), request_id=None, now=T0)
        return row.id


def test_a_name_rebound_to_loopback_after_registration_is_refused_at_delivery_and_recorded_failed(
    admin, crm_component, runtime, monkeypatch, shipped_policy, deliver, deliveries, audit_events,
):
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"rebind.example.cn": [PUBLIC]}))
    assert _register(admin, crm_component(), "https://rebind.example.cn/h").status_code == 201
    _queue_one(runtime)
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"rebind.example.cn": [PUBLIC, "127.0.0.1"]}))  # the attacker's DNS now
    contacted = []
    run = deliver(now=T0, sender=lambda target, *rest: contacted.append(target))
    assert (run.claimed, run.failed, run.delivered) == (1, 1, 0) and contacted == []
    [row] = deliveries()
    assert row.state == "failed" and row.last_error == "refused: loopback" and row.attempts == 1  # at once: no retries
    [event] = audit_events(action="webhooks:delivery:failed")
    assert "refused: loopback" in event.reason


def test_an_endpoint_the_policy_no_longer_allows_is_refused_at_delivery(make_endpoint, crm_component, runtime, monkeypatch, receiver, deliver, deliveries):
    make_endpoint("principal", crm_component(), receiver.at("/h"))  # allow-listed loopback at registration
    _queue_one(runtime)
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, webhooks=replace(runtime.policy.webhooks, allow=AllowList())))
    assert deliver(now=T0).failed == 1
    [row] = deliveries()
    assert row.state == "failed" and row.last_error == "refused: loopback" and receiver.got() == []


def test_the_delivery_connects_to_the_address_checked_with_the_name_in_the_host_header(
    make_endpoint, crm_component, runtime, monkeypatch, receiver, deliver, deliveries,
):
    # No DNS server knows this name: the POST arrives only because the worker connects to the address the guard
    # checked instead of resolving the name again (which a rebinding attacker would answer differently).
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"pinned.example.cn": ["127.0.0.1"]}))
    webhook = replace(runtime.policy.webhooks, allow=AllowList.parse(["pinned.example.cn"]))
    monkeypatch.setattr(runtime, "policy", replace(runtime.policy, webhooks=webhook))
    port = receiver.url.rsplit(":", 1)[1]
    make_endpoint("principal", crm_component(), f"http://pinned.example.cn:{port}/pinned?x=1")
    _queue_one(runtime)
    assert deliver(now=T0).delivered == 1
    [got] = receiver.got()
    assert got.path == "/pinned?x=1" and got.headers["Host"] == f"pinned.example.cn:{port}"


def test_an_unresolvable_name_at_delivery_is_retried_not_failed(make_endpoint, crm_component, runtime, monkeypatch, deliver, deliveries):
    monkeypatch.setattr(runtime, "resolver", StaticResolver({"flaky.example.cn": [PUBLIC]}))
    make_endpoint("principal", crm_component(), "https://flaky.example.cn/h")
    _queue_one(runtime)
    monkeypatch.setattr(runtime, "resolver", StaticResolver({}))
    assert deliver(now=T0).retried == 1
    [row] = deliveries()
    assert row.state == "pending" and row.last_error == "refused: unresolvable"


def test_https_goes_to_the_checked_address_with_the_registered_name_in_sni_and_the_certificate_check(tmp_path):
    """The pinned TLS connection: the socket goes to the address the guard checked, the server is asked for the name
    (SNI) and its certificate must be valid for the name — not for the address, which nobody registered."""
    import datetime as dt
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from govern.webhooks import egress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pinned.example.cn")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("pinned.example.cn")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    seen: dict = {}
    server_ctx.sni_callback = lambda sock, server_name, ctx: seen.__setitem__("sni", server_name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_twice():
        for _ in range(2):
            conn, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(conn, server_side=True) as tls:
                    seen["request"] = tls.recv(65536).split(b"\r\n\r\n")[0].decode()
                    tls.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    # Read until the client hangs up: closing with unread bytes (a late record, a session ticket's
                    # answer) would send a TCP reset that can overtake the response on its way to the client.
                    tls.settimeout(5)
                    while tls.recv(65536):
                        pass
            except (ssl.SSLError, OSError):
                conn.close()  # the second client gives up on the certificate

    thread = threading.Thread(target=serve_twice, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))  # the receiver's CA, trusted here
    target = egress.Target(url=f"https://pinned.example.cn:{port}/h", scheme="https", host="pinned.example.cn", port=port, path="/h",
                           address=ipaddress.ip_address("127.0.0.1"))
    conn = egress.connection(target, 10, context=client_ctx)
    other = egress.connection(replace(target, host="rebind.example.cn"), 10, context=client_ctx)
    try:
        conn.request("POST", target.path, body=b"{}", headers={"Content-Type": "application/json"})
        assert conn.getresponse().status == 204
        assert seen["sni"] == "pinned.example.cn"
        assert f"Host: pinned.example.cn:{port}" in seen["request"]
        # The same address under a name its certificate does not carry fails the certificate check.
        with pytest.raises(ssl.SSLCertVerificationError):
            other.connect()
    finally:
        conn.close()
        other.close()
        thread.join(10)
        listener.close()
