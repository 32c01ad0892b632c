"""Write the seed packs and the retrieval eval sets: `python -m knowledge.seeds.generate` (deterministic).

E-commerce: a fictional store (Northwind Home / 北风家居) — catalogue CSV, policies, troubleshooting, label and
order-screenshot images for OCR. Medical: patient education (not medical advice). Eval queries are keyed by
document source + a phrase unique to the gold chunk, because chunk ids are hashes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL_DIR = HERE.parent.parent / "eval" / "data"
FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
NOT_ADVICE_EN = "> Patient education only — not medical advice. Ask your doctor or pharmacist about your own situation."
NOT_ADVICE_ZH = "> 仅供患者教育参考——不构成医疗建议。具体情况请咨询医生或药师。"

# ---------------------------------------------------------------------------------------------------- e-commerce
TYPES = [  # code, en, zh, category, spec template, base price, warranty months
    ("KT", "Kettle", "电热水壶", "kitchen", "{cap} L capacity, {w} W, auto shut-off, boil-dry protection", 29, 12),
    ("TS", "Toaster", "烤面包机", "kitchen", "{slots} slots, {w} W, 7 browning levels, defrost function", 39, 12),
    ("BL", "Blender", "搅拌机", "kitchen", "{cap} L jar, {w} W motor, 3 speeds plus pulse", 59, 24),
    ("VC", "Vacuum Cleaner", "吸尘器", "cleaning", "{w} W suction, {cap} L dust bin, HEPA filter, {run} min runtime", 149, 24),
    ("AP", "Air Purifier", "空气净化器", "home", "CADR {cadr} m3/h, H13 HEPA filter, rooms up to {room} m2", 129, 24),
    ("HP", "Headphones", "头戴式耳机", "audio", "Bluetooth 5.3, {run} h battery, active noise cancelling", 79, 12),
    ("SP", "Bluetooth Speaker", "蓝牙音箱", "audio", "{w} W output, IPX7 waterproof, {run} h battery", 49, 12),
    ("LM", "Desk Lamp", "台灯", "home", "LED {w} W, 5 colour temperatures, USB-C charging port", 25, 12),
    ("RC", "Rice Cooker", "电饭煲", "kitchen", "{cap} L, {w} W, 12 cooking programmes, 24 h delay timer", 69, 24),
    ("FN", "Tower Fan", "塔扇", "home", "{w} W, 12 speeds, 90° oscillation, remote control", 45, 12),
]
SERIES = [("Breeze", "清风"), ("Nova", "新星"), ("Aurora", "极光"), ("Summit", "峰顶"), ("Pebble", "卵石")]
COLOURS = [("white", "白色"), ("black", "黑色"), ("grey", "灰色"), ("sage green", "鼠尾草绿"), ("navy", "藏青色")]


def products() -> list[dict]:
    rows = []
    for t, (code, en, zh, cat, spec, base, warranty) in enumerate(TYPES):
        for s, (series, series_zh) in enumerate(SERIES):
            n = t * 5 + s
            values = {"cap": [1.0, 1.5, 1.7, 2.0, 3.0][s], "w": [600, 800, 1000, 1200, 1500][s] // (1 if t in (0, 2, 3, 8) else 20),
                      "slots": [2, 2, 4, 4, 6][s], "run": [30, 40, 45, 50, 60][s], "cadr": [200, 250, 320, 400, 480][s],
                      "room": [20, 30, 40, 50, 60][s]}
            colour, colour_zh = COLOURS[(t + s) % 5]
            rows.append({
                "sku": f"NW-{code}-{101 + s * 2 + t % 2}",
                "name": f"{series} {en}", "name_zh": f"{series_zh}{zh}", "category": cat,
                "specs": spec.format(**values), "colour": f"{colour} / {colour_zh}",
                "price_usd": f"{base + s * 10 + (n % 3) * 5 - 0.01:.2f}",
                "warranty_months": str(warranty + (12 if s == 4 else 0)),
                "in_stock": "yes" if n % 7 else "no (back in 2 weeks)",
            })
    return rows


POLICIES_EN = {
    "returns.md": """# Returns and refunds

## Return window
You can return most items within 30 days of delivery for a full refund. Items must be unused and in the original packaging with all accessories.

## Items that cannot be returned
Opened personal-care items such as headphones ear tips, gift cards and clearance items marked "final sale" cannot be returned.

## How to start a return
Open My Orders, choose the order and press "Return item". Print the prepaid return label and drop the parcel at any courier point within 7 days.

## Refund timing
Refunds go back to the original payment method within 5 business days after the warehouse inspects the item. Original shipping fees are refunded only if the item was faulty.

## Damaged or faulty items
If an item arrives damaged, send a photo of the damage and of the shipping box within 48 hours; we replace it free of charge or refund it.
""",
    "shipping.md": """# Shipping

## Delivery times
Standard delivery takes 3 to 5 business days. Express delivery takes 1 to 2 business days and costs $9.90.

## Free shipping threshold
Orders over $49 ship free with standard delivery.

## Where we ship
We ship to all mainland addresses. Remote islands may take 2 extra days. We do not ship to PO boxes for large appliances.

