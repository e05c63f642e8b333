#!/usr/bin/env python3
"""Generates the bundled CACAO 2.0 playbook library (playbooks/vi, playbooks/en).

Each playbook is defined once; every human-readable text is a (vi, en) pair,
so both languages always have the same structure. Identifiers are
deterministic (uuid5 over a fixed namespace + playbook name + language +
step key): running this script again produces identical files.

Usage: python3 playbooks/generate.py   (standard library only)
"""

import json
import os
import uuid

NS = uuid.UUID("6f1d3c2a-8b4e-5a7d-9c0f-2e1b4a6d8c3e")
TIMESTAMP = "2026-11-26T00:00:00.000Z"
LANGS = ("vi", "en")
HERE = os.path.dirname(os.path.abspath(__file__))

MIN = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR

PHASE_NOTE = (
    " Các bước theo NIST SP 800-61r3: phân tích, ngăn chặn, loại bỏ & khôi phục, "
    "báo cáo, rút kinh nghiệm. Sự cố nghiêm trọng (theo Quyết định 05/2017/QĐ-TTg) "
    "được chuyển cấp ngay cho điều phối viên của tỉnh.",
    " Steps follow NIST SP 800-61r3: analysis, containment, eradication & recovery, "
    "reporting, lessons learned. Serious incidents (Decision 05/2017/QĐ-TTg) are "
    "escalated to the provincial coordinators at once.",
)

AGENTS = {
    "coordinator": ("individual", (
        "Điều phối viên ứng cứu sự cố của tỉnh",
        "Provincial incident-response coordinator",
    )),
    "unit-staff": ("individual", (
        "Cán bộ phụ trách công nghệ thông tin của đơn vị bị sự cố",
        "IT staff of the affected unit",
    )),
    "canhgac": ("group", (
        "Hệ thống canhgac (thao tác tự động)",
        "canhgac platform (automated actions)",
    )),
}

REF_FIELDS = ("on_completion", "on_success", "on_failure", "on_true", "on_false")


def tr(x, i):
    """Picks language i from every (vi, en) pair inside x."""
    if isinstance(x, tuple):
        return x[i]
    if isinstance(x, list):
        return [tr(y, i) for y in x]
    if isinstance(x, dict):
        return {k: tr(v, i) for k, v in x.items()}
    return x


def fmt(pair, **kw):
    return tuple(s.format(**kw) for s in pair)


def uid(*parts):
    return str(uuid.uuid5(NS, "/".join(parts)))


class PB:
    """One playbook, language-neutral. Steps are named by short keys."""

    def __init__(self, name, category, attack, title, desc):
        self.name, self.category, self.attack = name, category, attack
        self.title, self.desc = title, desc
        self.steps = {}
        self.variables = {}

    # --- primitives -------------------------------------------------------
    def add(self, key, step, nxt=None):
        assert key not in self.steps, key
        if nxt:
            step["on_completion"] = nxt
        self.steps[key] = step
        return key

    def var(self, name, value, desc):
        self.variables[name] = {"type": "string", "value": value, "description": desc}

    def start(self, nxt):
        return self.add("start", {"type": "start", "name": ("Bắt đầu", "Start")}, nxt)

    def end(self, key="end"):
        return self.add(key, {"type": "end", "name": ("Kết thúc", "End")})

    def manual(self, key, name, desc, checklist, agent="unit-staff", timeout_ms=4 * HOUR,
               nxt=None, out=None):
        step = {"type": "action", "name": name, "description": desc, "agent": agent,
                "commands": [{"type": "manual", "command": c} for c in checklist],
                "timeout": timeout_ms}
        if out:
            step["out_args"] = [out]
        return self.add(key, step, nxt)

    def action(self, key, name, desc, commands, nxt=None, on_success=None, on_failure=None):
        step = {"type": "action", "name": name, "description": desc, "agent": "canhgac",
                "commands": [dict({"type": "canhgac"}, **c) for c in commands]}
        if on_success:
            step["on_success"] = on_success
        if on_failure:
            step["on_failure"] = on_failure
        return self.add(key, step, nxt)

    def if_(self, key, name, desc, condition, on_true, nxt=None, on_false=None):
        step = {"type": "if-condition", "name": name, "description": desc,
                "condition": condition, "on_true": on_true}
        if on_false:
            step["on_false"] = on_false
        return self.add(key, step, nxt)

    def parallel(self, key, name, desc, branches, nxt=None):
        return self.add(key, {"type": "parallel", "name": name, "description": desc,
                              "next_steps": list(branches)}, nxt)

    def switch(self, key, name, desc, variable, cases, nxt=None):
        return self.add(key, {"type": "switch-condition", "name": name, "description": desc,
                              "switch": variable, "cases": dict(cases)}, nxt)

    def while_(self, key, name, desc, condition, body, nxt=None):
        return self.add(key, {"type": "while-condition", "name": name, "description": desc,
                              "condition": condition, "on_true": body}, nxt)

    # --- shared building blocks ------------------------------------------
    def escalation(self, key, reason, nxt):
        """Serious incident? escalate, then the coordinator calls people."""
        k = self.if_(
            key,
            ("Phân tích: sự cố có nghiêm trọng không?", "Analysis: is the incident serious?"),
            ("Nếu sự cố là nghiêm trọng theo Quyết định 05/2017/QĐ-TTg thì chuyển cấp ngay, "
             "sau đó tiếp tục ngăn chặn.",
             "If the incident is serious under Decision 05/2017/QĐ-TTg, escalate it at "
             "once, then go on with containment."),
            "__serious__:value = 'true'", key + "-escalate", nxt=nxt)
        self.action(
            key + "-escalate",
            ("Báo cáo: chuyển cấp sự cố nghiêm trọng", "Reporting: escalate the serious incident"),
            ("canhgac đánh dấu sự cố là nghiêm trọng và gửi thư ngay cho danh sách điều phối "
             "viên của tỉnh ([notify] escalation_to).",
             "canhgac marks the incident serious and mails the provincial coordinators' "
             "list ([notify] escalation_to) at once."),
            [{"command": "escalate", "reason": reason}],
            nxt=key + "-call")
        self.manual(
            key + "-call",
            ("Báo cáo: báo lãnh đạo đơn vị và triệu tập đội ứng cứu",
             "Reporting: brief the unit leader and convene the response team"),
            ("Sự cố nghiêm trọng cần lãnh đạo đơn vị biết ngay và cần Đội ứng cứu sự cố của "
             "tỉnh hỗ trợ trực tiếp.",
             "A serious incident needs the unit's leader told at once and direct support "
             "from the provincial incident response team."),
            [("Gọi điện cho lãnh đạo __unit_title__: tóm tắt sự cố __incident_title__, mức "
              "độ ảnh hưởng và những việc phải làm ngay",
              "Call the leader of __unit_title__: summarise incident __incident_title__, "
              "its impact and what must be done now"),
             ("Triệu tập Đội ứng cứu sự cố của tỉnh và cử người hỗ trợ đơn vị (trực tiếp "
              "hoặc từ xa)",
              "Convene the provincial incident response team and assign someone to "
              "support the unit (on site or remotely)"),
             ("Ghi vào nhật ký sự cố: đã báo cho ai, vào lúc nào",
              "Record in the incident log who was told, and when")],
            agent="coordinator", timeout_ms=1 * HOUR)
        return k

    def approval_block(self, key, question, why, nxt, address="__attacker_ip__"):
        """Coordinator approves; canhgac blocks the address for 24 hours."""
        a = address
        self.var("__approve_block__", "",
                 ("Câu trả lời của điều phối viên về việc chặn địa chỉ (yes/no)",
                  "The coordinator's answer on blocking the address (yes/no)"))
        self.manual(
            key,
            fmt(("Ngăn chặn: duyệt chặn địa chỉ {a}", "Containment: approve blocking {a}"), a=a),
            why,
            [fmt(("Kiểm tra {a} không phải địa chỉ của đơn vị, của nhà mạng hay của dịch vụ "
                  "mà đơn vị đang dùng (chặn nhầm sẽ làm gián đoạn công việc)",
                  "Check that {a} is not an address of the unit, of its Internet provider or "
                  "of a service the unit relies on (a wrong block disrupts work)"), a=a),
             question],
            agent="coordinator", timeout_ms=1 * HOUR, out="__approve_block__",
            nxt=key + "-if")
        k = self.if_(
            key + "-if",
            ("Ngăn chặn: điều phối viên có duyệt chặn không?",
             "Containment: did the coordinator approve the block?"),
            ("Chỉ chặn khi điều phối viên trả lời yes.",
             "Block only if the coordinator answered yes."),
            "__approve_block__:value = 'yes'", key + "-block", nxt=nxt)
        self.action(
            key + "-block",
            fmt(("Ngăn chặn: chặn {a} trong 24 giờ", "Containment: block {a} for 24 hours"),
                a=a),
            fmt(("canhgac gửi lệnh chặn {a} tới các cảm biến của đơn vị và chờ kết quả.",
                 "canhgac sends the command to block {a} to the unit's sensors and waits "
                 "for the result."), a=a),
            [{"command": "block", "address": a, "duration": "24h"}],
            on_success=key + "-verify", on_failure=key + "-by-hand")
        self.manual(
            key + "-verify",
            ("Ngăn chặn: kiểm tra việc chặn đã có hiệu lực", "Containment: check the block works"),
            fmt(("canhgac đã chặn {a} tại cổng mạng của đơn vị trong 24 giờ; cảm biến tự gỡ "
                 "chặn khi hết hạn.",
                 "canhgac blocked {a} at the unit's gateway for 24 hours; the sensor "
                 "removes the block itself when it expires."), a=a),
            [fmt(("Xem trên canhgac: không còn cảnh báo hoặc kết nối mới liên quan đến {a}",
                  "Check in canhgac that there are no new alerts or connections involving {a}"),
                 a=a),
             ("Kiểm tra các dịch vụ của đơn vị vẫn hoạt động bình thường sau khi chặn",
              "Check that the unit's services still work normally after the block"),
             ("Nếu sau 24 giờ tấn công vẫn tiếp diễn, báo điều phối viên để chặn lại",
              "If the attack is still going on after 24 hours, ask the coordinator to "
              "block again")],
            timeout_ms=2 * HOUR)
        self.manual(
            key + "-by-hand",
            fmt(("Ngăn chặn: chặn thủ công {a} trên tường lửa",
                 "Containment: block {a} by hand on the firewall"), a=a),
            ("canhgac không chặn được (cảm biến ngoại tuyến hoặc đang chạy thử). Hãy chặn "
             "trực tiếp trên tường lửa hoặc router của đơn vị.",
             "canhgac could not block it (sensor offline or in dry-run). Block it directly "
             "on the unit's firewall or router."),
            [fmt(("Đăng nhập vào tường lửa/router của đơn vị và thêm quy tắc chặn mọi kết nối "
                  "đến và đi với {a}",
                  "Log in to the unit's firewall/router and add a rule blocking all "
                  "traffic to and from {a}"), a=a),
             ("Ghi lại tên quy tắc và thời điểm tạo; gỡ quy tắc sau 24 giờ nếu điều phối "
              "viên không yêu cầu giữ lại",
              "Note the rule's name and when it was added; remove it after 24 hours unless "
              "the coordinator asks to keep it"),
             ("Báo lại cho điều phối viên khi đã chặn xong",
              "Tell the coordinator when the block is in place")],
            timeout_ms=1 * HOUR)
        return k

    def contained(self, key, reason, nxt):
        return self.action(
            key,
            ("Ngăn chặn: ghi nhận sự cố đã được ngăn chặn",
             "Containment: mark the incident contained"),
            ("canhgac chuyển trạng thái sự cố sang \"đã ngăn chặn\" (contained).",
             "canhgac sets the incident's status to contained."),
            [{"command": "set", "status": "contained", "reason": reason}], nxt=nxt)

    def closing(self, key, review_extra, lessons):
        """Review report -> file report -> lessons learned -> end."""
        self.manual(
            key,
            ("Báo cáo: rà soát báo cáo sự cố", "Reporting: review the incident report"),
            ("Kiểm tra báo cáo trước khi canhgac gửi cho cơ quan chức năng.",
             "Check the report before canhgac files it with the competent authority."),
            [("Kiểm tra dòng thời gian, hệ thống bị ảnh hưởng và các việc đã làm trong sự cố "
              "__incident_id__ là đầy đủ, chính xác",
              "Check that the timeline, affected systems and actions taken in incident "
              "__incident_id__ are complete and correct"),
             ("Kiểm tra danh sách người nhận (__report_recipients__) còn đúng: từ năm 2025 cơ "
              "quan có thẩm quyền là Bộ Công an; sửa [playbooks] report_recipients nếu cần",
              "Check the recipient list (__report_recipients__) is current: since 2025 the "
              "competent authority is the Ministry of Public Security; edit [playbooks] "
              "report_recipients if needed"),
             ("Bảo đảm báo cáo được gửi trong vòng __report_deadline_hours__ giờ kể từ khi "
              "phát hiện sự cố",
              "Make sure the report goes out within __report_deadline_hours__ hours of "
              "detection")] + list(review_extra),
            agent="coordinator", timeout_ms=4 * HOUR, nxt=key + "-file")
        self.action(
            key + "-file",
            ("Báo cáo: gửi báo cáo sự cố cho cơ quan chức năng",
             "Reporting: file the incident notification report"),
            ("Gửi báo cáo thông báo sự cố tới __report_recipients__ trong vòng "
             "__report_deadline_hours__ giờ kể từ khi phát hiện. Người nhận và thời hạn là "
             "cấu hình ([playbooks] report_recipients, report_deadline_hours; mặc định 5 "
             "ngày theo Thông tư 20/2017/TT-BTTTT). Từ năm 2025 cơ quan có thẩm quyền là Bộ "
             "Công an, nên danh sách người nhận có thể sửa được.",
             "Files the incident notification report to __report_recipients__ within "
             "__report_deadline_hours__ hours of detection. Recipients and deadline are "
             "configuration ([playbooks] report_recipients, report_deadline_hours; default "
             "5 days per Circular 20/2017/TT-BTTTT). Since 2025 the competent authority is "
             "the Ministry of Public Security, so the recipients are editable."),
            [{"command": "report"}], nxt=key + "-lessons")
        self.manual(
            key + "-lessons",
            ("Rút kinh nghiệm: họp rút kinh nghiệm sau sự cố",
             "Lessons learned: post-incident review"),
            ("Họp trong vòng 2 tuần sau khi xử lý xong, ghi biên bản, giao việc cải thiện "
             "và cập nhật playbook này nếu cần.",
             "Meet within 2 weeks of the incident being handled, keep minutes, assign "
             "improvements and update this playbook if needed."),
            list(lessons),
            agent="coordinator", timeout_ms=14 * DAY, nxt="end")
        return self.end()

    # --- output -----------------------------------------------------------
    def build(self, lang):
        i = LANGS.index(lang)

        def sid(key):
            return "%s--%s" % (self.steps[key]["type"], uid(self.name, lang, key))

        agents = {}
        agent_ids = {}
        for aname, (atype, label) in AGENTS.items():
            aid = "%s--%s" % (atype, uid(self.name, lang, "agent", aname))
            agent_ids[aname] = aid
            agents[aid] = {"type": atype, "name": aname, "description": label[i]}

        workflow = {}
        for key, step in self.steps.items():
            out = tr(step, i)
            for f in REF_FIELDS:
                if f in out:
                    out[f] = sid(out[f])
            if "next_steps" in out:
                out["next_steps"] = [sid(k) for k in out["next_steps"]]
            if "cases" in out:
                out["cases"] = {c: sid(k) for c, k in out["cases"].items()}
            if "agent" in out:
                out["agent"] = agent_ids[out["agent"]]
            workflow[sid(key)] = out

        labels = ["lang:" + lang, "category:" + self.category] + [
            "attack." + t for t in self.attack]
        return {
            "type": "playbook",
            "spec_version": "cacao-2.0",
            "id": "playbook--" + uid(self.name, lang, "playbook"),
            "name": self.title[i],
            "description": self.desc[i] + PHASE_NOTE[i],
            "playbook_types": ["investigation", "mitigation", "remediation", "notification"],
            "created_by": "identity--" + uid("canhgac", "identity"),
            "created": TIMESTAMP,
            "modified": TIMESTAMP,
            "labels": labels,
            "playbook_variables": tr(self.variables, i),
            "workflow_start": sid("start"),
            "workflow": workflow,
            "agent_definitions": agents,
        }


