"""Domain knowledge: the Chroma store, ingestion with OCR, and retrieval used by chat, admin and evaluation."""
