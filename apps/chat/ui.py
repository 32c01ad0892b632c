"""The chat screen's layout and event wiring: `build_app(config) -> gr.Blocks`."""

from __future__ import annotations

import os
from dataclasses import dataclass

import gradio as gr

from apps.chat.backend_api import BackendAPI
from apps.chat.config import ChatConfig
from apps.chat.session import Session
from apps.chat.strings import LANGUAGES, REASONS, t

MAX_QUICK_ACTIONS = 6

@dataclass
class Widgets:
    """Every component the handlers read or update."""

    session: gr.State
    title: gr.Markdown
    language: gr.Radio
    status: gr.Markdown
    login_box: gr.Column
    login_heading: gr.Markdown
    username: gr.Textbox
    password: gr.Textbox
    login: gr.Button
    work_box: gr.Column
    signed_in: gr.Markdown
    logout: gr.Button
    domain: gr.Dropdown
    quick_heading: gr.Markdown
    quick: list[gr.Button]
    chatbot: gr.Chatbot
    chat_input: gr.MultimodalTextbox
    regenerate: gr.Button
    stop: gr.Button
    clear: gr.Button
    notes: gr.Markdown
    sources_heading: gr.Markdown
    sources: gr.Markdown
    ocr_heading: gr.Markdown
    ocr: gr.Markdown
    history_box: gr.Accordion
    history: gr.Dropdown
    refresh_history: gr.Button
    open_conversation: gr.Button
    feedback_heading: gr.Markdown
    rating: gr.Radio
    reasons: gr.CheckboxGroup
    corrected: gr.Textbox
    flag: gr.Checkbox
    send_feedback: gr.Button


def rating_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, "rating_up"), "up"), (t(lang, "rating_down"), "down")]


def reason_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(lang, f"reason_{r}"), r) for r in REASONS]


def _layout(lang: str) -> Widgets:
    session = gr.State(Session(lang=lang))
    with gr.Row(equal_height=True):
        title = gr.Markdown(t(lang, "title"))
        language = gr.Radio([(name, code) for code, name in LANGUAGES.items()], value=lang,
                            label=t(lang, "language"), scale=0, min_width=220)
    status = gr.Markdown(t(lang, "need_login"), elem_id="vd-status", label=t(lang, "status"))
    with gr.Column(visible=True) as login_box:
        login_heading = gr.Markdown(t(lang, "login_heading"))
        username = gr.Textbox(label=t(lang, "username"), elem_id="vd-username", max_lines=1)
        password = gr.Textbox(label=t(lang, "password"), type="password", elem_id="vd-password", max_lines=1)
        login = gr.Button(t(lang, "login"), variant="primary", elem_id="vd-login")
    with gr.Column(visible=False) as work_box:
        with gr.Row(equal_height=True):
            signed_in = gr.Markdown("")
            logout = gr.Button(t(lang, "logout"), size="sm", scale=0, min_width=120, elem_id="vd-logout")
        with gr.Row():
            with gr.Column(scale=3):
                domain = gr.Dropdown(choices=[], value=None, label=t(lang, "domain"), elem_id="vd-domain",
                                     interactive=True)
                quick_heading = gr.Markdown(f"**{t(lang, 'quick_actions')}**", visible=False)
                with gr.Row():
                    quick = [gr.Button("", size="sm", visible=False, elem_id=f"vd-quick-{i}")
                             for i in range(MAX_QUICK_ACTIONS)]
                chatbot = gr.Chatbot(label=t(lang, "chat"), elem_id="vd-chat", height=460,
                                     buttons=["copy", "copy_all"], feedback_options=("Like", "Dislike"))
                chat_input = gr.MultimodalTextbox(
                    label=t(lang, "input"), placeholder=t(lang, "input_placeholder"), elem_id="vd-input",
                    file_types=["image"], file_count="multiple", sources=["upload"], submit_btn=t(lang, "send"),
                    interactive=True)
                with gr.Row():
                    regenerate = gr.Button(t(lang, "regenerate"), size="sm", elem_id="vd-regenerate")
                    stop = gr.Button(t(lang, "stop"), size="sm", variant="stop", elem_id="vd-stop")
                    clear = gr.Button(t(lang, "clear"), size="sm", elem_id="vd-clear")
            with gr.Column(scale=2):
                notes = gr.Markdown("", elem_id="vd-notes")
                sources_heading = gr.Markdown(f"### {t(lang, 'sources')}")
                sources = gr.Markdown(t(lang, "no_sources"), elem_id="vd-sources")
                ocr_heading = gr.Markdown(f"### {t(lang, 'ocr')}")
                ocr = gr.Markdown(t(lang, "no_ocr"), elem_id="vd-ocr")
                with gr.Accordion(t(lang, "history"), open=False) as history_box:
                    history = gr.Dropdown(choices=[], value=None, label=t(lang, "history"), elem_id="vd-history",
                                          interactive=True)
                    with gr.Row():
                        refresh_history = gr.Button(t(lang, "refresh_history"), size="sm")
                        open_conversation = gr.Button(t(lang, "open_conversation"), size="sm",
                                                      elem_id="vd-open-conversation")
                feedback_heading = gr.Markdown(t(lang, "feedback_heading"))
                rating = gr.Radio(rating_choices(lang), value=None, label=t(lang, "rating"), elem_id="vd-rating")
                reasons = gr.CheckboxGroup(reason_choices(lang), value=[], label=t(lang, "reasons"),
                                           elem_id="vd-reasons")
                corrected = gr.Textbox(label=t(lang, "corrected"), lines=3, elem_id="vd-corrected")
                flag = gr.Checkbox(label=t(lang, "flag"), value=False, elem_id="vd-flag")
                send_feedback = gr.Button(t(lang, "send_feedback"), elem_id="vd-send-feedback")
    return Widgets(session, title, language, status, login_box, login_heading, username, password, login, work_box,
                   signed_in, logout, domain, quick_heading, quick, chatbot, chat_input, regenerate, stop, clear,
                   notes, sources_heading, sources, ocr_heading, ocr, history_box, history, refresh_history,
                   open_conversation, feedback_heading, rating, reasons, corrected, flag, send_feedback)


def build_app(config: ChatConfig, api: BackendAPI | None = None) -> gr.Blocks:
    """The whole app; call `.launch()` on the result (see `apps.chat.__main__`), or launch it inside a test."""
    from apps.chat.handlers import Handlers

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    api = api or BackendAPI(config.backend_url, timeout_s=config.timeout_s)
    with gr.Blocks(title="VisionDesk chat", analytics_enabled=False) as app:
        w = _layout(config.language)
        Handlers(w, api, config).wire()
    # Chat streams hold a worker for the whole answer: the limit must cover every agent answering at once.
    app.queue(default_concurrency_limit=config.concurrency, max_size=None)
    return app