## Tracking a parcel
A tracking number is emailed when the parcel leaves the warehouse; it usually starts updating within 24 hours.

## Lost parcels
If tracking has not moved for 7 days, contact us and we open a carrier investigation and send a replacement.
""",
    "payment.md": """# Payment

## Accepted payment methods
We accept Visa, Mastercard, American Express, PayPal, Alipay and WeChat Pay.

## Instalments
Orders over $100 can be paid in 3 interest-free instalments at checkout.

## Payment failed
If a payment fails, check that the billing address matches the card, then retry; the order is held for 24 hours.

## Invoices
A VAT invoice can be downloaded from My Orders once the order has shipped.

## Price match
If our price drops within 14 days of your purchase, we refund the difference on request.
""",
    "order_status.md": """# Order status explained

## Pending payment
The order is placed but payment has not been confirmed; unpaid orders are cancelled after 24 hours.

## Processing
Payment is confirmed and the warehouse is picking the items; orders can still be changed or cancelled at this stage.

## Shipped
The parcel has left the warehouse and a tracking number is available; it can no longer be cancelled, but it can be returned after delivery.

## Delivered
The courier has confirmed delivery. If you did not receive it, tell us within 3 days.

## Cancelled
The order was cancelled and any payment is refunded within 5 business days.
""",
}

POLICIES_ZH = {
    "returns_zh.md": """# 退货与退款

## 退货期限
大多数商品在签收后30天内可以退货并全额退款。商品须未使用，并保留原包装和全部配件。

## 不支持退货的商品
已拆封的个人护理用品（如耳机耳塞套）、礼品卡以及标注“最终清仓”的商品不支持退货。

## 如何申请退货
进入“我的订单”，选择订单并点击“退货”。打印预付退货面单，7天内将包裹交到任一快递网点。

## 退款到账时间
仓库验货后5个工作日内原路退款。仅在商品有质量问题时退还原运费。

## 商品破损或故障
如收到的商品破损，请在48小时内发送破损处和外包装的照片，我们将免费换货或退款。
""",
    "shipping_zh.md": """# 配送说明

## 配送时效
普通配送需要3至5个工作日。特快配送需要1至2个工作日，运费9.90美元。

## 包邮门槛
订单满49美元即可享受普通配送包邮。

## 配送范围
我们配送至所有内地地址。偏远海岛可能多需2天。大型家电不配送至邮政信箱。

## 查询物流
包裹出库后会通过邮件发送运单号，通常24小时内开始更新物流信息。

## 包裹丢失
如果物流信息7天未更新，请联系我们，我们会向快递公司发起调查并补发商品。
""",
    "payment_zh.md": """# 支付方式

## 支持的支付方式
我们支持Visa、万事达卡、美国运通、PayPal、支付宝和微信支付。

## 分期付款
订单满100美元可在结账时选择3期免息分期。

## 支付失败
如果支付失败，请确认账单地址与银行卡一致后重试；订单会为您保留24小时。

## 发票
订单发货后，可在“我的订单”中下载增值税发票。

## 价格保护
购买后14天内如果降价，可申请退还差价。
""",
    "order_status_zh.md": """# 订单状态说明

## 待付款
订单已提交但尚未确认付款；未付款订单24小时后自动取消。

## 处理中
已确认付款，仓库正在拣货；此阶段仍可修改或取消订单。

## 已发货
包裹已出库并生成运单号；已发货订单无法取消，但签收后可以退货。

## 已签收
快递员已确认送达。如果您没有收到，请在3天内告诉我们。

## 已取消
订单已取消，已支付的款项将在5个工作日内退回。
""",
}

TROUBLE = {  # type code -> (en title, en steps, zh title, zh steps)
    "KT": ("Kettle will not switch on", "Check the kettle sits flat on its base and the base is plugged in. If the boil-dry protection tripped, let it cool for 10 minutes. Descale with white vinegar if the kettle switches off before boiling.",
           "电热水壶无法开机", "确认水壶平稳放在底座上且底座已通电。如果干烧保护启动，请冷却10分钟。如果水未烧开就自动断电，请用白醋除垢。"),
    "VC": ("Vacuum loses suction", "Empty the dust bin, rinse the HEPA filter and let it dry for 24 hours, and check the hose for blockages. A flashing red light means the battery needs charging.",
           "吸尘器吸力下降", "清空尘盒，冲洗HEPA滤网并晾干24小时，检查软管是否堵塞。红灯闪烁表示电池需要充电。"),
    "HP": ("Headphones will not pair", "Hold the power button for 7 seconds until the light flashes blue and red to enter pairing mode, then forget the device on your phone and pair again. Reset by holding power and volume down for 10 seconds.",
           "耳机无法配对", "长按电源键7秒直到指示灯红蓝交替闪烁进入配对模式，然后在手机上删除该设备后重新配对。同时按住电源键和音量减键10秒可恢复出厂设置。"),
    "AP": ("Air purifier filter warning light", "The filter light turns on after about 4,000 hours of use. Replace the H13 filter, then hold the filter button for 3 seconds to reset the reminder.",
           "空气净化器滤网提示灯亮", "使用约4000小时后滤网提示灯会亮起。更换H13滤网后，长按滤网键3秒即可重置提醒。"),
    "RC": ("Rice cooker error code E3", "E3 means the lid sensor is not closed. Wipe the seal ring, close the lid until it clicks, and restart the programme. If E3 stays, contact support for a warranty repair.",
           "电饭煲显示故障码E3", "E3表示盖子传感器未闭合。擦拭密封圈，盖紧盖子直到听到咔哒声，然后重新启动程序。如果仍显示E3，请联系客服进行保修维修。"),
}

# A long document: the cordless vacuum's user manual, many sections that share their vocabulary, so retrieval has
# to find the one section that answers (the A/B eval's "long_doc" questions).
MANUAL_EN = """# Northwind cordless vacuum cleaner: user manual

