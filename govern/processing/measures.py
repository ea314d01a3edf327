"""The security measures the records of processing state (GDPR Art. 30(1)(g); PIPL Art. 51, 54–56).

The technical cryptographic measures are generated from what govern runs, never written by hand: the suite in force
(policies/crypto.yaml `crypto.suite`, its algorithms from govern/crypto/suites.py), the audit log's hash chain (SM3 once
the commercial_cn suite is or was in force), the signature algorithm, and where the master keys live (GOVERN_KEK: the
keyring file, or an HSM through PKCS#11). They come first, in Chinese and English, followed by the organisational and
other measures of policies/processing.yaml `security_measures`, which may not name an algorithm or a key store
(govern.processing.policy `naming_cryptography`, refused at start-up): such text could contradict the suite. Changing
the suite or the provider changes the controller's record, so a new version of it is stored when the change takes
effect."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from govern.audit import chain
from govern.config import Settings
from govern.crypto import service as crypto
from govern.crypto import suites
from govern.crypto.suites import Suite
from govern.policy import Policy


@dataclass(frozen=True)
class CryptoInForce:
    """What the records state of govern's cryptography: the suite, where the master keys live, the audit chain's hash."""

    suite: Suite
    key_provider: str  # govern.crypto.service.FILE_PROVIDER ("file") or TOKEN_PROVIDER ("pkcs11")
    audit_chain_hash: str  # "SHA-256" or "SM3"
    # While `govern keys migrate-suite` converts the data to `suite`, the suite what is not converted yet is still under.
    converting_from: Suite | None = None


def in_force(*, session: Session, policy: Policy, settings: Settings) -> CryptoInForce:
    """The suite of the policy (the one start-up checked the data is under or migrating to), the provider GOVERN_KEK
    chose, and the audit chain's hash (SM3 under commercial_cn, and after it: the log never turns back)."""
    suite = suites.suite(policy.crypto.suite)
    sm3_chain = suite.hash_name == "sm3" or chain.files_in_sm3(session)
    before = crypto.suite_converted_from(session=session, target=suite.name)
    return CryptoInForce(suite, crypto.key_provider(settings), suites.HASH_LABELS["sm3" if sm3_chain else "sha256"],
                         suites.suite(before) if before else None)


def _converting(c: CryptoInForce, language: str) -> str:
    """What a suite migration under way leaves true of the data not converted yet (nothing when none runs)."""
    old = c.converting_from
    if old is None:
        return ""
    if language == "zh":
        return (f"（正在由 {old.cipher_label}/{old.mac_label} 转换为 {c.suite.cipher_label}/{c.suite.mac_label}"
                f"（govern keys migrate-suite）；转换完成前，尚未转换的数据仍以 {old.cipher_label} 加密、以 {old.mac_label} 建立盲索引）")
    return (f" (being converted from {old.cipher_label}/{old.mac_label} by `govern keys migrate-suite`: until it completes, "
            f"data not yet converted is still sealed with {old.cipher_label} and indexed with {old.mac_label})")


def _master_keys(key_provider: str, language: str) -> str:
    if key_provider == crypto.TOKEN_PROVIDER:
        return {
            "zh": "主密钥保存在硬件安全模块（HSM）中，经 PKCS#11 调用，不可导出、不离开 HSM；数据密钥在 HSM 内封装与解封",
            "en": "Master keys kept in a hardware security module (HSM), used through PKCS#11: not extractable, they never "
                  "leave it, and data keys are wrapped and unwrapped inside it",
        }[language]
    if key_provider == crypto.FILE_PROVIDER:
        return {
            "zh": "主密钥保存在服务主目录（GOVERN_HOME）的密钥环文件中，仅服务账户可读（权限 0600，否则拒绝启动）",
            "en": "Master keys kept in a keyring file in the service's home directory (GOVERN_HOME), readable by the "
                  "service's account only (mode 0600, else the service refuses to start)",
        }[language]
    raise ValueError(f"unknown master-key provider {key_provider!r}")


def cryptographic(c: CryptoInForce, language: str) -> list[str]:
    """The technical cryptographic measures in `language` (zh or en), phrased from what runs."""
    cipher, mac, digest, sig = c.suite.cipher_label, c.suite.mac_label, c.suite.hash_label, suites.SIGNATURE_LABEL
    national = c.suite.name == suites.COMMERCIAL_CN
    if language == "zh":
        return [
            f"个人信息逐字段 {cipher} 加密，每个主体独立数据密钥，数据密钥以 {cipher} 由分版本、可轮换的主密钥封装"
            + ("（商用密码算法，GB/T 39786-2021）" if national else "") + _converting(c, language),
            _master_keys(c.key_provider, language),
            f"可检索字段仅保存以独立索引密钥计算的 {mac} 盲索引，不保存明文",
            f"每次读取与变更写入 {c.audit_chain_hash} 哈希链审计日志，检查点经 {sig} 签名",
            f"本记录的每个版本及合规审计包的文件清单均附 {digest} 摘要，审计包经 {sig} 签名",
        ]
    if language == "en":
        return [
            f"Field-level {cipher} encryption of personal data with a data key per subject, each wrapped with {cipher} under "
            "versioned, rotatable master keys" + (" (commercial cryptography, GB/T 39786-2021)" if national else "") + _converting(c, language),
            _master_keys(c.key_provider, language),
            f"Searchable fields keep only a blind index ({mac}, under a separate index key), never plaintext",
            f"Every read and change in an audit log hash-chained with {c.audit_chain_hash}, with {sig}-signed checkpoints",
            f"Each version of these records and each file of a compliance pack's manifest carries its digest ({digest}); packs are signed with {sig}",
        ]
    raise ValueError(f"unknown language {language!r}")


def security_measures(policy: Policy, c: CryptoInForce, language: str) -> list[str]:
    """Art. 30(1)(g): the generated cryptographic measures, then the policy's organisational and other ones."""
    return cryptographic(c, language) + list(policy.processing.security_measures.get(language, []))
