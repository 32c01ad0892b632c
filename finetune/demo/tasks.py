"""The demo model's SFT questions and the answers it should give, worded so none of them is an eval question.

A `Draft` is a customer question (text and images) plus a rule that writes the ideal answer once the knowledge
layer has built the prompt: facts are copied from the cited context block, text in images from the OCR block,
colours and shapes from the pixels, and medical questions about doses, stopping medicines or diagnoses are
declined. Answers use the question's language and cite blocks as [n].
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from finetune.demo.render import COLOURS, OBJECTS, ProductPhoto, product_photo
from finetune.demo.scenes import lab_report, medicine_box, order_screen, product_box
from finetune.demo.world import STATUSES, Fact, World

# Question templates per fact kind and language. Eval questions are checked against these (no template may
# match an eval question), so keep them worded unlike eval/data/ab.
TEMPLATES: dict[tuple[str, str], list[str]] = {
    ("price", "en"): ["What's the price of the {name}?", "What does the {name} sell for?", "Price of {sku}, please.",
                      "How expensive is the {name}?", "A customer asks for the current price of the {name}."],
    ("price", "zh"): ["{name_zh}的价格是多少？", "{name_zh}卖多少？", "{sku}什么价格？", "顾客想知道{name_zh}现在的售价。"],
    ("warranty", "en"): ["How many months of warranty does the {name} have?", "Is the {name} under warranty, and for how long?",
                         "What warranty period applies to {sku}?"],
    ("warranty", "zh"): ["{name_zh}的保修期是多久？", "{sku}保修几个月？", "{name_zh}有保修吗？保多长时间？"],
    ("stock", "en"): ["Is the {name} available right now?", "Can I order the {name} today or is it sold out?"],
    ("stock", "zh"): ["{name_zh}现在有货吗？", "{sku}还有库存吗？"],
    ("colour", "en"): ["Which colour does the {name} come in?"],
    ("colour", "zh"): ["{name_zh}有什么颜色？"],
    ("return_window", "en"): ["Within how many days can a purchase be sent back?", "What is the time limit for returns?",
                              "A customer wants to send an item back. How long do they have?"],
    ("return_window", "zh"): ["退货期限是几天？", "收到商品后多长时间内能退？"],
    ("refund_time", "en"): ["When will the customer get their money back after a return?", "How quickly is a refund paid out?"],
    ("refund_time", "zh"): ["退货后钱多久能退回来？", "退款需要几天到账？"],
    ("damage", "en"): ["The parcel arrived broken. What should the customer do?",
                       "What is the deadline for reporting a damaged delivery?"],
    ("damage", "zh"): ["收到的商品坏了怎么办？", "到货损坏要在多长时间内反馈？"],
    ("standard_fee", "en"): ["What is the normal shipping charge?", "When is delivery free?"],
    ("standard_fee", "zh"): ["普通快递运费多少？", "买多少钱包邮？"],
    ("express", "en"): ["How fast and how expensive is the quickest delivery option?", "What's the fee for express shipping?"],
    ("express", "zh"): ["加急配送要多少钱？", "最快的配送方式多久到、多少钱？"],
    ("instalments", "en"): ["Can I pay in instalments?", "Is there an interest-free payment plan?"],
    ("instalments", "zh"): ["可以分期付款吗？", "有免息分期吗？"],
    ("methods", "en"): ["Which payment methods do you take?", "How can I pay for my order?"],
    ("methods", "zh"): ["支持哪些支付方式？", "可以用什么方式付款？"],
    ("error_code", "en"): ["My {type} is showing {code} on the display. What's wrong?",
                           "What does code {code} on the {type} indicate?", "Customer's {type} flashes {code}. How to fix it?"],
    ("error_code", "zh"): ["{type_zh}屏幕上出现{code}，怎么回事？", "{type_zh}报{code}错误该怎么办？"],
    ("lab_range", "en"): ["What counts as a normal {test} result?", "Which values are normal for {abbr}?",
                          "What is the reference interval for {test}?"],
    ("lab_range", "zh"): ["{test_zh}正常值是多少？", "{abbr}的参考范围是什么？"],
    ("lab_what", "en"): ["What does the {abbr} test measure?", "Explain what a {test} test looks at."],
    ("med_use", "en"): ["What is {drug} prescribed for?", "Why would someone take {drug}?", "What conditions does {drug} treat?"],
    ("med_use", "zh"): ["{drug_zh}用来治疗什么？", "为什么要吃{drug_zh}？"],
    ("med_side", "en"): ["Which side effects are common with {drug}?", "Does {drug} have side effects?"],
    ("med_side", "zh"): ["{drug_zh}有什么副作用？", "吃{drug_zh}会有哪些不良反应？"],
    ("cancel", "en"): ["If I can't make my appointment, how much notice do I need to give?",
                       "What is the cancellation deadline for a visit?"],
    ("cancel", "zh"): ["预约取消需要提前多长时间？", "不能来的话要提前多久说？"],
    ("results", "en"): ["When will my blood results come back?", "How many days do lab results take?"],
    ("results", "zh"): ["验血结果几天能出？", "化验结果要等多久？"],
    ("hours", "en"): ["What are the clinic's opening hours?", "When is the clinic open?"],
    ("hours", "zh"): ["诊所几点开门？", "诊所营业时间是什么时候？"],
    ("refill", "en"): ["How early should I ask for a repeat prescription?"],
    ("refill", "zh"): ["续药要提前几天申请？"],
}
BOX_QUESTIONS = {  # fact kind asked about the product on a box or label
    ("warranty", "en"): ["How long is this product's warranty?", "Is the item on this label still covered, and for how many months?"],
    ("warranty", "zh"): ["图中这个商品的保修期是多久？", "这个包装上的产品保修几个月？"],
    ("price", "en"): ["What does the item on this label cost?", "How much is the product in the picture?"],
    ("price", "zh"): ["这个标签上的商品多少钱？", "图片里的产品卖多少钱？"],
    ("stock", "en"): ["Can the customer buy the product in this picture right now?"],
    ("stock", "zh"): ["图片里的产品现在有货吗？"],
}
ORDER_QUESTIONS = {
    ("number", "en"): ["Read the order ID from this screenshot.", "Which order is shown here?"],
    ("number", "zh"): ["截图中的订单号是多少？", "这是哪个订单？"],
    ("status", "en"): ["What state is this order in?", "Read me the status on this order page."],
    ("status", "zh"): ["这个订单是什么状态？", "订单页面上显示的状态是什么？"],
    ("meaning", "en"): ["The customer sent this. What does the status mean for them?",
                        "Explain the status in this screenshot. Can the order be cancelled now?"],
    ("meaning", "zh"): ["这个状态是什么意思？还能取消吗？", "截图显示的状态对顾客意味着什么？"],
}
MEDBOX_QUESTIONS = {
    ("med_use", "en"): ["What is the medicine in this photo used for?", "A patient shows this box. What does it treat?"],
    ("med_use", "zh"): ["照片里的药是治疗什么的？", "这盒药用来治什么？"],
    ("med_side", "en"): ["What side effects does the medicine in this photo have?"],
    ("med_side", "zh"): ["这盒药有什么副作用？"],
}
LAB_QUESTIONS = {
    ("value", "en"): ["What is my {test} result on this report?", "Read the {test} value from this report."],
    ("value", "zh"): ["报告上{test_zh}的结果是多少？", "化验单里{test_zh}是多少？"],
    ("flag", "en"): ["Which value on this report is outside the reference range?", "Is anything marked abnormal here?"],
    ("flag", "zh"): ["这份报告上哪一项异常？", "化验单上有没有超出范围的指标？"],
}
PHOTO_QUESTIONS = {  # PhotoRecipe.wordings asks the first n of each (the committed parts: all six)
    ("colour", "en"): ["Which colour is the item the customer photographed?", "Tell me the colour of this item.",
                       "What colour does this one come in?", "Can you tell what colour this is?",
                       "The customer attached a picture. Which colour is the thing in it?",
                       "What shade is the item in the picture?"],
    ("colour", "zh"): ["顾客拍的这件商品是什么颜色？", "这个东西是什么颜色的？", "图中物品是哪种颜色？", "帮我看看这件东西的颜色。",
                       "顾客发来的图片里，东西是什么颜色的？", "这个商品的颜色是？"],
    ("object", "en"): ["What kind of product is shown?", "What item did the customer photograph?", "What is this item?",
                       "Which product does the picture show?", "Can you identify the item in the image?",
                       "What did the customer send a picture of?"],
    ("object", "zh"): ["图片里是什么商品？", "顾客拍的是什么东西？", "这是什么东西？", "图中这件物品是什么？", "帮我认一下图里的商品。",
                       "顾客发来的图片是什么商品？"],
    ("both", "en"): ["Describe the product in this photo.", "Briefly, what is in this picture?",
                     "What is the customer showing me here?", "Give a short description of the item in the image.",
                     "What do you see in this image?", "Identify the product and its colour."],
    ("both", "zh"): ["描述一下照片里的商品。", "简单说说这张图里是什么。", "图里是什么？描述一下。", "说说这张图片中的物品。", "这张图片里有什么？",
                     "识别一下图中商品和颜色。"],
}
# Requests the medical profile answers with its fixed treatment_reply (knowledge/treatment.py): not trained, kept
# for the template-overlap check against the eval sets and as the treatment rules' test corpus.
REFUSE_QUESTIONS = {
    "en": ["How many {drug} tablets can I give my {age}-year-old?", "What dose of {drug} should I take?",
           "I missed a dose of {drug}. Can I take two at once?", "{drug} makes me feel unwell. Can I just stop it?",
           "Is it fine to quit {drug} without telling anyone?", "Should I start taking {drug}?",
           "I have been tired and thirsty for weeks. What illness do I have?",
           "My ankles are swollen. Can you tell me what disease this is?"],
    "zh": ["我{age}岁的孩子可以吃几片{drug_zh}？", "{drug_zh}我该吃多少？", "漏服了{drug_zh}可以一次吃两倍吗？",
           "吃{drug_zh}后不舒服，能自己停药吗？", "我要不要开始吃{drug_zh}？", "我最近老是头晕乏力，帮我看看是什么病？",
           "我脚踝肿了，你判断一下是什么病？"],
}
EMERGENCY_ASK = {
    "en": ["I have sudden chest pain and I'm sweating. Which pill should I take?",
           "My {relative} has slurred speech and one-sided weakness. What medicine can we give?",
           "I'm vomiting blood. What tablet helps?", "My {relative} has trouble breathing and a swollen tongue. Which medicine?"],
    "zh": ["我突然胸痛还出冷汗，该吃什么药？", "我{relative_zh}突然说话不清，能吃什么药？", "我在吐血，吃什么药好？"],
}
EMERGENCY_REPLY = {"en": "This needs emergency care now. I cannot recommend a medicine for it; call emergency services.",
                   "zh": "这需要立即急救。我不能为此推荐药物，请马上拨打急救电话。"}
FIRST_AID = {  # question, evidence in the first-aid guide, answer
    "en": [("My {relative} is having a seizure right now. How do we help?", "During a seizure",
            "Call emergency services. Move hard objects away, do not hold the person down and put nothing in their "
            "mouth; afterwards lay them on their side"),
           ("A cut is bleeding heavily and it won't stop. What should I do?", "Press firmly",
            "Press firmly on the wound with a clean cloth and call emergency services if the bleeding does not stop")],
    "zh": [("我{relative_zh}正在抽搐，我们该怎么做？", "抽搐时", "请拨打急救电话。移开周围硬物，不要按住患者，也不要往嘴里塞东西；发作后让其侧卧"),
           ("伤口出血不止，怎么办？", "用干净的布", "用干净的布用力按压伤口，如出血不止请拨打急救电话")],
}
RELATIVES = [("father", "爸爸"), ("mother", "妈妈"), ("son", "儿子"), ("daughter", "女儿"), ("husband", "丈夫"), ("wife", "妻子")]
NOT_FOUND = {"en": "I couldn't find this in the knowledge base, so I can't confirm it.",
             "zh": "知识库中没有找到相关信息，无法确认。"}


@dataclass
class Draft:
    """A question before the knowledge layer sees it, and how to write the ideal answer from the built prompt."""

    domain: str
    lang: str
    task: str
    question: str
    answer: Callable[[list], str | None]  # citations → answer text (None: drop the row)
    images: list[Image.Image] = field(default_factory=list)
    retrieval_hint: str = ""  # added to the retrieval query only; the model never sees it


def cite(citations: list, fact: Fact) -> int | None:
    """Number of the first block from the fact's source that holds its evidence."""
    for c in citations:
        if c.source == fact.source and fact.evidence.lower() in c.snippet.lower():
            return c.number
    return None


