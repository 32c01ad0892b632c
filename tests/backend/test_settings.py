"""Settings: YAML + environment, precedence, errors that name the field, masked secrets, documented fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import BaseModel

from backend.settings import Settings, SettingsError, load_settings
from support import ROOT


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("VISIONDESK_"):
            monkeypatch.delenv(name)


def write(tmp_path, text: str):
    path = tmp_path / "visiondesk.yaml"
    path.write_text(text)
    return path


def test_yaml_then_environment_wins(tmp_path, monkeypatch):
    path = write(tmp_path, "model:\n  max_batch_size: 4\n  dtype: bfloat16\nserver:\n  port: 9100\n")
    monkeypatch.setenv("VISIONDESK_MODEL__MAX_BATCH_SIZE", "12")
    settings = load_settings(path)
    assert settings.model.max_batch_size == 12
    assert settings.model.dtype == "bfloat16"
    assert settings.server.port == 9100
    assert settings.limits.max_images_per_request == Settings().limits.max_images_per_request


def test_env_file_variable_names_the_yaml(tmp_path, monkeypatch):
    path = write(tmp_path, "data_dir: /srv/vd\n")
    monkeypatch.setenv("VISIONDESK_CONFIG_FILE", str(path))
    assert str(load_settings().data_dir) == "/srv/vd"


@pytest.mark.parametrize(
    "yaml_text, field",
    [
        ("model:\n  max_batchsize: 4\n", "model.max_batchsize: unknown setting"),
        ("colour: blue\n", "colour: unknown setting"),
        ("model:\n  max_batch_size: many\n", "model.max_batch_size"),
        ("server:\n  port: 70000\n", "server.port"),
        ("model:\n  engine: tensorrt\n", "model.engine"),
    ],
)
def test_bad_yaml_fails_naming_the_field(tmp_path, yaml_text, field):
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings(write(tmp_path, yaml_text))


def test_unknown_or_mistyped_environment_variable_fails(monkeypatch):
    monkeypatch.setenv("VISIONDESK_MODEL__BATCH", "4")
    with pytest.raises(SettingsError, match="VISIONDESK_MODEL__BATCH: unknown setting"):
        load_settings()
    monkeypatch.delenv("VISIONDESK_MODEL__BATCH")
    monkeypatch.setenv("VISIONDESK_LIMITS__MAX_IMAGE_BYTES", "ten")
    with pytest.raises(SettingsError, match="limits.max_image_bytes"):
        load_settings()


def test_missing_or_non_mapping_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_config_command_prints_effective_settings_with_secrets_masked(tmp_path):
    path = write(tmp_path, "openai:\n  api_key: sk-very-secret\nmodel:\n  engine: openai\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VISIONDESK_")}
    env["VISIONDESK_SERVER__PORT"] = "9123"
    out = subprocess.run([sys.executable, "-m", "backend", "--config", str(path), "config"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "sk-very-secret" not in out
    data = json.loads(out)
    assert data["openai"]["api_key"] == "**********"
    assert data["model"]["engine"] == "openai"
    assert data["server"]["port"] == 9123


def test_config_command_exits_2_with_the_field_name(tmp_path):
    path = write(tmp_path, "limits:\n  max_images: 3\n")
    run = subprocess.run([sys.executable, "-m", "backend", "--config", str(path), "config"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "limits.max_images: unknown setting" in run.stderr


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _fields(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", field


def test_every_field_is_described_and_documented():
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for path, field in _fields(Settings):
        assert field.description, f"{path} has no description"
        assert f"`{path}`" in doc, f"docs/configuration.md does not document {path}"


def test_configuration_doc_reference_is_current():
    from backend.settings import markdown_reference

    doc = (ROOT / "docs" / "configuration.md").read_text()
    current = doc.split("<!-- reference:start -->\n", 1)[1].split("<!-- reference:end -->", 1)[0]
    assert current.strip() == markdown_reference().strip(), "run: python -m backend config --markdown"


def test_example_config_loads():
    settings = load_settings(ROOT / "config" / "visiondesk.example.yaml")
    assert settings.server.port == 8700


def test_database_password_is_masked(tmp_path):
    settings = load_settings(write(tmp_path, "database:\n  url: postgresql://vd:hunter22@db:5432/visiondesk\n"))
    assert "hunter22" not in json.dumps(settings.masked())
    assert settings.masked()["database"]["url"] == "postgresql://vd:***@db:5432/visiondesk"
