"""Medical answer safety: red-flag symptoms (English and Chinese), disclaimer, and "knowledge unavailable"."""

from __future__ import annotations

import re

from knowledge.profiles import DomainProfile
from knowledge.text import is_chinese

RED_FLAGS_EN = [
    r"chest (?:pain|tightness|pressure)", r"crushing chest", r"heart attack", r"stroke", r"face (?:is )?droop",
    r"slurred speech", r"(?:sudden )?(?:arm|leg|one-sided) weakness", r"can(?:no|')t (?:speak|move)",
    r"severe bleeding", r"bleeding (?:heavily|won'?t stop|that won'?t stop)", r"vomiting blood", r"coughing (?:up )?blood",
    r"(?:difficulty|trouble|can'?t) breath", r"short(?:ness)? of breath", r"not breathing", r"unconscious",
    r"passed out", r"faint(?:ed|ing)", r"seizure", r"convulsion", r"anaphyla", r"throat (?:is )?swell",
    r"swollen (?:throat|tongue)", r"suicid", r"kill myself", r"overdose", r"worst headache", r"sudden (?:severe )?headache",
    r"high fever (?:in|with) (?:a |my )?(?:baby|infant|newborn)", r"stiff neck",
]
RED_FLAGS_ZH = ["胸痛", "胸口痛", "胸闷", "心梗", "心肌梗", "中风", "卒中", "口角歪斜", "嘴歪", "言语不清", "说话不清", "口齿不清",
                "半身无力", "一侧肢体无力", "手脚无力", "大出血", "出血不止", "血流不止", "吐血", "呕血", "咯血", "呼吸困难",
                "喘不上气", "喘不过气", "无法呼吸", "昏迷", "晕倒", "意识不清", "抽搐", "癫痫发作", "过敏性休克", "喉咙肿",
                "想自杀", "自杀", "不想活", "服药过量", "吃多了药", "剧烈头痛"]
_EN = re.compile("|".join(RED_FLAGS_EN), re.I)

EMERGENCY_EN = ("⚠️ These symptoms can be an emergency. Call your local emergency number (e.g. 120 in China, 911 in the "
                "US, 112 in Europe) or go to the nearest emergency department now. Do not wait for an online answer.")
EMERGENCY_ZH = "⚠️ 这些症状可能是急症。请立即拨打急救电话120，或马上前往最近的医院急诊，不要等待线上回复。"


# Requests for a decision about someone's own treatment: a dose, starting / stopping / changing a medicine, which
# medicine to take, or a diagnosis. The medical profiles' policy forbids answering them, and a small model cannot
# be trusted to decline every wording, so a medical domain with a `treatment_reply` answers them itself.
_WHO = r"(?:i|we|he|she|they|my \w+|him|her|them|you)"
TREATMENT_EN = [
    rf"\bhow (?:many|much)\b[^.?!]{{0,60}}\b(?:should|can|could|may|do|must) {_WHO} (?:take|give|use|have)\b",
    r"\b(?:what|which) (?:dose|dosage|amount)\b", r"\bdos(?:e|age) (?:of|for)\b[^.?!]{0,40}\b(?:should|can|do)\b",
    rf"\b(?:should|can|could|may|must) {_WHO} (?:just |simply |now )?(?:stop|start|quit|skip|double|halve|increase|"
    r"decrease|reduce|up|lower|change|switch)\b",
    rf"\b(?:should|can|could|may) {_WHO} take (?:two|2|double|an extra|extra|more)\b",
    r"\b(?:double|increase|decrease|lower|raise|change) (?:the |my |his |her |their )?dos(?:e|age)\b",
    r"\b(?:quit|stop|stopping|quitting) [\w-]+ without\b",
    r"\b(?:what|which) (?:pill|tablet|medicine|medication|drug)s? (?:should|can|could|do|must) (?:i|we|he|she|they)\b",
    r"\b(?:what|which) (?:pill|tablet|medicine|medication|drug)s? (?:helps|works|is best)\b",
    r"\b(?:what|which) (?:pill|tablet|medicine|medication|drug)s?\s*[?？]",
    r"\bdiagnos(?:e|is)\b", r"\bwhat (?:illness|disease|condition) (?:do|does|have|has|is)\b",
    r"\b(?:tell|say) (?:me )?what (?:disease|illness|condition)\b", r"\bdo (?:i|we) have (?:a |an )?[\w-]+ ?(?:disease|diabetes|cancer|infection)\b",
]
TREATMENT_ZH = ["吃几片", "吃几粒", "吃多少", "用多少", "剂量", "用量", "加倍", "两倍", "双倍", "加量", "减量", "停药", "能停", "可以停",
                "不吃了", "要不要吃", "要不要开始", "该不该吃", "该吃什么药", "吃什么药", "能吃什么药", "用什么药", "确诊", "诊断",
                "是什么病", "得了什么病", "是不是得了", "我是不是有"]
_TREATMENT = re.compile("|".join(TREATMENT_EN), re.I)


def treatment_request(text: str) -> list[str]:
    """Phrases in `text` that ask for a dose, a change of medicine, which medicine to take, or a diagnosis."""
    return [m.group(0) for m in _TREATMENT.finditer(text)] + [w for w in TREATMENT_ZH if w in text]


def red_flags(text: str) -> list[str]:
    """Emergency symptoms mentioned in `text`."""
    found = [m.group(0) for m in _EN.finditer(text)]
    found += [w for w in RED_FLAGS_ZH if w in text]
    return found


def emergency_notice(question: str) -> str | None:
    if not red_flags(question):
        return None
    return EMERGENCY_ZH if is_chinese(question) else EMERGENCY_EN


def postprocess_answer(answer: str, profile: DomainProfile, *, question: str, has_knowledge: bool) -> str:
    """Apply the profile's safety rules to a finished answer: red-flag prefix, no improvising, disclaimer."""
    if not profile.safety.medical:
        return answer
    zh = is_chinese(question)
    parts = []
    notice = emergency_notice(question)
    if notice and notice not in answer:
        parts.append(notice)
    if not has_knowledge:
        parts.append(profile.safety.no_knowledge_zh if zh else profile.safety.no_knowledge_en)
    else:
        parts.append(answer.strip())
    disclaimer = profile.safety.disclaimer_zh if zh else profile.safety.disclaimer_en
    if disclaimer and disclaimer not in answer:
        parts.append(disclaimer)
    return "\n\n".join(p for p in parts if p)