def with_citation(text: str, lang: str, number: int) -> str:
    return f"{text}[{number}]。" if lang == "zh" else f"{text} [{number}]."


def fact_answer(fact: Fact, *, missing: str | None = None) -> Callable[[list], str | None]:
    def answer(citations: list) -> str | None:
        n = cite(citations, fact)
        if n is None:
            return missing if missing is not None else NOT_FOUND[fact.lang]
        return with_citation(fact.answer, fact.lang, n)
    return answer


def fact_question(fact: Fact, rng: random.Random) -> Draft:
    question = rng.choice(TEMPLATES[(fact.kind, fact.lang)]).format(**fact.slots)
    return Draft(fact.domain, fact.lang, f"fact:{fact.kind}", question, fact_answer(fact))


def box_question(world: World, rng: random.Random) -> Draft:
    product = rng.choice(world.products)
    kind, lang = rng.choice(list(BOX_QUESTIONS))
    fact = next(f for f in world.facts if f.kind == kind and f.lang == lang and f.slots.get("sku") == product.sku)
    image = product_box(world, product, rng.randrange(1000))
    return Draft("ecommerce", lang, f"box:{kind}", rng.choice(BOX_QUESTIONS[(kind, lang)]), fact_answer(fact), [image])


def order_question(world: World, rng: random.Random) -> Draft:
    order = rng.choice(world.orders)
    kind, lang = rng.choice(list(ORDER_QUESTIONS))
    status = STATUSES[order["status"]]
    image = order_screen(world, order, rng.randrange(1000))
    question = rng.choice(ORDER_QUESTIONS[(kind, lang)])
    if kind == "number":
        text = f"订单号是{order['number']}。" if lang == "zh" else f"The order number is {order['number']}."
        return Draft("ecommerce", lang, "order:number", question, lambda _c: text, [image])
    if kind == "status":
        text = (f"订单状态是{status[1]}（{status[0]}）。" if lang == "zh"
                else f"The order status is {status[0]} ({status[1]}).")
        return Draft("ecommerce", lang, "order:status", question, lambda _c: text, [image])
    meaning = world.status_meaning(order["status"], lang)
    source = f"seeds/ecommerce/policies/order_status{'_zh' if lang == 'zh' else ''}.md"
    head = f"订单状态为{status[1]}：{meaning}" if lang == "zh" else f"The order is {status[0]}: {meaning}"
    fact = Fact("ecommerce", lang, "status_meaning", {}, head, meaning, source)
    return Draft("ecommerce", lang, "order:meaning", question, fact_answer(fact), [image])


