"""Chunk curation in the store: keyword edits, merge and split keep records, index, versions and audit in step."""

import pytest

from knowledge.ingest import ingest
from knowledge.retrieval import RetrievalRequest, Retriever

POLICY = ("# Returns\n\nReturn items within 30 days.\n\n# Refunds\n\nRefunds take 5 business days.\n\n"
          "# Exchanges\n\nExchanges are free for faulty items.\n")


@pytest.fixture
def doc(store, tmp_path):
    path = tmp_path / "policy.md"
    path.write_text(POLICY)
    ingest(store, [path], "shop")
    return store.documents("shop")[0]


def _texts(store, doc_id):
    return [c.text for c in store.document(doc_id).chunks]


def test_keywords_can_be_set_by_hand_and_text_edits_recompute_them(store, doc):
    chunk = store.document(doc.id).chunks[0]
    store.edit_chunk(chunk.id, keywords=["return window", "30 days"], actor="alice")
    edited = store.document(doc.id).chunks[0]
    assert edited.keywords == ["return window", "30 days"] and edited.edited and edited.text == chunk.text
    store.edit_chunk(chunk.id, "# Returns\n\nReturn items within 60 days.", actor="alice")
    recomputed = store.document(doc.id).chunks[0].keywords
    assert recomputed and recomputed != ["return window", "30 days"]
    with pytest.raises(ValueError, match="empty"):
        store.edit_chunk(chunk.id, "   ", actor="alice")
    with pytest.raises(ValueError, match="text, the new keywords"):
        store.edit_chunk(chunk.id, actor="alice")


def test_merge_joins_neighbours_in_order_and_reindexes(store, doc):
    first, second, third = store.document(doc.id).chunks
    new_id = store.merge_chunks([second.id, first.id], actor="alice")  # any order: document order wins
    chunks = store.document(doc.id).chunks
    assert [c.id for c in chunks] == [new_id, third.id]
    assert chunks[0].text == f"{first.text}\n\n{second.text}" and chunks[0].edited
    assert sorted(store.index.all_ids("shop")) == sorted([new_id, third.id])
    hits = Retriever(store).search(RetrievalRequest(query="refund business days", domain="shop", top_k=1))
    assert hits[0].chunk_id == new_id
    audit = store.audit_log(doc.id)[-1]
    assert audit.action == "chunk.merge" and audit.actor == "alice" and audit.detail["into"] == new_id
    assert store.versions(doc.id)[-1].note == "chunk.merge"


def test_merge_refuses_gaps_other_documents_and_single_chunks(store, doc, tmp_path):
    first, _, third = store.document(doc.id).chunks
    with pytest.raises(ValueError, match="neighbouring"):
        store.merge_chunks([first.id, third.id], actor="alice")
    with pytest.raises(ValueError, match="at least two"):
        store.merge_chunks([first.id, first.id], actor="alice")
    other = tmp_path / "other.md"
    other.write_text("# Shipping\n\nWe ship in 2 days.\n")
    ingest(store, [other], "shop")
    foreign = next(d for d in store.documents("shop") if d.id != doc.id)
    with pytest.raises(ValueError, match="same document"):
        store.merge_chunks([first.id, store.document(foreign.id).chunks[0].id], actor="alice")
    with pytest.raises(KeyError):
        store.merge_chunks([first.id, "no-such-chunk"], actor="alice")
    assert _texts(store, doc.id)[0] == first.text  # nothing changed


def test_split_cuts_a_chunk_in_two_keeps_order_and_rolls_back(store, doc):
    first, second, third = store.document(doc.id).chunks
    at = second.text.index("Refunds take")
    head_id, tail_id = store.split_chunk(second.id, at, actor="bob")
    chunks = store.document(doc.id).chunks
    assert [c.id for c in chunks] == [first.id, head_id, tail_id, third.id]
    assert chunks[1].text == "# Refunds" and chunks[2].text == "Refunds take 5 business days."
    assert second.id not in store.index.all_ids("shop") and tail_id in store.index.all_ids("shop")
    with pytest.raises(ValueError, match="inside the text"):
        store.split_chunk(first.id, 0, actor="bob")
    with pytest.raises(ValueError, match="inside the text"):
        store.split_chunk(first.id, len(first.text) + 5, actor="bob")
    before_split = store.versions(doc.id)[-2].version
    store.restore_version(doc.id, before_split, actor="bob")
    assert [c.id for c in store.document(doc.id).chunks] == [first.id, second.id, third.id]
    assert sorted(store.index.all_ids("shop")) == sorted([first.id, second.id, third.id])
