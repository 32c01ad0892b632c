"""docker/: the Dockerfile and compose file pass their linters and have the properties deployment relies on.

No Docker daemon here: hadolint lints the Dockerfile, check-jsonschema validates compose.yaml against the
compose-spec schema it vendors, and the rest is read from the parsed files. Each checker is also run on a
broken variant, so a check that could never fail would show.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
EXAMPLE_ENV = ROOT / "docker" / "example.env"
BIN = Path(sys.executable).parent
TARGETS = {"backend": ("backend", "8700"), "chat": ("apps.chat", "8701"), "admin": ("apps.admin", "8702")}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|API_KEY|TOKEN|PRIVATE", re.I)


# ---- Dockerfile --------------------------------------------------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def stages(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each named stage's instructions, its parents' included (a stage inherits USER, ENV, HEALTHCHECK, CMD)."""
    named: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in instructions(text):
        if word == "FROM":
            parts = rest.split()
            base, name = parts[0], parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            current = list(named.get(base, [])) + [(word, rest)]
            named[name or f"#{len(named)}"] = current
        elif current is not None:
            current.append((word, rest))
    return named


def dockerfile_problems(text: str) -> list[str]:
    problems = []
    args = {k: v for k, _, v in (r.partition("=") for w, r in instructions(text) if w == "ARG")}
    for word, rest in instructions(text):
        if word == "FROM":
            image = rest.split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), image)
            if image in stages(text):
                continue
            if not re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?", image):
                problems.append(f"base image {image!r} is not pinned to an exact version tag")
        if word in ("ENV", "ARG") and any(SECRET_NAME.search(p.split("=")[0]) for p in shlex.split(rest)):
            problems.append(f"{word} {rest!r} bakes a secret-like setting into the image")
        if word in ("COPY", "ADD") and re.search(r"(^|\s)\S*\.env\b|\.git\b|\.venv\b", rest):
            problems.append(f"{word} {rest!r} copies local environment or secrets into the image")
    built = stages(text)
    for target, (module, port) in TARGETS.items():
        if target not in built:
            problems.append(f"no `{target}` target")
            continue
        stage = built[target]
        users = [r for w, r in stage if w == "USER"]
        if not users or users[-1].split(":")[0] in ("0", "root") or not users[-1].split(":")[0].isdigit():
            problems.append(f"{target}: does not run as a numeric non-root USER")
        checks = [r for w, r in stage if w == "HEALTHCHECK"]
        if not checks or checks[-1].upper().startswith("NONE") or port not in checks[-1]:
            problems.append(f"{target}: no HEALTHCHECK on port {port}")
        cmds = [r for w, r in stage if w == "CMD"]
        if not cmds or f'"-m", "{module}"' not in cmds[-1]:
            problems.append(f"{target}: CMD does not run `python -m {module}`")
        if not any(w == "EXPOSE" and port in r for w, r in stage):
            problems.append(f"{target}: does not EXPOSE {port}")
    return problems


