"""Fictional knowledge bases the demo model learns to read: shops and clinics that are not the bundled seeds.

Each world is a seed pack (`<root>/seeds/ecommerce`, `<root>/seeds/medical`) in the same formats as
knowledge/seeds — a product CSV, policy and troubleshooting Markdown, lab tests, leaflets, clinic rules — with
prices, windows, codes and names drawn per world. The facts change from world to world, so the model can only
score by copying from the context blocks, never by remembering; and none of it is the Northwind store or the
clinic the eval sets ask about.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

NOT_ADVICE_EN = "> Patient education only — not medical advice. Ask your doctor or pharmacist about your own situation."
NOT_ADVICE_ZH = "> 仅供患者教育参考——不构成医疗建议。具体情况请咨询医生或药师。"

STORES = [("Lakeside Living", "湖畔生活", "LK"), ("Maple & Co.", "枫叶家居", "MP"), ("Brightway Home", "明途家居", "BW"),
          ("Harbor Goods", "港湾好物", "HG"), ("Cedar Lane", "雪松小铺", "CL"), ("Sunpeak Store", "日峰商城", "SK")]
# code, English, Chinese, category, spec template
TYPES = [
    ("CM", "Coffee Maker", "咖啡机", "kitchen", "{cap} L tank, {w} W, 15 bar pump, milk frother"),
    ("AF", "Air Fryer", "空气炸锅", "kitchen", "{cap} L basket, {w} W, 8 presets, dishwasher-safe basket"),
    ("HD", "Hair Dryer", "吹风机", "personal care", "{w} W, 3 heat settings, ionic mode, foldable handle"),
    ("ET", "Electric Toothbrush", "电动牙刷", "personal care", "{run} day battery, 4 brushing modes, 2-minute timer"),
    ("HU", "Humidifier", "加湿器", "home", "{cap} L tank, ultrasonic, quiet {db} dB, auto shut-off"),
    ("SW", "Smart Watch", "智能手表", "wearables", "{run} day battery, heart-rate sensor, 5 ATM water resistance"),
    ("IR", "Steam Iron", "蒸汽熨斗", "home", "{w} W, ceramic soleplate, vertical steam"),
    ("MW", "Microwave Oven", "微波炉", "kitchen", "{cap} L, {w} W, 10 power levels, child lock"),
    ("EB", "Earbuds", "无线耳塞", "audio", "Bluetooth 5.3, {run} h with case, touch controls"),
    ("SC", "Slow Cooker", "慢炖锅", "kitchen", "{cap} L ceramic pot, 3 heat settings, keep-warm"),
    ("RV", "Robot Vacuum", "扫地机器人", "cleaning", "{run} min runtime, app control, {cap} L dust box"),
    ("WS", "Bathroom Scale", "体重秤", "personal care", "body fat reading, up to 180 kg, app sync"),
]
SERIES = [("Harbor", "港湾"), ("Maple", "枫叶"), ("Orbit", "轨道"), ("Willow", "垂柳"), ("Zenith", "天顶"),
          ("Coral", "珊瑚"), ("Echo", "回声"), ("Falcon", "猎鹰"), ("Glacier", "冰川"), ("Lotus", "莲花"),
          ("Meadow", "草地"), ("Quartz", "石英"), ("Ember", "余烬"), ("Tide", "潮汐"), ("Cascade", "瀑布"),
          ("Juniper", "杜松"), ("Sierra", "山脊"), ("Atlas", "阿特拉斯"), ("Bamboo", "竹影"), ("Comet", "彗星")]
COLOURS = [("white", "白色"), ("black", "黑色"), ("silver", "银色"), ("red", "红色"), ("blue", "蓝色"),
           ("mint green", "薄荷绿"), ("beige", "米色")]
STATUSES = [  # English, Chinese, meaning EN (per wording), meaning ZH
    ("Awaiting payment", "待付款", ["payment has not arrived yet; unpaid orders close after {h} hours",
                                   "we are still waiting for the payment; the order closes after {h} hours unpaid"],
     ["尚未收到付款；未付款订单{h}小时后自动关闭", "仍在等待付款；{h}小时内未付款订单将关闭"]),
    ("Processing", "处理中", ["the payment went through and the items are being packed; you can still edit or cancel it",
                             "the warehouse is packing the items; changes and cancellation are still possible"],
     ["付款已确认，仓库正在打包；仍可修改或取消", "仓库正在备货；此时仍可更改或取消订单"]),
    ("Shipped", "已发货", ["the parcel is with the courier and has a tracking number; cancelling is no longer possible",
                          "the package is on its way; it can no longer be cancelled but can be returned after it arrives"],
     ["包裹已交给快递并有运单号；已无法取消", "包裹正在运输途中；无法取消，但签收后可以退货"]),
    ("Delivered", "已签收", ["the courier reports the parcel as delivered; report a missing parcel within {d} days",
                            "delivery is confirmed by the courier; tell us within {d} days if you did not get it"],
     ["快递显示已送达；如未收到请在{d}天内告知", "快递已确认送达；如未收到请于{d}天内联系我们"]),
    ("Cancelled", "已取消", ["the order was cancelled and any payment goes back within {r} business days",
                            "the order is void; money paid is refunded within {r} business days"],
     ["订单已取消，款项将在{r}个工作日内退回", "订单已作废，已付款项{r}个工作日内退还"]),
]
FAULTS = [  # English, Chinese
    ("the water tank is empty", "水箱缺水"), ("the lid or door is not closed", "盖子或门未关好"),
    ("the heating element is overheating", "加热元件过热"), ("the filter is blocked", "滤网堵塞"),
    ("the battery is too low", "电量过低"), ("the temperature sensor has failed", "温度传感器故障"),
    ("the motor is jammed", "电机卡住"), ("the Wi-Fi connection was lost", "Wi-Fi连接已断开"),
]
LAB_TESTS = [  # name, Chinese, abbreviation, range, unit, measures EN, measures ZH
    ("Blood urea nitrogen", "尿素氮", "BUN", "2.9-8.2", "mmol/L", "a waste product the kidneys remove", "肾脏清除的代谢废物"),
    ("Albumin", "白蛋白", "ALB", "35-55", "g/L", "the main protein made by the liver", "肝脏合成的主要蛋白质"),
    ("Total bilirubin", "总胆红素", "TBIL", "3.4-20.5", "umol/L", "a yellow pigment from old red cells", "红细胞分解产生的黄色色素"),
    ("Gamma-glutamyl transferase", "谷氨酰转移酶", "GGT", "10-60", "U/L", "a liver and bile-duct enzyme", "肝脏和胆管的一种酶"),
    ("Alkaline phosphatase", "碱性磷酸酶", "ALP", "40-150", "U/L", "an enzyme from the liver and bones", "来自肝脏和骨骼的酶"),
    ("Calcium", "血钙", "Ca", "2.1-2.6", "mmol/L", "calcium for bones, nerves and muscles", "骨骼、神经和肌肉所需的钙"),
    ("Magnesium", "血镁", "Mg", "0.75-1.02", "mmol/L", "a mineral for nerves and muscles", "神经和肌肉所需的矿物质"),
    ("Free thyroxine", "游离甲状腺素", "FT4", "12-22", "pmol/L", "the main thyroid hormone", "主要的甲状腺激素"),
    ("Vitamin B12", "维生素B12", "B12", "133-675", "pmol/L", "a vitamin for nerves and red cells", "神经和红细胞所需的维生素"),
    ("Serum iron", "血清铁", "Fe", "11-30", "umol/L", "iron carried in the blood", "血液中运输的铁"),
    ("Red blood cell count", "红细胞计数", "RBC", "4.3-5.8", "x10^12/L", "the number of red blood cells", "红细胞的数量"),
    ("Chloride", "血氯", "Cl", "96-106", "mmol/L", "a salt that keeps fluids balanced", "维持体液平衡的盐"),
    ("Phosphate", "血磷", "P", "0.81-1.45", "mmol/L", "a mineral for bones and energy", "骨骼和能量代谢所需的矿物质"),
    ("Creatine kinase", "肌酸激酶", "CK", "50-310", "U/L", "an enzyme released by muscles", "肌肉释放的一种酶"),
    ("Amylase", "淀粉酶", "AMY", "35-135", "U/L", "an enzyme from the pancreas", "胰腺分泌的一种酶"),
    ("Erythrocyte sedimentation rate", "红细胞沉降率", "ESR", "0-20", "mm/h", "a general sign of inflammation", "炎症的一般指标"),
]
MEDICINES = [  # name, Chinese, class EN, use EN, side effects EN, class ZH, use ZH, side effects ZH
    ("Cetirizine", "西替利嗪", "an antihistamine", "hay fever, itchy skin and hives", "drowsiness, dry mouth, headache",
     "抗组胺药", "花粉症、皮肤瘙痒和荨麻疹", "嗜睡、口干、头痛"),
    ("Losartan", "氯沙坦", "an angiotensin receptor blocker", "high blood pressure and protecting the kidneys in diabetes",
     "dizziness, tiredness, high potassium", "血管紧张素受体阻滞剂", "高血压以及糖尿病患者的肾脏保护", "头晕、乏力、血钾升高"),
    ("Levothyroxine", "左甲状腺素", "a thyroid hormone", "an underactive thyroid",
     "palpitations or trouble sleeping if the dose is too high", "甲状腺激素", "甲状腺功能减退", "剂量过高时心悸或失眠"),
    ("Simvastatin", "辛伐他汀", "a statin", "lowering cholesterol", "muscle aches, stomach upset, headache",
     "他汀类药物", "降低胆固醇", "肌肉酸痛、胃部不适、头痛"),
    ("Montelukast", "孟鲁司特", "a leukotriene blocker", "preventing asthma attacks and allergy symptoms",
     "headache, stomach pain, mood changes", "白三烯受体拮抗剂", "预防哮喘发作和过敏症状", "头痛、腹痛、情绪变化"),
    ("Famotidine", "法莫替丁", "an acid reducer", "heartburn and stomach ulcers", "headache, constipation, diarrhoea",
     "抑酸药", "胃灼热和胃溃疡", "头痛、便秘、腹泻"),
    ("Naproxen", "萘普生", "an anti-inflammatory painkiller", "joint pain, period pain and swelling",
     "stomach upset, heartburn, dizziness", "非甾体抗炎止痛药", "关节痛、痛经和肿胀", "胃部不适、胃灼热、头晕"),
    ("Azithromycin", "阿奇霉素", "an antibiotic", "some chest, ear and skin infections", "diarrhoea, nausea, stomach pain",
     "抗生素", "部分胸部、耳部和皮肤感染", "腹泻、恶心、腹痛"),
    ("Bisoprolol", "比索洛尔", "a beta blocker", "high blood pressure and heart failure", "tiredness, cold hands, dizziness",
     "β受体阻滞剂", "高血压和心力衰竭", "乏力、手脚冰凉、头晕"),
    ("Hydrochlorothiazide", "氢氯噻嗪", "a water tablet (diuretic)", "high blood pressure and fluid retention",
     "passing more urine, dizziness, low potassium", "利尿剂", "高血压和水肿", "尿量增多、头晕、血钾降低"),
]


@dataclass(frozen=True)
class Fact:
    """One answerable thing in a world: the answer sentence and the text its cited block must hold."""

    domain: str
    lang: str
    kind: str
    slots: dict
    answer: str
    evidence: str
    source: str


@dataclass
class Product:
    sku: str
    name: str
    name_zh: str
    category: str
    specs: str
    colour: str
    colour_zh: str
    price: str
    warranty: int
    in_stock: str
    in_stock_zh: str


@dataclass
class World:
    """A generated shop and clinic; `write(root)` lays them out as seed packs."""

    seed: int
    store: tuple[str, str, str]
    products: list[Product]
    numbers: dict
    status_wording: list[int]
    faults: dict[str, list[tuple[str, str, str]]]
    tests: list[tuple]
    medicines: list[tuple]
    facts: list[Fact] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)

    def write(self, root: Path) -> Path:
        shop, clinic = root / "seeds" / "ecommerce", root / "seeds" / "medical"
        _write_csv(shop / "products.csv", [_product_row(p) for p in self.products])
        for name, text in self.shop_docs().items():
            _write(shop / name, text)
        _write_csv(clinic / "lab_tests.csv", [_test_row(t) for t in self.tests])
        for name, text in self.clinic_docs().items():
            _write(clinic / name, text)
        return root

    # ---------------------------------------------------------------------------------------------- documents
    def shop_docs(self) -> dict[str, str]:
        n, en, zh = self.numbers, self.store[0], self.store[1]
        docs = {
            "policies/returns.md": f"""# Returns at {en}

