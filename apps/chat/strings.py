"""Every piece of UI text in English and 简体中文; `t(lang, key, **values)` picks one."""

from __future__ import annotations

LANGUAGES = {"en": "English", "zh": "简体中文"}

STRINGS: dict[str, tuple[str, str]] = {
    # -- layout and controls ---------------------------------------------------------------------
    "title": ("# VisionDesk agent chat", "# VisionDesk 客服助手"),
    "language": ("Language", "界面语言"),
    "login_heading": ("### Log in with your VisionDesk account", "### 使用 VisionDesk 账号登录"),
    "username": ("Username", "用户名"),
    "password": ("Password", "密码"),
    "login": ("Log in", "登录"),
    "logout": ("Log out", "退出登录"),
    "signed_in": ("Signed in as **{user}**.", "已登录：**{user}**"),
    "signed_out": ("You have logged out.", "已退出登录。"),
    "domain": ("Knowledge domain", "知识领域"),
    "quick_actions": ("Quick actions", "快捷提问"),
    "chat": ("Conversation", "对话"),
    "input": ("Message: type a question; paste, drop or attach images",
              "消息：输入问题；可粘贴、拖入或选择图片"),
    "input_placeholder": ("Ask about the customer's photo or screenshot…", "针对客户的照片或截图提问…"),
    "send": ("Send", "发送"),
    "stop": ("Stop", "停止"),
    "regenerate": ("Regenerate", "重新生成"),
    "clear": ("New conversation", "新对话"),
    "sources": ("Sources", "引用来源"),
    "ocr": ("Text read from the images", "图片中识别出的文字"),
    "no_sources": ("_No sources for this answer._", "_此回答没有引用来源。_"),
    "no_ocr": ("_No text was read from images._", "_未从图片中识别出文字。_"),
    "score": ("score", "相关度"),
    "notice": ("Note", "提示"),
    "unverified": ("Check these terms, the sources do not back them: {terms}", "请核实以下术语，来源中没有依据：{terms}"),
    "history": ("Conversation history", "历史对话"),
    "refresh_history": ("Refresh list", "刷新列表"),
    "open_conversation": ("Open conversation", "打开对话"),
    "no_history": ("No conversations yet.", "还没有历史对话。"),
    "feedback_heading": ("### Feedback on the latest answer", "### 对最新回答的反馈"),
    "rating": ("Rating", "评价"),
    "rating_up": ("Helpful (thumbs up)", "有帮助（赞）"),
    "rating_down": ("Not helpful (thumbs down)", "没帮助（踩）"),
    "reasons": ("Reasons", "原因"),
    "reason_wrong_facts": ("Wrong facts", "事实错误"),
    "reason_missing_source": ("Missing or wrong source", "缺少或引用错误来源"),
    "reason_misread_image": ("Misread the image", "看错了图片"),
    "reason_incomplete": ("Incomplete", "回答不完整"),
    "reason_unsafe": ("Unsafe", "不安全"),
    "reason_tone": ("Tone", "语气不当"),
    "corrected": ("Corrected answer (optional)", "修改后的正确回答（可选）"),
    "flag": ("Flag for review by an admin", "提交管理员审核"),
    "send_feedback": ("Send feedback", "提交反馈"),
    "status": ("Status", "状态"),
    # -- messages --------------------------------------------------------------------------------
    "ready": ("Ready. Pick a domain, attach images if you have them, and ask.",
              "准备就绪。选择领域，如有图片请附上，然后提问。"),
    "answering": ("Answering…", "正在回答…"),
    "answered": ("Answer complete.", "回答完成。"),
    "stopped": ("Stopped.", "已停止。"),
    "need_login": ("Please log in first.", "请先登录。"),
    "need_credentials": ("Enter your username and password.", "请输入用户名和密码。"),
    "empty_question": ("Type a question to go with your message; the images alone are not enough.",
                       "请输入问题；只发送图片是不够的。"),
    "not_image": ("{name} is not an image; attach PNG, JPEG, WEBP, GIF or BMP files.",
                  "{name} 不是图片，请附加 PNG、JPEG、WEBP、GIF 或 BMP 文件。"),
    "nothing_to_regenerate": ("There is no question to answer again yet.", "还没有可以重新回答的问题。"),
    "no_answer_to_rate": ("There is no answer to give feedback on yet.", "还没有可以反馈的回答。"),
    "feedback_empty": ("Choose a rating, a reason, a correction or the review flag first.",
                       "请先选择评价、原因、修改内容或审核标记。"),
    "feedback_saved": ("Thanks, your feedback is saved (#{id}).", "谢谢，反馈已保存（#{id}）。"),
    "conversation_opened": ("Reopened “{title}”; your next question continues it.", "已打开“{title}”，继续提问即可接着对话。"),
    "choose_conversation": ("Choose a conversation from the list first.", "请先从列表中选择一个对话。"),
    "new_conversation": ("Started a new conversation.", "已开始新对话。"),
    # -- failures, said the way a colleague would ---------------------------------------------
    "err_unreachable": (
        "I can't reach the VisionDesk backend at {url} right now: it may be stopped or restarting. Nothing you "
        "typed is lost; try again in a minute, and if it keeps happening ask whoever runs VisionDesk to check "
        "the backend.",
        "现在连不上 VisionDesk 后端（{url}），它可能已停止或正在重启。你输入的内容都还在，请过一分钟再试；"
        "如果一直这样，请联系负责 VisionDesk 的同事检查后端。"),
    "err_timeout": (
        "The backend took longer than {seconds} seconds to answer, so I stopped waiting. It is probably very busy; "
        "try again, perhaps with a shorter question or fewer images.",
        "后端超过 {seconds} 秒没有回答，我先停止等待了。它可能非常繁忙，请再试一次，或缩短问题、减少图片。"),
    "err_model_down": (
        "The backend is up, but the model server behind it is not available right now ({detail}). Try again in "
        "{when}; if it persists, tell the operator.",
        "后端正常，但它背后的模型服务暂时不可用（{detail}）。请{when}再试；如果一直这样，请通知运维同事。"),
    "err_busy": (
        "Many agents are asking at once and the model's queue is full. Please try again in {when}.",
        "同时提问的同事太多，模型队列已满。请{when}再试。"),
    "err_image": (
        "The backend did not accept the image: {what}. Details: {detail}",
        "后端没有接受这张图片：{what}。详情：{detail}"),
    "err_login": (
        "That username and password don't match an active account. Check them and try again.",
        "用户名和密码不匹配任何有效账号，请检查后重试。"),
    "err_session": (
        "Your login has expired or was ended. Please log in again; your conversation is saved in the history.",
        "登录已过期或已结束。请重新登录；对话已保存在历史记录中。"),
    "err_forbidden": ("Your account may not do this: {detail}", "你的账号无权进行此操作：{detail}"),
    "err_bad_request": ("The backend could not use this request: {detail}", "后端无法处理这个请求：{detail}"),
    "err_not_found": ("That conversation or answer no longer exists, or it is not yours: {detail}",
                      "该对话或回答已不存在，或不属于你：{detail}"),
    "err_stream": (
        "The answer broke off part-way ({detail}). Your question is back in the box: send it again, or press "
        "Regenerate.",
        "回答中途中断了（{detail}）。问题已放回输入框：请重新发送，或点击“重新生成”。"),
    "err_server": (
        "The backend hit a problem (HTTP {status}) and could not answer. Try again; if it repeats, tell the "
        "operator: {detail}",
        "后端出现问题（HTTP {status}），无法回答。请再试一次；如果反复出现，请告知运维：{detail}"),
    "when_seconds": ("{n} seconds", "{n} 秒后"),
    "when_soon": ("a few seconds", "几秒后"),
    "image_bytes": ("the file is too large", "文件太大"),
    "image_pixels": ("it has too many pixels", "像素太多"),
    "image_format": ("its format is not accepted", "格式不被接受"),
    "image_count": ("there are too many images in this conversation turn", "这一轮附带的图片太多"),
    "image_body": ("the upload is too large altogether", "上传内容总体太大"),
    "image_unreadable": ("it could not be read as an image", "无法读取为图片"),
}

REASONS = ["wrong_facts", "missing_source", "misread_image", "incomplete", "unsafe", "tone"]


def t(lang: str, key: str, **values: object) -> str:
    en, zh = STRINGS[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text