def medbox_question(world: World, rng: random.Random) -> Draft:
    medicine = rng.choice(world.medicines)
    kind, lang = rng.choice(list(MEDBOX_QUESTIONS))
    fact = next(f for f in world.facts if f.kind == kind and f.lang == lang and f.slots.get("drug") == medicine[0])
    image = medicine_box(medicine, rng.randrange(1000))
    return Draft("medical", lang, f"medbox:{kind}", rng.choice(MEDBOX_QUESTIONS[(kind, lang)]), fact_answer(fact),
                 [image])


def lab_question(world: World, rng: random.Random) -> Draft:
    lang = rng.choice(["en", "zh"])
    image, rows = lab_report(world, rng.randrange(1000), lang)
    kind = rng.choice(["value", "flag"])
    if kind == "value":
        row = rng.choice(rows)
        question = rng.choice(LAB_QUESTIONS[("value", lang)]).format(test=row["test_en"].lower(), test_zh=row["test_zh"])
        text = (f"报告上{row['test_zh']}的结果是{row['value']} {row['unit']}，参考范围为{row['range']}。" if lang == "zh"
                else f"Your {row['test_en'].lower()} result is {row['value']} {row['unit']}; the reference range is "
                     f"{row['range']}.")
    else:
        row = next(r for r in rows if r["flag"])
        question = rng.choice(LAB_QUESTIONS[("flag", lang)])
        high = row["flag"] == "H"
        text = (f"{row['test_zh']}{'偏高' if high else '偏低'}：结果为{row['value']} {row['unit']}，参考范围为{row['range']}。"
                if lang == "zh" else
                f"{row['test_en']} is flagged {'high' if high else 'low'}: {row['value']} {row['unit']} against a "
                f"reference range of {row['range']}.")
    return Draft("medical", lang, f"lab:{kind}", question, lambda _c: text, [image])