This manual covers every Northwind Vacuum Cleaner (SKUs NW-VC-...). Read the safety section before first use and
keep this manual with the product.

## What is in the box
The main unit with its motorised floor brush, a crevice tool, a 2-in-1 dusting brush, a wall dock with screws, a
19 V charger and one spare HEPA filter. If anything is missing, contact support within 14 days of delivery.

## Before first use
Charge the battery fully before the first use: the first charge takes 5 hours. Fit the wall dock near a socket at a
height where the floor brush just touches the floor.

## Charging the battery
A full charge takes 4.5 hours. The battery light flashes white while charging and stays solid white when the
battery is full. A flashing amber light means the battery is too cold or too hot: charge it between 5 and 35 °C.

## Power modes and runtime
Press the mode button to switch modes. Eco runs for up to 45 minutes, Standard for up to 30 minutes and Turbo for
up to 12 minutes. Runtimes are shorter with the motorised floor brush on thick carpet.

## Emptying the dust bin
Empty the bin when the dust reaches the MAX line. Hold the unit over a rubbish bin and press the red release lever;
the lid opens downwards. Close the lid until it clicks before switching on again.

## Filter care
Rinse the pre-filter in cold water once a month, without detergent, and let it dry for 24 hours before refitting
it. Replace the HEPA filter every 6 months (spare part NW-F13); never run the vacuum without a filter.

## Brush roll maintenance
Hair wrapped around the brush roll can be cut free along the cutting groove. To remove the brush roll, turn the end
cap a quarter turn with a coin and slide the roll out.

## Indicator lights
Three red blinks mean the brush roll is jammed: switch off and clear it. A solid red light means the filter is
blocked or the bin is full. Five amber blinks mean the motor has overheated: let the vacuum cool for 30 minutes.

## Storage
Store the vacuum indoors between 0 and 40 °C. Before storing it for more than a month, charge the battery to about
half; a completely empty battery can be damaged.

## Replacing the battery
The battery lasts about 500 full charge cycles. A replacement battery (spare part NW-B25) is fixed with one screw and
can be fitted at home.

## Safety
Do not vacuum water, hot ash or sharp objects. Use only the supplied charger. Keep hair, loose clothing and fingers
away from the brush roll while the vacuum is on.

## Warranty service
The main unit is covered for 24 months and the battery for 12 months from delivery. For a warranty repair, send the
order number and a short video of the fault to support; we arrange a free pickup.
"""

MANUAL_ZH = """# 北风无线吸尘器使用说明书

本说明书适用于所有北风吸尘器（型号NW-VC-…）。首次使用前请阅读安全须知，并妥善保管本说明书。

## 包装清单
主机及电动地刷、缝隙吸嘴、二合一除尘刷、壁挂充电座及螺丝、19 V充电器和一个备用HEPA滤网。如有缺件，请在签收后14天内联系客服。

## 首次使用前
首次使用前请将电池充满：首次充电需要5小时。请将壁挂充电座安装在插座附近，高度以地刷刚好接触地面为宜。

## 电池充电
充满电需要4.5小时。充电时电量灯白色闪烁，充满后白色常亮。电量灯黄色闪烁表示电池过冷或过热：请在5至35 °C之间充电。

## 功率模式与续航
按模式键切换模式。节能模式最长续航45分钟，标准模式最长30分钟，强力模式最长12分钟。在厚地毯上使用电动地刷时续航会缩短。

## 清空尘盒
灰尘到达MAX线时请清空尘盒。将主机对准垃圾桶，按下红色释放杆，盒盖向下打开。重新开机前请将盒盖合上直到听到咔哒声。

## 滤网保养
每月用冷水冲洗一次前置滤网，不要使用洗涤剂，晾干24小时后再装回。HEPA滤网每6个月更换一次（配件编号NW-F13）；切勿在没有滤网的情况下使用。

## 滚刷保养
缠绕在滚刷上的毛发可沿切割槽剪断。取下滚刷时，用硬币将端盖旋转四分之一圈，然后抽出滚刷。

## 指示灯说明
红灯闪烁3次表示滚刷被卡住：请关机并清理。红灯常亮表示滤网堵塞或尘盒已满。黄灯闪烁5次表示电机过热：请让吸尘器冷却30分钟。

## 存放
请在0至40 °C的室内存放。存放超过一个月前，请将电池充到一半左右；电量完全耗尽可能损坏电池。

