"""PII/PHI redaction for text that leaves the conversation: logs and exports.

Finds e-mail addresses, phone numbers (mainland China mobile and landline, international +CC, North American),
national ID numbers (the 18-character PRC resident ID by its date structure, US SSNs), payment card numbers (Luhn
checked) and medical record numbers (an MRN/病历号 label followed by an identifier), and replaces each with a typed
placeholder: [EMAIL], [PHONE], [ID], [CARD], [MRN]. Order numbers, prices, dates and SKUs stay. An ID whose check
digit is wrong is still redacted: a mistyped ID is still someone's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# A label makes any identifier after it a record number, whatever its shape.
_MRN = re.compile(r"(?i)(\b(?:MRN|medical record(?: number| no\.?)?|patient id)|病历号|住院号|门诊号)"
                  r"(\s*[:：#]?\s*)([A-Za-z0-9-]{4,20})")
_PRC_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx])"
                     r"(?![0-9A-Za-z])")
_CARD = re.compile(r"(?<![\d-])(?:\d{4}[ -]){3}\d{1,7}(?![\d-])|(?<![\d-])\d{13,19}(?![\d-])")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_CN_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
_INTL_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[\s.-]?\(?\d{1,4}\)?){2,5}(?!\d)")
_NA_PHONE = re.compile(r"(?<!\d)\(?[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4}(?!\d)")
_CN_LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-\d{7,8}(?!\d)")

_PRC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PRC_CHECK = "10X98765432"


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def prc_id_valid(number: str) -> bool:
    """The ISO 7064 MOD 11-2 check digit of an 18-character PRC resident ID."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _PRC_WEIGHTS, strict=True))
    return _PRC_CHECK[total % 11] == number[17].upper()


@dataclass(frozen=True)
class Redaction:
    text: str
    counts: dict[str, int]


def redact(text: str | None) -> Redaction:
    """`text` with personal identifiers replaced by [EMAIL], [PHONE], [ID], [CARD] and [MRN]."""
    counts: dict[str, int] = {}
    if not text:
        return Redaction(text or "", counts)

    def sub(pattern: re.Pattern, label: str, value: str, keep=None) -> str:
        def replace(m: re.Match) -> str:
            if keep is not None and keep(m):
                return m.group(0)
            counts[label] = counts.get(label, 0) + 1
            return f"[{label}]"

        return pattern.sub(replace, value)

    def mrn(m: re.Match) -> str:
        counts["MRN"] = counts.get("MRN", 0) + 1
        return f"{m.group(1)}{m.group(2)}[MRN]"

    out = _MRN.sub(mrn, text)  # first: its label decides, before the number is read as a phone or an ID
    out = sub(_EMAIL, "EMAIL", out)
    out = sub(_PRC_ID, "ID", out)
    out = sub(_SSN, "ID", out)
    out = sub(_CARD, "CARD", out, keep=lambda m: not luhn_valid(m.group(0)))
    for pattern in (_CN_MOBILE, _INTL_PHONE, _NA_PHONE, _CN_LANDLINE):
        out = sub(pattern, "PHONE", out)
    return Redaction(out, counts)


def redact_text(text: str | None) -> str:
    return redact(text).text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with identifiers redacted, so no handler ever writes them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_logs(logger_names: tuple[str, ...] = ("", "uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    """Attach the filter to every handler of these loggers (handlers, not loggers: records from child loggers
    reach a handler without passing the parent logger's filters). Idempotent."""
    for name in logger_names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
