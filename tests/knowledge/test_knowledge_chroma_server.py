"""Against a real `chroma run` server: ingest and search through HttpClient; a dead server leaves nothing behind."""

import pytest

from knowledge.index import StoreUnavailable
from knowledge.ingest import ingest
from knowledge.retrieval import RetrievalRequest, Retriever
from knowledge.settings import KnowledgeSettings
from knowledge.store import KnowledgeStore

pytestmark = pytest.mark.slow


def test_server_store_and_server_going_away(tmp_path, chroma_server, embedder):
    url, proc = chroma_server
    (tmp_path / "a.md").write_text("# Warranty\n\nEvery kettle has a two-year warranty.\n\n# 退货\n\n签收后三十天内可以退货。\n")
    settings = KnowledgeSettings(data_dir=tmp_path / "kn", chroma_url=url)
    store = KnowledgeStore(settings, embedder=embedder)
    assert store.index.location == url
    assert not (tmp_path / "kn" / "chroma").exists()  # the embedded directory is not used
    assert len(ingest(store, [tmp_path / "a.md"], "shop").added) == 1
    hits = Retriever(store).search(RetrievalRequest(query="多久可以退货", domain="shop", score_threshold=-1))
    assert "三十天" in hits[0].text
    # the server dies mid-life: the next ingest fails clearly and leaves no document or chunk behind
    proc.terminate()
    proc.wait(10)
    (tmp_path / "b.md").write_text("# Shipping\n\nWe ship in two days.\n")
    with pytest.raises(Exception):  # noqa: B017 - chromadb raises its transport's error; the point is nothing stays
        ingest(store, [tmp_path / "b.md"], "shop")
    assert [d.source for d in store.documents("shop", include_incomplete=True)] == [store.documents("shop")[0].source]
    assert len(store.visible_chunks("shop")) == 2
    store.close()
    with pytest.raises(StoreUnavailable, match="unreachable"):
        KnowledgeStore(settings, embedder=embedder)