PLAYBOOKS = []


def playbook(fn):
    PLAYBOOKS.append(fn)
    return fn


# =========================================================================
# ransomware
# =========================================================================
@playbook
def ransomware():
    p = PB("ransomware", "ransomware", ["t1486", "t1490", "t1021.002"],
           ("Ứng phó sự cố mã độc tống tiền (ransomware)", "Ransomware incident response"),
           ("Dùng khi tệp trên máy tính hoặc thư mục dùng chung bị mã hóa, đổi phần mở rộng "
            "và có thông báo đòi tiền chuộc.",
            "Use when files on computers or shared folders are encrypted, renamed with a "
            "new extension, and a ransom note appears."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: cách ly máy bị mã hóa và ghi nhận hiện trạng",
         "Analysis: isolate the encrypted machine and record what you see"),
        ("Làm ngay khi nhận cảnh báo. Mục tiêu: chặn mã độc lây lan nhưng giữ nguyên máy để "
         "điều tra.",
         "Do this as soon as the alert arrives. Aim: stop the spread while keeping the "
         "machine as it is for investigation."),
        [("Rút dây mạng (và tắt Wi-Fi) của máy bị mã hóa; KHÔNG tắt nguồn, KHÔNG khởi động "
          "lại máy",
          "Unplug the network cable (and turn off Wi-Fi) of the affected machine; do NOT "
          "power it off or restart it"),
         ("Chụp ảnh thông báo đòi tiền chuộc bằng điện thoại (đọc rõ tên nhóm tống tiền, địa "
          "chỉ liên hệ, phần mở rộng của tệp bị mã hóa)",
          "Photograph the ransom note with a phone (the group's name, contact address and "
          "the extension of the encrypted files must be readable)"),
         ("Liệt kê các thư mục dùng chung có tệp bị mã hóa và ghi thời điểm phát hiện",
          "List which shared folders show encrypted files and note when you found them"),
         ("Báo đồng nghiệp không mở ổ đĩa dùng chung và không cắm USB vào máy bị nhiễm",
          "Tell colleagues not to open the shared drive and not to plug USB drives into "
          "the infected machine"),
         ("Ghi lại tên máy, người dùng, địa chỉ (__asset__, __internal_ip__) và việc người dùng "
          "đang làm khi thấy sự cố",
          "Write down the machine name, its user, its address (__asset__, __internal_ip__) and "
          "what the user was doing when it happened"),
         ("Không trả tiền chuộc và không liên lạc với kẻ tấn công",
          "Do not pay the ransom and do not contact the attackers")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Mã độc tống tiền nghiêm trọng tại __unit_title__ (sự cố "
                             "__incident_id__)",
                             "Serious ransomware incident at __unit_title__ (incident "
                             "__incident_id__)"), nxt="contain")
    p.parallel(
        "contain",
        ("Ngăn chặn: chặn lây lan và bảo toàn chứng cứ cùng lúc",
         "Containment: stop the spread and preserve evidence at the same time"),
        ("Hai nhánh chạy song song; bước tiếp theo chỉ bắt đầu khi cả hai đã xong.",
         "The two branches run in parallel; the next step starts when both are done."),
        ["spread", "evidence"], nxt="contained")
    p.manual(
        "spread",
        ("Ngăn chặn: ngăn mã độc lây lan trong mạng", "Containment: stop the spread in the network"),
        ("Mã độc tống tiền thường mã hóa tiếp các thư mục dùng chung và máy khác trong mạng.",
         "Ransomware usually goes on to encrypt shared folders and other machines on the "
         "network."),
        [("Tạm ngừng chia sẻ các thư mục dùng chung bị ảnh hưởng trên máy chủ tệp",
          "Stop sharing the affected folders on the file server for now"),
         ("Kiểm tra các máy khác cùng mạng có tệp bị đổi tên hoặc thông báo tống tiền; rút "
          "dây mạng máy nào bị",
          "Check other machines on the same network for renamed files or ransom notes; "
          "unplug any that are affected"),
         ("Tạm khóa tài khoản người dùng của máy bị nhiễm và đổi mật khẩu quản trị "
          "(administrator) dùng chung",
          "Disable the infected machine's user account and change shared administrator "
          "passwords"),
         ("Tháo ổ đĩa sao lưu và ổ cứng gắn ngoài khỏi mạng để bảo vệ bản sao lưu",
          "Disconnect backup drives and external disks from the network to protect the "
          "backups")],
        timeout_ms=4 * HOUR)
    p.manual(
        "evidence",
        ("Ngăn chặn: bảo toàn chứng cứ", "Containment: preserve evidence"),
        ("Chứng cứ giúp xác định mã độc vào bằng đường nào và có công cụ giải mã miễn phí "
         "hay không.",
         "Evidence shows how the ransomware got in and whether a free decryptor exists."),
        [("Giữ máy bị nhiễm đang bật; không cài lại, không chạy phần mềm diệt virus cho đến "
          "khi đội ứng cứu đồng ý",
          "Keep the infected machine powered on; do not reinstall it or run antivirus until "
          "the response team agrees"),
         ("Sao chép vài tệp bị mã hóa và tệp thông báo tống tiền sang một USB riêng, dán nhãn",
          "Copy a few encrypted files and the ransom note file to a separate USB drive and "
          "label it"),
         ("Xuất nhật ký (log) của tường lửa, máy chủ tệp và phần mềm diệt virus trong 7 ngày "
          "gần nhất",
          "Export the firewall, file server and antivirus logs for the last 7 days"),
         ("Ghi mọi việc đã làm, kèm thời gian, vào nhật ký sự cố",
          "Record everything you did, with times, in the incident log")],
        timeout_ms=4 * HOUR, nxt="identify")
    p.manual(
        "identify",
        ("Phân tích: xác định loại mã độc tống tiền", "Analysis: identify the ransomware"),
        ("Dùng mẫu đã thu thập để biết đây là loại mã độc nào.",
         "Use the collected samples to find out which ransomware this is."),
        [("Tải thông báo tống tiền và một tệp bị mã hóa lên ID Ransomware "
          "(id-ransomware.malwarehunterteam.com) để nhận diện",
          "Upload the ransom note and one encrypted file to ID Ransomware "
          "(id-ransomware.malwarehunterteam.com) to identify it"),
         ("Tìm công cụ giải mã miễn phí trên nomoreransom.org",
          "Look for a free decryptor on nomoreransom.org"),
         ("Ghi tên mã độc và cách nó thường xâm nhập vào nhật ký sự cố",
          "Record the ransomware's name and how it usually gets in, in the incident log")],
        agent="coordinator", timeout_ms=8 * HOUR)
    p.contained("contained", ("Đã cách ly các máy bị mã hóa và bảo toàn chứng cứ",
                              "Encrypted machines isolated and evidence preserved"),
                nxt="rebuild")
    p.manual(
        "rebuild",
        ("Loại bỏ & khôi phục: cài lại máy bị nhiễm", "Eradication & recovery: rebuild the infected machines"),
        ("Chỉ diệt virus là không đủ: máy bị mã độc tống tiền cần được cài lại.",
         "Antivirus alone is not enough: machines hit by ransomware must be reinstalled."),
        [("Khi đội ứng cứu đã lấy xong chứng cứ, cài lại hệ điều hành từ bộ cài sạch cho "
          "từng máy bị nhiễm",
          "Once the response team has the evidence, reinstall the operating system from "
          "clean media on each infected machine"),
         ("Cập nhật đầy đủ bản vá Windows và phần mềm, bật phần mềm diệt virus",
          "Install all Windows and software updates and turn on antivirus"),
         ("Đổi mật khẩu của mọi tài khoản đã đăng nhập trên máy bị nhiễm, tài khoản quản trị "
          "trước",
          "Change the password of every account used on the infected machines, "
          "administrator accounts first"),
         ("Tắt Remote Desktop (RDP) đang mở ra Internet, nếu có",
          "Turn off Remote Desktop (RDP) exposed to the Internet, if any")],
        timeout_ms=3 * DAY, nxt="restore")
    p.manual(
        "restore",
        ("Loại bỏ & khôi phục: khôi phục dữ liệu từ bản sao lưu",
         "Eradication & recovery: restore data from backups"),
        ("Khôi phục dữ liệu vào hệ thống đã được làm sạch.",
         "Restore the data into systems that have been cleaned."),
        [("Kiểm tra bản sao lưu gần nhất còn nguyên vẹn, không bị mã hóa (mở thử vài tệp "
          "trên một máy sạch)",
          "Check the latest backup is intact and not encrypted (open a few files on a "
          "clean machine)"),
         ("Khôi phục dữ liệu vào thư mục dùng chung đã làm sạch, rồi mới chia sẻ lại",
          "Restore the data into the cleaned shared folders, and only then share them "
          "again"),
         ("Nhờ người dùng kiểm tra các tài liệu quan trọng mở được bình thường",
          "Ask users to check that important documents open normally"),
         ("Theo dõi cảnh báo trên canhgac ít nhất 7 ngày sau khi khôi phục",
          "Watch canhgac alerts for at least 7 days after restoring")],
        timeout_ms=3 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ lượng dữ liệu bị mã hóa, dữ liệu đã khôi phục được và dữ liệu bị mất",
          "State how much data was encrypted, how much was restored and what was lost")],
        [("Mã độc vào bằng đường nào (thư điện tử, USB, RDP, phần mềm không rõ nguồn gốc)?",
          "How did the ransomware get in (email, USB, RDP, software of unknown origin)?"),
         ("Bản sao lưu có đủ mới và được tách khỏi mạng không? Mất bao nhiêu dữ liệu?",
          "Were backups recent enough and kept off the network? How much data was lost?"),
         ("Từ khi phát hiện đến khi cách ly mất bao lâu; khâu nào cần nhanh hơn?",
          "How long from detection to isolation; which step must be faster?"),
         ("Cập nhật quy trình sao lưu 3-2-1 (3 bản, 2 loại thiết bị, 1 bản cất ngoài mạng) "
          "và kế hoạch tập huấn cho cán bộ",
          "Update the 3-2-1 backup routine (3 copies, 2 kinds of media, 1 kept offline) "
          "and the staff training plan")])
    return p


