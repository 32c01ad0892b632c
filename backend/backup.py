"""Backup and restore of the app database and the knowledge records as one verified .tar.gz archive.

SQLite databases are copied with SQLite's online backup API (consistent while the backend runs, WAL included).
Chroma is not archived: the SQL records are the knowledge source of truth, so restore rebuilds the vectors.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import shutil
import sqlite3
import tarfile
import tempfile
import zlib
from contextlib import closing
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ValidationError

FORMAT = 1
MANIFEST = "manifest.json"
APP_FILE = "app.sqlite"
KNOWLEDGE_FILE = "knowledge.sqlite"
DOCS = "docs/deploy.md#backup-and-restore"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what is wrong and what to do."""


class FileEntry(BaseModel):
    sha256: str
    bytes: int
    rows: dict[str, int]  # table -> row count, read from the copy itself


class Manifest(BaseModel):
    """What an archive holds and what made it; restore checks every field before it changes anything."""

    format: int
    created_at: datetime
    versions: dict[str, str]
    app_revision: str | None
    knowledge_file: str | None  # member holding the kn_ tables: knowledge.sqlite, app.sqlite, or none
    knowledge_schema: dict[str, list[str]]  # kn_ table -> columns, as this archive stores them
    embedders: dict[str, str]  # domain -> embedder its vectors were built with
    files: dict[str, FileEntry]


class RestoreResult(BaseModel):
    manifest: Manifest
    reindexed: dict[str, int]  # domain -> chunks embedded again


# ---- backup ----------------------------------------------------------------------------------------------------

