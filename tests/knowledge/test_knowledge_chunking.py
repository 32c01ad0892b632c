from knowledge.chunking import Record, by_heading, chunk, fixed, qa_pairs


def test_fixed_chunks_overlap_and_offsets_point_into_the_source():
    text = " ".join(f"Sentence number {i} talks about kettles." for i in range(80))
    chunks = fixed(text, 200, 40)
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(c.text) <= 200
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # neighbours overlap


def test_fixed_chunking_handles_chinese_without_spaces():
    text = "我们的退货政策是签收后三十天内可以退货。" * 40
    chunks = fixed(text, 100, 20)
    assert all(text[c.start:c.end] == c.text for c in chunks)
    assert all(c.text.endswith("。") for c in chunks[:-1])


def test_heading_chunking_keeps_sections_and_their_heading():
    text = "# Returns\nWithin 30 days.\n\n# Shipping\n" + "Ships fast. " * 200
    chunks = by_heading(text, 300, 50)
    assert chunks[0].text == "# Returns\nWithin 30 days."
    assert all(c.text.startswith("# Shipping") for c in chunks[1:])
    assert len(chunks) > 3


def test_qa_and_records():
    text = "Q: Can I return it?\nA: Yes, within 30 days.\n\nQ: Do you ship abroad?\nA: No."
    assert [c.text.splitlines()[0] for c in qa_pairs(text)] == ["Q: Can I return it?", "Q: Do you ship abroad?"]
    rows = [Record("A-1", "sku: A-1; name: Kettle", 0, 22), Record("A-2", "sku: A-2; name: Fan", 23, 42)]
    assert [c.key for c in chunk("", rows, "row", 100, 10)] == ["A-1", "A-2"]