# =========================================================================
# phishing
# =========================================================================
@playbook
def phishing():
    p = PB("phishing", "phishing", ["t1566", "t1566.001", "t1566.002", "t1078"],
           ("Ứng phó thư điện tử lừa đảo (phishing)", "Phishing email response"),
           ("Dùng khi cán bộ nhận được thư lừa đảo: giả mạo cơ quan cấp trên, đòi đăng nhập "
            "hoặc có tệp đính kèm chứa mã độc.",
            "Use when staff receive a phishing email: impersonating a higher authority, "
            "asking them to log in, or carrying a malicious attachment."))
    p.var("__mail_outcome__", "",
          ("Người nhận đã làm gì: clicked, credentials hoặc reported-only",
           "What the recipient did: clicked, credentials or reported-only"))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: thu thập thông tin về thư lừa đảo",
         "Analysis: collect the facts about the phishing email"),
        ("Giữ lại thư làm chứng cứ và tìm xem những ai đã nhận.",
         "Keep the email as evidence and find out who received it."),
        [("Không bấm vào liên kết, không mở tệp đính kèm, không trả lời thư",
          "Do not click links, open attachments or reply to the email"),
         ("Chụp màn hình thư và lưu thư thành tệp (.eml/.msg) để gửi đội ứng cứu",
          "Screenshot the email and save it as a file (.eml/.msg) for the response team"),
         ("Ghi lại địa chỉ người gửi, tiêu đề, thời điểm nhận, liên kết và tên tệp đính kèm "
          "(chỉ chép lại, không mở)",
          "Write down the sender address, subject, time received, links and attachment "
          "names (copy them, do not open them)"),
         ("Hỏi trong đơn vị những ai đã nhận cùng thư này",
          "Ask around the unit who else received the same email")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Chiến dịch thư lừa đảo nghiêm trọng nhắm vào __unit_title__ "
                             "(sự cố __incident_id__)",
                             "Serious phishing campaign against __unit_title__ (incident "
                             "__incident_id__)"), nxt="outcome")
    p.manual(
        "outcome",
        ("Phân tích: người nhận đã làm gì với thư?", "Analysis: what did the recipients do?"),
        ("Chọn một câu trả lời — clicked: đã bấm liên kết hoặc mở tệp đính kèm; "
         "credentials: đã nhập tên đăng nhập/mật khẩu vào trang giả mạo; reported-only: chỉ "
         "nhận thư và báo lại, không bấm gì.",
         "Choose one answer — clicked: clicked a link or opened the attachment; "
         "credentials: typed a username/password into the fake page; reported-only: only "
         "received and reported it, clicked nothing."),
        [("Hỏi trực tiếp từng người đã nhận thư và chọn trường hợp nặng nhất",
          "Ask each recipient directly and choose the worst case"),
         ("Trả lời clicked, credentials hoặc reported-only",
          "Answer clicked, credentials or reported-only")],
        timeout_ms=2 * HOUR, out="__mail_outcome__", nxt="outcome-switch")
    p.switch(
        "outcome-switch",
        ("Ngăn chặn: xử lý theo việc người nhận đã làm",
         "Containment: act on what the recipients did"),
        ("Mỗi trường hợp có các việc ngăn chặn riêng.", "Each case has its own containment work."),
        "__mail_outcome__",
        [("clicked", "clicked"), ("credentials", "creds-reset"),
         ("reported-only", "reported"), ("default", "unclear")],
        nxt="sender")
    p.manual(
        "clicked",
        ("Ngăn chặn: kiểm tra máy đã bấm vào thư", "Containment: check the machine that clicked"),
        ("Liên kết hoặc tệp đính kèm có thể đã cài mã độc lên máy.",
         "The link or attachment may have installed malware on the machine."),
        [("Rút dây mạng của máy đã bấm vào thư, không tắt máy",
          "Unplug the network cable of the machine that clicked, leave it powered on"),
         ("Cập nhật và quét toàn bộ máy bằng phần mềm diệt virus",
          "Update the antivirus and run a full scan of the machine"),
         ("Kiểm tra có chương trình lạ mới cài hoặc tự chạy khi khởi động không",
          "Check for newly installed or auto-starting programs you do not recognise"),
         ("Báo điều phối viên nếu phát hiện mã độc",
          "Tell the coordinator if malware is found")],
        timeout_ms=4 * HOUR)
    p.manual(
        "creds-reset",
        ("Ngăn chặn: đổi mật khẩu tài khoản bị lộ", "Containment: reset the exposed password"),
        ("Kẻ tấn công có thể đăng nhập bằng mật khẩu vừa bị lấy; phải đổi ngay.",
         "The attacker can log in with the stolen password; change it now."),
        [("Đổi ngay mật khẩu tài khoản đã nhập vào trang giả mạo (và mọi nơi dùng chung mật "
          "khẩu đó)",
          "Change the password typed into the fake page at once (and everywhere the same "
          "password is used)"),
         ("Đăng xuất mọi phiên đăng nhập đang mở của tài khoản đó",
          "Sign the account out of all open sessions")],
        timeout_ms=1 * HOUR, nxt="creds-check")
    p.manual(
        "creds-check",
        ("Ngăn chặn: kiểm tra hoạt động của tài khoản", "Containment: check the account's activity"),
        ("Tìm dấu hiệu tài khoản đã bị kẻ tấn công sử dụng.",
         "Look for signs that the attacker used the account."),
        [("Xem lịch sử đăng nhập: có lần đăng nhập từ địa chỉ hoặc quốc gia lạ không",
          "Check the login history for logins from unknown addresses or countries"),
         ("Kiểm tra thư đã gửi và quy tắc tự chuyển tiếp thư (forward) lạ",
          "Check sent mail and any unknown auto-forwarding rules")],
        timeout_ms=4 * HOUR)
    p.manual(
        "reported",
        ("Ngăn chặn: xác nhận không ai bấm vào thư", "Containment: confirm nobody clicked"),
        ("Người nhận đã báo đúng cách; chỉ cần bảo đảm không ai khác bị ảnh hưởng.",
         "The recipient reported it correctly; just make sure nobody else was affected."),
        [("Cảm ơn người đã báo cáo thư lừa đảo",
          "Thank the person who reported the phishing email"),
         ("Kiểm tra trên canhgac không có máy nào trong đơn vị kết nối tới liên kết trong thư",
          "Check in canhgac that no machine in the unit connected to the link in the email")],
        timeout_ms=4 * HOUR)
    p.manual(
        "unclear",
        ("Ngăn chặn: làm rõ với đơn vị", "Containment: clarify with the unit"),
        ("Câu trả lời không rõ ràng; điều phối viên cần hỏi lại đơn vị.",
         "The answer was unclear; the coordinator must ask the unit again."),
        [("Gọi cho cán bộ của __unit_title__ để biết ai đã bấm liên kết hoặc nhập mật khẩu",
          "Call the staff of __unit_title__ to find out who clicked or typed a password"),
         ("Nếu có người đã nhập mật khẩu, yêu cầu đổi mật khẩu ngay",
          "If someone typed a password, have it changed at once")],
        agent="coordinator", timeout_ms=2 * HOUR)
    p.manual(
        "sender",
        ("Ngăn chặn: chặn người gửi và gỡ thư khỏi các hộp thư",
         "Containment: block the sender and remove the email from mailboxes"),
        ("Ngăn thư lừa đảo tiếp tục đến tay cán bộ khác.",
         "Stop the phishing email from reaching more staff."),
        [("Chặn địa chỉ/tên miền người gửi trên hệ thống thư (hoặc đề nghị quản trị hệ thống "
          "thư của tỉnh chặn)",
          "Block the sender's address/domain on the mail system (or ask the provincial "
          "mail administrator to)"),
         ("Xóa thư lừa đảo khỏi hộp thư của mọi người đã nhận",
          "Delete the phishing email from every recipient's mailbox"),
         ("Gửi cảnh báo ngắn cho toàn đơn vị: mô tả thư, nhắc không bấm và báo lại nếu nhận "
          "được",
          "Send a short warning to the whole unit: describe the email, remind them not to "
          "click and to report it if they get it")],
        timeout_ms=4 * HOUR, nxt="block")
    p.approval_block(
        "block",
        ("Duyệt chặn __attacker_ip__ (máy chủ gửi thư hoặc trang web giả mạo) tại cổng Internet "
         "của đơn vị trong 24 giờ? Trả lời yes hoặc no",
         "Approve blocking __attacker_ip__ (the sending server or the fake website) at the "
         "unit's gateway for 24 hours? Answer yes or no"),
        ("Chặn địa chỉ liên quan đến thư lừa đảo để cán bộ không vào được trang giả mạo.",
         "Block the address tied to the phishing email so staff cannot reach the fake "
         "page."),
        nxt="contained")
    p.contained("contained", ("Đã chặn thư lừa đảo và xử lý các tài khoản/máy bị ảnh hưởng",
                              "Phishing email blocked and affected accounts/machines handled"),
                nxt="cleanup")
    p.manual(
        "cleanup",
        ("Loại bỏ & khôi phục: làm sạch hộp thư, tài khoản và máy",
         "Eradication & recovery: clean up mailboxes, accounts and machines"),
        ("Loại bỏ mọi thứ kẻ tấn công có thể đã để lại.",
         "Remove anything the attacker may have left behind."),
        [("Xóa quy tắc tự chuyển tiếp thư lạ trong hộp thư của người đã nhập mật khẩu",
          "Delete unknown auto-forwarding rules in the mailbox of anyone who typed their "
          "password"),
         ("Bật xác thực hai lớp cho tài khoản thư điện tử nếu hệ thống hỗ trợ",
          "Turn on two-factor authentication for mail accounts if the system supports it"),
         ("Nếu tài khoản đã bị dùng để gửi thư lừa đảo tiếp, báo cho những người đã nhận",
          "If the account was used to send more phishing, warn the people who received it"),
         ("Chỉ cho máy đã bị cách ly nối mạng lại khi quét sạch",
          "Reconnect an isolated machine only after a clean scan")],
        timeout_ms=2 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ số người nhận thư, số người đã bấm và số tài khoản bị lộ",
          "State how many people received the email, how many clicked and how many "
          "accounts were exposed")],
        [("Vì sao thư lọt qua bộ lọc thư rác? Cần điều chỉnh gì (SPF, DKIM, DMARC)?",
          "Why did the email get past the spam filter? What should change (SPF, DKIM, "
          "DMARC)?"),
         ("Cán bộ có biết cách nhận biết và báo cáo thư lừa đảo không? Lên kế hoạch tập huấn "
          "ngắn",
          "Do staff know how to spot and report phishing? Plan a short training"),
         ("Từ khi nhận thư đến khi báo cáo mất bao lâu?",
          "How long from receiving the email to reporting it?")])
    return p