## How long you have to return
Items can be sent back within {n['return_days']} days of delivery for a full refund, unused and in the original box.

## Starting a return
Go to Account > Orders, pick the order and choose "Send back". Drop the parcel at a courier point within {n['dropoff_days']} days.

## When the refund arrives
Once the warehouse has checked the item, the refund reaches your original payment method within {n['refund_days']} business days.

## Damaged on arrival
Report damage with a photo within {n['damage_hours']} hours of delivery and we send a replacement at no cost.
""",
            "policies/returns_zh.md": f"""# {zh}退货说明

## 退货期限
商品签收后{n['return_days']}天内可退货并全额退款，需未使用且保留原包装。

## 如何发起退货
进入“账户 > 订单”，选择订单并点击“寄回”。请在{n['dropoff_days']}天内把包裹交到快递网点。

## 退款到账时间
仓库检查商品后，退款将在{n['refund_days']}个工作日内退回原支付方式。

## 到货损坏
请在签收后{n['damage_hours']}小时内拍照反馈损坏情况，我们免费补发。
""",
            "policies/shipping.md": f"""# Delivery options

## Standard delivery
Standard delivery takes {n['std_days']} working days and costs ${n['std_fee']}; it is free on orders over ${n['free_over']}.

## Express delivery
Express delivery arrives in {n['exp_days']} working days and costs ${n['exp_fee']}.

