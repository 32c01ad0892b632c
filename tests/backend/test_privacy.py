"""PII/PHI redaction: what must go, and what must stay (order numbers, prices, dates, SKUs)."""

from __future__ import annotations

import pytest

from backend.privacy import prc_id_valid, redact, redact_text

# A syntactically valid PRC resident ID (check digit computed), not a real person's.
PRC_ID = "11010519491231002X"


def test_prc_id_check_digit():
    assert prc_id_valid(PRC_ID)
    assert not prc_id_valid("110105194912310021")  # wrong check digit
    assert not prc_id_valid("1101051949123")


@pytest.mark.parametrize(("text", "expected", "label"), [
    ("Mail me at jane.doe+shop@example.co.uk please", "Mail me at [EMAIL] please", "EMAIL"),
    ("我的手机是13812345678，谢谢", "我的手机是[PHONE]，谢谢", "PHONE"),
    ("call +86 138 1234 5678 today", "call [PHONE] today", "PHONE"),
    ("office: 010-62345678", "office: [PHONE]", "PHONE"),
    ("US line (415) 555-0132.", "US line [PHONE].", "PHONE"),
    ("London +44 20 7946 0958", "London [PHONE]", "PHONE"),
    (f"身份证号 {PRC_ID} 已核实", "身份证号 [NATIONAL_ID] 已核实", "NATIONAL_ID"),
    ("SSN 123-45-6789 on file", "SSN [NATIONAL_ID] on file", "NATIONAL_ID"),
    ("Patient MRN: 00457812, ward 3", "Patient MRN: [MRN], ward 3", "MRN"),
    ("病历号：ZY2026-0042 复诊", "病历号：[MRN] 复诊", "MRN"),
])
def test_identifiers_are_replaced_by_their_type(text, expected, label):
    result = redact(text)
    assert result.text == expected
    assert result.counts == {label: 1}


@pytest.mark.parametrize("text", [
    "Order #20261122-8812 shipped on 2026-11-20 for ¥1,299.00",
    "SKU A-4471-BL, 3 items, tracking SF1234567890123",
    "Take 500 mg twice daily for 7 days; blood pressure 120/80",
    "ID 110105194912310021 (invalid check digit stays)",
    "version 1.16.2, port 8000, 16 GiB",
])
def test_business_numbers_stay(text):
    assert redact_text(text) == text


def test_several_kinds_in_one_text_and_empty_input():
    text = f"Jane (jane@example.com, 13912345678) ID {PRC_ID}, MRN 7781234"
    result = redact(text)
    assert result.text == "Jane ([EMAIL], [PHONE]) ID [NATIONAL_ID], MRN [MRN]"
    assert result.counts == {"EMAIL": 1, "PHONE": 1, "NATIONAL_ID": 1, "MRN": 1}
    assert redact_text(None) == "" and redact_text("") == ""
