"""Medical glossary: expands retrieval queries with synonyms and flags unknown drug/test names in answers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

_EN_DRUG = re.compile(
    r"\b[A-Za-z][a-z]{2,}(?:cillin|mycin|floxacin|oxacin|pril|sartan|olol|dipine|statin|prazole|azole|tidine|formin|"
    r"gliptin|glitazone|mab|tinib|vir|azepam|zolam|triptan|profen|coxib|caine|phylline|olone|sone|terol|tadine|"
    r"fenac|oxetine|aline|pramine|setron|parin|xaban|gatran|lukast)\b")
_ABBR = re.compile(r"\b[A-Z][A-Z0-9]{1,5}\b")
_ZH_DRUG = re.compile(r"[\u4e00-\u9fff]{1,8}?(?:霉素|沙星|西林|他汀|普利|沙坦|洛尔|地平|拉唑|替丁|双胍|咪唑|韦|单抗|替尼)"
                      r"(?:片|胶囊|注射液|颗粒|口服液|缓释片)?")
_COMMON_ABBR = frozenset("AI OK USA UK EU ID FAQ PDF URL HTTP SKU ER OTC GP UV TV AM PM DNA RNA NOT OR AND THE".split())


@dataclass(frozen=True)
class Term:
    id: str
    kind: str
    forms: tuple[str, ...]


class Glossary:
    """Terms with every surface form (English, Chinese, lay, clinical); matching is case-insensitive."""

    def __init__(self, terms: list[Term]) -> None:
        self.terms = terms
        self._patterns = []
        for t in terms:
            parts = []
            for f in t.forms:
                if len(f) < 2:
                    continue
                esc = re.escape(f)
                parts.append(esc if re.search(r"[\u4e00-\u9fff]", f) else rf"(?<![\w]){esc}(?![\w])")
            self._patterns.append((t, re.compile("|".join(parts), re.I)))
        self._known = {f.lower() for t in terms for f in t.forms}

    def matches(self, text: str) -> list[Term]:
        return [t for t, pat in self._patterns if pat.search(text)]

    def expansions(self, query: str) -> list[str]:
        """Every other form of each term found in `query` (English↔Chinese, lay↔clinical)."""
        out: list[str] = []
        for t in self.matches(query):
            out += [f for f in t.forms if f.lower() not in query.lower()]
        return out

    def is_known(self, name: str) -> bool:
        low = name.lower()
        return low in self._known or any(f in low for f in self._known if len(f) >= 3 and re.search(r"[\u4e00-\u9fff]", f))

    def unverified_names(self, answer: str, context: list[str]) -> list[str]:
        """Drug/test-like names in `answer` found in neither the glossary nor the retrieved context."""
        ctx = "\n".join(context).lower()
        candidates = set(_EN_DRUG.findall(answer)) | set(_ZH_DRUG.findall(answer))
        candidates |= {a for a in _ABBR.findall(answer) if a not in _COMMON_ABBR}
        return sorted(c for c in candidates if not self.is_known(c) and c.lower() not in ctx)


def load_glossary(path: Path) -> Glossary:
    return _load(str(path))


@lru_cache(maxsize=8)
def _load(path: str) -> Glossary:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    terms = []
    for item in doc.get("terms", []):
        forms = [*item.get("en", []), *item.get("zh", []), *item.get("lay_en", []), *item.get("lay_zh", [])]
        terms.append(Term(item["id"], item.get("kind", "term"), tuple(dict.fromkeys(str(f) for f in forms))))
    return Glossary(terms)
