"""The sources panel: cited snippets (number, title, snippet, score) and the OCR text read from the images."""

from __future__ import annotations

from backend.api.schemas import VisionDeskResult

from apps.chat.strings import t


def sources_markdown(meta: VisionDeskResult | None, lang: str) -> str:
    if meta is None or not meta.citations:
        return t(lang, "no_sources")
    blocks = []
    for c in meta.citations:
        snippet = " ".join(c.snippet.split())
        blocks.append(f"**[{c.number}] {_plain(c.title)}** · {t(lang, 'score')} {c.score:.2f}  \n"
                      f"> {_plain(snippet)}  \n<sub>{_plain(c.source)}</sub>")
    return "\n\n".join(blocks)


def ocr_markdown(meta: VisionDeskResult | None, lang: str) -> str:
    texts = [x for x in (meta.ocr_text if meta else []) if x.strip()]
    if not texts:
        return t(lang, "no_ocr")
    return "\n\n".join(f"**#{i}**  \n```text\n{x.strip()}\n```" for i, x in enumerate(texts, 1))


def notes_markdown(meta: VisionDeskResult | None, lang: str) -> str:
    """Things the agent must see with the answer: the placeholder notice, medical terms nobody backs."""
    if meta is None:
        return ""
    notes = []
    if meta.notice:
        notes.append(f"ℹ️ {t(lang, 'notice')}: {meta.notice}")
    if meta.unverified_terms:
        notes.append("⚠️ " + t(lang, "unverified", terms=", ".join(meta.unverified_terms)))
    return "\n\n".join(notes)


def _plain(text: str) -> str:
    # Knowledge text is data, not markup: keep stray *, _, <, [ from reformatting the panel.
    for ch in "\\*_`[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text