# =========================================================================
# defacement
# =========================================================================
@playbook
def defacement():
    p = PB("defacement", "defacement", ["t1491", "t1491.002", "t1190"],
           ("Ứng phó sự cố trang web bị thay đổi giao diện (deface)",
            "Website defacement response"),
           ("Dùng khi trang thông tin điện tử của đơn vị bị thay nội dung: khẩu hiệu lạ, hình "
            "ảnh xuyên tạc, thông điệp của nhóm tin tặc.",
            "Use when the unit's website content is replaced: strange slogans, distorted "
            "images, a hacker group's message."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: xác nhận trang web bị thay đổi và lưu chứng cứ",
         "Analysis: confirm the defacement and keep evidence"),
        ("Trang bị thay đổi ảnh hưởng trực tiếp đến uy tín cơ quan nhà nước; cần xử lý trong "
         "vài giờ.",
         "A defaced site directly harms the public body's reputation; act within hours."),
        [("Mở trang web bằng điện thoại dùng mạng di động (4G) để xác nhận nội dung bị thay "
          "đổi",
          "Open the website on a phone using mobile data (4G) to confirm the content is "
          "changed"),
         ("Chụp màn hình toàn bộ trang bị thay đổi, ghi lại địa chỉ (URL) và thời điểm",
          "Screenshot the whole defaced page and write down the URL and time"),
         ("Lưu trang bị thay đổi (Ctrl+S trong trình duyệt) để làm chứng cứ",
          "Save the defaced page (Ctrl+S in the browser) as evidence"),
         ("Báo ngay cho người/công ty quản trị trang web (nếu thuê ngoài) và hỏi bản sao lưu "
          "gần nhất",
          "Tell the website's administrator or hosting company (if outsourced) at once and "
          "ask for the latest backup"),
         ("Ghi lại trang web chạy trên nền tảng nào (WordPress, Joomla, cổng thông tin điện "
          "tử...) và ai quản trị",
          "Note what the site runs on (WordPress, Joomla, e-government portal...) and who "
          "administers it")],
        timeout_ms=1 * HOUR, nxt="serious")
    p.escalation("serious", ("Trang thông tin điện tử của __unit_title__ bị thay đổi giao "
                             "diện (sự cố __incident_id__)",
                             "Website of __unit_title__ defaced (incident __incident_id__)"),
                 nxt="offline")
    p.manual(
        "offline",
        ("Ngăn chặn: tạm ngừng trang web bị thay đổi", "Containment: take the defaced site offline"),
        ("Không để người dân tiếp tục thấy nội dung xấu, và chặn kẻ tấn công quay lại.",
         "Stop the public from seeing the content and keep the attacker from coming back."),
        [("Tạm gỡ trang web hoặc thay bằng trang thông báo \"Đang bảo trì\"; không xóa tệp "
          "trên máy chủ",
          "Take the site down or replace it with an \"Under maintenance\" page; do not delete "
          "files on the server"),
         ("Sao chép nhật ký truy cập (access log) của máy chủ web trước khi bị ghi đè",
          "Copy the web server's access log before it is overwritten"),
         ("Đổi mật khẩu trang quản trị, FTP/SSH và cơ sở dữ liệu của trang web",
          "Change the passwords of the admin page, FTP/SSH and the site's database"),
         ("Nếu trang nằm trên cổng thông tin của tỉnh, báo cho đơn vị vận hành cổng",
          "If the site is part of the provincial portal, tell the portal's operator")],
        timeout_ms=2 * HOUR, nxt="block")
    p.approval_block(
        "block",
        ("Duyệt chặn __attacker_ip__ (địa chỉ đã tấn công trang web) tại cổng Internet của đơn "
         "vị trong 24 giờ? Trả lời yes hoặc no",
         "Approve blocking __attacker_ip__ (the address that attacked the website) at the "
         "unit's gateway for 24 hours? Answer yes or no"),
        ("Chặn địa chỉ tấn công để kẻ tấn công không sửa lại trang trong khi đang khắc phục.",
         "Block the attacking address so the attacker cannot change the site again while "
         "it is being fixed."),
        nxt="contained")
    p.contained("contained", ("Trang web bị thay đổi đã được gỡ xuống, địa chỉ tấn công đã "
                              "được xử lý",
                              "Defaced site taken offline, attacking address handled"),
                nxt="clean")
    p.manual(
        "clean",
        ("Loại bỏ & khôi phục: tìm lỗ hổng và làm sạch trang web",
         "Eradication & recovery: find the hole and clean the site"),
        ("Nếu không tìm ra lỗ hổng, trang web sẽ bị thay đổi lại sau khi khôi phục.",
         "If the hole is not found, the site will be defaced again after it is restored."),
        [("So sánh mã nguồn trên máy chủ với bản sao lưu sạch để tìm tệp bị sửa hoặc thêm "
          "(nhất là tệp .php, .aspx lạ — có thể là webshell)",
          "Compare the code on the server with a clean backup to find changed or added "
          "files (especially unknown .php or .aspx files — possibly webshells)"),
         ("Tìm và xóa tài khoản quản trị lạ trong trang quản trị và cơ sở dữ liệu",
          "Find and delete unknown admin accounts in the admin page and the database"),
         ("Cập nhật nền tảng, giao diện (theme) và plugin lên bản mới nhất; gỡ plugin không "
          "dùng",
          "Update the platform, theme and plugins to the latest versions; remove unused "
          "plugins")],
        timeout_ms=2 * DAY, nxt="restore")
    p.manual(
        "restore",
        ("Loại bỏ & khôi phục: đưa trang web hoạt động trở lại",
         "Eradication & recovery: bring the site back"),
        ("Chỉ mở lại trang web khi đã vá lỗ hổng.", "Reopen the site only once the hole is fixed."),
        [("Khôi phục trang web từ bản sao lưu sạch trước thời điểm bị tấn công",
          "Restore the site from a clean backup taken before the attack"),
         ("Kiểm tra trang chủ và các chuyên mục chính trước khi mở lại",
          "Check the home page and main sections before reopening"),
         ("Theo dõi trang web trong 7 ngày (cảnh báo canhgac và kiểm tra bằng mắt hằng ngày)",
          "Watch the site for 7 days (canhgac alerts and a daily look)")],
        timeout_ms=2 * DAY, nxt="review")
    p.closing(
        "review",
        [("Đính kèm ảnh chụp trang bị thay đổi và thời gian trang web ngừng hoạt động",
          "Attach the screenshots of the defaced page and how long the site was down")],
        [("Kẻ tấn công thay đổi trang bằng cách nào (lỗ hổng, mật khẩu bị lộ, plugin cũ)?",
          "How did the attacker change the site (a vulnerability, a leaked password, an "
          "old plugin)?"),
         ("Đã có cơ chế giám sát thay đổi nội dung trang web để phát hiện sớm chưa?",
          "Is there monitoring of website content changes to detect this early?"),
         ("Hợp đồng với đơn vị thuê ngoài có quy định trách nhiệm vá lỗi và sao lưu không?",
          "Does the contract with the outsourced provider cover patching and backups?")])
    return p


