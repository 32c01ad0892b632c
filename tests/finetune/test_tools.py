"""finetune.register (settings YAML the backend reads), finetune.dataset_writer, finetune.merge, CLI --help."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml
from ft_helpers import REPO, ROOT_ENV, greedy_ids
from PIL import Image

from finetune.dataset_writer import redact, write_sft_jsonl
from finetune.register import register_adapter


def test_register_adds_the_adapter_and_the_backend_settings_accept_it(tmp_path, trained_adapter, monkeypatch):
    config = tmp_path / "visiondesk.yaml"
    config.write_text(yaml.safe_dump({"model": {"path": "/models/llava", "adapters": {"old": "/a"}},
                                      "data_dir": "var/data"}))
    result = subprocess.run([sys.executable, "-m", "finetune.register", "shop", str(trained_adapter), "--config",
                             str(config)], cwd=REPO, env=ROOT_ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    saved = yaml.safe_load(config.read_text())
    assert saved["model"]["adapters"] == {"old": "/a", "shop": str(trained_adapter.resolve())}
    assert saved["data_dir"] == "var/data"
    from backend.settings import load_settings

    for key in [k for k in __import__("os").environ if k.startswith("VISIONDESK_")]:
        monkeypatch.delenv(key)
    assert load_settings(config).model.adapters["shop"] == str(trained_adapter.resolve())


def test_register_refuses_a_folder_without_an_adapter(tmp_path):
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        register_adapter("shop", tmp_path, tmp_path / "c.yaml")


def test_redact_phones_emails_and_id_numbers():
    text = ("Call 138 1234 5678 or +1 415-555-0132 or (415) 555-0199, mail li.wei@example.com, "
            "ID 110105199003071234, SSN 123-45-6789, card 4111 1111 1111 1111. Order 20240517-8812 costs $35.90.")
    out = redact(text)
    assert out == ("Call [PHONE] or [PHONE] or [PHONE], mail [EMAIL], ID [ID], SSN [ID], card [CARD]. "
                   "Order 20240517-8812 costs $35.90.")


def test_write_sft_jsonl_copies_images_dedupes_and_redacts(tmp_path, tiny_llava):
    src = tmp_path / "src.png"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(src)
    pil = Image.new("RGB", (20, 20), (9, 9, 9))
    row = lambda q, image: {"messages": [  # noqa: E731
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
        {"role": "assistant", "content": "Mail me at a@b.co"}], "images": [image]}
    rows = [row("My phone is 13812345678", src), row("My phone is 13912345678", src), row("Other", pil),
            row("Other", pil)]
    report = write_sft_jsonl(rows, tmp_path / "out")
    # Two phone numbers redact to the same text: after redaction rows 1 and 2 are duplicates too.
    assert (report.written, report.duplicates) == (2, 2)
    lines = [json.loads(x) for x in report.path.read_text().splitlines()]
    assert lines[0]["messages"][0]["content"][1]["text"] == "My phone is [PHONE]"
    assert lines[0]["messages"][1]["content"] == "Mail me at [EMAIL]"
    assert len(list((tmp_path / "out" / "images").iterdir())) == 2
    # What it writes is what finetune.sft trains on: it validates clean.
    from finetune.datasets import load_rows
    from finetune.validate import validate_rows

    from backend.models.processors import load_processor

    good, problems = validate_rows(load_rows(report.path), load_processor(tiny_llava))
    assert len(good) == 2 and not problems


def test_merged_checkpoint_equals_base_plus_adapter_in_transformers(tiny_llava, trained_adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from backend.models.processors import load_processor

    result = subprocess.run([sys.executable, "-m", "finetune.merge", str(trained_adapter), "--out",
                             str(tmp_path / "m")], cwd=REPO, env=ROOT_ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "m").eval()
    peft = PeftModel.from_pretrained(AutoModelForImageTextToText.from_pretrained(tiny_llava),
                                     str(trained_adapter)).eval()
    processor = load_processor(tmp_path / "m")
    image = Image.new("RGB", (64, 48), (220, 30, 30))
    assert greedy_ids(merged, processor, image) == greedy_ids(peft, processor, image)
    text = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}]}], tokenize=False,
                                         add_generation_prompt=True)
    batch = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, peft(**batch).logits, atol=1e-4)


@pytest.mark.parametrize("module", ["sft", "align", "merge", "register", "validate", "demo.__main__"])
def test_every_cli_has_help_with_an_example(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"finetune.{module}").main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out and f"python -m finetune.{module.removesuffix('.__main__')}" in out
    # each example starts its own line, as written (HfArgumentParser's default formatter runs them together)
    for line in out.split("example", 1)[1].splitlines():
        line = line.strip().removeprefix("s:").removeprefix(":").strip()
        assert "python -m" not in line or line.startswith(("python -m", "accelerate launch")), line
