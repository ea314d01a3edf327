"""Free text is searched for values of personal data as a reader reads it, not as it is spelt: after NFKC, with
zero-width and format characters dropped and separators between digits ignored. Ordinary text — dates, times, order
and ticket numbers, amounts, addresses of machines, legal references — is not mistaken for a person's number."""

from __future__ import annotations

import pytest

from govern.validators import free_text_problem, normalise_free_text, personal_data_in

MOBILE, EMAIL, ID, CARD = "a mobile number", "an e-mail address", "a resident identity number", "a bank-card number"


@pytest.mark.parametrize(("text", "kind"), [
    ("客户手机 138.1234.5678", MOBILE),
    ("138 1234 5678", MOBILE),
    ("138-1234-5678", MOBILE),
    ("138/1234/5678", MOBILE),
    ("138 · 1234 · 5678", MOBILE),
    ("1 3 8 1 2 3 4 5 6 7 8", MOBILE),
    ("１３８１２３４５６７８", MOBILE),  # full-width digits
    ("１３８－１２３４－５６７８", MOBILE),  # full-width digits and hyphen
    ("138\u200b1234\u200c5678", MOBILE),  # zero-width space and non-joiner
    ("138\u20601234\ufeff5678", MOBILE),  # word joiner and BOM
    ("138\u00ad1234\u00ad5678", MOBILE),  # soft hyphens
    ("+86 138 1234 5678", MOBILE),
    ("0086-138-1234-5678", MOBILE),
    ("ticket 12 13812345678", MOBILE),  # a number before it does not hide it
    ("tel:13812345678", MOBILE),
    ("li.si＠example.com", EMAIL),  # full-width at sign
    ("li.si @ example.com", EMAIL),
    ("li.si@exam\u200bple.com", EMAIL),
    ("ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ", EMAIL),  # all full width
    ("li@qq。com", EMAIL),  # ideographic full stop
    ("110105 19491231 002X", ID),
    ("110105-1949-1231-002x", ID),
    ("1101 0519 4912 3100 2X", ID),
    ("ID11010519491231002X", ID),
    ("１１０１０５１９４９１２３１００２Ｘ", ID),
    ("4111-1111-1111-1111", CARD),
    ("4111/1111/1111/1111", CARD),
    ("4111.1111.1111.1111", CARD),
    ("４１１１ １１１１ １１１１ １１１１", CARD),
    ("6011 0009 9013 9424", CARD),
])
def test_a_value_is_found_whatever_its_spelling(text, kind):
    assert personal_data_in(text) == [kind]


@pytest.mark.parametrize("text", [
    "Laptop lost on 2026-11-27 at 13:45, found 2026/11/28 09:10",
    "between 2026-11-15 – 2026-11-16",
    "15/11/2026 - 16/11/2026",
    "2026.11.27 13.45",
    "13/11/2026 10:30",
    "order ORD-2026-000123-7, ticket 20261127000001, invoice 2026112700012345",
    "order 1234567890123456",  # 16 digits failing Luhn
    "refund ¥1,380.00; total 13 800 000 000.00 yuan; 1.380.000,00 EUR",
    "source 172.16.254.123 and 10.0.0.1",
    "hotline 400-820-8820, 95588",
    "GDPR Art. 33(1), PIPL Art. 57, GB/T 35273-2020 §9.1, v1.3.8",
    "items 1-3, 5-7; case DOC-2026-000123",
    "meet @ 10am. Thanks",
    "110105194912310021 is not a valid ID number",  # wrong check digit
    "客服热线 400-820-8820，工单 2026-1127-0001，金额 ￥12,345.67",
])
def test_ordinary_text_is_not_mistaken_for_personal_data(text):
    assert personal_data_in(text) == []


def test_normalisation_reads_full_width_forms_and_drops_invisible_characters():
    assert normalise_free_text("１３８\u200b－１２３４ ＠ ｅｘ。ｃｎ\u00ad") == "138-1234@ex.cn"


def test_the_refusal_names_the_kind_never_the_value():
    problem = free_text_problem("call １３８.１２３４.５６７８ or li＠example.com")
    assert problem is not None and MOBILE in problem and EMAIL in problem
    assert not any(digit in problem for digit in "0123456789１") and "example" not in problem


def test_a_field_may_allow_a_kind_it_holds_by_design():
    assert free_text_problem("privacy＠partner.example", allow=(EMAIL,)) is None
    assert MOBILE in free_text_problem("privacy@partner.example, 138 1234 5678", allow=(EMAIL,))
