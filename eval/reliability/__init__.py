"""Reliability drills against real processes: `python -m eval.reliability load` and `... faults`.

| module | drill |
|---|---|
| `load.py` | concurrent streaming chats: status codes, Retry-After, complete streams, latency, backend RSS |
| `model_server.py` | the model server (vLLM) killed mid-stream: clear error, backend stays up, recovers |
| `knowledge_down.py` | the Chroma server killed: /readyz, medical "knowledge unavailable", ungrounded answers |
| `ingest_kill.py` | kill -9 during `python -m knowledge.ingest`, then re-runs: nothing duplicated or lost |
| `sft_kill.py` | kill -9 during `python -m finetune.sft`, then `--resume_from_checkpoint last` |
| `feedback.py` | concurrent feedback writes under chat load: rows written = rows acknowledged |
| `faults.py` | the fault drills by name |
| `stack.py` | starting the real processes, killing them, sampling memory |

Results go to `var/reliability/` (JSON per drill, plots); docs/reliability.md quotes them.
"""