# =========================================================================
# webshell
# =========================================================================
@playbook
def webshell():
    p = PB("webshell", "webshell", ["t1505.003", "t1190"],
           ("Ứng phó sự cố mã độc webshell trên máy chủ web", "Webshell incident response"),
           ("Dùng khi phát hiện tệp webshell (tệp cho phép kẻ tấn công điều khiển máy chủ web "
            "từ xa) hoặc có truy cập bất thường tới tệp lạ trên máy chủ web.",
            "Use when a webshell (a file that lets the attacker control the web server "
            "remotely) is found, or when unusual requests hit an unknown file on the web "
            "server."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: xác định tệp webshell và lưu chứng cứ",
         "Analysis: locate the webshell and keep evidence"),
        ("Không xóa vội: tệp webshell và nhật ký cho biết kẻ tấn công đã làm gì.",
         "Do not delete it yet: the webshell and the logs show what the attacker did."),
        [("Ghi lại tên máy chủ web (__asset__), đường dẫn tệp đáng ngờ và thời điểm tệp được "
          "tạo/sửa",
          "Write down the web server (__asset__), the suspicious file's path and when it "
          "was created/changed"),
         ("Sao chép tệp đáng ngờ sang một USB riêng làm chứng cứ (không mở bằng trình duyệt)",
          "Copy the suspicious file to a separate USB drive as evidence (do not open it in "
          "a browser)"),
         ("Sao chép nhật ký truy cập (access log) của máy chủ web trong 30 ngày gần nhất",
          "Copy the web server's access log for the last 30 days"),
         ("Tìm trong nhật ký các truy cập tới tệp đáng ngờ và ghi lại các địa chỉ đã gọi tới",
          "Find the requests to the suspicious file in the log and note the addresses "
          "that made them"),
         ("Liệt kê các trang web/ứng dụng khác cùng chạy trên máy chủ này",
          "List the other websites/applications on the same server")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Máy chủ web của __unit_title__ bị cài webshell (sự cố "
                             "__incident_id__)",
                             "Webshell on a web server of __unit_title__ (incident "
                             "__incident_id__)"), nxt="isolate")
    p.manual(
        "isolate",
        ("Ngăn chặn: cô lập máy chủ web", "Containment: isolate the web server"),
        ("Kẻ tấn công có thể dùng webshell để đi tiếp vào mạng nội bộ.",
         "The attacker can use the webshell to move further into the internal network."),
        [("Tạm ngừng trang web bị cài webshell hoặc chặn truy cập tới thư mục chứa tệp đáng "
          "ngờ",
          "Take the affected site offline, or block access to the folder holding the "
          "suspicious file"),
         ("Đổi mật khẩu quản trị máy chủ, FTP và tài khoản cơ sở dữ liệu mà trang web dùng",
          "Change the server's admin, FTP and database account passwords used by the "
          "site"),
         ("Kiểm tra máy chủ có kết nối bất thường ra Internet hoặc tới các máy khác trong "
          "mạng nội bộ không",
          "Check whether the server makes unusual connections to the Internet or to other "
          "internal machines")],
        timeout_ms=2 * HOUR, nxt="block")
    p.approval_block(
        "block",
        ("Duyệt chặn __attacker_ip__ (địa chỉ đã điều khiển webshell) tại cổng Internet của đơn "
         "vị trong 24 giờ? Trả lời yes hoặc no",
         "Approve blocking __attacker_ip__ (the address that used the webshell) at the unit's "
         "gateway for 24 hours? Answer yes or no"),
        ("Chặn địa chỉ đã gửi lệnh tới webshell để cắt quyền điều khiển của kẻ tấn công.",
         "Block the address that sent commands to the webshell to cut off the attacker's "
         "control."),
        nxt="contained")
    p.contained("contained", ("Máy chủ web đã được cô lập, địa chỉ điều khiển đã được xử lý",
                              "Web server isolated, controlling address handled"),
                nxt="remove")
    p.manual(
        "remove",
        ("Loại bỏ & khôi phục: gỡ webshell và vá lỗ hổng",
         "Eradication & recovery: remove the webshell and fix the hole"),
        ("Kẻ tấn công thường để lại nhiều hơn một webshell.",
         "Attackers usually leave more than one webshell."),
        [("Tìm mọi tệp lạ trong thư mục web (mới tạo gần đây, tên lạ, chứa eval, "
          "base64_decode, system, cmd) và xóa sau khi đã lưu chứng cứ",
          "Find every unknown file in the web folders (recently created, odd names, "
          "containing eval, base64_decode, system, cmd) and delete them once evidence is "
          "saved"),
         ("Xác định lỗ hổng đã bị lợi dụng (chức năng tải tệp lên, plugin cũ, mật khẩu yếu) "
          "và vá",
          "Find the hole that was used (file upload, an old plugin, a weak password) and "
          "fix it"),
         ("Tắt quyền chạy mã trong thư mục tải lên (uploads)",
          "Disable script execution in the upload folders"),
         ("Nếu không chắc máy chủ đã sạch, cài lại máy chủ và triển khai lại trang web từ "
          "mã nguồn gốc",
          "If you are not sure the server is clean, reinstall it and redeploy the site "
          "from the original source")],
        timeout_ms=3 * DAY, nxt="restore")
    p.manual(
        "restore",
        ("Loại bỏ & khôi phục: đưa máy chủ web hoạt động trở lại",
         "Eradication & recovery: bring the web server back"),
        ("Mở lại dịch vụ và theo dõi sát.", "Reopen the service and watch it closely."),
        [("Kiểm tra tài khoản quản trị trang web và máy chủ, xóa tài khoản lạ",
          "Check the website's and the server's admin accounts; delete unknown ones"),
         ("Mở lại trang web và kiểm tra các chức năng chính",
          "Reopen the site and check its main functions"),
         ("Theo dõi cảnh báo canhgac về máy chủ này trong 14 ngày",
          "Watch canhgac alerts for this server for 14 days")],
        timeout_ms=2 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ kẻ tấn công đã truy cập được những dữ liệu nào qua webshell (nếu biết)",
          "State which data the attacker reached through the webshell (if known)")],
        [("Webshell được tải lên bằng cách nào và vì sao không bị phát hiện sớm hơn?",
          "How was the webshell uploaded and why was it not found sooner?"),
         ("Có cần quét định kỳ thư mục web để tìm tệp lạ không?",
          "Should the web folders be scanned regularly for unknown files?"),
         ("Phần mềm trên máy chủ web có được cập nhật đều đặn không; ai chịu trách nhiệm?",
          "Is the web server's software updated regularly; who is responsible?")])
    return p