## 更换电池
电池约可完整充放电500次。更换电池（配件编号NW-B25）只需拧一颗螺丝，可在家自行更换。

## 安全须知
请勿吸水、热灰或尖锐物品。仅使用原装充电器。吸尘器运行时，请让头发、宽松衣物和手指远离滚刷。

## 保修服务
主机自签收起保修24个月，电池保修12个月。如需保修维修，请将订单号和故障短视频发送给客服，我们安排免费上门取件。
"""

LABELS = [0, 7, 13, 21, 36, 44]  # products that get a rendered shelf label
ORDERS = [  # order no, status en, status zh, items (product index, qty), date
    ("20241105-3381", "Shipped", "已发货", [(0, 1), (12, 2)], "2024-11-05"),
    ("20241108-5120", "Processing", "处理中", [(25, 1)], "2024-11-08"),
    ("20241112-7764", "Delivered", "已签收", [(30, 1), (41, 1)], "2024-11-12"),
    ("20241115-9047", "Pending payment", "待付款", [(47, 3)], "2024-11-15"),
]

# ---------------------------------------------------------------------------------------------------- medical
LABS = [  # name, zh, abbr, range, unit, measures, high, low
    ("Haemoglobin", "血红蛋白", "Hb", "130-175 (men), 115-155 (women)", "g/L", "the oxygen-carrying protein in red blood cells", "dehydration or living at high altitude", "anaemia, often from iron deficiency or blood loss"),
    ("White blood cell count", "白细胞计数", "WBC", "4.0-10.0", "x10^9/L", "the cells that fight infection", "an infection or inflammation", "a weakened immune system or some medicines"),
    ("Platelet count", "血小板计数", "PLT", "125-350", "x10^9/L", "the cells that help blood clot", "inflammation or iron deficiency", "a higher risk of bruising and bleeding"),
    ("Fasting blood glucose", "空腹血糖", "FBG", "3.9-6.1", "mmol/L", "sugar in the blood after not eating for 8 hours", "diabetes or prediabetes", "hypoglycaemia, for example from skipped meals"),
    ("Glycated haemoglobin", "糖化血红蛋白", "HbA1c", "4.0-6.0", "%", "average blood sugar over the past 2 to 3 months", "long-term high blood sugar (diabetes)", "rarely significant; sometimes after blood loss"),
    ("Total cholesterol", "总胆固醇", "TC", "below 5.2", "mmol/L", "all cholesterol carried in the blood", "a higher risk of heart disease", "rarely a concern; sometimes poor nutrition"),
    ("LDL cholesterol", "低密度脂蛋白胆固醇", "LDL-C", "below 3.4", "mmol/L", "the 'bad' cholesterol that can build up in arteries", "a higher risk of blocked arteries", "usually not a concern"),
    ("HDL cholesterol", "高密度脂蛋白胆固醇", "HDL-C", "above 1.0", "mmol/L", "the 'good' cholesterol that clears fat from arteries", "usually protective", "a higher heart risk"),
    ("Triglycerides", "甘油三酯", "TG", "below 1.7", "mmol/L", "a type of fat in the blood", "diet high in sugar or alcohol, or diabetes", "usually not a concern"),
    ("Alanine aminotransferase", "谷丙转氨酶", "ALT", "9-50", "U/L", "a liver enzyme released when liver cells are stressed", "liver inflammation, fatty liver or some medicines", "usually not a concern"),
    ("Aspartate aminotransferase", "谷草转氨酶", "AST", "15-40", "U/L", "an enzyme found in the liver, heart and muscles", "liver or muscle injury", "usually not a concern"),
    ("Creatinine", "肌酐", "Cr", "57-111 (men), 41-81 (women)", "umol/L", "a waste product filtered by the kidneys", "reduced kidney function or dehydration", "low muscle mass"),
    ("Estimated glomerular filtration rate", "估算肾小球滤过率", "eGFR", "above 90", "mL/min/1.73m2", "how well the kidneys filter blood", "normal kidney function", "reduced kidney function"),
    ("Thyroid-stimulating hormone", "促甲状腺激素", "TSH", "0.27-4.2", "mIU/L", "the signal that tells the thyroid how hard to work", "an underactive thyroid", "an overactive thyroid"),
    ("Uric acid", "尿酸", "UA", "208-428 (men), 155-357 (women)", "umol/L", "a waste product from breaking down purines", "a risk of gout or kidney stones", "rarely a concern"),
    ("Potassium", "血钾", "K", "3.5-5.3", "mmol/L", "a salt that keeps nerves and the heart working", "kidney problems or some blood-pressure medicines", "vomiting, diarrhoea or water pills"),
    ("Sodium", "血钠", "Na", "137-147", "mmol/L", "the main salt that balances body water", "dehydration", "too much water or some medicines"),
    ("Vitamin D", "维生素D", "25(OH)D", "above 30", "ng/mL", "vitamin D stored in the body", "too many supplements", "little sunlight or poor intake; affects bones"),
    ("C-reactive protein", "C反应蛋白", "CRP", "below 10", "mg/L", "a marker of inflammation", "infection or inflammation somewhere in the body", "normal"),
    ("Ferritin", "铁蛋白", "FER", "30-400 (men), 13-150 (women)", "ng/mL", "the body's iron stores", "inflammation or iron overload", "iron deficiency"),
]
MEDS = [  # name, zh, class en, class zh, use en, use zh, side effects en, side effects zh
    ("Paracetamol (acetaminophen)", "对乙酰氨基酚", "pain reliever", "解热镇痛药", "mild to moderate pain and fever", "轻中度疼痛和发热", "rare at usual doses; too much can seriously damage the liver", "常规用量下少见；过量可严重损伤肝脏"),
    ("Ibuprofen", "布洛芬", "non-steroidal anti-inflammatory drug (NSAID)", "非甾体抗炎药（NSAID）", "pain, fever and inflammation", "疼痛、发热和炎症", "stomach upset, heartburn; can irritate the stomach lining", "胃部不适、烧心；可能刺激胃黏膜"),
    ("Amoxicillin", "阿莫西林", "penicillin antibiotic", "青霉素类抗生素", "bacterial infections such as ear or chest infections", "细菌感染，如中耳炎或肺部感染", "diarrhoea, nausea, rash; stop and seek help if you have a penicillin allergy reaction", "腹泻、恶心、皮疹；如出现青霉素过敏反应请立即停药就医"),
    ("Metformin", "二甲双胍", "blood-sugar-lowering medicine", "降血糖药", "type 2 diabetes", "2型糖尿病", "stomach upset, diarrhoea, metallic taste, usually settling after a few weeks", "胃部不适、腹泻、口中金属味，通常几周后缓解"),
    ("Amlodipine", "氨氯地平", "calcium channel blocker", "钙通道阻滞剂", "high blood pressure and angina", "高血压和心绞痛", "swollen ankles, flushing, headache", "脚踝水肿、面部潮红、头痛"),
    ("Atorvastatin", "阿托伐他汀", "statin", "他汀类降脂药", "lowering cholesterol to protect the heart", "降低胆固醇以保护心脏", "muscle aches; report unexplained muscle pain", "肌肉酸痛；出现不明原因的肌肉疼痛请告知医生"),
    ("Omeprazole", "奥美拉唑", "proton pump inhibitor", "质子泵抑制剂", "heartburn, acid reflux and stomach ulcers", "烧心、胃酸反流和胃溃疡", "headache, diarrhoea, stomach pain", "头痛、腹泻、腹痛"),
    ("Loratadine", "氯雷他定", "non-drowsy antihistamine", "不易犯困的抗组胺药", "hay fever and hives", "花粉症和荨麻疹", "headache, dry mouth; drowsiness is uncommon", "头痛、口干；嗜睡少见"),
    ("Salbutamol inhaler", "沙丁胺醇吸入剂", "reliever inhaler (bronchodilator)", "缓解型吸入剂（支气管扩张剂）", "quick relief of asthma symptoms", "快速缓解哮喘症状", "shaky hands, fast heartbeat", "手抖、心跳加快"),
    ("Lisinopril", "赖诺普利", "ACE inhibitor", "血管紧张素转换酶抑制剂（ACE抑制剂）", "high blood pressure and heart failure", "高血压和心力衰竭", "a dry cough, dizziness", "干咳、头晕"),
]
CLINIC_EN = """# Clinic policies

