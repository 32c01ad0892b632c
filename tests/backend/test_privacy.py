"""PII/PHI redaction: what must go, and what must stay (order numbers, prices, dates, SKUs)."""

from __future__ import annotations

import pytest

from backend.privacy import luhn_valid, prc_id_valid, redact, redact_text

# A syntactically valid PRC resident ID (check digit computed), not a real person's.
PRC_ID = "11010519491231002X"


def test_check_digits():
    assert prc_id_valid(PRC_ID)
    assert not prc_id_valid("110105194912310021")  # wrong check digit
    assert not prc_id_valid("1101051949123")
    assert luhn_valid("4111 1111 1111 1111") and not luhn_valid("4111 1111 1111 1112")


@pytest.mark.parametrize(("text", "expected", "label"), [
    ("Mail me at jane.doe+shop@example.co.uk please", "Mail me at [EMAIL] please", "EMAIL"),
    ("我的手机是13812345678，谢谢", "我的手机是[PHONE]，谢谢", "PHONE"),
    ("call +86 138 1234 5678 today", "call [PHONE] today", "PHONE"),
    ("office: 010-62345678", "office: [PHONE]", "PHONE"),
    ("US line (415) 555-0132.", "US line [PHONE].", "PHONE"),
    ("London +44 20 7946 0958", "London [PHONE]", "PHONE"),
    (f"身份证号 {PRC_ID} 已核实", "身份证号 [ID] 已核实", "ID"),
    ("SSN 123-45-6789 on file", "SSN [ID] on file", "ID"),
    ("Patient MRN: 00457812, ward 3", "Patient MRN: [MRN], ward 3", "MRN"),
    ("病历号：ZY2026-0042 复诊", "病历号：[MRN] 复诊", "MRN"),
    ("ID 110105194912310021 mistyped", "ID [ID] mistyped", "ID"),  # a wrong check digit is still someone's ID
    ("card 4111 1111 1111 1111 exp 12/28", "card [CARD] exp 12/28", "CARD"),
    ("card 4111111111111111.", "card [CARD].", "CARD"),
])
def test_identifiers_are_replaced_by_their_type(text, expected, label):
    result = redact(text)
    assert result.text == expected
    assert result.counts == {label: 1}


@pytest.mark.parametrize("text", [
    "Order #20261122-8812 shipped on 2026-11-20 for ¥1,299.00",
    "SKU A-4471-BL, 3 items, tracking SF1234567890123",
    "Take 500 mg twice daily for 7 days; blood pressure 120/80",
    "Order 4111111111111112 (fails the card checksum)",
    "version 1.16.2, port 8000, 16 GiB",
])
def test_business_numbers_stay(text):
    assert redact_text(text) == text


def test_several_kinds_in_one_text_and_empty_input():
    text = f"Jane (jane@example.com, 13912345678) ID {PRC_ID}, MRN 7781234"
    result = redact(text)
    assert result.text == "Jane ([EMAIL], [PHONE]) ID [ID], MRN [MRN]"
    assert result.counts == {"EMAIL": 1, "PHONE": 1, "ID": 1, "MRN": 1}
    assert redact_text(None) == "" and redact_text("") == ""


def test_log_lines_are_redacted_by_every_handler_of_the_logger():
    import logging

    from backend.privacy import RedactingFilter, redact_logs

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record):
            self.lines.append(self.format(record))

    logger = logging.getLogger("visiondesk-test-privacy")
    logger.propagate = False
    handler = Collect()
    logger.addHandler(handler)
    try:
        redact_logs(("visiondesk-test-privacy",))
        redact_logs(("visiondesk-test-privacy",))  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logging.getLogger("visiondesk-test-privacy.child").warning("could not reach %s at %s", "jane@example.com",
                                                                   "13812345678")
        logger.warning("order %s ok", "20261122-8812")
    finally:
        logger.removeHandler(handler)
    assert handler.lines == ["could not reach [EMAIL] at [PHONE]", "order 20261122-8812 ok"]