# =========================================================================
# brute-force
# =========================================================================
@playbook
def brute_force():
    p = PB("brute-force", "brute-force", ["t1110", "t1110.001", "t1110.003", "t1078", "t1133"],
           ("Ứng phó tấn công dò mật khẩu (brute-force)", "Password brute-force response"),
           ("Dùng khi có nhiều lần đăng nhập sai liên tiếp vào Remote Desktop, SSH, VPN, thư "
            "điện tử hoặc trang quản trị của đơn vị.",
            "Use when there are many failed logins in a row to the unit's Remote Desktop, "
            "SSH, VPN, mail or admin pages."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: kiểm tra các lần đăng nhập sai", "Analysis: check the failed logins"),
        ("Điều quan trọng nhất: kẻ tấn công đã đăng nhập được hay chưa.",
         "The key question: did the attacker manage to log in?"),
        [("Xác định dịch vụ bị dò mật khẩu (Remote Desktop, SSH, VPN, thư điện tử, trang "
          "quản trị) trên __internal_ip__",
          "Find which service is being attacked (Remote Desktop, SSH, VPN, mail, admin "
          "page) on __internal_ip__"),
         ("Xem nhật ký đăng nhập: tài khoản nào bị thử, bao nhiêu lần, từ địa chỉ nào "
          "(__attacker_ip__)",
          "Read the login log: which accounts were tried, how many times, from which "
          "addresses (__attacker_ip__)"),
         ("Kiểm tra có lần đăng nhập THÀNH CÔNG nào từ __attacker_ip__ hoặc địa chỉ lạ không; "
          "nếu có, báo ngay cho điều phối viên",
          "Check for any SUCCESSFUL login from __attacker_ip__ or other unknown addresses; if "
          "there is one, tell the coordinator at once"),
         ("Hỏi chủ các tài khoản bị thử xem họ có đăng nhập vào thời điểm đó không",
          "Ask the owners of the targeted accounts whether they were logging in at that "
          "time")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Tấn công dò mật khẩu nghiêm trọng vào hệ thống của "
                             "__unit_title__ (sự cố __incident_id__)",
                             "Serious password brute-force against __unit_title__ "
                             "(incident __incident_id__)"), nxt="block")
    p.approval_block(
        "block",
        ("Duyệt chặn __attacker_ip__ (địa chỉ đang dò mật khẩu) tại cổng Internet của đơn vị "
         "trong 24 giờ? Trả lời yes hoặc no",
         "Approve blocking __attacker_ip__ (the address guessing passwords) at the unit's "
         "gateway for 24 hours? Answer yes or no"),
        ("Chặn địa chỉ đang dò mật khẩu để dừng cuộc tấn công.",
         "Block the address guessing passwords to stop the attack."),
        nxt="accounts")
    p.manual(
        "accounts",
        ("Ngăn chặn: bảo vệ các tài khoản bị dò", "Containment: protect the targeted accounts"),
        ("Kẻ tấn công có thể dùng địa chỉ khác để dò tiếp; phải bảo vệ chính các tài khoản.",
         "The attacker can switch to other addresses; the accounts themselves must be "
         "protected."),
        [("Đổi mật khẩu các tài khoản bị dò, nhất là tài khoản quản trị; mật khẩu dài ít "
          "nhất 12 ký tự",
          "Change the passwords of the targeted accounts, admin accounts first; at least "
          "12 characters long"),
         ("Nếu có lần đăng nhập thành công lạ: khóa tài khoản đó và đăng xuất mọi phiên "
          "đang mở",
          "If there was an unknown successful login: lock that account and end all its "
          "open sessions"),
         ("Tạm đóng dịch vụ bị dò khỏi Internet (ví dụ cổng RDP 3389, SSH 22) nếu không "
          "thật sự cần",
          "Close the attacked service to the Internet for now (e.g. RDP port 3389, SSH "
          "22) unless it is truly needed")],
        timeout_ms=4 * HOUR, nxt="contained")
    p.contained("contained", ("Địa chỉ dò mật khẩu đã được xử lý, các tài khoản bị dò đã "
                              "được bảo vệ",
                              "Guessing address handled, targeted accounts protected"),
                nxt="harden")
    p.manual(
        "harden",
        ("Loại bỏ & khôi phục: siết chặt đăng nhập từ xa",
         "Eradication & recovery: tighten remote logins"),
        ("Làm cho việc dò mật khẩu không còn hiệu quả.", "Make password guessing useless."),
        [("Chỉ cho truy cập từ xa qua VPN; không mở RDP/SSH trực tiếp ra Internet",
          "Allow remote access only through the VPN; do not expose RDP/SSH directly to the "
          "Internet"),
         ("Bật khóa tài khoản tạm thời sau 5–10 lần đăng nhập sai",
          "Turn on temporary account lockout after 5–10 failed logins"),
         ("Bật xác thực hai lớp cho VPN, thư điện tử và tài khoản quản trị nếu có thể",
          "Turn on two-factor authentication for VPN, mail and admin accounts where "
          "possible"),
         ("Vô hiệu hóa tài khoản không dùng và tài khoản mặc định (admin, test, guest)",
          "Disable unused and default accounts (admin, test, guest)"),
         ("Nếu kẻ tấn công đã đăng nhập được: kiểm tra máy đó có phần mềm, tài khoản hoặc "
          "tác vụ lập lịch lạ không",
          "If the attacker did log in: check that machine for unknown software, accounts or "
          "scheduled tasks")],
        timeout_ms=3 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ kẻ tấn công có đăng nhập được không, vào tài khoản nào",
          "State whether the attacker logged in, and to which accounts")],
        [("Vì sao dịch vụ này mở ra Internet; có thật sự cần không?",
          "Why was this service open to the Internet; is it really needed?"),
         ("Chính sách mật khẩu và khóa tài khoản của đơn vị đã đủ chặt chưa?",
          "Are the unit's password and lockout policies strict enough?"),
         ("Cảnh báo đến có đủ sớm để chặn trước khi kẻ tấn công đoán đúng mật khẩu không?",
          "Did the alert come early enough to block before a password was guessed?")])
    return p