def test_dockerfile_passes_hadolint():
    result = subprocess.run([str(BIN / "hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    result = subprocess.run([str(BIN / "hadolint"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` tag


def test_dockerfile_has_pinned_bases_non_root_users_health_checks_and_no_secrets():
    assert dockerfile_problems(DOCKERFILE.read_text()) == []


def test_dockerfile_checks_fail_on_a_bad_variant():
    text = DOCKERFILE.read_text()
    bad = (text.replace("python:3.11", "python:3", 1).replace("USER 10001:10001", "USER root", 1)
           + "\nENV VISIONDESK_AUTH__ADMIN_PASSWORD=hunter2\nCOPY docker/.env /app/.env\n")
    bad = re.sub(r"HEALTHCHECK[^\n]*\\\n[^\n]*8701[^\n]*\n", "", bad)
    problems = "\n".join(dockerfile_problems(bad))
    assert "not pinned" in problems and "backend: does not run as a numeric non-root USER" in problems
    assert "bakes a secret" in problems and "copies local environment" in problems
    assert "chat: no HEALTHCHECK" in problems


def test_dockerfile_copies_only_what_exists_and_dockerignore_keeps_local_state_out():
    copied = [r.split()[:-1] for w, r in instructions(DOCKERFILE.read_text()) if w == "COPY" and "--from" not in r]
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", ".venv-vllm", "var", "**/.env", "*.db"} <= ignored
    assert not {s for sources in copied for s in sources} & ignored, "a COPY source is excluded from the context"


# ---- compose.yaml ------------------------------------------------------------------------------------------------

def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(env) if isinstance(env, dict) else dict(item.split("=", 1) for item in env)


def compose_problems(compose: dict) -> list[str]:
    problems = []
    services = compose.get("services", {})
    for name, service in services.items():
        if not (service.get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: no health check")
        image = service.get("image", "")
        if not re.fullmatch(r"[\w./${}:-]+:(v?\d+\.\d+(\.\d+)?[\w.-]*|\$\{VD_TAG:-\d+\.\d+\.\d+\})", image.split()[0]):
            problems.append(f"{name}: image {image!r} is not pinned to an exact version")
        for key, value in env_of(service).items():
            if SECRET_NAME.search(key) and value and not str(value).startswith("${"):
                problems.append(f"{name}: {key} is written into the compose file; take it from docker/.env")

    vllm = services.get("vllm", {})
    if not str(vllm.get("image", "")).startswith("vllm/vllm-openai:"):
        problems.append("vllm: not the official vllm/vllm-openai image")
    devices = (((vllm.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []
    if not any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices):
        problems.append("vllm: no GPU reservation")
    command = vllm.get("command", "")
    command = " ".join(command) if isinstance(command, list) else command
    if "--enable-lora" not in command:
        problems.append("vllm: LoRA is not enabled")
    if not any(re.search(r":/models(:ro)?$", str(v)) for v in vllm.get("volumes", [])):
        problems.append("vllm: no model volume at /models")

    chroma = services.get("chroma", {})
    if not str(chroma.get("image", "")).startswith("chromadb/chroma:") or chroma.get("profiles"):
        problems.append("chroma: no Chroma server running in every profile")
    for name in ("backend", "backend-cpu"):
        if env_of(services.get(name, {})).get("VISIONDESK_KNOWLEDGE__CHROMA_URL") != "http://chroma:8000":
            problems.append(f"{name}: does not use the Chroma server")
    if services.get("backend", {}).get("profiles") != ["gpu"] or \
            env_of(services.get("backend", {})).get("VISIONDESK_MODEL__ENGINE") != "openai":
        problems.append("backend: not the gpu profile's vLLM-backed backend")
    if "vllm" not in (services.get("backend", {}).get("depends_on") or {}):
        problems.append("backend: does not wait for vllm")
    cpu = services.get("backend-cpu", {})
    if cpu.get("profiles") != ["cpu"] or env_of(cpu).get("VISIONDESK_MODEL__ENGINE") != "transformers":
        problems.append("backend-cpu: no cpu profile with the in-process transformers engine")
    if "vllm" in (cpu.get("depends_on") or {}):
        problems.append("backend-cpu: must not need vllm")
    if "backend" not in (((cpu.get("networks") or {}).get("default") or {}).get("aliases") or []):
        problems.append("backend-cpu: not reachable as `backend`, so the apps would need another URL")
    for name, target in (("backend", "backend"), ("backend-cpu", "backend"), ("chat", "chat"), ("admin", "admin")):
        if (services.get(name, {}).get("build") or {}).get("target") != target:
            problems.append(f"{name}: not built from the Dockerfile's `{target}` target")
    for name in ("chat", "admin"):
        if env_of(services.get(name, {})).get("VISIONDESK_APPS__BACKEND_URL") != "http://backend:8700":
            problems.append(f"{name}: does not call the backend service")
    postgres = services.get("postgres", {})
    if postgres.get("profiles") != ["postgres"] or not str(postgres.get("image", "")).startswith("postgres:"):
        problems.append("postgres: not an optional service in the `postgres` profile")
    return problems


def test_compose_file_validates_against_the_compose_spec():
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_catches_a_bad_file(tmp_path):
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  web:\n    image: nginx:1.27.0\n    healthcheck: yes-please\n    restart: sometimes\n")
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "healthcheck" in result.stdout + result.stderr


def test_compose_has_gpu_vllm_chroma_apps_optional_postgres_and_a_cpu_profile():
    assert compose_problems(load_compose()) == []


def test_compose_checks_fail_on_a_bad_variant():
    compose = load_compose()
    services = compose["services"]
    del services["chat"]["healthcheck"]
    services["vllm"]["image"] = "vllm/vllm-openai:latest"
    services["vllm"]["command"] = services["vllm"]["command"].replace("--enable-lora", "")
    del services["vllm"]["deploy"]
    services["backend-cpu"]["environment"]["VISIONDESK_MODEL__ENGINE"] = "openai"
    services["admin"]["environment"]["VISIONDESK_AUTH__ADMIN_PASSWORD"] = "hunter2"
    problems = "\n".join(compose_problems(compose))
    for expected in ("chat: no health check", "vllm: image 'vllm/vllm-openai:latest' is not pinned",
                     "vllm: LoRA is not enabled", "vllm: no GPU reservation", "backend-cpu: no cpu profile",
                     "admin: VISIONDESK_AUTH__ADMIN_PASSWORD is written into the compose file"):
        assert expected in problems, problems


def test_images_match_the_versions_the_project_tests_against():
    services = load_compose()["services"]
    constraints = (ROOT / "constraints.txt").read_text() + (ROOT / "constraints-vllm.txt").read_text()
    chroma = re.search(r"^chromadb==(\S+)", constraints, re.M).group(1)
    vllm = re.search(r"^vllm(?:-cpu)?==(\S+)", constraints, re.M).group(1)
    assert services["chroma"]["image"] == f"chromadb/chroma:{chroma}"  # server and client speak one API
    assert services["vllm"]["image"] == f"vllm/vllm-openai:v{vllm}"


# ---- settings names ----------------------------------------------------------------------------------------------

def env_file_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line and not line.startswith("#") and "=" in line)


def test_every_visiondesk_variable_is_a_real_setting_and_the_example_holds_no_secret():
    from backend.settings import _unknown_env_names

    example = env_file_lines(EXAMPLE_ENV)
    named = set(example)
    for service in load_compose()["services"].values():
        named |= set(env_of(service))
    named |= set(re.findall(r"VISIONDESK_[A-Z_]+", DOCKERFILE.read_text()))
    # the containers read docker/.env whole: a compose-only name with the settings prefix would stop the backend
    assert _unknown_env_names({n: "" for n in named if n.startswith("VISIONDESK_")}) == []
    assert [k for k, v in example.items() if SECRET_NAME.search(k) and v] == []
    assert {"VISIONDESK_AUTH__ADMIN_PASSWORD", "VLLM_API_KEY", "POSTGRES_PASSWORD"} <= named


def test_example_env_covers_every_variable_the_compose_file_reads():
    read = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    missing = read - set(env_file_lines(EXAMPLE_ENV))
    assert not missing, f"compose.yaml reads {sorted(missing)} which docker/example.env does not show"


@pytest.mark.parametrize("module", ["backend", "apps.chat", "apps.admin"])
def test_image_commands_answer_help(module):
    """The modules the images run exist and start (their --help), so a renamed entry point fails here."""
    result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr
