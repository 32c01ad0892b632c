"""LoRA instruction tuning and projector alignment with TRL and PEFT (`python -m finetune.sft`, `finetune.align`)."""
