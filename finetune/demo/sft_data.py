"""`python -m finetune.demo.sft_data`: the demo model's SFT set, built through the backend's own prompt path.

For each generated world the seed pack is ingested into a real (temporary) knowledge store, and every draft
question goes through `KnowledgeAugmenter` exactly as a chat request would — OCR of its images, hybrid
retrieval, the domain's system prompt with numbered context blocks — so the model trains on the prompts it will
serve. Rows are `{"messages", "images"}` JSONL that `finetune.sft` reads.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

from finetune.demo.tasks import PhotoRecipe, check_product_share

EXAMPLE = """examples:
  python -m finetune.demo.sft_data --out var/demo/sft --worlds 4 --rows-per-world 150
  python -m finetune.demo.sft_data --out /tmp/sft --worlds 1 --rows-per-world 20   # a quick look
  python -m finetune.demo.sft_data --out /tmp/sft --photo-share 0.18 --photo-wordings 2 --no-photo-distractors
  python -m finetune.demo.sft_data --out /tmp/sft --product-fact-share 0.6   # more price/warranty/stock/colour
  python -m finetune.demo.sft_data --out /tmp/sft --balanced-unknown   # unknown products: half Chinese, all kinds
"""
PHOTO_SEEDS = range(0, 40)  # product photos for SFT; held-out photos use seeds from 1000 up


def build(out: Path, *, worlds: int = 4, rows_per_world: int = 150, seed: int = 0, photos: PhotoRecipe | None = None,
          product_share: float | None = None, balanced_unknown: bool = False, progress: bool = True) -> Path:
    """Write `out/train.jsonl` (+ images, world seed packs, a stats file); returns the JSONL path."""
    from tqdm import tqdm

    from backend.api.schemas import VisionDeskOptions
    from backend.chat import Conversation
    from finetune.demo import CONTEXT_BLOCKS
    from finetune.demo.tasks import drafts
    from finetune.demo.world import dump_facts, make_world
    from knowledge.augment import KnowledgeAugmenter
    from knowledge.settings import KnowledgeSettings

    images_dir = out / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rows, stats = [], Counter()
    for w in range(worlds):
        world = make_world(seed * 1000 + w)
        root = world.write(out / "worlds" / f"w{w}")
        dump_facts(world, root / "facts.jsonl")
        settings = KnowledgeSettings(data_dir=root / "store", seeds_dir=root / "seeds")
        augmenter = KnowledgeAugmenter.from_settings(settings, seed=True, max_blocks=CONTEXT_BLOCKS)
        try:
            questions = drafts(world, rows_per_world, seed, PHOTO_SEEDS, photos or PhotoRecipe(), product_share,
                               balanced_unknown)
            for i, draft in enumerate(tqdm(questions, disable=not progress,
                                           desc=f"world {w + 1}/{worlds}", unit="row", file=sys.stderr)):
                content = [{"type": "image"} for _ in draft.images] + [{"type": "text", "text": draft.question}]
                # the hint steers retrieval only: the messages the model sees hold the bare question
                query = f"{draft.question}\n{draft.retrieval_hint}" if draft.retrieval_hint else draft.question
                conversation = Conversation(messages=[{"role": "user", "content": content}], images=draft.images,
                                            question=query, options=VisionDeskOptions(domain=draft.domain))
                augmentation = augmenter.augment_blocking(conversation)
                if augmenter.frame(conversation, augmentation).canned is not None:
                    stats["skipped: canned reply, the model is not asked"] += 1
                    continue
                answer = draft.answer(augmentation.citations)
                if answer is None:
                    stats["skipped: no answer"] += 1
                    continue
                paths = []
                for k, image in enumerate(draft.images):
                    name = f"w{w}-{i}-{k}.png"
                    image.save(images_dir / name)
                    paths.append(f"images/{name}")
                messages = augmentation.messages + [
                    {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
                rows.append({"messages": messages, "images": paths, "task": draft.task, "lang": draft.lang})
                stats[draft.task] += 1
                stats["not found" if "knowledge base" in answer or "知识库" in answer else "answered"] += 1
        finally:
            augmenter.close()
    path = out / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (out / "stats.json").write_text(json.dumps(dict(sorted(stats.items())), indent=2, ensure_ascii=False))
    return path


def template_matches(questions: list[str], templates: list[str] | None = None) -> list[tuple[str, str]]:
    """(question, template) pairs where the template, slots as wildcards, matches the question.

    `templates` defaults to every training question template (the contamination check against eval questions).
    """
    from finetune.demo import tasks

    if templates is None:
        templates = [t for group in (tasks.TEMPLATES, tasks.BOX_QUESTIONS, tasks.ORDER_QUESTIONS,
                                     tasks.MEDBOX_QUESTIONS, tasks.LAB_QUESTIONS, tasks.PHOTO_QUESTIONS)
                     for ts in group.values() for t in ts]
        templates += [t for ts in tasks.REFUSE_QUESTIONS.values() for t in ts]
        templates += [t for ts in tasks.EMERGENCY_ASK.values() for t in ts]
        templates += [q for ts in tasks.FIRST_AID.values() for q, _, _ in ts]

    def pattern(template: str) -> re.Pattern:
        parts = re.split(r"\{[a-z_]+\}", template)
        return re.compile(".+".join(re.escape(_norm(p)) for p in parts) + "$")

    compiled = [(t, pattern(t)) for t in templates]
    return [(q, t) for q in questions for t, p in compiled if p.match(_norm(q))]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().strip().rstrip("?？.。!！"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m finetune.demo.sft_data", description=__doc__.splitlines()[0],
                                     epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="Output folder (train.jsonl, images/, worlds/).")
    parser.add_argument("--worlds", type=int, default=4, help="Generated shops/clinics (facts differ per world).")
    parser.add_argument("--rows-per-world", type=int, default=150, help="Questions drawn per world.")
    parser.add_argument("--seed", type=int, default=0, help="Seed for worlds and questions.")
    parser.add_argument("--photo-share", type=float, default=PhotoRecipe.share,
                        help="Share of questions about product photos.")
    parser.add_argument("--photo-wordings", type=int, default=PhotoRecipe.wordings,
                        help="Wordings per photo question kind (the first n of tasks.PHOTO_QUESTIONS; up to 6).")
    parser.add_argument("--photo-distractors", action=argparse.BooleanOptionalAction, default=PhotoRecipe.distractors,
                        help="Most photo questions retrieve a named catalogue product (blocks that contradict "
                             "the photo).")
    parser.add_argument("--product-fact-share", type=float, default=None,
                        help="Share of shop-fact questions about a product's own facts (price, warranty, stock, "
                             "colour); default: every fact kind equally often (a third).")
    parser.add_argument("--balanced-unknown", action=argparse.BooleanOptionalAction, default=False,
                        help="Questions about products the shop does not sell alternate English and Chinese and ask "
                             "price, warranty, stock and colour in turn (default: the committed draw, a random "
                             "language and a price or warranty wording).")
    args = parser.parse_args(argv)
    try:
        photos = PhotoRecipe(args.photo_share, args.photo_wordings, args.photo_distractors)
        check_product_share(args.product_fact_share)
    except ValueError as exc:
        parser.error(str(exc))
    path = build(args.out, worlds=args.worlds, rows_per_world=args.rows_per_world, seed=args.seed, photos=photos,
                 product_share=args.product_fact_share, balanced_unknown=args.balanced_unknown)
    print(json.loads((args.out / "stats.json").read_text()))
    print(f"wrote {sum(1 for _ in path.open(encoding='utf-8'))} rows to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