## Delivery areas
We deliver to the mainland only; islands and remote areas add {n['remote_days']} working days.
""",
            "policies/shipping_zh.md": f"""# 配送方式

## 标准配送
标准配送需{n['std_days']}个工作日，运费{n['std_fee']}美元；订单满{n['free_over']}美元包邮。

## 加急配送
加急配送{n['exp_days']}个工作日送达，运费{n['exp_fee']}美元。

## 配送范围
仅配送至大陆地区；海岛及偏远地区需额外{n['remote_days']}个工作日。
""",
            "policies/payment.md": f"""# Paying for an order

## Accepted payment methods
We accept {n['methods_en']}.

## Paying in instalments
Orders over ${n['instal_over']} can be split into {n['instalments']} interest-free monthly payments.
""",
            "policies/payment_zh.md": f"""# 支付说明

## 支持的支付方式
我们支持{n['methods_zh']}。

## 分期付款
订单满{n['instal_over']}美元可分{n['instalments']}期免息付款。
""",
            "policies/order_status.md": "# What your order status means\n\n" + "\n".join(
                f"## {s[0]}\n{self.status_meaning(i, 'en').capitalize()}.\n" for i, s in enumerate(STATUSES)),
            "policies/order_status_zh.md": "# 订单状态说明\n\n" + "\n".join(
                f"## {s[1]}\n{self.status_meaning(i, 'zh')}。\n" for i, s in enumerate(STATUSES)),
        }
        for code, faults in self.faults.items():
            t = next(t for t in TYPES if t[0] == code)
            docs[f"troubleshooting/{code.lower()}.md"] = f"# Troubleshooting: {t[1]} error codes\n\n" + "\n\n".join(
                f"## Error {c}\n{c} means {f_en}. Switch the {t[1].lower()} off, fix the cause and restart it; if "
                f"{c} comes back, contact support." for c, f_en, _ in faults) + "\n"
            docs[f"troubleshooting/{code.lower()}_zh.md"] = f"# 故障排除：{t[2]}错误代码\n\n" + "\n\n".join(
                f"## 错误{c}\n{c}表示{f_zh}。请关闭{t[2]}，排除原因后重新启动；如{c}再次出现，请联系客服。"
                for c, _, f_zh in faults) + "\n"
        return docs

    def clinic_docs(self) -> dict[str, str]:
        n = self.numbers
        docs = {
            "clinic/rules.md": f"""# Clinic rules

