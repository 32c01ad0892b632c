"""The committed seed packs: what `python -m knowledge.seeds.generate` writes, and Chinese pages written in Chinese."""

import re

from knowledge.seeds.generate import HERE as SEEDS
from knowledge.seeds.generate import MEDS, write_medical


def test_committed_medical_pack_is_what_the_generator_writes(tmp_path):
    write_medical(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written, "the generator wrote nothing"
    for rel in written:
        assert (SEEDS / "medical" / rel).read_bytes() == (tmp_path / rel).read_bytes(), \
            f"knowledge/seeds/medical/{rel} differs from the generator: run python -m knowledge.seeds.generate"


def test_chinese_medication_leaflets_have_no_english_outside_brackets():
    # a Chinese reader (and the demo model, which copies spans) must not meet "属于pain reliever类药物"
    leaflets = sorted((SEEDS / "medical" / "medications").glob("*_zh.md"))
    assert len(leaflets) == len(MEDS)
    for path in leaflets:
        body = re.sub(r"（[^）]*）", "", path.read_text(encoding="utf-8"))
        assert not re.search(r"[A-Za-z]", body), f"{path.name}: English outside （…）: {re.findall(r'.{0,8}[A-Za-z]+.{0,8}', body)}"
