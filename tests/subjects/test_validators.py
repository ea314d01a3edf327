"""The field rules: GB 11643 check digits, Luhn, mainland mobile numbers and e-mail, with real-shaped examples."""

import pytest

from govern.validators import FieldInvalid, clean, luhn_valid, resident_id_check_char


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "110101199003074477", "510104199001010019"])
def test_resident_ids_with_the_right_check_character_pass(number):
    assert clean("cn_resident_id", {}, number.lower())[0] == number.upper()


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # check character should be X
        "11010519491231002",  # 17 characters
        "110105194913310024",  # month 13
        "990105194912310027",  # no province 99
        "11010519491231002Y",
    ],
)
def test_resident_ids_with_a_wrong_check_or_shape_fail(number):
    with pytest.raises(FieldInvalid, match="cn_resident_id"):
        clean("cn_resident_id", {}, number)


def test_the_gb11643_check_character_is_computed_from_the_weights():
    # worked example from GB 11643-1999: 11010519491231002 → X
    assert resident_id_check_char("11010519491231002") == "X"
    assert resident_id_check_char("44052418800101001") == "4"


@pytest.mark.parametrize("card", ["4111111111111111", "6222020200112345679", "5500 0000 0000 0004", "378282246310005"])
def test_bank_cards_that_pass_luhn_are_accepted_without_separators(card):
    stored, _ = clean("bank_card", {}, card)
    assert stored == card.replace(" ", "") and luhn_valid(stored)


@pytest.mark.parametrize("card", ["4111111111111112", "12345678901", "62220202001123456790000", "4111-1111-1111-111a"])
def test_bank_cards_failing_luhn_or_length_are_refused(card):
    with pytest.raises(FieldInvalid, match="bank_card"):
        clean("bank_card", {}, card)


@pytest.mark.parametrize(
    ("given", "stored", "indexed"),
    [
        ("13812345678", "13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "13812345678", "+8613812345678"),
        ("0086-19912345678", "19912345678", "+8619912345678"),
        ("86 15012345678", "15012345678", "+8615012345678"),
    ],
)
def test_mainland_mobiles_are_stored_national_and_indexed_e164(given, stored, indexed):
    assert clean("cn_mobile", {}, given) == (stored, indexed)


@pytest.mark.parametrize("given", ["12812345678", "1381234567", "138123456789", "+1 415 555 0100", "abc"])
def test_non_mainland_or_malformed_mobiles_are_refused(given):
    with pytest.raises(FieldInvalid, match="cn_mobile"):
        clean("cn_mobile", {}, given)


def test_emails_are_indexed_lower_case_and_stored_as_given():
    assert clean("email", {}, " Zhang.San@Example.CN ") == ("Zhang.San@Example.CN", "zhang.san@example.cn")


@pytest.mark.parametrize("given", ["plain", "a@b", "a..b@example.com", "@example.com", "a@-example.com", "x" * 65 + "@example.com"])
def test_malformed_emails_are_refused(given):
    with pytest.raises(FieldInvalid, match="email"):
        clean("email", {}, given)


def test_error_messages_never_contain_the_value():
    for rule, value in [("cn_mobile", "12812345678"), ("email", "secret@@x"), ("cn_resident_id", "110105194912310021"), ("bank_card", "4111111111111112")]:
        with pytest.raises(FieldInvalid) as err:
            clean(rule, {}, value)
        assert value not in str(err.value)


@pytest.mark.parametrize(("text", "kinds"), [
    ("customer called from 138 1234 5678", ["a mobile number"]),
    ("call +86-13812345678 back", ["a mobile number"]),
    ("客户手机13812345678", ["a mobile number"]),
    ("wrote from zhang.san@example.com", ["an e-mail address"]),
    ("ID 11010519491231002X shown", ["a resident identity number"]),
    ("paid with 4111 1111 1111 1111", ["a bank-card number"]),
    ("GDPR Art. 12(5)(b)", []),
    ("case DOC-2026-000123, ticket 20261127000001", []),
    ("order 1234567890123456", []),  # 16 digits failing Luhn: an order number, not a card
    ("110105194912310021 is not a valid ID number", []),  # wrong check digit
])
def test_free_text_is_searched_for_values_of_personal_data_by_kind(text, kinds):
    from govern.validators import personal_data_in

    assert personal_data_in(text) == kinds