def backup(settings, out: Path | None = None) -> tuple[Path, Manifest]:
    """Write a consistent archive of the app database and the knowledge records; returns its path and manifest."""
    app_db = _sqlite_path(settings.database_url, "database.url")
    if not app_db.is_file():
        raise BackupError(f"no app database at {app_db}: check data_dir / database.url (nothing to back up)")
    knowledge_url = settings.knowledge.resolved_database_url()
    knowledge_db = None
    if _same_database(knowledge_url, settings.database_url):
        knowledge_file = APP_FILE
    else:
        knowledge_db = _sqlite_path(knowledge_url, "knowledge.database_url")
        knowledge_file = KNOWLEDGE_FILE if knowledge_db.is_file() else None

    stamp = datetime.now(timezone.utc)
    out = Path(out) if out else Path(f"visiondesk-backup-{stamp:%Y%m%dT%H%M%SZ}.tar.gz")
    if out.exists():
        raise BackupError(f"{out} already exists: choose another --out (a backup never overwrites one)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="visiondesk-backup-") as tmp:
        copies = {APP_FILE: Path(tmp) / APP_FILE}
        _online_copy(app_db, copies[APP_FILE])
        if knowledge_db is not None and knowledge_file:
            copies[KNOWLEDGE_FILE] = Path(tmp) / KNOWLEDGE_FILE
            _online_copy(knowledge_db, copies[KNOWLEDGE_FILE])
        files = {name: FileEntry(sha256=_sha256(path), bytes=path.stat().st_size, rows=_row_counts(path))
                 for name, path in copies.items()}
        kn_path = copies.get(knowledge_file) if knowledge_file else None
        manifest = Manifest(
            format=FORMAT, created_at=stamp, versions=_versions(), app_revision=_revision(copies[APP_FILE]),
            knowledge_file=knowledge_file, knowledge_schema=_kn_schema(kn_path) if kn_path else {},
            embedders=_embedders(kn_path) if kn_path else {}, files=files)
        partial = out.with_name(out.name + ".partial")
        # written under another name and renamed: a crash never leaves a half archive under the real name
        with tarfile.open(partial, "w:gz") as tar:
            data = manifest.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(stamp.timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            for name, path in copies.items():
                tar.add(path, arcname=name)
        os.chmod(partial, 0o600)  # it holds password hashes and API key hashes
        partial.replace(out)
    return out, manifest


def _online_copy(source: Path, target: Path) -> None:
    """SQLite's backup API: a page-consistent snapshot even while the backend writes (never a file copy of WAL)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive, no -wal beside it
        ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if ok != "ok":
            raise BackupError(f"{source} failed SQLite's integrity check ({ok}); repair it before backing up")
    finally:
        dst.close()
        src.close()


# ---- restore ---------------------------------------------------------------------------------------------------

def restore(settings, archive: Path, *, force: bool = False, dry_run: bool = False) -> RestoreResult:
    """Check the archive completely, then put its databases in place and rebuild the vectors.

    Nothing in the data dir changes unless every check passes: manifest, checksums, row counts, schema.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist")
    with tempfile.TemporaryDirectory(prefix="visiondesk-restore-") as tmp:
        manifest = _unpack(archive, Path(tmp))
        _check_schema(manifest)
        targets = _targets(settings, manifest)
        _check_target(settings, targets, force)
        if dry_run:
            return RestoreResult(manifest=manifest, reindexed={})
        for name, target in targets.items():
            _replace(Path(tmp) / name, target)
    _drop_embedded_vectors(settings)
    from backend.db import Database

    db = Database(settings.database_url)
    try:
        db.upgrade()  # an archive from an older release gets this release's schema
    finally:
        db.close()
    return RestoreResult(manifest=manifest, reindexed=_reindex(settings, manifest.embedders))


def reindex(settings) -> dict[str, int]:
    """Rebuild every domain's vectors from the knowledge records (after restoring them some other way, e.g.
    pg_restore, or to repair a lost Chroma volume); the backend must be stopped when Chroma is embedded."""
    from sqlalchemy import select

    from knowledge import records

    url = settings.knowledge.resolved_database_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise BackupError(f"no knowledge records at {url.removeprefix('sqlite:///')}: check data_dir and "
                          "knowledge.database_url (nothing to re-index)")
    engine = records.make_engine(url)
    try:
        with engine.connect() as conn:
            embedders = dict(conn.execute(select(records.DomainIndex.domain, records.DomainIndex.embedder)).all())
    finally:
        engine.dispose()
    if not embedders:
        raise BackupError("the knowledge records hold no domain: nothing to re-index (check knowledge.database_url)")
    return _reindex(settings, embedders)


def _unpack(archive: Path, into: Path) -> Manifest:
    allowed = {MANIFEST, APP_FILE, KNOWLEDGE_FILE}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name not in allowed or not member.isfile():
                    raise BackupError(f"{archive} holds an unexpected entry {member.name!r}: it is not a "
                                      "VisionDesk backup; nothing was changed")
                with tar.extractfile(member) as src, (into / member.name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            # tar stops at its end marker; reading gzip's trailer too verifies the whole stream's CRC
            while tar.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(f"{archive} is corrupt or truncated ({type(exc).__name__}: {exc}); nothing was "
                          "changed. Use another copy of the backup, or take a new one") from None
    if not (into / MANIFEST).is_file():
        raise BackupError(f"{archive} has no {MANIFEST}: it is not a VisionDesk backup; nothing was changed")
    try:
        manifest = Manifest.model_validate_json((into / MANIFEST).read_bytes())
    except ValidationError as exc:
        raise BackupError(f"{archive}: its {MANIFEST} is unreadable ({exc.error_count()} problems, first: "
                          f"{exc.errors()[0]['msg']}); nothing was changed") from None
    if manifest.format != FORMAT:
        raise BackupError(f"{archive} has archive format {manifest.format}; this release reads format {FORMAT}. "
                          f"Restore it with the release that made it ({manifest.versions.get('visiondesk')})")
    for name, entry in manifest.files.items():
        path = into / name
        if not path.is_file():
            raise BackupError(f"{archive} lacks {name}, which its manifest lists: the archive is incomplete; "
                              "nothing was changed. Use another copy of the backup")
        digest = _sha256(path)
        if digest != entry.sha256 or path.stat().st_size != entry.bytes:
            raise BackupError(f"{archive}: {name} does not match its checksum (manifest {entry.sha256[:12]}…, "
                              f"archive {digest[:12]}…): the archive was altered or damaged; nothing was changed. "
                              "Use another copy of the backup")
        rows = _row_counts(path)
        if rows != entry.rows:
            raise BackupError(f"{archive}: {name} row counts differ from the manifest; nothing was changed")
    if APP_FILE not in manifest.files:
        raise BackupError(f"{archive} holds no app database; nothing was changed")
    return manifest


def _check_schema(manifest: Manifest) -> None:
    from alembic.script import ScriptDirectory

    from backend.db import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in scripts.walk_revisions()}
    head = scripts.get_current_head()
    made_by = manifest.versions.get("visiondesk", "unknown")
    if manifest.app_revision not in known:
        raise BackupError(
            f"the archive's app database is at schema revision {manifest.app_revision!r}, which this release "
            f"does not know (its newest is {head!r}): the backup comes from a newer VisionDesk ({made_by}). "
            "Upgrade VisionDesk to that release, then restore; nothing was changed")
    if manifest.knowledge_file:
        from knowledge import records

        current = _metadata_schema(records.Base.metadata)
        if manifest.knowledge_schema != current:
            differ = sorted(t for t in set(current) | set(manifest.knowledge_schema)
                            if current.get(t) != manifest.knowledge_schema.get(t))
            raise BackupError(
                f"the archive's knowledge tables differ from this release's ({', '.join(differ)}): the backup "
                f"comes from VisionDesk {made_by}. Restore it with that release; nothing was changed")


def _targets(settings, manifest: Manifest) -> dict[str, Path]:
    targets = {APP_FILE: _sqlite_path(settings.database_url, "database.url")}
    if KNOWLEDGE_FILE in manifest.files:
        url = settings.knowledge.resolved_database_url()
        if _same_database(url, settings.database_url):
            raise BackupError("the archive keeps knowledge in its own database but knowledge.database_url points "
                              "at the app database here: unset knowledge.database_url, then restore")
        targets[KNOWLEDGE_FILE] = _sqlite_path(url, "knowledge.database_url")
    elif manifest.knowledge_file == APP_FILE and not _same_database(settings.knowledge.resolved_database_url(),
                                                                    settings.database_url):
        raise BackupError("the archive keeps knowledge in the app database but knowledge.database_url points "
                          "elsewhere here: set knowledge.database_url to database.url's value, then restore")
    return targets


def _check_target(settings, targets: dict[str, Path], force: bool) -> None:
    lock = settings.knowledge.resolved_persist_dir() / ".visiondesk.lock"
    if not settings.knowledge.chroma_url and lock.is_file() and _locked(lock):
        raise BackupError(f"a backend is running on {settings.data_dir} (it holds {lock}): stop it, then restore")
    present = [p for t in targets.values() for p in (t, t.with_name(t.name + "-wal")) if p.exists()]
    vectors = settings.knowledge.resolved_persist_dir()
    if not settings.knowledge.chroma_url and vectors.is_dir() and any(vectors.iterdir()):
        present.append(vectors)
    if present and not force:
        raise BackupError("the data dir is not empty (" + ", ".join(str(p) for p in present) + "); restoring "
                          "would replace it. Nothing was changed. Pass --force to replace it, or restore into an "
                          "empty data_dir")


def _locked(lock: Path) -> bool:
    import fcntl

    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _replace(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        stale.unlink(missing_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(source, staged)
    staged.replace(target)


def _drop_embedded_vectors(settings) -> None:
    """The old vectors belong to the replaced records: remove the embedded Chroma dir (a server is re-indexed)."""
    if not settings.knowledge.chroma_url:
        shutil.rmtree(settings.knowledge.resolved_persist_dir(), ignore_errors=True)


def _reindex(settings, embedders: dict[str, str]) -> dict[str, int]:
    """Embed every visible chunk again, each domain with the embedder it was built with."""
    if not embedders:
        return {}
    from knowledge.errors import StoreUnavailable
    from knowledge.store import KnowledgeStore

    done: dict[str, int] = {}
    for embedder in sorted(set(embedders.values())):
        try:
            store = KnowledgeStore(settings.knowledge.model_copy(update={"embedder": embedder}))
        except StoreUnavailable as exc:
            raise BackupError(f"vectors not rebuilt: {exc}. Once that is fixed, run `python -m backend reindex`") \
                from None
        try:
            for domain, used in sorted(embedders.items()):
                if used == embedder:
                    done[domain] = store.reembed(domain)
        finally:
            store.close()
    return done


# ---- helpers ---------------------------------------------------------------------------------------------------

def _sqlite_path(url: str, setting: str) -> Path:
    if not url.startswith("sqlite:///") or url.startswith("sqlite:///:memory:"):
        raise BackupError(f"{setting} is not a SQLite file ({url.split('://')[0]}): `python -m backend backup` "
                          f"covers SQLite; back up PostgreSQL with pg_dump as {DOCS} shows")
    return Path(url.removeprefix("sqlite:///"))


def _same_database(a: str, b: str) -> bool:
    if a.startswith("sqlite:///") and b.startswith("sqlite:///"):
        return Path(a.removeprefix("sqlite:///")).resolve() == Path(b.removeprefix("sqlite:///")).resolve()
    return a == b


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]


def _row_counts(path: Path) -> dict[str, int]:
    try:
        with closing(_connect_ro(path)) as conn:
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in _tables(conn)}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a readable SQLite database ({exc}); nothing was changed") from None


def _revision(path: Path) -> str | None:
    with closing(_connect_ro(path)) as conn:
        if "alembic_version" not in _tables(conn):
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def _kn_schema(path: Path) -> dict[str, list[str]]:
    with closing(_connect_ro(path)) as conn:
        return {t: sorted(r[1] for r in conn.execute(f'PRAGMA table_info("{t}")'))
                for t in _tables(conn) if t.startswith("kn_")}


def _metadata_schema(meta) -> dict[str, list[str]]:
    return {name: sorted(c.name for c in table.columns) for name, table in meta.tables.items()}


def _embedders(path: Path) -> dict[str, str]:
    with closing(_connect_ro(path)) as conn:
        if "kn_domains" not in _tables(conn):
            return {}
        return dict(conn.execute("SELECT domain, embedder FROM kn_domains ORDER BY domain").fetchall())


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("visiondesk", "chromadb", "sqlalchemy", "alembic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def describe(manifest: Manifest) -> str:
    """A short human summary of an archive, for the CLI."""
    lines = [f"made {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC by VisionDesk {manifest.versions.get('visiondesk')}"
             f", app schema {manifest.app_revision}"]
    for name, entry in manifest.files.items():
        shown = ", ".join(f"{t} {n}" for t, n in entry.rows.items() if n and t != "alembic_version")
        lines.append(f"  {name}: {entry.bytes} bytes, sha256 {entry.sha256[:12]}…; rows: {shown or 'none'}")
    if manifest.embedders:
        lines.append("  domains: " + ", ".join(f"{d} ({e})" for d, e in manifest.embedders.items()))
    return "\n".join(lines)


__all__ = ["BackupError", "Manifest", "RestoreResult", "backup", "describe", "reindex", "restore"]
