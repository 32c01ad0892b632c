"""The chat app's words: every failure explained in both languages, the strings table complete, the CLI checks input."""

from __future__ import annotations

import pytest

from apps.chat.__main__ import main
from apps.chat.backend_api import BackendProblem
from apps.chat.config import ChatConfig
from apps.chat.errors import friendly
from apps.chat.strings import STRINGS, t
from backend.settings import load_settings

URL = "http://backend.example:8700"


def say(problem: BackendProblem, lang: str = "en", **kw) -> str:
    return friendly(problem, lang, backend_url=URL, timeout_s=90, **kw)


@pytest.mark.parametrize("problem, english, chinese", [
    (BackendProblem("unreachable", "[Errno 111] Connection refused"),
     f"can't reach the VisionDesk backend at {URL}", "连不上 VisionDesk 后端"),
    (BackendProblem("timeout", "read timed out"), "longer than 90 seconds", "超过 90 秒"),
    (BackendProblem("http", "model server unreachable", status=503, code="EngineUnavailable", retry_after=5),
     "model server behind it is not available right now (model server unreachable). Try again in 5 seconds",
     "模型服务暂时不可用"),
    (BackendProblem("http", "queue full", status=429, code="EngineBusy", retry_after=12),
     "queue is full. Please try again in 12 seconds", "请12 秒后再试"),
    (BackendProblem("http", "queue full", status=429, code="EngineBusy"), "try again in a few seconds", "几秒后"),
    (BackendProblem("http", "image 1 is 11,000,000 bytes; the limit is 10,485,760 (limits.max_image_bytes)",
                    status=413, code="max_image_bytes"),
     "did not accept the image: the file is too large. Details: image 1 is 11,000,000 bytes", "文件太大"),
    (BackendProblem("http", "TIFF is not accepted (limits.image_formats)", status=415, code="image_formats"),
     "its format is not accepted", "格式不被接受"),
    (BackendProblem("http", "5 images; the limit is 4 per request", status=400, code="max_images_per_request"),
     "too many images", "图片太多"),
    (BackendProblem("http", "token expired", status=401, code="authentication_error"),
     "login has expired", "登录已过期"),
    (BackendProblem("http", "admins only", status=403), "may not do this: admins only", "无权"),
    (BackendProblem("http", "conversation 'x' not found", status=404), "no longer exists", "已不存在"),
    (BackendProblem("http", "the question is empty", status=400, code="empty_question"),
     "could not use this request: the question is empty", "无法处理"),
    (BackendProblem("http", "boom", status=500), "hit a problem (HTTP 500)", "HTTP 500"),
    (BackendProblem("stream", "engine crashed", status=502), "broke off part-way (engine crashed)", "中途中断"),
])
def test_every_failure_reads_like_a_colleague(problem, english, chinese):
    en, zh = say(problem), say(problem, "zh")
    assert english in en
    assert chinese in zh
    for text in (en, zh):
        assert "Traceback" not in text and "network error" not in text.lower()


def test_a_wrong_password_is_not_called_an_expired_login():
    problem = BackendProblem("http", "invalid username or password", status=401, code="account")
    assert "don't match" in say(problem, login=True)
    assert "用户名和密码不匹配" in say(problem, "zh", login=True)


def test_every_string_has_both_languages_with_the_same_placeholders():
    import string

    for key, (en, zh) in STRINGS.items():
        assert en.strip() and zh.strip(), key
        fields = {f for _, f, _, _ in string.Formatter().parse(en) if f}
        assert fields == {f for _, f, _, _ in string.Formatter().parse(zh) if f}, key
    assert t("zh", "login") != t("en", "login")


def test_config_comes_from_the_shared_settings(monkeypatch):
    monkeypatch.setenv("VISIONDESK_SERVER__PORT", "8123")
    monkeypatch.setenv("VISIONDESK_APPS__CHAT_LANGUAGE", "zh")
    monkeypatch.setenv("VISIONDESK_APPS__CHAT_CONCURRENCY", "40")
    config = ChatConfig.from_settings(load_settings())
    assert config.backend_url == "http://127.0.0.1:8123"
    assert config.language == "zh" and config.concurrency == 40
    overridden = ChatConfig.from_settings(load_settings(), backend_url="http://10.0.0.5:8700/", port=9000)
    assert overridden.backend_url == "http://10.0.0.5:8700" and overridden.port == 9000


@pytest.mark.parametrize("argv, message", [
    (["--backend-url", "backend:8700"], "--backend-url must start with http:// or https://"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--config", "/nonexistent/visiondesk.yaml"], "does not exist"),
])
def test_bad_command_lines_are_named(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_language_setting_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("VISIONDESK_APPS__CHAT_LANGUAGE", "fr")
    assert main(["--backend-url", URL]) == 2
    assert "apps.chat_language" in capsys.readouterr().err
