"""The console's text views of versions: the source rebuilt from chunk offsets, diffs between versions."""

from apps.admin.diffs import source_text, version_diff


def _snap(*chunks, **fields):
    return {"title": "Returns", "status": "active", "tags": [], "language": "en", **fields,
            "chunks": [{"position": i, "text": t, "start": s, "end": e, "keywords": [], "enabled": True}
                       for i, (t, s, e) in enumerate(chunks)]}


def test_source_is_rebuilt_from_sections_and_overlapping_windows():
    assert source_text(_snap(("# A\n\naaa", 0, 8), ("# B\n\nbbb", 10, 18))) == "# A\n\naaa\n\n# B\n\nbbb"
    assert source_text(_snap(("abcdef", 0, 6), ("defghi", 3, 9))) == "abcdefghi"
    assert source_text(_snap()) == ""


def test_diff_shows_changed_text_state_and_fields_only():
    old = _snap(("Return within 30 days.", 0, 22))
    new = _snap(("Return within 60 days.", 0, 22), status="archived")
    new["chunks"][0]["enabled"] = False
    diff = version_diff(old, new, "version 1", "version 2")
    assert "-Return within 30 days." in diff and "+Return within 60 days." in diff
    assert "+status: archived" in diff and "(disabled)" in diff
    assert version_diff(old, old, "a", "b") == ""
