"""Turn a `BackendProblem` into a sentence an agent can act on, in the UI's language."""

from __future__ import annotations

from apps.chat.backend_api import BackendProblem
from apps.chat.strings import t

# The backend names the limit an image broke in `code`; say which one in plain words.
_IMAGE_LIMITS = {
    "max_image_bytes": "image_bytes",
    "max_image_pixels": "image_pixels",
    "image_formats": "image_format",
    "max_images_per_request": "image_count",
    "max_body_bytes": "image_body",
    "image_url": "image_unreadable",
}


def friendly(problem: BackendProblem, lang: str, *, backend_url: str, timeout_s: float, login: bool = False) -> str:
    detail = problem.message.rstrip(".") or "-"
    if problem.kind == "unreachable":
        return t(lang, "err_unreachable", url=backend_url)
    if problem.kind == "timeout":
        return t(lang, "err_timeout", seconds=f"{timeout_s:.0f}")
    if problem.kind == "stream":
        return t(lang, "err_stream", detail=detail)
    status = problem.status
    if problem.code in _IMAGE_LIMITS:
        return t(lang, "err_image", what=t(lang, _IMAGE_LIMITS[problem.code]), detail=detail)
    if status == 429:
        return t(lang, "err_busy", when=_when(problem.retry_after, lang))
    if status == 503:
        return t(lang, "err_model_down", detail=detail, when=_when(problem.retry_after, lang))
    if status == 401:
        return t(lang, "err_login") if login else t(lang, "err_session")
    if status == 403:
        return t(lang, "err_forbidden", detail=detail)
    if status == 404:
        return t(lang, "err_not_found", detail=detail)
    if 400 <= status < 500:
        return t(lang, "err_bad_request", detail=detail)
    return t(lang, "err_server", status=status, detail=detail)


def _when(retry_after: float | None, lang: str) -> str:
    if retry_after:
        return t(lang, "when_seconds", n=f"{retry_after:.0f}")
    return t(lang, "when_soon")