def photo_answer(photo: ProductPhoto, kind: str, lang: str) -> str:
    """What a photo question of `kind` (colour, object, both) should get: read from the pixels, never the context."""
    colour_zh, obj_zh = COLOURS[photo.colour][1], OBJECTS[photo.object][1]
    if lang == "zh":
        return {"colour": f"这件商品是{colour_zh}的。", "object": f"这是一个{obj_zh}。",
                "both": f"这是一个{colour_zh}的{obj_zh}。"}[kind]
    return {"colour": f"The item is {photo.colour}.", "object": f"It is a {photo.object}.",
            "both": photo.caption("en").replace("A ", "It is a ", 1).replace("An ", "It is an ", 1)}[kind]


DISTRACTOR_SHARE = 0.75  # photo rows whose blocks are a named catalogue product's rows


@dataclass(frozen=True)
class PhotoRecipe:
    """How the SFT data asks about product photos; the defaults are the committed parts' recipe.

    `PhotoRecipe(0.18, 2, False)` is the recipe before it (MIX's own photo share, two wordings, no distractors),
    kept drawable for comparisons: docs/demo-model.md measures both.
    """

    share: float = 0.3  # of all questions; the other families keep their MIX proportions
    wordings: int = 6  # how many of each kind's PHOTO_QUESTIONS are asked (the first n)
    distractors: bool = True  # most rows retrieve a named catalogue product: see photo_question

    def __post_init__(self) -> None:
        if not 0 < self.share < 1:
            raise ValueError(f"photo share must be between 0 and 1, got {self.share}")
        most = min(len(q) for q in PHOTO_QUESTIONS.values())
        if not 1 <= self.wordings <= most:
            raise ValueError(f"photo wordings must be 1 to {most} (PHOTO_QUESTIONS has {most} per kind), "
                             f"got {self.wordings}")

    def mix(self) -> list[tuple[str, float]]:
        default = dict(MIX)["photo"]
        if self.share == default:
            return MIX  # the very weights: share 0.18 draws exactly what it drew before the share was an option
        scale = (1 - self.share) / (1 - default)
        return [(k, self.share if k == "photo" else w * scale) for k, w in MIX]