# =========================================================================
# c2-beaconing
# =========================================================================
@playbook
def c2_beaconing():
    p = PB("c2-beaconing", "c2", ["t1071", "t1071.001", "t1071.004", "t1573", "t1571"],
           ("Ứng phó máy bị nhiễm mã độc liên lạc với máy chủ điều khiển (C2)",
            "Command-and-control (C2) beaconing response"),
           ("Dùng khi một máy trong đơn vị (__internal_ip__) liên lạc đều đặn với máy chủ điều "
            "khiển của kẻ tấn công (__attacker_ip__): dấu hiệu máy đã bị nhiễm mã độc.",
            "Use when a machine in the unit (__internal_ip__) regularly contacts an attacker's "
            "command-and-control server (__attacker_ip__): a sign the machine is infected."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: tìm và cách ly máy bị nhiễm", "Analysis: find and isolate the infected machine"),
        ("Máy liên lạc với máy chủ điều khiển có thể bị kẻ tấn công ra lệnh bất cứ lúc nào.",
         "A machine talking to a control server can be given orders by the attacker at "
         "any time."),
        [("Tìm máy có địa chỉ __internal_ip__ trong đơn vị: tên máy, người dùng, phòng làm việc",
          "Find the machine with address __internal_ip__ in the unit: its name, user and office"),
         ("Rút dây mạng (và tắt Wi-Fi) của máy đó nhưng không tắt máy",
          "Unplug that machine's network cable (and turn off Wi-Fi) but leave it powered on"),
         ("Hỏi người dùng gần đây có mở tệp đính kèm, cài phần mềm hay cắm USB lạ không",
          "Ask the user whether they recently opened an attachment, installed software or "
          "plugged in an unknown USB drive"),
         ("Kiểm tra trên canhgac còn máy nào khác trong đơn vị liên lạc với __attacker_ip__ không",
          "Check in canhgac whether any other machine in the unit contacts __attacker_ip__")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Máy của __unit_title__ liên lạc với máy chủ điều khiển "
                             "__attacker_ip__ (sự cố __incident_id__)",
                             "Machine at __unit_title__ contacting control server "
                             "__attacker_ip__ (incident __incident_id__)"), nxt="block")
    p.approval_block(
        "block",
        ("Duyệt chặn máy chủ điều khiển __attacker_ip__ tại cổng Internet của đơn vị trong 24 "
         "giờ? Trả lời yes hoặc no",
         "Approve blocking the control server __attacker_ip__ at the unit's gateway for 24 "
         "hours? Answer yes or no"),
        ("Chặn máy chủ điều khiển để cắt liên lạc của mọi máy bị nhiễm trong đơn vị, kể cả "
         "máy chưa phát hiện.",
         "Block the control server to cut off every infected machine in the unit, "
         "including ones not yet found."),
        nxt="spread", address="__attacker_ip__")
    p.manual(
        "spread",
        ("Ngăn chặn: xử lý các máy và tài khoản liên quan",
         "Containment: deal with related machines and accounts"),
        ("Mã độc có thể đã lấy mật khẩu hoặc lây sang máy khác.",
         "The malware may have stolen passwords or spread to other machines."),
        [("Rút dây mạng các máy khác có liên lạc với __attacker_ip__",
          "Unplug any other machine that contacted __attacker_ip__"),
         ("Từ một máy sạch, đổi mật khẩu các tài khoản đã dùng trên máy bị nhiễm (thư điện "
          "tử, phần mềm nghiệp vụ, tài khoản quản trị)",
          "From a clean machine, change the passwords of the accounts used on the infected "
          "machine (mail, business software, admin accounts)"),
         ("Xuất nhật ký phần mềm diệt virus và tường lửa liên quan đến __internal_ip__",
          "Export the antivirus and firewall logs involving __internal_ip__")],
        timeout_ms=4 * HOUR, nxt="contained")
    p.contained("contained", ("Máy bị nhiễm đã được cách ly, máy chủ điều khiển đã được xử lý",
                              "Infected machine isolated, control server handled"),
                nxt="clean")
    p.manual(
        "clean",
        ("Loại bỏ & khôi phục: làm sạch máy bị nhiễm",
         "Eradication & recovery: clean the infected machine"),
        ("Mã độc điều khiển từ xa thường khó diệt hết; cài lại là cách chắc chắn nhất.",
         "Remote-control malware is hard to remove completely; reinstalling is the sure "
         "way."),
        [("Để đội ứng cứu lấy mẫu mã độc trước khi làm sạch",
          "Let the response team take a sample of the malware before cleaning"),
         ("Sao lưu dữ liệu công việc (chỉ tài liệu, không sao chép tệp chạy .exe, .js, "
          ".vbs), rồi cài lại hệ điều hành",
          "Back up work data (documents only, no .exe, .js or .vbs files), then reinstall "
          "the operating system"),
         ("Cập nhật bản vá và phần mềm diệt virus trước khi nối mạng lại",
          "Install updates and antivirus before reconnecting to the network"),
         ("Theo dõi trên canhgac 7 ngày: không còn kết nối nào tới __attacker_ip__",
          "Watch canhgac for 7 days: no more connections to __attacker_ip__")],
        timeout_ms=3 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ số máy bị nhiễm và địa chỉ máy chủ điều khiển __attacker_ip__",
          "State the number of infected machines and the control server address "
          "__attacker_ip__")],
        [("Mã độc vào máy bằng đường nào (thư điện tử, USB, phần mềm bẻ khóa)?",
          "How did the malware get in (email, USB, cracked software)?"),
         ("Máy bị nhiễm đã liên lạc với máy chủ điều khiển bao lâu trước khi bị phát hiện?",
          "How long was the machine talking to the control server before it was "
          "detected?"),
         ("Có cần chặn sẵn các danh sách địa chỉ độc hại tại cổng Internet không?",
          "Should known-bad address lists be blocked at the gateway in advance?")])
    return p


# =========================================================================
# ddos
# =========================================================================
@playbook
def ddos():
    p = PB("ddos", "ddos", ["t1498", "t1498.001", "t1499"],
           ("Ứng phó tấn công từ chối dịch vụ (DDoS)", "Denial-of-service (DDoS) response"),
           ("Dùng khi trang web, cổng dịch vụ công hoặc đường truyền Internet của đơn vị bị "
            "quá tải do lưu lượng tấn công.",
            "Use when the unit's website, public-service portal or Internet link is "
            "overwhelmed by attack traffic."))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: xác nhận tấn công từ chối dịch vụ",
         "Analysis: confirm the denial-of-service attack"),
        ("Phân biệt tấn công với sự cố kỹ thuật hoặc lượng truy cập tăng thật.",
         "Tell an attack apart from a technical fault or a real surge of visitors."),
        [("Kiểm tra dịch vụ bị ảnh hưởng (trang web, dịch vụ công, thư điện tử) có truy cập "
          "được từ mạng di động không",
          "Check whether the affected service (website, public services, mail) can be "
          "reached from mobile data"),
         ("Xem biểu đồ băng thông trên tường lửa/router hoặc canhgac: lưu lượng tăng bao "
          "nhiêu, từ lúc nào",
          "Look at the bandwidth charts on the firewall/router or in canhgac: how much "
          "traffic, since when"),
         ("Ghi lại các địa chỉ nguồn gửi nhiều nhất (trong đó có __attacker_ip__) và dịch vụ bị "
          "nhắm tới (__internal_ip__)",
          "Write down the top source addresses (including __attacker_ip__) and the targeted "
          "service (__internal_ip__)"),
         ("Kiểm tra máy chủ bị quá tải CPU/bộ nhớ hay chỉ đường truyền bị nghẽn",
          "Check whether the server's CPU/memory is overloaded or only the link is "
          "congested")],
        timeout_ms=1 * HOUR, nxt="serious")
    p.escalation("serious", ("Tấn công từ chối dịch vụ nghiêm trọng vào __unit_title__ "
                             "(sự cố __incident_id__)",
                             "Serious denial-of-service attack on __unit_title__ "
                             "(incident __incident_id__)"), nxt="contain")
    p.parallel(
        "contain",
        ("Ngăn chặn: lọc lưu lượng, giữ dịch vụ và lưu chứng cứ cùng lúc",
         "Containment: filter traffic, keep services up and save evidence at the same time"),
        ("Ba nhánh chạy song song; bước tiếp theo chỉ bắt đầu khi cả ba đã xong.",
         "The three branches run in parallel; the next step starts when all are done."),
        ["isp", "service", "evidence"], nxt="block")
    p.manual(
        "isp",
        ("Ngăn chặn: đề nghị nhà mạng lọc lưu lượng tấn công",
         "Containment: ask the Internet provider to filter the attack"),
        ("Tấn công lớn chỉ chặn hiệu quả được ở phía nhà mạng.",
         "A large attack can only be stopped effectively at the provider's side."),
        [("Gọi tổng đài hỗ trợ của nhà cung cấp Internet (VNPT, Viettel, FPT...) đề nghị lọc "
          "lưu lượng tấn công tới __internal_ip__",
          "Call the Internet provider's support line (VNPT, Viettel, FPT...) and ask them "
          "to filter attack traffic to __internal_ip__"),
         ("Gửi cho nhà mạng các địa chỉ nguồn chính và thời điểm bắt đầu tấn công",
          "Give the provider the main source addresses and when the attack started"),
         ("Ghi lại tên người tiếp nhận và mã yêu cầu hỗ trợ",
          "Write down the name of the person handling it and the ticket number")],
        agent="coordinator", timeout_ms=2 * HOUR)
    p.manual(
        "service",
        ("Ngăn chặn: giữ các dịch vụ thiết yếu hoạt động",
         "Containment: keep essential services running"),
        ("Giảm tải để người dân và cán bộ vẫn dùng được dịch vụ quan trọng.",
         "Reduce the load so citizens and staff can still use the key services."),
        [("Bật giới hạn số kết nối/yêu cầu (rate limit) trên tường lửa hoặc máy chủ web nếu "
          "có",
          "Turn on connection/request rate limits on the firewall or web server if "
          "available"),
         ("Tạm tắt các chức năng nặng của trang web (tìm kiếm, tải tệp lớn)",
          "Temporarily turn off heavy website features (search, large downloads)"),
         ("Thông báo kênh liên hệ thay thế (điện thoại, bộ phận một cửa) nếu dịch vụ công "
          "trực tuyến bị gián đoạn",
          "Announce another way to reach the unit (phone, one-stop desk) if online public "
          "services are down")],
        timeout_ms=2 * HOUR)
    p.manual(
        "evidence",
        ("Ngăn chặn: lưu chứng cứ tấn công", "Containment: save evidence of the attack"),
        ("Chứng cứ cần cho báo cáo và cho nhà mạng.", "Evidence is needed for the report and the provider."),
        [("Chụp biểu đồ băng thông và số kết nối trong thời gian bị tấn công",
          "Screenshot the bandwidth and connection charts during the attack"),
         ("Xuất nhật ký tường lửa/máy chủ web trong thời gian bị tấn công",
          "Export the firewall/web server logs for the attack period"),
         ("Ghi thời điểm bắt đầu, thời điểm dịch vụ bị gián đoạn và thời điểm kết thúc",
          "Record when the attack started, when service was disrupted and when it ended")],
        timeout_ms=2 * HOUR)
    p.approval_block(
        "block",
        ("Duyệt chặn __attacker_ip__ (nguồn tấn công lớn nhất) tại cổng Internet của đơn vị "
         "trong 24 giờ? Trả lời yes hoặc no",
         "Approve blocking __attacker_ip__ (the largest attack source) at the unit's gateway "
         "for 24 hours? Answer yes or no"),
        ("Tấn công DDoS thường đến từ rất nhiều địa chỉ; chặn một địa chỉ chỉ giúp một "
         "phần, việc lọc chính do nhà mạng làm.",
         "DDoS usually comes from very many addresses; blocking one helps only partly, "
         "the main filtering is done by the provider."),
        nxt="contained")
    p.contained("contained", ("Lưu lượng tấn công đã được lọc, dịch vụ thiết yếu được duy trì",
                              "Attack traffic filtered, essential services kept up"),
                nxt="recover")
    p.manual(
        "recover",
        ("Loại bỏ & khôi phục: đưa dịch vụ trở lại bình thường",
         "Eradication & recovery: return services to normal"),
        ("Khôi phục dần và kiểm tra xem có xâm nhập nào bị che giấu không.",
         "Restore step by step and check that no intrusion was hidden behind the attack."),
        [("Khi lưu lượng trở lại bình thường, bật lại các chức năng đã tắt và kiểm tra dịch "
          "vụ",
          "Once traffic is back to normal, turn the disabled features back on and test the "
          "services"),
         ("Kiểm tra cuộc tấn công có phải để che giấu một xâm nhập khác không (đăng nhập "
          "lạ, tệp lạ trên máy chủ)",
          "Check whether the attack hid another intrusion (unknown logins, unknown files "
          "on servers)"),
         ("Hỏi nhà mạng khi nào gỡ cấu hình lọc và đề nghị giữ thêm một thời gian",
          "Ask the provider when the filtering will be removed and ask them to keep it a "
          "while longer")],
        timeout_ms=1 * DAY, nxt="review")
    p.closing(
        "review",
        [("Ghi rõ thời gian dịch vụ bị gián đoạn và số người dùng bị ảnh hưởng (ước tính)",
          "State how long services were down and roughly how many users were affected")],
        [("Nhà mạng phản hồi nhanh không; đã có đầu mối liên hệ sẵn chưa?",
          "Did the provider respond quickly; is there a ready contact?"),
         ("Có nên dùng dịch vụ chống DDoS hoặc CDN cho trang web công khai không?",
          "Should the public website use an anti-DDoS service or a CDN?"),
         ("Kênh liên hệ thay thế cho người dân có hoạt động tốt không?",
          "Did the alternative contact channel for citizens work?")])
    return p


