"""Errors of the knowledge store (kept light so CLIs can import them without loading Chroma)."""


class StoreUnavailable(RuntimeError):
    """The Chroma server cannot be reached (or the embedded directory is held by another process)."""


class EmbedderMismatch(RuntimeError):
    """A domain was indexed with another embedder; its vectors would be meaningless to this one."""


def mismatch_message(domain: str, recorded: str, wanted: str) -> str:
    return (f"domain {domain!r} was embedded with {recorded!r} but this store uses {wanted!r}; re-embed it with "
            f"`python -m knowledge.ingest --reembed --domain {domain} --embedder {wanted}` "
            f"(or set knowledge.embedder back to {recorded!r})")
