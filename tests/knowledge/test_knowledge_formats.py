"""Every supported type is read; every bad input is refused with a reason (and nothing stored: see test_store)."""

import json

import pytest
from PIL import Image

from knowledge.formats import IngestError, extract

MAX = 5_000_000


def _text_pdf(path, text: str) -> None:
    """A minimal one-page PDF with a text object (no PDF writer with text support is installed)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    path.write_bytes(out)


def test_text_markdown_html(tmp_path):
    (tmp_path / "a.txt").write_text("Plain words about kettles.")
    (tmp_path / "b.md").write_text("# Title here\n\nBody.")
    (tmp_path / "c.html").write_text("<html><head><title>Page</title><script>x()</script></head>"
                                     "<body><h1>Heading</h1><p>Para text.</p></body></html>")
    assert extract(tmp_path / "a.txt", max_bytes=MAX).text == "Plain words about kettles."
    assert extract(tmp_path / "b.md", max_bytes=MAX).title == "Title here"
    html = extract(tmp_path / "c.html", max_bytes=MAX)
    assert "# Heading" in html.text and "Para text." in html.text and "x()" not in html.text


def test_pdf_docx_xlsx(tmp_path):
    import docx
    import openpyxl

    _text_pdf(tmp_path / "p.pdf", "Warranty lasts two years")
    assert "Warranty lasts two years" in extract(tmp_path / "p.pdf", max_bytes=MAX).text
    d = docx.Document()
    d.add_heading("Returns", level=1)
    d.add_paragraph("Thirty days.")
    d.save(tmp_path / "d.docx")
    assert extract(tmp_path / "d.docx", max_bytes=MAX).text == "# Returns\nThirty days."
    wb = openpyxl.Workbook()
    wb.active.append(["SKU", "Name", "Price"])
    wb.active.append(["X-1", "Fan", 20])
    wb.active.append(["X-2", "Lamp", 30])
    wb.save(tmp_path / "c.xlsx")
    out = extract(tmp_path / "c.xlsx", max_bytes=MAX)
    assert [r.key for r in out.records] == ["X-1", "X-2"]
    assert out.text[out.records[1].start:out.records[1].end] == "SKU: X-2; Name: Lamp; Price: 30"


def test_csv_rows_keyed_by_sku_and_faq_pairs(tmp_path):
    (tmp_path / "c.csv").write_text("name,sku,price\nKettle,K-1,20\n\"Fan, tower\",F-2,30\n")
    out = extract(tmp_path / "c.csv", max_bytes=MAX)
    assert [r.key for r in out.records] == ["K-1", "F-2"]
    assert "name: Fan, tower" in out.records[1].text
    (tmp_path / "f.json").write_text(json.dumps([{"question": "Q1?", "answer": "A1."}]))
    (tmp_path / "f.jsonl").write_text('{"q": "问题?", "a": "答案。"}\n')
    assert extract(tmp_path / "f.json", max_bytes=MAX).records[0].text == "Q: Q1?\nA: A1."
    assert extract(tmp_path / "f.jsonl", max_bytes=MAX).records[0].text == "Q: 问题?\nA: 答案。"


@pytest.mark.parametrize("name,content,reason", [
    ("x.exe", b"MZ....", "unsupported file type"),
    ("e.txt", b"", "empty"),
    ("bad.csv", b"a,b,c\n1,2,3\n4,5\n", "malformed CSV"),
    ("bad2.csv", b'a,b\n"1,2\n', "malformed CSV"),
    ("bad.json", b"{not json", "malformed JSON"),
    ("faq.json", b'[{"question": "only a question"}]', "needs `question` and `answer`"),
    ("broken.docx", b"PK\x03\x04 not really", "DOCX cannot be read"),
    # content that is not what the extension says
    ("manual.pdf", b"<html><body>phishing page</body></html>", "not a PDF as the extension .pdf says"),
    ("notes.txt", b"MZ\x90\x00\x03\x00 an executable", "content is a Windows executable, not the text"),
    ("faq.md", b"%PDF-1.7 renamed pdf", "content is a PDF, not the text a .md file holds"),
    ("data.csv", b"sku,name\nA-1,Fan\x00\x00\x00", "content is binary data"),
    ("photo.png", b"\xff\xd8\xff\xe0 jpeg bytes", "content is a JPEG image, not a PNG image"),
    ("sheet.xlsx", b"%PDF-1.4", "content is a PDF, not a ZIP archive"),
])
def test_bad_inputs_are_refused_with_a_reason(tmp_path, name, content, reason):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(IngestError, match=reason):
        extract(tmp_path / name, max_bytes=MAX)


def test_huge_file_is_refused_before_reading(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"x" * 2_000_001)
    with pytest.raises(IngestError, match="limit is 2,000,000"):
        extract(tmp_path / "big.txt", max_bytes=2_000_000)


def test_empty_and_encrypted_pdfs(tmp_path):
    from pypdf import PdfReader, PdfWriter

    Image.new("RGB", (200, 200), "white").save(tmp_path / "blank.pdf")
    with pytest.raises(IngestError, match="no extractable text"):
        extract(tmp_path / "blank.pdf", max_bytes=MAX)
    _text_pdf(tmp_path / "p.pdf", "secret text")
    writer = PdfWriter(clone_from=PdfReader(tmp_path / "p.pdf"))
    writer.encrypt("pw")
    writer.write(tmp_path / "enc.pdf")
    with pytest.raises(IngestError, match="encrypted"):
        extract(tmp_path / "enc.pdf", max_bytes=MAX)


def test_image_with_no_text_is_refused(tmp_path):
    Image.new("RGB", (320, 240), (250, 250, 250)).save(tmp_path / "blank.png")
    with pytest.raises(IngestError, match="no text found in the image"):
        extract(tmp_path / "blank.png", max_bytes=MAX)