# =========================================================================
# data-leak
# =========================================================================
@playbook
def data_leak():
    p = PB("data-leak", "data-leak", ["t1567", "t1041", "t1048", "t1530"],
           ("Ứng phó sự cố lộ, lọt dữ liệu", "Data leak response"),
           ("Dùng khi dữ liệu của đơn vị (văn bản, dữ liệu cá nhân của người dân, tài khoản) "
            "bị đưa ra ngoài hoặc xuất hiện trên mạng.",
            "Use when the unit's data (documents, citizens' personal data, accounts) is "
            "taken out or appears online."))
    p.var("__more_sources__", "yes",
          ("Còn nguồn rò rỉ cần tìm nữa không (yes/no)",
           "Whether there are more leak sources to find (yes/no)"))
    p.start("triage")
    p.manual(
        "triage",
        ("Phân tích: xác định dữ liệu bị lộ", "Analysis: establish what data leaked"),
        ("Biết dữ liệu gì bị lộ, bao nhiêu và từ đâu để quyết định các bước tiếp theo.",
         "Know what leaked, how much and from where to decide what comes next."),
        [("Ghi lại nơi phát hiện dữ liệu bị lộ (trang web, mạng xã hội, diễn đàn, tin nhắn) "
          "kèm đường dẫn và ảnh chụp màn hình",
          "Record where the leaked data was found (website, social network, forum, "
          "message) with the link and a screenshot"),
         ("Xác định loại dữ liệu: văn bản nội bộ/mật, dữ liệu cá nhân của người dân (họ tên, "
          "số CCCD, số điện thoại...), tài khoản/mật khẩu",
          "Identify the kind of data: internal/classified documents, citizens' personal "
          "data (names, ID numbers, phone numbers...), accounts/passwords"),
         ("Ước tính số tài liệu/bản ghi bị lộ và hệ thống nào lưu trữ chúng (__asset__)",
          "Estimate how many documents/records leaked and which system holds them "
          "(__asset__)"),
         ("Không tải xuống hay chia sẻ thêm dữ liệu bị lộ; chỉ lưu chứng cứ tối thiểu",
          "Do not download or share the leaked data further; keep only minimal evidence"),
         ("Nếu có dữ liệu cá nhân hoặc bí mật nhà nước, báo ngay cho lãnh đạo đơn vị",
          "If personal data or state secrets are involved, tell the unit's leader at once")],
        timeout_ms=2 * HOUR, nxt="serious")
    p.escalation("serious", ("Lộ, lọt dữ liệu nghiêm trọng tại __unit_title__ (sự cố "
                             "__incident_id__)",
                             "Serious data leak at __unit_title__ (incident "
                             "__incident_id__)"), nxt="known")
    p.manual(
        "known",
        ("Ngăn chặn: đóng nguồn rò rỉ đã biết", "Containment: close the known leak"),
        ("Dừng việc dữ liệu tiếp tục bị lộ qua nguồn đã phát hiện.",
         "Stop more data leaking through the source already found."),
        [("Gỡ hoặc khóa đường dẫn chia sẻ công khai (Google Drive, OneDrive, thư mục web) "
          "chứa dữ liệu",
          "Remove or lock public sharing links (Google Drive, OneDrive, web folders) that "
          "hold the data"),
         ("Đổi mật khẩu và khóa các tài khoản nghi đã bị dùng để lấy dữ liệu",
          "Change the passwords of, and lock, the accounts suspected of being used to take "
          "the data"),
         ("Đề nghị trang web/mạng xã hội đang đăng dữ liệu gỡ bỏ (qua chức năng báo cáo vi "
          "phạm)",
          "Ask the website/social network hosting the data to take it down (through its "
          "abuse report)")],
        timeout_ms=4 * HOUR, nxt="more")
    p.while_(
        "more",
        ("Ngăn chặn: còn nguồn rò rỉ nào khác không?", "Containment: are there more leak sources?"),
        ("Lặp lại việc tìm và đóng nguồn rò rỉ cho đến khi trả lời no.",
         "Repeat finding and closing leak sources until the answer is no."),
        "__more_sources__:value = 'yes'", "next-source", nxt="contained")
    p.manual(
        "next-source",
        ("Ngăn chặn: tìm và đóng thêm một nguồn rò rỉ",
         "Containment: find and close one more leak source"),
        ("Dữ liệu thường bị lộ qua nhiều nơi cùng lúc.", "Data often leaks through several places at once."),
        [("Kiểm tra các nơi khác có thể đã lộ cùng dữ liệu: thư mục chia sẻ, trang web, máy "
          "chủ sao lưu, thư điện tử gửi ra ngoài",
          "Check other places the same data may have leaked from: shared folders, "
          "websites, backup servers, outgoing mail"),
         ("Đóng nguồn tìm được (gỡ chia sẻ, đổi mật khẩu, tắt dịch vụ) và ghi vào nhật ký sự "
          "cố",
          "Close the source you found (remove sharing, change passwords, stop the "
          "service) and record it in the incident log"),
         ("Trả lời yes nếu còn nghi có nguồn khác, no nếu đã hết",
          "Answer yes if you suspect another source, no if there are none left")],
        timeout_ms=1 * DAY, out="__more_sources__")
    p.contained("contained", ("Các nguồn rò rỉ dữ liệu đã được đóng",
                              "Leak sources closed"), nxt="fix")
    p.manual(
        "fix",
        ("Loại bỏ & khôi phục: khắc phục nguyên nhân rò rỉ",
         "Eradication & recovery: fix the cause of the leak"),
        ("Bảo đảm dữ liệu không bị lộ lại theo cùng một cách.",
         "Make sure the data cannot leak the same way again."),
        [("Thu hồi quyền truy cập thừa, chỉ chia sẻ cho người cần, vá lỗ hổng trang web nếu "
          "có",
          "Remove unneeded access, share only with those who need it, fix website "
          "vulnerabilities if any"),
         ("Rà soát nhật ký truy cập để biết ai đã lấy dữ liệu và từ khi nào",
          "Review access logs to learn who took the data and since when"),
         ("Nếu lộ mật khẩu: yêu cầu mọi người dùng liên quan đổi mật khẩu",
          "If passwords leaked: have every affected user change theirs"),
         ("Nếu lộ dữ liệu cá nhân: cùng lãnh đạo thông báo cho người bị ảnh hưởng theo quy "
          "định về bảo vệ dữ liệu cá nhân",
          "If personal data leaked: with the leadership, inform the affected people as the "
          "personal data protection rules require")],
        timeout_ms=3 * DAY, nxt="review")
    p.closing(
        "review",
        [("Nếu có dữ liệu cá nhân bị lộ: kiểm tra nghĩa vụ thông báo riêng cho Bộ Công an "
          "theo quy định bảo vệ dữ liệu cá nhân (thời hạn có thể ngắn hơn, ví dụ 72 giờ)",
          "If personal data leaked: check the separate duty to notify the Ministry of "
          "Public Security under the personal data protection rules (the deadline may be "
          "shorter, e.g. 72 hours)")],
        [("Dữ liệu bị lộ qua đường nào và vì sao không bị phát hiện sớm hơn?",
          "How did the data leak and why was it not noticed sooner?"),
         ("Đơn vị đã phân loại dữ liệu quan trọng và giới hạn quyền truy cập chưa?",
          "Has the unit classified its important data and limited who can access it?"),
         ("Cán bộ có biết quy định về chia sẻ tài liệu qua dịch vụ lưu trữ trực tuyến không?",
          "Do staff know the rules on sharing documents through online storage?")])
    return p


def main():
    for make in PLAYBOOKS:
        pb = make()
        for lang in LANGS:
            path = os.path.join(HERE, lang, pb.name + ".json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(pb.build(lang), f, indent=2, ensure_ascii=False)
                f.write("\n")
            print(path)


if __name__ == "__main__":
    main()
