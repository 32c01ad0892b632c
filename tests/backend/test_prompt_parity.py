"""One chat template per model: training, the in-process engine and vLLM render the same prompt token ids.

- training: TRL's DataCollatorForVisionLanguageModeling on a prompt/completion row (what `finetune.sft` uses);
- engine: TransformersEngine.render_prompt + its processor call;
- vLLM: the OpenAI payload OpenAIEngine sends, rendered the way vLLM's chat utilities do it (OpenAI parts kept
  as a list, the tokenizer's own chat template from the checkpoint, tokenized without special tokens, image
  placeholders expanded by the model's processor). test_vllm_parity.py checks the same against a live server.
"""

from __future__ import annotations

import pytest
from PIL import Image
from transformers import AutoTokenizer

from backend.engines.openai_engine import to_openai_messages
from backend.engines.transformers_engine import TransformersEngine
from backend.models.tiny import FAMILIES, ensure_tiny_model

SYSTEM = "You are a helpful customer-service assistant. Answer from the context."
QUESTION = "What is wrong with this package? 包裹怎么了？"
ANSWER = "The box is damaged [1]."


def conversation(image_first: bool = True) -> list[dict]:
    parts = [{"type": "image"}, {"type": "text", "text": QUESTION}]
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": parts if image_first else parts[::-1]},
    ]


@pytest.fixture(scope="module", params=FAMILIES)
def engine(request, models_dir):
    path = ensure_tiny_model(request.param, models_dir)
    eng = TransformersEngine(path)
    eng._load()  # rendering only: no worker thread needed
    return eng


@pytest.fixture(scope="module")
def image():
    return Image.new("RGB", (96, 72), (30, 120, 200))


def engine_ids(engine, messages, image) -> list[int]:
    from backend.engines.base import GenerationRequest

    text = engine.render_prompt(GenerationRequest(messages=messages, images=[image]))
    return engine.processor(text=[text], images=[image], return_tensors="pt")["input_ids"][0].tolist()


def training_ids(engine, messages, image) -> list[int]:
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collator = DataCollatorForVisionLanguageModeling(engine.processor, completion_only_loss=True)
    row = {
        "prompt": messages,
        "completion": [{"role": "assistant", "content": [{"type": "text", "text": ANSWER}]}],
        "images": [image],
    }
    batch = collator([row])
    prompt = (batch["attention_mask"][0] == 1) & (batch["labels"][0] == -100)
    return batch["input_ids"][0][prompt].tolist()


def vllm_ids(engine, messages, image) -> list[int]:
    payload = to_openai_messages(messages, [image])
    tokenizer = AutoTokenizer.from_pretrained(engine.model_path)
    text = tokenizer.apply_chat_template(payload, add_generation_prompt=True, tokenize=False)
    return engine.processor(text=[text], images=[image], return_tensors="pt", add_special_tokens=False)[
        "input_ids"
    ][0].tolist()


@pytest.mark.parametrize("image_first", [True, False])
def test_three_paths_render_identical_prompt_ids(engine, image, image_first):
    messages = conversation(image_first)
    served = engine_ids(engine, messages, image)
    assert served == training_ids(engine, messages, image)
    assert served == vllm_ids(engine, messages, image)
    image_token = engine.model.config.image_token_id
    assert served.count(image_token) > 1, "image placeholder was not expanded to image tokens"


def test_training_labels_cover_the_answer_and_end_of_turn_only(engine, image):
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    collator = DataCollatorForVisionLanguageModeling(engine.processor, completion_only_loss=True)
    row = {"prompt": conversation(), "completion": [{"role": "assistant", "content": [{"type": "text", "text": ANSWER}]}],
           "images": [image]}
    batch = collator([row])
    trained = batch["input_ids"][0][batch["labels"][0] != -100]
    text = engine.processor.tokenizer.decode(trained)
    assert text.startswith(ANSWER)
    assert "<|im_end|>" in text
    assert QUESTION not in text