## Booking appointments
Book online or call the front desk between 8:00 and 18:00. New patients should arrive 15 minutes early with an ID card and insurance card.

## Cancellations and missed appointments
Cancel at least 24 hours before your appointment. Three missed appointments without notice in a year may lead to a booking deposit.

## Getting your lab results
Most blood test results are ready within 2 working days and appear in the patient portal; a nurse calls you if a result needs attention.

## Requesting medical records
Request copies of your records with the form at reception or in the portal; they are released within 10 working days after identity checks.

## Prescription refills
Ask for repeat prescriptions at least 3 working days before you run out; refills are reviewed by your doctor.
"""
CLINIC_ZH = """# 诊所须知

## 预约挂号
可在线预约或在8:00至18:00致电前台。初诊患者请提前15分钟到达，并携带身份证和医保卡。

## 取消与爽约
请至少在就诊前24小时取消预约。一年内三次无故爽约，之后预约可能需要支付押金。

## 查询化验结果
大多数血液检查结果在2个工作日内出具，并显示在患者门户中；如有需要关注的结果，护士会致电通知您。

## 申请病历复印
可在前台或患者门户填写申请表，身份核验后10个工作日内提供病历复印件。

## 续开处方
请在药物用完前至少3个工作日申请续方，续方需由医生审核。
"""
READ_EN = """# How to read a lab report

## The columns on a report
Each line shows the test name, your result, the unit and the reference range. A letter H means higher than the range and L means lower.

## What a reference range is
The reference range is where results of about 95 out of 100 healthy people fall, so a result slightly outside it is often not a problem.

## Units differ between laboratories
Glucose can be reported in mmol/L or mg/dL; compare your result only with the range printed on the same report.

## When to talk to your doctor
Discuss any flagged result with your doctor, who interprets it together with your symptoms, medicines and earlier results.
"""
READ_ZH = """# 如何看懂化验单

