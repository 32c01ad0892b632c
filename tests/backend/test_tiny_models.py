"""Tiny random checkpoints: they reload, generate, keep their weights and templates, and rebuild deterministically."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import importlib.util  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors import safe_open  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor, AutoTokenizer  # noqa: E402

from backend.models import tiny  # noqa: E402

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None
VISION_INPUTS = ("pixel_values", "image_sizes", "image_grid_thw")


def photo(width: int = 48, height: int = 40) -> Image.Image:
    pixels = (np.arange(width * height * 3).reshape(height, width, 3) % 251).astype("uint8")
    return Image.fromarray(pixels)


def chat(image_part: dict | None = None) -> list[dict]:
    return [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": [image_part or {"type": "image"}, {"type": "text", "text": "这是什么？What is it?"}]},
    ]


def image_token_id(model) -> int:
    config = model.config
    return config.image_token_id if getattr(config, "image_token_id", None) is not None else config.image_token_index


def consumed_image_tokens(model, inputs) -> int:
    vision = {key: value for key, value in inputs.items() if key in VISION_INPUTS}
    with torch.no_grad():
        features = model.get_image_features(**vision).pooler_output
    features = [features] if torch.is_tensor(features) else features
    hidden = model.config.get_text_config().hidden_size
    return sum(f.numel() // hidden for f in features)


def tensors(path) -> dict:
    with safe_open(str(path / "model.safetensors"), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()}


@pytest.fixture(scope="module", params=tiny.FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="module")
def built(family, tmp_path_factory):
    """Build once per family, keeping the in-memory model to compare against what was saved."""
    model, processor = tiny.create_tiny_model(family, seed=0)
    path = tiny.save_tiny_model(model, processor, tmp_path_factory.mktemp(family), seed=0)
    text = processor.apply_chat_template(chat(), add_generation_prompt=True)
    inputs = processor(text=[text], images=[photo()], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    return {"family": family, "path": path, "inputs": inputs, "logits": logits}


@pytest.fixture(scope="module")
def reloaded(built):
    model, info = AutoModelForImageTextToText.from_pretrained(built["path"], output_loading_info=True)
    return {"model": model.eval(), "info": info, "processor": tiny.load_processor(built["path"])}


def test_every_weight_reloads(reloaded):
    info = reloaded["info"]
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert not info["error_msgs"]


def test_reloaded_logits_equal_pre_save(built, reloaded):
    with torch.no_grad():
        logits = reloaded["model"](**built["inputs"]).logits
    assert torch.equal(logits, built["logits"])


def test_chat_with_image_generates(built, reloaded):
    processor, model = reloaded["processor"], reloaded["model"]
    text = processor.apply_chat_template(chat(), add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert text.count(tiny.image_placeholder(built["family"])) == 1
    inputs = processor(text=[text], images=[photo()], return_tensors="pt")
    placeholders = int((inputs["input_ids"] == image_token_id(model)).sum())
    assert placeholders == consumed_image_tokens(model, inputs) > 0
    output = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    prompt_length = inputs["input_ids"].shape[1]
    assert output.shape[0] == 1 and prompt_length < output.shape[1] <= prompt_length + 5


@pytest.mark.parametrize("size", [(20, 20), (200, 90), (64, 64)])
def test_placeholder_count_matches_model_for_other_sizes(built, reloaded, size):
    processor, model = reloaded["processor"], reloaded["model"]
    text = "look: " + tiny.image_placeholder(built["family"])
    inputs = processor(text=[text], images=[photo(*size)], return_tensors="pt")
    assert int((inputs["input_ids"] == image_token_id(model)).sum()) == consumed_image_tokens(model, inputs)


@pytest.mark.parametrize(
    "messages",
    [
        chat(),
        chat({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}),
        [{"role": "user", "content": "plain string content"}, {"role": "assistant", "content": "好的。"}],
        [
            {"role": "user", "content": [{"type": "text", "text": "two"}, {"type": "image"}, {"type": "image"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "two images"}]},
            {"role": "user", "content": "and now?"},
        ],
    ],
)
def test_tokenizer_and_processor_render_identically(built, reloaded, messages):
    tokenizer = AutoTokenizer.from_pretrained(built["path"])
    for add_generation_prompt in (False, True):
        expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        assert reloaded["processor"].apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        ) == expected
    images = sum(1 for m in messages if isinstance(m["content"], list) for p in m["content"] if "image" in p["type"])
    assert expected.count(tiny.image_placeholder(built["family"])) == images


def test_assistant_mask_covers_reply_and_stop_token(built):
    # TRL's assistant-only loss relies on {% generation %}; the stop token must be inside it.
    tokenizer = AutoTokenizer.from_pretrained(built["path"])
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "您好，有什么可以帮您？"},
        {"role": "user", "content": "bye"},
    ]
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    masked = [token for token, keep in zip(out["input_ids"], out["assistant_masks"]) if keep]
    assert tokenizer.decode(masked) == "您好，有什么可以帮您？<|im_end|>"


def test_processor_reload(built):
    processor = tiny.load_processor(built["path"])
    assert type(processor.image_processor).__name__.endswith("Pil")
    if built["family"] != "qwen2_vl" or HAS_TORCHVISION:
        assert type(AutoProcessor.from_pretrained(built["path"])) is type(processor)
    else:
        # transformers 5.23 insists on Qwen2-VL's torchvision-only video processor.
        with pytest.raises(ImportError, match="[Tt]orchvision"):
            AutoProcessor.from_pretrained(built["path"])


def test_processor_survives_pickle_and_resave(built, tmp_path):
    processor = pickle.loads(pickle.dumps(tiny.load_processor(built["path"])))
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved == json.loads((built["path"] / "processor_config.json").read_text())


def test_generation_config(built):
    config = json.loads((built["path"] / "generation_config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(built["path"])
    assert config["eos_token_id"] == tokenizer.convert_tokens_to_ids("<|im_end|>") == tokenizer.eos_token_id
    assert config["pad_token_id"] == tokenizer.pad_token_id == tokenizer.convert_tokens_to_ids("<pad>")
    assert config["do_sample"] is False


def test_saved_key_layout(built):
    keys = set(tensors(built["path"]))
    if built["family"] == "qwen2_vl":
        assert {k.split(".")[0] for k in keys} == {"model", "visual", "lm_head"}
        return
    vision = {k for k in keys if k.startswith("vision_tower.")}
    assert vision and all(k.startswith("vision_tower.vision_model.") for k in vision)
    assert any(k.startswith("language_model.model.") for k in keys)
    assert "language_model.lm_head.weight" in keys
    assert any(k.startswith("multi_modal_projector.") for k in keys)


@pytest.mark.parametrize(
    "text",
    [
        "您好！请问退款35.90元什么时候到账？",
        "截图显示：支付失败 (code 402)，请稍后再试。",
        "Mixed 中文 and English, tabs\tand\nnewlines, emoji 😀, accents ñé.",
        "  leading and trailing spaces  ",
    ],
)
def test_tokenizer_round_trips(built, text):
    tokenizer = AutoTokenizer.from_pretrained(built["path"])
    assert tokenizer.decode(tokenizer.encode(text, add_special_tokens=False)) == text


def test_tokenizer_is_small_with_special_tokens(built):
    tokenizer = AutoTokenizer.from_pretrained(built["path"])
    assert 1000 <= len(tokenizer) <= 2000
    for token in tiny.special_tokens(built["family"]):
        assert tokenizer.encode(token, add_special_tokens=False) == [tokenizer.convert_tokens_to_ids(token)]


def test_build_is_deterministic(family, tmp_path):
    first = tensors(tiny.build_tiny_model(family, tmp_path / "a", seed=0))
    second = tensors(tiny.build_tiny_model(family, tmp_path / "b", seed=0))
    other = tensors(tiny.build_tiny_model(family, tmp_path / "c", seed=1))
    assert first.keys() == second.keys() == other.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_ensure_builds_once_and_rebuilds_unfinished(tmp_path):
    path = tiny.ensure_tiny_model("llava", tmp_path)
    weights = path / "model.safetensors"
    first_mtime = weights.stat().st_mtime_ns
    assert tiny.ensure_tiny_model("llava", tmp_path) == path
    assert weights.stat().st_mtime_ns == first_mtime

    # A build killed before the marker looks unfinished and is rebuilt from scratch.
    (path / tiny.COMPLETE_MARKER).unlink()
    weights.write_bytes(b"truncated")
    tiny.ensure_tiny_model("llava", tmp_path)
    assert (path / tiny.COMPLETE_MARKER).exists()
    assert tensors(path).keys()
    assert not list(tmp_path.glob(".*building*"))


def test_unknown_family_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown family"):
        tiny.build_tiny_model("gpt2", tmp_path)


def test_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tiny.main(["--help"])
    assert exit_info.value.code == 0
    assert "--family llava --out" in capsys.readouterr().out
    assert tiny.main(["--family", "llava_next", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / tiny.COMPLETE_MARKER).exists()
