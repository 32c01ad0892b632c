"""The embedded demo model: a LLaVA-style model VisionDesk builds from parts that ship offline, with its own commands."""

# Knowledge blocks per prompt, in training and in serving (backend.engines.context_blocks). The bundled eval's gold
# block is in the top 3 for 43 of 48 questions and in the top 5 for 44; each further block costs the 135M model
# ~100 prompt tokens (TTFT, CPU training time) and gives it one more wrong block to copy from.
CONTEXT_BLOCKS = 3