## 化验单上的各列
每一行依次是项目名称、检测结果、单位和参考范围。字母H表示高于参考范围，L表示低于参考范围。

## 什么是参考范围
参考范围是大约95%健康人的结果所在区间，因此结果略超出范围往往不代表有问题。

## 不同实验室单位不同
血糖可能以mmol/L或mg/dL报告；只能与同一张化验单上印的参考范围比较。

## 何时咨询医生
任何带有标记的结果都应与医生讨论，医生会结合您的症状、用药和既往结果进行解读。
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_ecommerce(root: Path) -> list[dict]:
    root.mkdir(parents=True, exist_ok=True)
    rows = products()
    with (root / "products.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for name, text in {**POLICIES_EN, **POLICIES_ZH}.items():
        _write(root / "policies" / name, text)
    _write(root / "manuals" / "vacuum_cleaner.md", MANUAL_EN)
    _write(root / "manuals" / "vacuum_cleaner_zh.md", MANUAL_ZH)
    for code, (t_en, s_en, t_zh, s_zh) in TROUBLE.items():
        _write(root / "troubleshooting" / f"{code.lower()}.md", f"# Troubleshooting: {t_en}\n\n{s_en}\n")
        _write(root / "troubleshooting" / f"{code.lower()}_zh.md", f"# 故障排除：{t_zh}\n\n{s_zh}\n")
    faq = [
        {"id": "faq-warranty", "question": "How do I claim a warranty repair?", "answer": "Send the order number and a short video of the fault to support@northwind.example; we arrange a free pickup within the warranty period."},
        {"id": "faq-warranty-zh", "question": "如何申请保修？", "answer": "请将订单号和故障短视频发送至 support@northwind.example，我们会在保修期内安排免费上门取件。"},
        {"id": "faq-address", "question": "Can I change the delivery address?", "answer": "Yes, while the order is Processing; once it has Shipped the address can only be changed with the courier."},
        {"id": "faq-address-zh", "question": "可以修改收货地址吗？", "answer": "订单处于“处理中”时可以修改；发货后只能联系快递公司修改。"},
        {"id": "faq-hours", "question": "When is customer service open?", "answer": "Live chat is open every day from 9:00 to 21:00."},
        {"id": "faq-hours-zh", "question": "客服什么时候在线？", "answer": "在线客服每天9:00至21:00服务。"},
    ]
    _write(root / "faq.jsonl", "\n".join(json.dumps(f, ensure_ascii=False) for f in faq) + "\n")
    render_images(root / "images", rows)
    return rows


def render_images(out: Path, rows: list[dict]) -> None:
    """Shelf labels and order screenshots with Chinese and English text, for OCR."""
    from PIL import Image, ImageDraw, ImageFont

    out.mkdir(parents=True, exist_ok=True)
    big, small = ImageFont.truetype(FONT, 30), ImageFont.truetype(FONT, 22)
    for i in LABELS:
        p = rows[i]
        img = Image.new("RGB", (640, 300), "white")
        d = ImageDraw.Draw(img)
        d.rectangle([8, 8, 631, 291], outline=(30, 60, 120), width=4)
        d.text((30, 25), p["name"], font=big, fill="black")
        d.text((30, 70), p["name_zh"], font=big, fill="black")
        d.text((30, 125), f"SKU {p['sku']}", font=small, fill=(40, 40, 40))
        d.text((30, 165), f"Price ${p['price_usd']}  价格", font=small, fill=(160, 20, 20))
        d.text((30, 205), f"Warranty {p['warranty_months']} months  保修{p['warranty_months']}个月", font=small, fill="black")
        img.save(out / f"label_{p['sku'].lower()}.png", optimize=True)
    for order, status, status_zh, items, date in ORDERS:
        img = Image.new("RGB", (720, 200 + 44 * len(items)), (246, 247, 249))
        d = ImageDraw.Draw(img)
        d.text((24, 20), f"Order 订单号 {order}", font=big, fill="black")
        d.text((24, 70), f"Status 状态: {status} {status_zh}", font=small, fill=(20, 100, 40))
        d.text((24, 105), f"Date 日期: {date}", font=small, fill="black")
        for n, (idx, qty) in enumerate(items):
            p = rows[idx]
            d.text((24, 150 + 44 * n), f"{p['sku']}  {p['name']} x{qty}  ${p['price_usd']}", font=small, fill="black")
        img.save(out / f"order_{order}.png", optimize=True)


def write_medical(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lab_tests.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["test", "test_zh", "abbreviation", "reference_range", "unit", "what_it_measures",
                    "high_may_mean", "low_may_mean", "note"])
        for name, zh, abbr, rng, unit, meas, high, low in LABS:
            w.writerow([name, zh, abbr, rng, unit, meas, high, low, "not medical advice; ranges vary by laboratory"])
    for name, zh, cls, cls_zh, use, use_zh, se, se_zh in MEDS:
        slug = name.split()[0].lower()
        _write(root / "medications" / f"{slug}.md", f"""# {name} — medication leaflet basics

{NOT_ADVICE_EN}

## What {name} is
{name} is a {cls}.

## What {name} is used for
{name} is used for {use}.

## Common side effects of {name}
{se[0].upper() + se[1:]}.

## How much to take
Take {name} exactly as your doctor or pharmacist tells you and as the pharmacy label says; this leaflet gives no doses.

## When to get help
Get urgent help for swelling of the face or throat, trouble breathing, or a severe rash after taking {name}.
""")
        _write(root / "medications" / f"{slug}_zh.md", f"""# {zh}——用药须知

{NOT_ADVICE_ZH}

## {zh}是什么药
{zh}（{name}）是一种{cls_zh}。

## {zh}的用途
{zh}用于{use_zh}。

## {zh}的常见副作用
{se_zh}。

## 用量
请严格按照医生、药师的指导和药袋标签服用{zh}；本说明不提供剂量。

## 何时就医
服用{zh}后如出现面部或喉咙肿胀、呼吸困难或严重皮疹，请立即就医。
""")
    _write(root / "clinic" / "policies.md", CLINIC_EN.replace("\n\n", f"\n\n{NOT_ADVICE_EN}\n\n", 1))
    _write(root / "clinic" / "policies_zh.md", CLINIC_ZH.replace("\n\n", f"\n\n{NOT_ADVICE_ZH}\n\n", 1))
    _write(root / "guides" / "reading_lab_reports.md", READ_EN.replace("\n\n", f"\n\n{NOT_ADVICE_EN}\n\n", 1))
    _write(root / "guides" / "reading_lab_reports_zh.md", READ_ZH.replace("\n\n", f"\n\n{NOT_ADVICE_ZH}\n\n", 1))


def _sections(text: str) -> list[tuple[str, str]]:
    out = []
    for block in text.split("\n## ")[1:]:
        head, _, body = block.partition("\n")
        out.append((head.strip(), body.strip().split("\n")[0]))
    return out


def eval_sets(rows: list[dict]) -> dict[str, list[dict]]:
    """Queries with gold = (source, a phrase unique to the gold chunk)."""
    ec, med = [], []
    src = "seeds/ecommerce/"
    for p in rows:
        g = {"source": src + "products.csv", "phrase": p["sku"]}
        ec.append({"query": f"How much does the {p['name']} cost and what is its warranty?", "language": "en", **g})
        ec.append({"query": f"What are the specs of the {p['name'].lower()}?", "language": "en", **g})
        ec.append({"query": f"{p['name_zh']}多少钱？保修多久？", "language": "zh", **g})
        ec.append({"query": f"{p['name_zh']}有什么参数？", "language": "zh", **g})
    q_en = {"Return window": "how many days do I have to send something back", "Items that cannot be returned": "can I return gift cards or clearance items",
            "How to start a return": "how do I print a return label", "Refund timing": "when will I get my money back after a return",
            "Damaged or faulty items": "my item arrived broken, what should I do", "Delivery times": "how long does express delivery take",
            "Free shipping threshold": "minimum order for free shipping", "Where we ship": "do you deliver large appliances to a PO box",
            "Tracking a parcel": "when do I get a tracking number", "Lost parcels": "tracking has not updated for a week, is my parcel lost",
            "Accepted payment methods": "can I pay with Alipay or PayPal", "Instalments": "can I pay in interest-free instalments",
            "Payment failed": "my card payment was declined", "Invoices": "where can I download a VAT invoice",
            "Price match": "the price dropped after I bought it, can I get the difference", "Pending payment": "what happens to an unpaid order",
            "Processing": "can I still cancel an order that is processing", "Shipped": "can I cancel an order that has already shipped",
            "Delivered": "order says delivered but I never received it", "Cancelled": "when is a cancelled order refunded"}
    q_zh = {"退货期限": "签收多少天内可以退货", "不支持退货的商品": "礼品卡可以退吗", "如何申请退货": "怎么打印退货面单",
            "退款到账时间": "退货后多久退款到账", "商品破损或故障": "收到的商品坏了怎么办", "配送时效": "特快配送要几天",
            "包邮门槛": "满多少钱包邮", "配送范围": "大家电能寄到邮政信箱吗", "查询物流": "什么时候能收到运单号",
            "包裹丢失": "物流一周没更新是不是丢件了", "支持的支持方式": "", "支持的支付方式": "可以用支付宝或微信支付吗",
            "分期付款": "可以免息分期吗", "支付失败": "银行卡支付失败怎么办", "发票": "在哪里下载发票", "价格保护": "买完降价了能退差价吗",
            "待付款": "没付款的订单会怎样", "处理中": "处理中的订单还能取消吗", "已发货": "已经发货的订单能取消吗",
            "已签收": "显示已签收但我没收到", "已取消": "取消的订单多久退款"}
    for docs, qs, lang in ((POLICIES_EN, q_en, "en"), (POLICIES_ZH, q_zh, "zh")):
        for name, text in docs.items():
            for head, first in _sections(text):
                if qs.get(head):
                    ec.append({"query": qs[head], "language": lang, "source": src + "policies/" + name, "phrase": first[:30]})
    for code, (t_en, _s, t_zh, _z) in TROUBLE.items():
        ec.append({"query": t_en.lower() + ", how do I fix it?", "language": "en", "source": src + f"troubleshooting/{code.lower()}.md", "phrase": t_en})
        ec.append({"query": t_zh + "怎么办？", "language": "zh", "source": src + f"troubleshooting/{code.lower()}_zh.md", "phrase": t_zh})
    manual_en = {"Charging the battery": "how long does the cordless vacuum take to charge",
                 "Power modes and runtime": "how many minutes does the vacuum run on turbo",
                 "Filter care": "how often do I replace the vacuum's HEPA filter",
                 "Indicator lights": "the vacuum light blinks red three times",
                 "Replacing the battery": "how many charge cycles does the vacuum battery last"}
    manual_zh = {"电池充电": "吸尘器充满电要多久", "功率模式与续航": "吸尘器强力模式能用多久", "滤网保养": "吸尘器HEPA滤网多久换一次",
                 "指示灯说明": "吸尘器红灯闪三下是什么意思", "更换电池": "吸尘器电池能充多少次"}
    for text, qs, lang, name in ((MANUAL_EN, manual_en, "en", "vacuum_cleaner.md"),
                                 (MANUAL_ZH, manual_zh, "zh", "vacuum_cleaner_zh.md")):
        for head, _first in _sections(text):
            if head in qs:
                ec.append({"query": qs[head], "language": lang, "source": src + "manuals/" + name, "phrase": f"## {head}"})
    for order, status, status_zh, _items, _d in ORDERS:
        ec.append({"query": f"what is the status of order {order}", "language": "en", "source": src + f"images/order_{order}.png", "phrase": order})
        ec.append({"query": f"订单{order}现在是什么状态", "language": "zh", "source": src + f"images/order_{order}.png", "phrase": order})
    m = "seeds/medical/"
    for name, zh, abbr, *_ in LABS:
        g = {"source": m + "lab_tests.csv", "phrase": f"test: {name};"}
        med.append({"query": f"What is the normal range for {name.lower()}?", "language": "en", **g})
        med.append({"query": f"My {abbr} is high on my blood test, what could that mean?", "language": "en", **g})
        med.append({"query": f"{zh}的正常范围是多少？", "language": "zh", **g})
        med.append({"query": f"化验单上{zh}偏低是什么意思？", "language": "zh", **g})
    for name, zh, *_ in MEDS:
        slug = name.split()[0].lower()
        short = name.split(" (")[0]
        med.append({"query": f"What is {short.lower()} used for?", "language": "en", "source": m + f"medications/{slug}.md", "phrase": f"## What {name} is used for"})
        med.append({"query": f"What are the common side effects of {short.lower()}?", "language": "en", "source": m + f"medications/{slug}.md", "phrase": f"## Common side effects of {name}"})
        med.append({"query": f"{zh}是治什么的？", "language": "zh", "source": m + f"medications/{slug}_zh.md", "phrase": f"## {zh}的用途"})
        med.append({"query": f"吃{zh}有什么副作用？", "language": "zh", "source": m + f"medications/{slug}_zh.md", "phrase": f"## {zh}的常见副作用"})
    clinic_en = {"Booking appointments": "how do I book an appointment at the clinic", "Cancellations and missed appointments": "how late can I cancel my appointment",
                 "Getting your lab results": "how long until my blood test results are ready", "Requesting medical records": "how can I get a copy of my medical records",
                 "Prescription refills": "how do I get a repeat prescription"}
    clinic_zh = {"预约挂号": "怎么预约挂号", "取消与爽约": "提前多久可以取消预约", "查询化验结果": "验血结果几天出来",
                 "申请病历复印": "怎么复印病历", "续开处方": "怎么续开处方"}
    read_en = {"The columns on a report": "what does the letter H next to a result mean", "What a reference range is": "what is a reference range",
               "Units differ between laboratories": "my glucose is in mg/dL but the range is in mmol/L", "When to talk to your doctor": "should I talk to my doctor about a flagged result"}
    read_zh = {"化验单上的各列": "化验单上的H和L是什么意思", "什么是参考范围": "参考范围是什么意思", "不同实验室单位不同": "血糖单位mg/dL和mmol/L怎么比较",
               "何时咨询医生": "化验结果有标记需要看医生吗"}
    for text, qs, lang, path in ((CLINIC_EN, clinic_en, "en", "clinic/policies.md"), (CLINIC_ZH, clinic_zh, "zh", "clinic/policies_zh.md"),
                                 (READ_EN, read_en, "en", "guides/reading_lab_reports.md"), (READ_ZH, read_zh, "zh", "guides/reading_lab_reports_zh.md")):
        for head, first in _sections(text):
            med.append({"query": qs[head], "language": lang, "source": m + path, "phrase": f"## {head}"})
    return {"ecommerce": ec, "medical": med}


def main() -> None:
    rows = write_ecommerce(HERE / "ecommerce")
    write_medical(HERE / "medical")
    EVAL_DIR.mkdir(parents=True, exist_ok=True)
    for domain, items in eval_sets(rows).items():
        (EVAL_DIR / f"retrieval_{domain}.jsonl").write_text(
            "\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
        print(f"{domain}: {len(items)} queries")


if __name__ == "__main__":
    main()
