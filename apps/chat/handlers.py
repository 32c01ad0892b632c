"""What the chat screen does when an agent acts: log in, ask (streamed), regenerate, rate, reopen history."""

# No `from __future__ import annotations`: Gradio reads the `gr.LikeData` hint at run time to pass event data.

import logging
import mimetypes
from collections.abc import Iterator
from functools import partial

import gradio as gr

from apps.chat.backend_api import BackendAPI, BackendProblem, image_block
from apps.chat.config import ChatConfig
from apps.chat.errors import friendly
from apps.chat.session import Session
from apps.chat.sources import notes_markdown, ocr_markdown, sources_markdown
from apps.chat.strings import LANGUAGES, t
from apps.chat.ui import MAX_QUICK_ACTIONS, Widgets, rating_choices, reason_choices
from backend.api.schemas import VisionDeskResult

# Earlier turns sent with each question: enough context for follow-ups, well inside the backend's
# max_messages / max_prompt_chars limits however long an agent's conversation runs.
CONTEXT_MESSAGES = 20

SKIP = gr.skip
log = logging.getLogger("visiondesk.chat")


class Handlers:
    def __init__(self, widgets: Widgets, api: BackendAPI, config: ChatConfig):
        self.w, self.api, self.config = widgets, api, config

    # -- wiring ----------------------------------------------------------------------------------

    def wire(self) -> None:
        w = self.w
        login_in = [w.username, w.password, w.session]
        login_out = [w.session, w.status, w.login_box, w.work_box, w.signed_in, w.domain, w.quick_heading, *w.quick,
                     w.history, w.password, w.chatbot, w.sources, w.ocr, w.notes]
        w.login.click(self.login, login_in, login_out, api_name="login")
        w.password.submit(self.login, login_in, login_out, api_visibility="private")
        w.logout.click(self.logout, [w.session], login_out, api_name="logout")

        chat_out = [w.chatbot, w.chat_input, w.sources, w.ocr, w.notes, w.status, w.session]
        answering = [
            w.chat_input.submit(self.chat, [w.chat_input, w.chatbot, w.session], chat_out, api_name="chat"),
            w.regenerate.click(self.regenerate, [w.chatbot, w.session], chat_out, api_name="regenerate"),
            w.chatbot.retry(self.regenerate, [w.chatbot, w.session], chat_out, api_visibility="private"),
        ]
        for i, button in enumerate(w.quick):
            answering.append(button.click(partial(self.quick_action, i), [w.chat_input, w.chatbot, w.session],
                                          chat_out, api_name=f"quick_action_{i}"))
        # Cancelling the generator closes the HTTP stream, so the backend stops generating too.
        w.stop.click(self.stopped, [w.session], [w.status], cancels=answering, api_name="stop")
        w.clear.click(self.clear, [w.session], chat_out, api_name="clear")
        w.chatbot.clear(self.clear, [w.session], chat_out, api_visibility="private")

        w.domain.input(self.set_domain, [w.domain, w.session], [w.session, w.quick_heading, *w.quick],
                       api_name="set_domain")
        w.chatbot.like(self.like, [w.session], [w.status], api_name="like")
        feedback_out = [w.status, w.rating, w.reasons, w.corrected, w.flag]
        w.send_feedback.click(self.feedback, [w.rating, w.reasons, w.corrected, w.flag, w.session], feedback_out,
                              api_name="feedback")
        w.refresh_history.click(self.history, [w.session], [w.history, w.status], api_name="history")
        w.history_box.expand(self.history, [w.session], [w.history, w.status], api_visibility="private")
        w.open_conversation.click(self.open_conversation, [w.history, w.session],
                                  [*chat_out, w.domain, w.quick_heading, *w.quick], api_name="open_conversation")
        w.language.input(self.set_language, [w.language, w.session], self._labelled(), api_name="set_language")

    # -- login -----------------------------------------------------------------------------------

    def login(self, username: str, password: str, session: Session):
        lang = session.lang
        if not (username or "").strip() or not password:
            return self._login_result(session, t(lang, "need_credentials"), logged_in=False)
        try:
            who = self.api.login(username.strip(), password)
            domains = self.api.domains(who.token)
            conversations = self.api.conversations(who.token, self.config.history_limit)
        except BackendProblem as problem:
            return self._login_result(session, "⚠️ " + self._explain(problem, lang, login=True), logged_in=False)
        session = Session(lang=lang, token=who.token, username=who.username,
                          domains=[d.model_dump() for d in domains], domain=domains[0].domain if domains else None)
        history = gr.update(choices=_history_choices(conversations), value=None)
        return self._login_result(session, t(lang, "ready"), logged_in=True, history=history)

    def logout(self, session: Session):
        if session.token:
            try:
                self.api.logout(session.token)
            except BackendProblem:
                pass  # the token dies with the session anyway; logging out must always work locally
        return self._login_result(session.logged_out(), t(session.lang, "signed_out"), logged_in=False,
                                  history=gr.update(choices=[], value=None))

    def _login_result(self, session: Session, status: str, *, logged_in: bool, history=None) -> tuple:
        lang = session.lang
        # Knowledge off: no domains, so no selector to puzzle over.
        domain = gr.update(choices=[(d["title"], d["domain"]) for d in session.domains], value=session.domain,
                           visible=bool(session.domains))
        signed_in = t(lang, "signed_in", user=session.username) if logged_in else ""
        return (session, status, gr.update(visible=not logged_in), gr.update(visible=logged_in), signed_in, domain,
                *self._quick_updates(session), history if history is not None else SKIP(), "",
                [], t(lang, "no_sources"), t(lang, "no_ocr"), "")

    # -- asking ----------------------------------------------------------------------------------

    def chat(self, message: dict | None, chatbot: list, session: Session) -> Iterator[tuple]:
        message = message or {}
        files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
        yield from self._answer((message.get("text") or "").strip(), files, chatbot or [], session, restore=message)

    def quick_action(self, index: int, message: dict | None, chatbot: list, session: Session) -> Iterator[tuple]:
        actions = session.quick_actions()
        if index >= len(actions):
            yield self._said(session, t(session.lang, "need_login" if not session.token else "ready"))
            return
        message = message or {}
        files = [f if isinstance(f, str) else f.get("path") for f in message.get("files") or []]
        yield from self._answer(actions[index]["prompt"], files, chatbot or [], session, restore=message)

    def regenerate(self, chatbot: list, session: Session) -> Iterator[tuple]:
        if not session.token or not session.last_question:
            yield self._said(session, t(session.lang, "nothing_to_regenerate"))
            return
        chatbot = list(chatbot or [])
        at = session.pending_index
        if 0 <= at < len(chatbot) and chatbot[at].get("role") == "user":
            chatbot = chatbot[:at]  # the old question and its answer (or what was left of it) make way
        if session.answered:
            session.turns = session.turns[:-2]
        session.request_ids = {i: r for i, r in session.request_ids.items() if i < len(chatbot)}
        yield from self._answer(session.last_question, session.last_images, chatbot, session, restore=None)

    def _answer(self, question: str, images: list[str], chatbot: list, session: Session,
                restore: dict | None) -> Iterator[tuple]:
        lang = session.lang
        if not session.token:
            yield self._said(session, t(lang, "need_login"))
            return
        if not question:
            yield self._said(session, "⚠️ " + t(lang, "empty_question"))
            return
        try:
            for path in images:
                if not (mimetypes.guess_type(path)[0] or "").startswith("image/"):
                    raise ValueError(path)
            blocks = [image_block(p) for p in images]
        except (ValueError, OSError) as exc:
            name = str(exc.args[0] if isinstance(exc, ValueError) else getattr(exc, "filename", exc))
            yield self._said(session, "⚠️ " + t(lang, "not_image", name=name.rsplit("/", 1)[-1]))
            return
        session.last_question, session.last_images, session.answered = question, list(images), False
        session.pending_index = len(chatbot)
        # With its mime type the chatbot shows the photo itself, not a file card.
        shown = [{"type": "file", "file": {"path": p, "mime_type": mimetypes.guess_type(p)[0]}} for p in images]
        shown.append({"type": "text", "text": question})
        chatbot = [*chatbot, {"role": "user", "content": shown}, {"role": "assistant", "content": ""}]
        messages = [*session.turns[-CONTEXT_MESSAGES:], {"role": "user",
                                                         "content": [*blocks, {"type": "text", "text": question}]}]
        yield (chatbot, {"text": "", "files": []}, SKIP(), SKIP(), "", t(lang, "answering"), session)

        answer, meta = "", None
        try:
            for event in self.api.stream_chat(session.token, messages, domain=session.domain,
                                              conversation_id=session.conversation_id,
                                              max_tokens=self.config.max_tokens):
                if event.kind == "meta":
                    meta = event.meta
                    session.conversation_id = meta.conversation_id or session.conversation_id
                    yield (SKIP(), SKIP(), sources_markdown(meta, lang), ocr_markdown(meta, lang),
                           notes_markdown(meta, lang), SKIP(), session)
                else:
                    answer += event.text
                    chatbot[-1] = {"role": "assistant", "content": answer}
                    yield (chatbot, SKIP(), SKIP(), SKIP(), SKIP(), SKIP(), session)
        except BackendProblem as problem:
            # Take the unanswered turn out and give the question back, so one click resends it.
            back = restore if restore is not None else SKIP()
            yield (chatbot[:-2], back, SKIP(), SKIP(), SKIP(), "⚠️ " + self._explain(problem, lang), session)
            return
        session.turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        session.answered = True
        session.last_request_id = meta.request_id if meta else None
        if session.last_request_id:
            session.request_ids[len(chatbot) - 1] = session.last_request_id
        yield (chatbot, SKIP(), SKIP(), SKIP(), SKIP(), t(lang, "answered"), session)

    def stopped(self, session: Session) -> str:
        return t(session.lang, "stopped")

    def clear(self, session: Session) -> tuple:
        session.new_conversation()
        lang = session.lang
        return ([], {"text": "", "files": []}, t(lang, "no_sources"), t(lang, "no_ocr"), "",
                t(lang, "new_conversation"), session)

    def _said(self, session: Session, status: str) -> tuple:
        return (SKIP(), SKIP(), SKIP(), SKIP(), SKIP(), status, session)

    # -- domain, feedback, history -----------------------------------------------------------------

    def set_domain(self, domain: str | None, session: Session) -> tuple:
        session.domain = domain
        return (session, *self._quick_updates(session))

    def _quick_updates(self, session: Session) -> list:
        actions = session.quick_actions()[:MAX_QUICK_ACTIONS]
        heading = gr.update(visible=bool(actions), value=f"**{t(session.lang, 'quick_actions')}**")
        buttons = [gr.update(value=a["label"], visible=True) if i < len(actions) else gr.update(visible=False)
                   for i, a in enumerate(actions + [None] * (MAX_QUICK_ACTIONS - len(actions)))]
        return [heading, *buttons]

    def like(self, session: Session, data: gr.LikeData) -> str:
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        request_id = session.request_ids.get(index)
        if not session.token or not request_id:
            return t(session.lang, "no_answer_to_rate")
        rating = {True: "up", "Like": "up", False: "down", "Dislike": "down"}.get(data.liked)
        if rating is None:
            return SKIP()  # un-liking: nothing to store
        return self._send_feedback(session, {"request_id": request_id, "rating": rating})[0]

    def feedback(self, rating: str | None, reasons: list[str], corrected: str, flag: bool, session: Session) -> tuple:
        lang = session.lang
        if not session.token or not session.last_request_id or not session.answered:
            return (t(lang, "no_answer_to_rate"), SKIP(), SKIP(), SKIP(), SKIP())
        corrected = (corrected or "").strip()
        if not (rating or reasons or corrected or flag):
            return (t(lang, "feedback_empty"), SKIP(), SKIP(), SKIP(), SKIP())
        return self._send_feedback(session, {"request_id": session.last_request_id, "rating": rating or None,
                                             "reasons": list(reasons or []), "corrected_answer": corrected or None,
                                             "flagged": bool(flag)})

    def _send_feedback(self, session: Session, body: dict) -> tuple:
        try:
            saved = self.api.feedback(session.token, body)
        except BackendProblem as problem:
            return ("⚠️ " + self._explain(problem, session.lang), SKIP(), SKIP(), SKIP(), SKIP())
        return (t(session.lang, "feedback_saved", id=saved["id"]), None, [], "", False)

    def history(self, session: Session) -> tuple:
        if not session.token:
            return (SKIP(), t(session.lang, "need_login"))
        try:
            rows = self.api.conversations(session.token, self.config.history_limit)
        except BackendProblem as problem:
            return (SKIP(), "⚠️ " + self._explain(problem, session.lang))
        status = SKIP() if rows else t(session.lang, "no_history")
        return (gr.update(choices=_history_choices(rows), value=None), status)

    def open_conversation(self, conversation_id: str | None, session: Session) -> tuple:
        lang = session.lang
        keep = (SKIP(),) * (2 + MAX_QUICK_ACTIONS)
        if not session.token:
            return (*self._said(session, t(lang, "need_login")), *keep)
        if not conversation_id:
            return (*self._said(session, t(lang, "choose_conversation")), *keep)
        try:
            detail = self.api.conversation(session.token, conversation_id)
        except BackendProblem as problem:
            return (*self._said(session, "⚠️ " + self._explain(problem, lang)), *keep)
        session.new_conversation()
        session.conversation_id = detail["id"]
        if detail.get("domain") in {d["domain"] for d in session.domains}:
            session.domain = detail["domain"]
        chatbot, last_meta = [], None
        for m in detail["messages"]:
            images = f"\n\n🖼 × {len(m['image_hashes'])}" if m.get("image_hashes") else ""
            chatbot.append({"role": m["role"], "content": m["content"] + images})
            session.turns.append({"role": m["role"], "content": m["content"]})
            if m["role"] == "user":
                session.last_question, session.pending_index = m["content"], len(chatbot) - 1
            elif m.get("request_id"):
                session.request_ids[len(chatbot) - 1] = m["request_id"]
                session.last_request_id, last_meta = m["request_id"], m.get("meta") or {}
        session.answered = bool(session.turns) and session.turns[-1]["role"] == "assistant"
        meta = VisionDeskResult.model_validate({"citations": (last_meta or {}).get("citations", [])})
        status = t(lang, "conversation_opened", title=detail["title"])
        return (chatbot, {"text": "", "files": []}, sources_markdown(meta, lang), t(lang, "no_ocr"), "", status,
                session, gr.update(value=session.domain), *self._quick_updates(session))

    # -- language ----------------------------------------------------------------------------------

    def _labelled(self) -> list:
        w = self.w
        return [w.session, w.title, w.language, w.login_heading, w.username, w.password, w.login, w.logout,
                w.signed_in, w.domain, w.quick_heading, w.chatbot, w.chat_input, w.regenerate, w.stop, w.clear,
                w.sources_heading, w.ocr_heading, w.history_box, w.history, w.refresh_history, w.open_conversation,
                w.feedback_heading, w.rating, w.reasons, w.corrected, w.flag, w.send_feedback, w.status]

    def set_language(self, lang: str, session: Session) -> tuple:
        if lang not in LANGUAGES:
            lang = "en"
        session.lang = lang
        signed_in = t(lang, "signed_in", user=session.username) if session.token else ""
        return (session, t(lang, "title"), gr.update(label=t(lang, "language")), t(lang, "login_heading"),
                gr.update(label=t(lang, "username")), gr.update(label=t(lang, "password")), t(lang, "login"),
                t(lang, "logout"), signed_in, gr.update(label=t(lang, "domain")),
                gr.update(value=f"**{t(lang, 'quick_actions')}**"), gr.update(label=t(lang, "chat")),
                gr.update(label=t(lang, "input"), placeholder=t(lang, "input_placeholder"), submit_btn=t(lang, "send")),
                t(lang, "regenerate"), t(lang, "stop"), t(lang, "clear"), f"### {t(lang, 'sources')}",
                f"### {t(lang, 'ocr')}", gr.update(label=t(lang, "history")), gr.update(label=t(lang, "history")),
                t(lang, "refresh_history"), t(lang, "open_conversation"), t(lang, "feedback_heading"),
                gr.update(label=t(lang, "rating"), choices=rating_choices(lang)),
                gr.update(label=t(lang, "reasons"), choices=reason_choices(lang)),
                gr.update(label=t(lang, "corrected")), gr.update(label=t(lang, "flag")), t(lang, "send_feedback"),
                t(lang, "ready") if session.token else t(lang, "need_login"))

    def _explain(self, problem: BackendProblem, lang: str, *, login: bool = False) -> str:
        # Agents read a sentence; operators get the raw cause in the app's log.
        log.warning("backend call failed: kind=%s status=%s code=%s: %s", problem.kind, problem.status,
                    problem.code, problem.message)
        return friendly(problem, lang, backend_url=self.api.base_url, timeout_s=self.config.timeout_s, login=login)


def _history_choices(rows) -> list[tuple[str, str]]:
    return [(f"{r.title} · {r.domain or '-'} · {r.updated_at[:16].replace('T', ' ')}", r.id) for r in rows]