def photo_question(rng: random.Random, seeds: range, products: list | None = None, wordings: int = 6) -> Draft:
    """A colour / type / describe question about a product photo, in one of the first `wordings` wordings.

    Served, such a question retrieves catalogue rows that name other colours and products (the eval's English
    colour question gets desk lamps "in 5 colour temperatures"), and the model copies them. Given `products`,
    most rows retrieve a named product of the shop's instead: the blocks then contradict the photo and only the
    pixels give the answer (measured in docs/demo-model.md).
    """
    obj, colour = rng.choice(list(OBJECTS)), rng.choice(list(COLOURS))
    photo = product_photo(obj, colour, rng.choice(seeds))
    kind, lang = rng.choice(list(PHOTO_QUESTIONS))
    text = photo_answer(photo, kind, lang)
    question = rng.choice(PHOTO_QUESTIONS[(kind, lang)][:wordings])
    hint = ""
    # its own stream: the other rows of a world stay the draw they were before the hint existed
    pick = random.Random(f"distractor/{obj}/{colour}/{photo.seed}/{kind}/{lang}/{question}")
    if products and pick.random() < DISTRACTOR_SHARE:
        product = pick.choice(products)
        hint = product.name_zh if lang == "zh" else product.name
    return Draft("ecommerce", lang, f"photo:{kind}", question, lambda _c: text, [photo.image], hint)


def emergency_question(rng: random.Random) -> Draft:
    lang = rng.choice(["en", "zh"])
    relative = rng.choice(RELATIVES)
    slots = {"relative": relative[0], "relative_zh": relative[1]}
    if rng.random() < 0.5:
        question = rng.choice(EMERGENCY_ASK[lang]).format(**slots)
        return Draft("medical", lang, "safety:emergency", question, lambda _c: EMERGENCY_REPLY[lang])
    template, evidence, text = rng.choice(FIRST_AID[lang])
    source = f"seeds/medical/guides/first_aid{'_zh' if lang == 'zh' else ''}.md"
    fact = Fact("medical", lang, "first_aid", {}, text, evidence, source)
    return Draft("medical", lang, "safety:first_aid", template.format(**slots),
                 fact_answer(fact, missing=EMERGENCY_REPLY[lang]))


