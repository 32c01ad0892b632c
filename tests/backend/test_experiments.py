"""Online experiments: sticky weighted assignment, the admin lifecycle, variants applied to chat and counted,
and `python -m eval.online` reading the counts from a running backend or straight from its database."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import httpx
import pytest
from pydantic import ValidationError

from backend.experiments import ExperimentSpec, VariantSpec, assign, bucket
from support import ROOT, start_backend, stop_backend

# -- assignment (pure) -----------------------------------------------------------------------------


def test_assignment_is_sticky_and_follows_the_weights():
    variants = [VariantSpec(name="A", weight=3), VariantSpec(name="B", weight=1)]
    picks = [assign("exp", f"conv-{i}", variants).name for i in range(4000)]
    assert picks == [assign("exp", f"conv-{i}", variants).name for i in range(4000)]  # same conversation, same arm
    share = Counter(picks)["A"] / len(picks)
    assert 0.72 < share < 0.78  # 3:1 split; sha256 buckets are uniform
    # another experiment reshuffles the same conversations independently
    other = [assign("exp-2", f"conv-{i}", variants).name for i in range(4000)]
    assert sum(a != b for a, b in zip(picks, other, strict=True)) > 1000
    assert all(0 <= bucket("exp", f"c{i}") < 1 for i in range(100))


def test_specs_reject_what_cannot_run():
    with pytest.raises(ValidationError, match="at least 2"):
        ExperimentSpec(id="solo", variants=[VariantSpec(name="A")])
    with pytest.raises(ValidationError, match="unique"):
        ExperimentSpec(id="twins", variants=[VariantSpec(name="A"), VariantSpec(name="A")])
    with pytest.raises(ValidationError, match="greater than 0"):
        VariantSpec(name="A", weight=0)
    with pytest.raises(ValidationError, match="pattern"):
        ExperimentSpec(id="no spaces please", variants=[VariantSpec(name="A"), VariantSpec(name="B")])


# -- against a real backend ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_llava):
    from backend.models.tiny import build_tiny_lora

    tmp = tmp_path_factory.mktemp("experiments")
    adapter = build_tiny_lora(tiny_llava, tmp / "shop")
    running = start_backend(tmp, {"VISIONDESK_MODEL__PATH": str(tiny_llava), "VISIONDESK_MODEL__NAME": "tiny-llava",
                                  "VISIONDESK_MODEL__ADAPTERS": json.dumps({"shop": str(adapter)})})
    yield running
    stop_backend(running)


def admin(server, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers=server.admin_headers, timeout=60, **kwargs)


def chat(server, conversation_id: str, text: str = "Where is my order?", **visiondesk) -> dict:
    resp = httpx.post(f"{server.url}/v1/chat/completions", headers=server.headers, timeout=120,
                      json={"messages": [{"role": "user", "content": text}], "max_tokens": 3, "temperature": 0,
                            "visiondesk": {"conversation_id": conversation_id, **visiondesk}})
    assert resp.status_code == 200, resp.text
    return resp.json()


SPEC = {"id": "prompt-and-lora", "description": "Does the shop adapter with a terse prompt do better?",
        "variants": [{"name": "A"},
                     {"name": "B", "model": "shop", "system_prompt": "Answer in one short sentence, politely."}]}


def test_lifecycle_and_its_refusals(server):
    assert admin(server, "POST", "/v1/experiments", json=SPEC).status_code == 201
    again = admin(server, "POST", "/v1/experiments", json=SPEC)
    assert again.status_code == 409 and "already exists" in again.json()["error"]["message"]
    bad = admin(server, "POST", "/v1/experiments", json={**SPEC, "id": "x", "variants": [{"name": "A"}]})
    assert bad.status_code == 400 and "variants" in bad.json()["error"]["message"]

    ghost = {**SPEC, "id": "ghost-model", "variants": [{"name": "A"}, {"name": "B", "model": "no-such-lora"}]}
    assert admin(server, "POST", "/v1/experiments", json=ghost).status_code == 201
    refused = admin(server, "POST", "/v1/experiments/ghost-model/start")
    assert refused.status_code == 400 and "no-such-lora" in refused.json()["error"]["message"]
    assert admin(server, "DELETE", "/v1/experiments/ghost-model").status_code == 204
    assert admin(server, "GET", "/v1/experiments/ghost-model").status_code == 404

    assert admin(server, "POST", "/v1/experiments/prompt-and-lora/start").json()["status"] == "running"
    overlapping = {**SPEC, "id": "overlap", "domain": "ecommerce"}
    assert admin(server, "POST", "/v1/experiments", json=overlapping).status_code == 201
    clash = admin(server, "POST", "/v1/experiments/overlap/start")
    assert clash.status_code == 409 and "prompt-and-lora" in clash.json()["error"]["message"]
    busy = admin(server, "DELETE", "/v1/experiments/prompt-and-lora")
    assert busy.status_code == 409 and "stop it" in busy.json()["error"]["message"]
    frozen = admin(server, "PUT", "/v1/experiments/prompt-and-lora", json={**SPEC, "description": "changed"})
    assert frozen.status_code == 409
    listed = [e["id"] for e in admin(server, "GET", "/v1/experiments").json()]
    assert {"prompt-and-lora", "overlap"} <= set(listed)
    assert httpx.get(f"{server.url}/v1/experiments", headers=server.headers).status_code == 403  # agents


def test_running_experiment_assigns_applies_and_counts_variants(server, tmp_path):
    if admin(server, "GET", "/v1/experiments/prompt-and-lora").json()["status"] != "running":
        pytest.fail("the lifecycle test must leave the experiment running")
    seen: dict[str, str] = {}
    answers = []
    for i in range(16):
        out = chat(server, f"exp-conv-{i}")
        vd = out["visiondesk"]
        assert vd["experiment"] == "prompt-and-lora"
        seen[f"exp-conv-{i}"] = vd["variant"]
        answers.append(out)
        # the variant's model answered: B runs the shop adapter
        assert out["model"] == ("shop" if vd["variant"] == "B" else "tiny-llava")
    assert set(seen.values()) == {"A", "B"}
    # Sticky: the next turn of a conversation keeps its variant.
    for conv in list(seen)[:4]:
        assert chat(server, conv, "And the refund?")["visiondesk"]["variant"] == seen[conv]
    # B's system prompt reached the model: the same question costs more prompt tokens.
    tokens = {out["visiondesk"]["variant"]: out["usage"]["prompt_tokens"] for out in answers}
    assert tokens["B"] > tokens["A"]
    # A client that pins a variant (offline evaluation) is left alone.
    pinned = chat(server, "pinned-conv", variant="offline-X")["visiondesk"]
    assert pinned["variant"] == "offline-X" and pinned["experiment"] is None

    # Feedback: every B answer up, every A answer down.
    for out in answers:
        rating = "up" if out["visiondesk"]["variant"] == "B" else "down"
        httpx.post(f"{server.url}/v1/feedback", headers=server.headers, timeout=30,
                   json={"request_id": out["id"], "rating": rating, "flagged": rating == "down"}).raise_for_status()

    def counts():
        results = admin(server, "GET", "/v1/experiments/prompt-and-lora/results").json()
        return {v["variant"]: v for v in results["variants"]}

    by_variant = counts()
    n_b = list(seen.values()).count("B")
    assert by_variant["B"]["up"] == n_b and by_variant["B"]["down"] == 0
    assert by_variant["A"]["down"] == 16 - n_b and by_variant["A"]["flagged"] == 16 - n_b
    assert by_variant["A"]["rated"] + by_variant["B"]["rated"] == 16
    assert by_variant["A"]["answers"] + by_variant["B"]["answers"] >= 20  # 16 first turns + 4 follow-ups

    # The report, from the running backend…
    out = tmp_path / "report"
    run = subprocess.run([sys.executable, "-m", "eval.online", "prompt-and-lora", "--backend-url", server.url,
                          "--api-key", server.admin_headers["Authorization"].split()[1], "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    positive = summary["comparisons"][0]["metrics"]["positive_rate"]
    assert positive["diff"] == pytest.approx(1.0) and positive["p_value"] < 0.01
    assert "real difference" in summary["verdicts"][0]
    assert "| B |" in (out / "report.md").read_text()
    assert "data:image/png;base64," in (out / "report.html").read_text()

    # …and straight from its database, once stopped.
    assert admin(server, "POST", "/v1/experiments/prompt-and-lora/stop").json()["status"] == "stopped"
    after = chat(server, "after-stop")["visiondesk"]
    assert after["experiment"] is None and after["variant"] is None
    env = {"VISIONDESK_DATA_DIR": str(server.data_dir), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    direct = subprocess.run([sys.executable, "-m", "eval.online", "prompt-and-lora", "--out", str(tmp_path / "db")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert direct.returncode == 0, direct.stderr
    assert json.loads((tmp_path / "db" / "summary.json").read_text())["variants"] == summary["variants"]


def test_report_errors_name_the_problem(server, tmp_path):
    key = server.admin_headers["Authorization"].split()[1]
    missing = subprocess.run([sys.executable, "-m", "eval.online", "no-such-experiment", "--backend-url", server.url,
                              "--api-key", key, "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert missing.returncode != 0 and "404" in missing.stderr and "no-such-experiment" in missing.stderr
    down = subprocess.run([sys.executable, "-m", "eval.online", "x", "--backend-url", "http://127.0.0.1:9",
                           "--api-key", key], cwd=ROOT, capture_output=True, text=True)
    assert down.returncode != 0 and "cannot reach the backend" in down.stderr
