"""`python -m eval.ab` configuration and eval-set loading: YAML + flag overrides, and a clear error for each mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from eval.ab.__main__ import main, make_parser
from eval.ab.backends import open_targets
from eval.ab.config import ConfigError, resolve
from eval.ab.evalset import EvalSetError, load_eval_set, load_eval_sets

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [str(ROOT / "eval/data/ab/ecommerce.jsonl"), str(ROOT / "eval/data/ab/medical.jsonl")]


def write_config(tmp_path: Path, **overrides) -> Path:
    data = {"eval_set": BUNDLED, "output_dir": str(tmp_path / "out"), "seed": 3,
            "variants": [{"name": "A"}, {"name": "B", "retrieval": False, "top_k": 3}],
            "judge": {"max_tokens": 4}, **overrides}
    path = tmp_path / "ab.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def parse(argv: list[str]):
    (args,) = make_parser().parse_args_and_config(argv)
    return resolve(args)


def test_yaml_config_with_flag_overrides(tmp_path):
    path = write_config(tmp_path)
    config = parse(["--config", str(path), "--seed", "11", "--max_samples", "5", "--tags", "ocr", "safety"])
    assert config.seed == 11 and config.max_samples == 5 and config.tags == ["ocr", "safety"]
    assert [v.name for v in config.variants] == ["A", "B"] and config.variants[1].top_k == 3
    assert config.baseline.name == "A" and config.judge.name == "judge" and config.judge.retrieval is False
    replaced = parse(["--config", str(path), "--variants", json.dumps([{"name": "x"}, {"name": "y", "max_tokens": 9}])])
    assert [v.name for v in replaced.variants] == ["x", "y"] and replaced.variants[1].max_tokens == 9


def test_the_bundled_config_is_valid():
    config = parse(["--config", str(ROOT / "eval/configs/ab_retrieval.yaml")])
    assert config.variants[0].retrieval and not config.variants[1].retrieval
    assert config.backend_settings["knowledge"]["enabled"] is True
    adapter = parse(["--config", str(ROOT / "eval/configs/ab_adapter.yaml")])
    assert [v.model for v in adapter.variants] == [None, "shop", "shop"] and adapter.variants[2].system_prompt


@pytest.mark.parametrize("overrides,flags,message", [
    ({"variants": [{"name": "A"}]}, [], "at least 2"),
    ({"variants": [{"name": "A"}, {"name": "A"}]}, [], "repeated: A"),
    ({"variants": [{"name": "A"}, {"name": "B", "retreival": False}]}, [], "variants.1.retreival: unknown field"),
    ({"variants": [{"name": "A"}, {"name": "has space"}]}, [], "variants.1.name"),
    ({"eval_set": ["nope.jsonl"]}, [], "eval set file(s) not found: nope.jsonl"),
    ({}, ["--variants", "[{name: A}]"], "variants: not valid JSON"),
    ({}, ["--confidence", "1.5"], "confidence"),
    ({"backend_url": "http://127.0.0.1:9", "backend_settings": {"model": {"path": "x"}}}, [], "backend_url"),
    ({"judge": {"name": "A"}}, [], "also a variant's name"),
])
def test_bad_configs_name_the_problem(tmp_path, capsys, overrides, flags, message):
    assert main(["--config", str(write_config(tmp_path, **overrides)), *flags]) == 2
    assert message in capsys.readouterr().err


def test_unknown_yaml_key_and_missing_fields(tmp_path, capsys):
    assert main(["--config", str(write_config(tmp_path, bootstrap=5))]) == 2
    assert "bootstrap" in capsys.readouterr().err
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump({"eval_set": BUNDLED, "output_dir": str(tmp_path)}))
    assert main(["--config", str(path)]) == 2
    assert "variants: required" in capsys.readouterr().err


def test_running_backend_needs_an_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("EVAL_API_KEY", raising=False)
    config = parse(["--config", str(write_config(tmp_path, backend_url="http://127.0.0.1:9"))])
    with pytest.raises(ConfigError, match="EVAL_API_KEY is empty"):
        open_targets(config)


def test_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "python -m eval.ab --config eval/configs/ab_retrieval.yaml" in out and "--backend_url" in out


# ------------------------------------------------------------------------------------------------ eval sets
def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("line,message", [
    ("{not json", ":2: not valid JSON"),
    ('["a list"]', ":2: a row must be a JSON object"),
    ('{"id": "b"}', ":2: question: Field required"),
    ('{"id": "b", "question": "q", "answer": "x"}', ":2: answer: unknown field"),
    ('{"id": "b", "question": "q", "images": ["missing.png"]}', ":2: image not found"),
    ('{"id": "b", "question": "q", "tags": ["two words"]}', ":2: tags"),
])
def test_malformed_rows_are_reported_with_file_and_line(tmp_path, line, message):
    path = write_rows(tmp_path / "set.jsonl", ['{"id": "a", "question": "fine"}', line])
    with pytest.raises(EvalSetError) as err:
        load_eval_set(path)
    assert message in str(err.value) and "set.jsonl" in str(err.value)


def test_duplicate_ids_empty_files_and_filters(tmp_path):
    one = write_rows(tmp_path / "one.jsonl", ['{"id": "a", "question": "q", "domain": "medical", "tags": ["ocr"]}'])
    two = write_rows(tmp_path / "two.jsonl", ['{"id": "a", "question": "other"}'])
    with pytest.raises(EvalSetError, match="'a' appears twice"):
        load_eval_sets([one, two])
    with pytest.raises(EvalSetError, match="has no rows"):
        load_eval_set(write_rows(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(EvalSetError, match="no eval rows are left"):
        load_eval_sets([one], domains=["ecommerce"])
    assert [r.id for r in load_eval_sets([one], tags=["lang:zh", "ocr"])] == ["a"]
    assert len(load_eval_sets([Path(p) for p in BUNDLED], max_samples=4)) == 4


def test_variants_with_equal_settings_share_one_backend(tmp_path):
    variants = [{"name": "A"}, {"name": "B", "retrieval": False},
                {"name": "small-batch", "settings": {"model": {"max_batch_size": 2}}}]
    config = parse(["--config", str(write_config(tmp_path, variants=variants,
                                                 backend_settings={"knowledge": {"enabled": False}}))])
    targets = open_targets(config)
    assert targets["A"] is targets["B"] is targets["judge"], "one model load for the same pipeline settings"
    assert targets["small-batch"] is not targets["A"]
    assert targets["small-batch"].settings.model.max_batch_size == 2
    assert targets["A"].settings.knowledge.enabled is False
    assert targets["A"].settings.data_dir.parent == tmp_path / "out" / "backends"
    assert targets["A"].settings.data_dir != targets["small-batch"].settings.data_dir, "one Chroma owner per folder"


def test_bad_backend_settings_name_the_variant(tmp_path):
    variants = [{"name": "A"}, {"name": "B", "settings": {"model": {"engine": "llama.cpp"}}}]
    config = parse(["--config", str(write_config(tmp_path, variants=variants))])
    with pytest.raises(ConfigError, match=r"variant 'B': invalid settings(.|\n)*model.engine"):
        open_targets(config)