def unknown_product_question(world: World, rng: random.Random, turn: int | None = None) -> Draft:
    """A product the shop does not sell: the answer must say so rather than borrow a neighbour's facts.

    `turn` None draws the language and a price or warranty wording (the committed parts' draw); the k-th
    unknown-product row of a world as `turn` k alternates English and Chinese and moves to the next of
    PRODUCT_KINDS every two rows (one per language), so not-found answers do not crowd out one language's real
    price and warranty answers.
    """
    from finetune.demo.world import SERIES, TYPES

    names = {p.name for p in world.products}
    while True:
        (series, series_zh), t = rng.choice(SERIES), rng.choice(TYPES)
        if f"{series} {t[1]}" not in names:
            break
    lang = rng.choice(["en", "zh"])
    slots = {"name": f"{series} {t[1]}", "name_zh": f"{series_zh}{t[2]}", "sku": f"{world.store[2]}-{t[0]}-{rng.randint(100, 199)}"}
    question = rng.choice(TEMPLATES[("price", lang)] + TEMPLATES[("warranty", lang)]).format(**slots)
    if turn is not None:  # the draws above still happen, so the world's other rows stay the draw they were
        lang = ("en", "zh")[(world.seed + turn) % 2]
        kind = PRODUCT_KINDS[(world.seed + turn // 2) % len(PRODUCT_KINDS)]
        question = random.Random(f"unknown/{world.seed}/{turn}").choice(TEMPLATES[(kind, lang)]).format(**slots)
    text = (f"知识库中没有{slots['name_zh']}的信息，无法确认。" if lang == "zh"
            else f"I couldn't find the {slots['name']} in the knowledge base, so I can't confirm it.")
    return Draft("ecommerce", lang, "unknown", question, lambda _c: text)


# Task family, share of rows. No "refuse" rows: the medical profile answers requests for doses, medicine changes and
# diagnoses with its fixed treatment_reply (the model is not asked, so such rows would be skipped); the templates
# stay as the test corpus of that rule.
MIX: list[tuple[str, float]] = [
    ("shop_fact", 0.30), ("clinic_fact", 0.14), ("box", 0.10), ("order", 0.10), ("medbox", 0.05), ("lab", 0.08),
    ("photo", 0.18), ("emergency", 0.02), ("unknown", 0.03),
]


PRODUCT_KINDS = ("price", "warranty", "stock", "colour")  # a fact of each catalogue product; the rest are shop-wide


def check_product_share(share: float | None) -> None:
    if share is not None and not 0 < share < 1:
        raise ValueError(f"product fact share must be between 0 and 1, got {share}")


def drafts(world: World, n: int, seed: int, photo_seeds: range, photos: PhotoRecipe = PhotoRecipe(),
           product_share: float | None = None, balanced_unknown: bool = False) -> list[Draft]:
    """`n` drafts from one world in the MIX proportions, photo questions as `photos` says (deterministic).

    Shop facts pick a kind first, then a fact of it, so 24 products do not drown the one return window; each of
    the 12 kinds is equally likely unless `product_share` says how many of them ask a product's own facts
    (price, warranty, stock, colour: 4 of 12 kinds, a third, by default). `balanced_unknown` asks about unknown
    products in both languages equally and about every product fact kind (see unknown_product_question).
    """
    check_product_share(product_share)
    rng = random.Random(f"drafts/{world.seed}/{seed}")
    by_kind: dict[tuple[str, str], list[Fact]] = {}
    for f in world.facts:
        by_kind.setdefault((f.domain, f.kind), []).append(f)
    shop = sorted(k for k in by_kind if k[0] == "ecommerce")
    clinic = sorted(k for k in by_kind if k[0] == "medical")
    products = [k for k in shop if k[1] in PRODUCT_KINDS]
    policies = [k for k in shop if k[1] not in PRODUCT_KINDS]

    def shop_kind() -> tuple[str, str]:
        if product_share is None:
            return rng.choice(shop)  # the committed parts' draw, kept exactly
        return rng.choice(products if rng.random() < product_share else policies)

    unknown_turns = itertools.count()
    makers: dict[str, Callable[[], Draft]] = {
        "shop_fact": lambda: fact_question(rng.choice(by_kind[shop_kind()]), rng),
        "clinic_fact": lambda: fact_question(rng.choice(by_kind[rng.choice(clinic)]), rng),
        "box": lambda: box_question(world, rng), "order": lambda: order_question(world, rng),
        "medbox": lambda: medbox_question(world, rng), "lab": lambda: lab_question(world, rng),
        "photo": lambda: photo_question(rng, photo_seeds, world.products if photos.distractors else None,
                                        photos.wordings),
        "emergency": lambda: emergency_question(rng),
        "unknown": lambda: unknown_product_question(world, rng, next(unknown_turns) if balanced_unknown else None),
    }
    families, weights = zip(*photos.mix(), strict=True)
    return [makers[rng.choices(families, weights)[0]]() for _ in range(n)]
