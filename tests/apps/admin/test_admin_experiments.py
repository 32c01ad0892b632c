"""The Experiments page through AppTest against a real backend: define, start, see rates, stop, delete; reports."""

from __future__ import annotations

import json

import httpx
import pytest
from test_admin_pages import by_label, page, texts

from eval.online import analyse, write_reports

pytestmark = pytest.mark.slow


def chat_and_rate(server, conversation: str) -> dict:
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers, timeout=300, json={
        "messages": [{"role": "user", "content": "Where is my parcel?"}], "max_tokens": 2,
        "visiondesk": {"domain": "ecommerce", "conversation_id": conversation, "retrieval": False}})
    resp.raise_for_status()
    out = resp.json()
    rating = "up" if out["visiondesk"]["variant"] == "B" else "down"
    httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
               json={"request_id": out["id"], "rating": rating}).raise_for_status()
    return out


def test_define_start_measure_stop_and_delete_an_experiment(admin_backend):
    at = page(admin_backend, "pages/experiments.py")
    assert "No experiments yet" in texts(at)
    by_label(at.text_input, "Name (letters, digits, . _ -)").input("tone-test")
    by_label(at.text_area, "What is being tested, and why").input("Does a friendlier tone get more thumbs up?")
    by_label(at.selectbox, "Domain").select("ecommerce")
    by_label(at.button, "Define experiment").click().run()
    assert any("Defined tone-test" in s.value for s in at.success), texts(at)
    by_label(at.button, "Start experiment").click().run()
    assert any("tone-test is running" in s.value for s in at.success), texts(at)

    try:
        answers = [chat_and_rate(admin_backend, f"tone-{i}") for i in range(10)]
        assert {a["visiondesk"]["experiment"] for a in answers} == {"tone-test"}
        n_b = sum(a["visiondesk"]["variant"] == "B" for a in answers)
        at.run()
        frames = [d.value for d in at.dataframe]
        counts = next(f for f in frames if "up" in f.columns).set_index("variant")
        assert counts.loc["B", "up"] == n_b and counts.loc["A", "down"] == 10 - n_b
        assert any("positive rate" in i.value for i in at.info)  # the verdict
        assert len(at.get("download_button")) >= 1
    finally:
        by_label(at.button, "Stop experiment").click().run()
    assert httpx.get(f"{admin_backend.url}/v1/experiments/tone-test",
                     headers=admin_backend.admin_headers).json()["status"] == "stopped"
    by_label(at.button, "Delete experiment").click().run()
    assert any("Delete tone-test?" in w.value for w in at.warning)
    by_label(at.button, "Yes, do it").click().run()
    assert httpx.get(f"{admin_backend.url}/v1/experiments/tone-test",
                     headers=admin_backend.admin_headers).status_code == 404


def test_a_refused_experiment_shows_the_backends_reason(admin_backend):
    at = page(admin_backend, "pages/experiments.py")
    by_label(at.text_input, "Name (letters, digits, . _ -)").input("has spaces")
    by_label(at.button, "Define experiment").click().run()
    assert any("pattern" in e.value and "HTTP 400" in e.value for e in at.error), texts(at)


def test_offline_reports_are_listed_and_shown(admin_backend, tmp_path):
    from backend.experiments import ExperimentResults

    results = ExperimentResults.model_validate({
        "experiment": {"id": "demo", "variants": [{"name": "A"}, {"name": "B"}], "status": "stopped",
                       "created_at": "2026-11-22T00:00:00Z"},
        "variants": [{"variant": v, "answers": 40, "conversations": 40, "rated": 30, "up": up, "down": 30 - up,
                      "flagged": 1} for v, up in (("A", 15), ("B", 25))]})
    empty = tmp_path / "empty"
    empty.mkdir()
    at = page(admin_backend, "pages/experiments.py")
    at.session_state["reports_dir"] = str(empty)
    at.run()
    assert "No reports in" in texts(at)
    write_reports(analyse(results), tmp_path / "demo-report")
    at.session_state["reports_dir"] = str(tmp_path)
    at.run()
    assert by_label(at.selectbox, "Report").value == "demo-report"
    assert json.loads((tmp_path / "demo-report" / "summary.json").read_text())["verdicts"]
    assert not at.exception, at.exception
    assert "variants: A, B" in texts(at)
    assert any(getattr(b, "label", "") == "Download report.html" for b in at.get("download_button"))
