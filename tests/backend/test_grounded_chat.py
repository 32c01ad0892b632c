"""Chat grounded in the seed knowledge packs: domains, citations, OCR of chat images, medical safety framing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from support import start_backend, stop_backend

pytestmark = pytest.mark.slow

SEEDS = Path(__file__).resolve().parents[2] / "knowledge" / "seeds"


@pytest.fixture(scope="module")
def grounded(tmp_path_factory, tiny_llava):
    server = start_backend(tmp_path_factory.mktemp("grounded"), {
        "VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_KNOWLEDGE__ENABLED": "true"}, ready_timeout=600)
    yield server
    stop_backend(server)


def chat(server, question: str, *, domain: str | None = None, image: Path | None = None, stream: bool = False,
         **visiondesk) -> httpx.Response:
    content = [{"type": "text", "text": question}]
    if image is not None:
        uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
        content.insert(0, {"type": "image_url", "image_url": {"url": uri}})
    body = {"messages": [{"role": "user", "content": content}], "max_tokens": 8, "stream": stream,
            "visiondesk": {"domain": domain, **visiondesk}}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=server.headers, timeout=300)


def test_domains_list_profiles_with_quick_actions(grounded):
    domains = httpx.get(f"{grounded.url}/v1/domains", headers=grounded.headers, timeout=30).json()
    by_name = {d["domain"]: d for d in domains}
    assert {"ecommerce", "medical"} <= set(by_name)
    assert by_name["medical"]["medical"] is True and by_name["ecommerce"]["medical"] is False
    assert by_name["ecommerce"]["quick_actions"] and all(a["prompt"] for a in by_name["ecommerce"]["quick_actions"])


def test_answers_cite_the_domain_they_were_asked_in(grounded):
    shop = chat(grounded, "How much does the Breeze Kettle cost and what is its warranty?", domain="ecommerce").json()
    clinic = chat(grounded, "What is the normal range for haemoglobin?", domain="medical").json()
    shop_sources = {c["source"] for c in shop["visiondesk"]["citations"]}
    clinic_sources = {c["source"] for c in clinic["visiondesk"]["citations"]}
    assert shop["visiondesk"]["retrieval"] is True and shop_sources and clinic_sources
    assert any("products.csv" in s for s in shop_sources)
    assert any("lab_tests" in s for s in clinic_sources)
    assert not shop_sources & clinic_sources, "switching the domain must switch the sources"
    numbers = [c["number"] for c in shop["visiondesk"]["citations"]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert "NW-KT-101" in " ".join(c["snippet"] for c in shop["visiondesk"]["citations"])


def test_retrieval_off_gives_no_citations(grounded):
    answer = chat(grounded, "How much does the Breeze Kettle cost?", domain="ecommerce", retrieval=False).json()
    assert answer["visiondesk"]["citations"] == [] and answer["visiondesk"]["retrieval"] is False


def test_chat_images_are_read_with_ocr(grounded):
    label = SEEDS / "ecommerce" / "images" / "label_nw-kt-101.png"
    answer = chat(grounded, "What product is this label for?", domain="ecommerce", image=label).json()
    assert "NW-KT-101" in " ".join(answer["visiondesk"]["ocr_text"]).upper()
    assert any("NW-KT-101" in c["snippet"] for c in answer["visiondesk"]["citations"])


def test_medical_red_flags_come_first_and_the_disclaimer_last(grounded):
    question = "I have chest pain after taking my blood pressure tablets, what should I do?"
    plain = chat(grounded, question, domain="medical").json()["choices"][0]["message"]["content"]
    assert plain.startswith("⚠️") and "emergency" in plain.split("\n")[0]
    assert plain.rstrip().endswith("not medical advice. Please ask your doctor or pharmacist about your own situation.")
    with httpx.stream("POST", f"{grounded.url}/v1/chat/completions", headers=grounded.headers, timeout=300, json={
            "messages": [{"role": "user", "content": question}], "max_tokens": 8, "stream": True,
            "visiondesk": {"domain": "medical"}}) as resp:
        chunks = [json.loads(line[5:]) for line in resp.iter_lines()
                  if line.startswith("data:") and line.strip() != "data: [DONE]"]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert streamed == plain


def test_medical_question_without_knowledge_is_not_improvised(grounded):
    answer = chat(grounded, "What is the best strategy for a chess endgame with rooks?", domain="medical").json()
    text = answer["choices"][0]["message"]["content"]
    assert text.startswith("I could not find this in the clinic's knowledge base")
    assert answer["usage"]["completion_tokens"] == 0, "the model must not be asked"
    assert answer["visiondesk"]["citations"] == []


def test_medical_treatment_requests_get_the_profiles_fixed_reply(grounded):
    from knowledge.profiles import load_profiles
    from knowledge.settings import KnowledgeSettings

    safety = load_profiles(KnowledgeSettings().profiles_dir)["medical"].safety
    for question, reply, disclaimer in [
            ("Would it be okay to double my metformin while I'm on holiday?", safety.treatment_reply_en,
             safety.disclaimer_en),
            ("我最近老是心慌，是不是心脏病？", safety.treatment_reply_zh, safety.disclaimer_zh)]:
        answer = chat(grounded, question, domain="medical").json()
        assert answer["choices"][0]["message"]["content"] == f"{reply}\n\n{disclaimer}"
        assert answer["usage"]["completion_tokens"] == 0, "the model must not be asked"
        assert answer["visiondesk"]["citations"] == []
    # a question about a medicine, not a decision about taking it, is answered from the knowledge base
    answer = chat(grounded, "What is metformin used for?", domain="medical").json()
    assert answer["usage"]["completion_tokens"] > 0 and answer["visiondesk"]["citations"]


def test_unknown_domain_is_a_clear_400(grounded):
    resp = chat(grounded, "hello", domain="astrology")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "unknown_domain" and "ecommerce" in error["message"]


def upload(server, domain: str, files: dict[str, bytes], **form) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/knowledge/{domain}/files", headers=server.admin_headers, timeout=300,
                      files=[("files", (name, data)) for name, data in files.items()],
                      data={k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()})


POLICY = (b"# Gift wrapping\n\nGift wrapping costs 4.50 and is available for every order shipped within "
          b"mainland China. Choose it at checkout; the wrapped parcel carries no price tag.\n")


def test_upload_previews_then_commits_then_chat_cites_it(grounded):
    preview = upload(grounded, "ecommerce", {"gift-wrap.md": POLICY}, dry_run=True)
    assert preview.status_code == 200, preview.text
    [item] = preview.json()["preview"]
    assert item["file"] == "gift-wrap.md" and item["chunks"] and "4.50" in item["chunks"][0]["text"]
    assert all(d["source"] != "gift-wrap.md" for d in httpx.get(
        f"{grounded.url}/v1/knowledge/ecommerce/documents", headers=grounded.admin_headers, timeout=60).json())

    stored = upload(grounded, "ecommerce", {"gift-wrap.md": POLICY}, tags="policy")
    assert stored.json()["added"] == ["gift-wrap.md"], stored.text
    again = upload(grounded, "ecommerce", {"gift-wrap.md": POLICY}, tags="policy")
    assert again.json()["unchanged"] == ["gift-wrap.md"]  # idempotent

    docs = httpx.get(f"{grounded.url}/v1/knowledge/ecommerce/documents", headers=grounded.admin_headers,
                     timeout=60).json()
    assert any(d["source"] == "gift-wrap.md" and d["updated_by"] == "admin" for d in docs)
    hits = httpx.post(f"{grounded.url}/v1/knowledge/search", headers=grounded.admin_headers, timeout=60,
                      json={"domain": "ecommerce", "query": "How much is gift wrapping?"}).json()
    assert hits and hits[0]["source"] == "gift-wrap.md"
    answer = chat(grounded, "How much is gift wrapping?", domain="ecommerce").json()
    assert answer["visiondesk"]["citations"][0]["source"] == "gift-wrap.md"


def test_upload_refuses_bad_files_and_paths_and_agents(grounded):
    bad = upload(grounded, "ecommerce", {"notes.exe": b"MZ\x90\x00", "../../escape.md": POLICY}, dry_run=True)
    previews = {p["file"]: p for p in bad.json()["preview"]}
    assert previews["notes.exe"]["error"] and "escape.md" in previews  # traversal stripped to the bare name
    resp = httpx.post(f"{grounded.url}/v1/knowledge/ecommerce/files", headers=grounded.headers, timeout=60,
                      files=[("files", ("a.md", POLICY))])
    assert resp.status_code == 403
    missing = upload(grounded, "astrology", {"a.md": POLICY})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_domain"


def test_medical_answers_report_names_the_glossary_and_sources_do_not_back(grounded):
    from knowledge.glossary import load_glossary
    from knowledge.settings import KnowledgeSettings

    glossary = load_glossary(KnowledgeSettings().glossary_path)
    answer = chat(grounded, "What is the normal range for haemoglobin?", domain="medical").json()
    text = answer["choices"][0]["message"]["content"]
    snippets = [c["snippet"] for c in answer["visiondesk"]["citations"]]
    assert answer["visiondesk"]["unverified_terms"] == glossary.unverified_names(text, snippets)
    assert glossary.unverified_names("Take zorbloxacin twice a day.", snippets) == ["zorbloxacin"]
    shop = chat(grounded, "How much does the Breeze Kettle cost?", domain="ecommerce").json()
    assert shop["visiondesk"]["unverified_terms"] == []  # only medical answers are checked
