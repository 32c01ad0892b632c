"""finetune.cpu_loss: TRL's fused loss scores only labelled tokens on CPU, with the same loss and gradients."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from trl.trainer import utils as trl_utils
from trl.trainer.utils import add_fused_lm_head

from finetune.cpu_loss import score_only_labelled_tokens


def _loss_and_grad(model, ids, labels):
    model.zero_grad()
    out = model(input_ids=ids, labels=labels, fused_lm_head=True)
    out.loss.backward()
    return out.loss.detach(), model.lm_head.weight.grad.clone(), out.log_probs.detach()


@pytest.fixture
def restore_trl():
    # in-process training tests that ran before have patched TRL already: start from the stock function
    current = trl_utils._use_triton
    trl_utils._use_triton = getattr(current, "stock", current)
    yield
    trl_utils._use_triton = current


def test_compact_path_gives_the_same_loss_and_gradients(restore_trl):
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids = torch.randint(0, 512, (3, 40))
    labels = ids.clone()
    labels[:, :30] = -100  # a long prompt, a short answer: what completion-only loss trains
    labels[2, :] = -100  # and a row with nothing to learn

    assert not trl_utils._use_triton(torch.device("cpu"))  # stock TRL scores every position on CPU
    full = _loss_and_grad(model, ids, labels)
    assert score_only_labelled_tokens()
    assert trl_utils._use_triton(torch.device("cpu"))
    compact = _loss_and_grad(model, ids, labels)

    torch.testing.assert_close(compact[0], full[0])
    torch.testing.assert_close(compact[1], full[1])
    torch.testing.assert_close(compact[2], full[2])  # per-token log-probs: zero wherever there is no label
    # log-probs are of the next token: position 29 predicts the first labelled one
    assert compact[2][:, :29].abs().sum() == 0 and compact[2][2].abs().sum() == 0
    assert (compact[2][:2, 29:] != 0).all()


def test_patching_twice_wraps_once(restore_trl):
    assert score_only_labelled_tokens() and score_only_labelled_tokens()
    patched = trl_utils._use_triton
    assert patched._visiondesk_compact
    score_only_labelled_tokens()
    assert trl_utils._use_triton is patched