{NOT_ADVICE_EN}

## Opening hours
The clinic is open from {n['open']} to {n['close']}, Monday to Saturday.

## Cancelling an appointment
Please cancel at least {n['cancel_hours']} hours before your visit so someone else can take the slot.

## Test results
Blood test results are usually ready within {n['results_days']} working days and are shown in the patient app.

## Repeat prescriptions
Request a repeat prescription at least {n['refill_days']} working days before your medicine runs out.
""",
            "clinic/rules_zh.md": f"""# 诊所须知

{NOT_ADVICE_ZH}

## 开放时间
诊所周一至周六{n['open']}至{n['close']}开放。

## 取消预约
请至少提前{n['cancel_hours']}小时取消预约，以便其他患者使用该时段。

## 检查结果
血液检查结果通常在{n['results_days']}个工作日内出来，可在患者App中查看。

## 续开处方
请在药物用完前至少{n['refill_days']}个工作日申请续开处方。
""",
            "guides/first_aid.md": f"""# When to call for help

{NOT_ADVICE_EN}

## Seizures
During a seizure, move hard objects away, do not hold the person down and put nothing in their mouth; afterwards lay them on their side and call emergency services.

## Heavy bleeding
Press firmly on the wound with a clean cloth and call emergency services if the bleeding does not stop.
""",
            "guides/first_aid_zh.md": f"""# 何时呼救

{NOT_ADVICE_ZH}

## 抽搐发作
抽搐时移开周围硬物，不要按住患者，也不要往嘴里塞东西；发作后让其侧卧并拨打急救电话。

## 大量出血
用干净的布用力按压伤口，如出血不止请拨打急救电话。
""",
        }
        for m in self.medicines:
            name, name_zh, cls, use, side, cls_zh, use_zh, side_zh = m
            docs[f"medications/{name.lower()}.md"] = f"""# {name}: what patients should know

{NOT_ADVICE_EN}

## About {name}
{name} is {cls}.

## What {name} treats
{name} is used for {use}.

## Side effects of {name}
Common side effects are {side}.

## Dosing
Only your doctor or pharmacist can set your dose of {name}; follow the pharmacy label.
"""
            docs[f"medications/{name.lower()}_zh.md"] = f"""# {name_zh}：患者须知

{NOT_ADVICE_ZH}

## 关于{name_zh}
{name_zh}是一种{cls_zh}。

## {name_zh}的用途
{name_zh}用于{use_zh}。

## {name_zh}的副作用
常见副作用有{side_zh}。

## 用量
{name_zh}的剂量只能由医生或药师确定，请按药房标签服用。
"""
        return docs

    def status_meaning(self, i: int, lang: str) -> str:
        s = STATUSES[i]
        text = (s[2] if lang == "en" else s[3])[self.status_wording[i]]
        return text.format(h=self.numbers["unpaid_hours"], d=self.numbers["missing_days"], r=self.numbers["refund_days"])


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _product_row(p: Product) -> dict:
    # the same columns as the bundled catalogue, so chunks read the way served chunks read
    return {"sku": p.sku, "name": p.name, "name_zh": p.name_zh, "category": p.category, "specs": p.specs,
            "colour": f"{p.colour} / {p.colour_zh}", "price_usd": p.price, "warranty_months": str(p.warranty),
            "in_stock": p.in_stock}


def _test_row(t: tuple) -> dict:
    name, zh, abbr, rng, unit, what, _ = t
    return {"test": name, "test_zh": zh, "abbreviation": abbr, "reference_range": rng, "unit": unit,
            "what_it_measures": what, "note": "not medical advice; ranges vary by laboratory"}


def make_world(seed: int, *, n_products: int = 24) -> World:
    """A world drawn from `seed`: the same seed always gives the same shop, clinic and facts."""
    rng = random.Random(f"world/{seed}")
    store = STORES[seed % len(STORES)]
    products, used = [], set()
    while len(products) < n_products:
        code, en, zh, cat, spec = rng.choice(TYPES)
        series, series_zh = rng.choice(SERIES)
        if (series, code) in used:
            continue
        used.add((series, code))
        colour, colour_zh = rng.choice(COLOURS)
        weeks = rng.choice([1, 2, 3, 4])
        stock = rng.random() < 0.7
        values = {"cap": rng.choice([0.5, 1.2, 1.8, 2.5, 4.0, 5.5]), "w": rng.choice([40, 300, 900, 1400, 1800, 2200]),
                  "run": rng.choice([7, 14, 20, 30, 90, 120]), "db": rng.choice([25, 28, 32])}
        products.append(Product(
            sku=f"{store[2]}-{code}-{rng.randint(200, 989)}", name=f"{series} {en}", name_zh=f"{series_zh}{zh}",
            category=cat, specs=spec.format(**values), colour=colour, colour_zh=colour_zh,
            price=f"{rng.randint(12, 390)}.{rng.choice(['99', '49', '95', '00'])}",
            warranty=rng.choice([6, 12, 18, 24, 36]), in_stock="yes" if stock else f"no (back in {weeks} weeks)",
            in_stock_zh="有货" if stock else f"缺货（{weeks}周后到货）"))
    methods = rng.sample([("Visa", "Visa"), ("Mastercard", "万事达卡"), ("PayPal", "PayPal"), ("Alipay", "支付宝"),
                          ("WeChat Pay", "微信支付"), ("bank transfer", "银行转账")], 3)
    numbers = {
        "return_days": rng.choice([7, 14, 15, 21, 45, 60, 90]), "dropoff_days": rng.choice([3, 5, 10, 14]),
        "refund_days": rng.choice([2, 3, 4, 7, 10]), "damage_hours": rng.choice([24, 72, 96]),
        "std_days": rng.choice(["2-4", "3-5", "4-6", "5-7"]), "std_fee": rng.choice(["3.50", "4.99", "5.90", "6.00"]),
        "free_over": rng.choice([35, 49, 59, 79, 99]), "exp_days": rng.choice(["1", "1-2", "2"]),
        "exp_fee": rng.choice(["7.50", "11.00", "12.90", "14.99", "15.50"]), "remote_days": rng.choice([2, 3, 4]),
        "methods_en": ", ".join(m[0] for m in methods), "methods_zh": "、".join(m[1] for m in methods),
        "instal_over": rng.choice([150, 200, 300, 500]), "instalments": rng.choice([3, 4, 6, 12]),
        "unpaid_hours": rng.choice([2, 6, 12, 48]), "missing_days": rng.choice([2, 5, 7]),
        "open": rng.choice(["7:30", "8:30", "9:00"]), "close": rng.choice(["17:00", "19:30", "20:00"]),
        "cancel_hours": rng.choice([6, 12, 36, 48, 72]), "results_days": rng.choice([1, 3, 4, 5]),
        "refill_days": rng.choice([2, 5, 7]),
    }
    codes = sorted({p.sku.split("-")[1] for p in products})
    faults = {}
    for code in codes[:4]:
        picks = rng.sample(FAULTS, 3)
        numbers_used = rng.sample(range(1, 10), 3)
        faults[code] = [(f"{rng.choice('EFH')}{k}", f_en, f_zh) for k, (f_en, f_zh) in zip(numbers_used, picks, strict=True)]
    world = World(seed=seed, store=store, products=products, numbers=numbers,
                  status_wording=[rng.randrange(2) for _ in STATUSES], faults=faults,
                  tests=rng.sample(LAB_TESTS, 10), medicines=rng.sample(MEDICINES, 6))
    world.orders = [_order(world, rng) for _ in range(6)]
    world.facts = facts_of(world)
    return world


def _order(world: World, rng: random.Random) -> dict:
    status = rng.randrange(len(STATUSES))
    items = rng.sample(world.products, rng.choice([1, 1, 2]))
    return {"number": f"{rng.choice([2025, 2026])}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}-{rng.randint(1000, 9999)}",
            "status": status, "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "items": [(p, rng.choice([1, 1, 2])) for p in items]}


def facts_of(world: World) -> list[Fact]:
    """Every question-worthy fact of a world, in English and Chinese, with where its evidence lives."""
    n, out = world.numbers, []
    shop, clinic = "seeds/ecommerce", "seeds/medical"

    def add(domain, lang, kind, slots, answer, evidence, source):
        out.append(Fact(domain, lang, kind, slots, answer, evidence, source))

    for p in world.products:
        s = {"name": p.name, "name_zh": p.name_zh, "sku": p.sku}
        src = f"{shop}/products.csv"
        add("ecommerce", "en", "price", s, f"The {p.name} ({p.sku}) is priced at ${p.price}", p.price, src)
        add("ecommerce", "zh", "price", s, f"{p.name_zh}（{p.sku}）的价格是{p.price}美元", p.price, src)
        add("ecommerce", "en", "warranty", s, f"The {p.name} comes with a warranty of {p.warranty} months",
            f"warranty_months: {p.warranty}", src)
        add("ecommerce", "zh", "warranty", s, f"{p.name_zh}的保修期为{p.warranty}个月", f"warranty_months: {p.warranty}", src)
        stock_en = "it is in stock" if p.in_stock == "yes" else f"it is out of stock, {p.in_stock[4:-1]}"
        add("ecommerce", "en", "stock", s, f"The {p.name}: {stock_en}", f"in_stock: {p.in_stock}", src)
        add("ecommerce", "zh", "stock", s, f"{p.name_zh}目前{p.in_stock_zh}", f"in_stock: {p.in_stock}", src)
        add("ecommerce", "en", "colour", s, f"The {p.name} comes in {p.colour}", p.colour, src)
        add("ecommerce", "zh", "colour", s, f"{p.name_zh}的颜色是{p.colour_zh}", p.colour_zh, src)
    policy = [
        ("return_window", f"Items can be sent back within {n['return_days']} days of delivery for a full refund",
         f"商品签收后{n['return_days']}天内可退货并全额退款", "returns"),
        ("refund_time", f"The refund reaches your original payment method within {n['refund_days']} business days "
         "after the warehouse has checked the item", f"仓库检查商品后，退款将在{n['refund_days']}个工作日内退回原支付方式",
         "returns"),
        ("damage", f"Report damage with a photo within {n['damage_hours']} hours of delivery and we send a replacement",
         f"请在签收后{n['damage_hours']}小时内拍照反馈损坏情况，我们免费补发", "returns"),
        ("standard_fee", f"Standard delivery costs ${n['std_fee']} and is free on orders over ${n['free_over']}",
         f"标准配送运费{n['std_fee']}美元；订单满{n['free_over']}美元包邮", "shipping"),
        ("express", f"Express delivery costs ${n['exp_fee']} and arrives in {n['exp_days']} working days",
         f"加急配送运费{n['exp_fee']}美元，{n['exp_days']}个工作日送达", "shipping"),
        ("instalments", f"Orders over ${n['instal_over']} can be split into {n['instalments']} interest-free monthly "
         "payments", f"订单满{n['instal_over']}美元可分{n['instalments']}期免息付款", "payment"),
        ("methods", f"We accept {n['methods_en']}", f"我们支持{n['methods_zh']}", "payment"),
    ]
    for kind, en, zh, doc in policy:
        add("ecommerce", "en", kind, {}, en, en.split(" ")[-2] if kind == "methods" else _number_of(en), f"{shop}/policies/{doc}.md")
        add("ecommerce", "zh", kind, {}, zh, _number_of(zh) if kind != "methods" else zh[-4:], f"{shop}/policies/{doc}_zh.md")
    for code, faults in world.faults.items():
        t = next(t for t in TYPES if t[0] == code)
        for c, f_en, f_zh in faults:
            s = {"type": t[1].lower(), "type_zh": t[2], "code": c}
            add("ecommerce", "en", "error_code", s, f"Error {c} means {f_en}; switch it off, fix the cause and restart it",
                f"{c} means {f_en}", f"{shop}/troubleshooting/{code.lower()}.md")
            add("ecommerce", "zh", "error_code", s, f"{c}表示{f_zh}，请关闭后排除原因再重新启动",
                f"{c}表示{f_zh}", f"{shop}/troubleshooting/{code.lower()}_zh.md")
    for t in world.tests:
        name, zh, abbr, rng_, unit, what, what_zh = t
        s = {"test": name.lower() if name != "Free thyroxine" else name, "test_zh": zh, "abbr": abbr}
        add("medical", "en", "lab_range", s, f"The reference range for {name.lower()} ({abbr}) is {rng_} {unit}",
            f"reference_range: {rng_}", f"{clinic}/lab_tests.csv")
        add("medical", "zh", "lab_range", s, f"{zh}（{abbr}）的参考范围是{rng_} {unit}", f"reference_range: {rng_}",
            f"{clinic}/lab_tests.csv")
        add("medical", "en", "lab_what", s, f"{name} ({abbr}) measures {what}", what, f"{clinic}/lab_tests.csv")
    for m in world.medicines:
        name, name_zh, cls, use, side, cls_zh, use_zh, side_zh = m
        s = {"drug": name, "drug_zh": name_zh}
        low = name.lower()
        add("medical", "en", "med_use", s, f"{name} is {cls} used for {use}", use, f"{clinic}/medications/{low}.md")
        add("medical", "zh", "med_use", s, f"{name_zh}是一种{cls_zh}，用于{use_zh}", use_zh, f"{clinic}/medications/{low}_zh.md")
        add("medical", "en", "med_side", s, f"Common side effects of {name} are {side}", side, f"{clinic}/medications/{low}.md")
        add("medical", "zh", "med_side", s, f"{name_zh}的常见副作用有{side_zh}", side_zh, f"{clinic}/medications/{low}_zh.md")
    rules = [
        ("cancel", f"Please cancel at least {n['cancel_hours']} hours before your visit",
         f"请至少提前{n['cancel_hours']}小时取消预约"),
        ("results", f"Blood test results are usually ready within {n['results_days']} working days",
         f"血液检查结果通常在{n['results_days']}个工作日内出来"),
        ("hours", f"The clinic is open from {n['open']} to {n['close']}, Monday to Saturday",
         f"诊所周一至周六{n['open']}至{n['close']}开放"),
        ("refill", f"Request a repeat prescription at least {n['refill_days']} working days before your medicine runs "
         "out", f"请在药物用完前至少{n['refill_days']}个工作日申请续开处方"),
    ]
    for kind, en, zh in rules:
        add("medical", "en", kind, {}, en, _number_of(en), f"{clinic}/clinic/rules.md")
        add("medical", "zh", kind, {}, zh, _number_of(zh), f"{clinic}/clinic/rules_zh.md")
    return out


def _number_of(text: str) -> str:
    import re

    found = re.findall(r"\$?\d[\d.:,-]*", text)
    return found[0] if found else text


def dump_facts(world: World, path: Path) -> None:
    path.write_text("".join(json.dumps(f.__dict__, ensure_ascii=False) + "\n" for f in world.facts), encoding="utf-8")
