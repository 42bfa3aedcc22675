"""Kakao-side client for the end-to-end deploy test: what Kakao's servers would
send to the deployed kakaobot. Standard library only (Python 3.11+).

  kakao_client.py conversation BASE_URL QUIZ_TOML USER_KEY
      GET /quiz/keyboard, pick 파이썬 퀴즈, answer the asked question with the
      right choice from the question bank, expect a reply starting with 정답.
      Then the same person through Open Builder skills (POST /quiz/skill with
      plusfriendUserKey = USER_KEY, as Kakao sends it): 내 점수 shows the answer
      just counted, and a web question answered by tapping its quick reply (the
      utterance is its messageText, clientExtra its extra) is 정답 too.
  kakao_client.py stream BASE_URL STOP_FILE RESULT_JSON [WORKERS]
      POST /quiz/message from WORKERS threads (a new connection per request,
      as separate Kakao callbacks would be) until STOP_FILE exists, then write
      {"requests": N, "failures": N, "errors": [...], "max_latency_s": X}.
      While running it keeps RESULT_JSON + ".progress" updated with the count.
"""

import http.client
import json
import os
import ssl
import sys
import threading
import time
import tomllib
import urllib.parse

HOME_BUTTONS = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"]


def request(base_url, method, path, body=None, timeout=20.0):
    """Sends one request on a new connection; returns (status, parsed JSON or text).
    An https:// BASE_URL is verified against the roots in $SSL_CERT_FILE (or the
    system's)."""
    url = urllib.parse.urlsplit(base_url)
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(
            url.hostname, url.port or 443, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=timeout)
    try:
        headers = {"Connection": "close"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def fail(msg):
    print(f"kakao_client: FAIL {msg}", file=sys.stderr)
    sys.exit(1)


def conversation(base_url, quiz_toml, user_key):
    with open(quiz_toml, "rb") as f:
        bank = tomllib.load(f)["question"]

    status, body = request(base_url, "GET", "/quiz/keyboard")
    if status != 200 or body != {"type": "buttons", "buttons": HOME_BUTTONS}:
        fail(f"GET /quiz/keyboard: {status} {body!r}")
    print(f"GET /quiz/keyboard -> {status} {json.dumps(body, ensure_ascii=False)}")

    msg = {"user_key": user_key, "type": "text", "content": "파이썬 퀴즈"}
    status, body = request(base_url, "POST", "/quiz/message", msg)
    if status != 200 or not isinstance(body, dict):
        fail(f"POST /quiz/message 파이썬 퀴즈: {status} {body!r}")
    text = body.get("message", {}).get("text", "")
    buttons = body.get("keyboard", {}).get("buttons", [])
    asked = [q for q in bank if q["category"] == "python" and q["text"] in text]
    if len(asked) != 1:
        fail(f"the reply names no single python question of the bank: {text!r}")
    question = asked[0]
    if sorted(buttons) != sorted(question["choices"]):
        fail(f"the buttons {buttons!r} are not the choices {question['choices']!r}")
    print(f"POST 파이썬 퀴즈 -> question {question['id']}: {text!r}, buttons {buttons}")

    msg["content"] = question["answer"]
    status, body = request(base_url, "POST", "/quiz/message", msg)
    text = body.get("message", {}).get("text", "") if isinstance(body, dict) else ""
    if status != 200 or not text.startswith("정답"):
        fail(f"answering {question['answer']!r}: {status} {body!r} (expected a reply starting with 정답)")
    print(f"POST {question['answer']!r} -> {text!r}")

    skill_conversation(base_url, bank, user_key)


def skill(base_url, user_key, utterance, client_extra=None):
    """One skill call as Kakao makes it; returns (text of the first bubble, quick replies)."""
    payload = {
        "intent": {"id": "e2e", "name": "폴백 블록"},
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"surface": "Kakaotalk.plusfriend"},
            "block": {"id": "e2e", "name": "폴백 블록"},
            "utterance": utterance,
            "lang": "ko",
            "user": {
                "id": user_key.encode().hex().rjust(66, "0"),
                "type": "botUserKey",
                "properties": {"plusfriendUserKey": user_key},
            },
        },
        "contexts": [],
        "bot": {"id": "e2e!", "name": "kakaobot"},
        "action": {"id": "e2e", "name": "kakaobot", "params": {}, "detailParams": {}, "clientExtra": client_extra},
    }
    status, body = request(base_url, "POST", "/quiz/skill", payload)
    if status != 200 or not isinstance(body, dict) or body.get("version") != "2.0":
        fail(f"POST /quiz/skill {utterance!r}: {status} {body!r}")
    template = body.get("template", {})
    text = template.get("outputs", [{}])[0].get("simpleText", {}).get("text", "")
    return text, template.get("quickReplies", [])


def skill_conversation(base_url, bank, user_key):
    text, _ = skill(base_url, user_key, "내 점수")
    if "1문제 중 1문제" not in text:
        fail(f"skill 내 점수 for the same person: {text!r} (expected the smart-chat answer counted)")
    print(f"POST /quiz/skill 내 점수 -> {text!r}")

    text, quick = skill(base_url, user_key, "웹 퀴즈")
    asked = [q for q in bank if q["category"] == "web" and q["text"] in text]
    if len(asked) != 1:
        fail(f"the skill answer names no single web question of the bank: {text!r}")
    question = asked[0]
    taps = {q.get("messageText"): q.get("extra") for q in quick}
    if question["answer"] not in taps:
        fail(f"no quick reply sends the answer {question['answer']!r}: {quick!r}")
    print(f"POST /quiz/skill 웹 퀴즈 -> question {question['id']}, quick replies {list(taps)}")

    text, _ = skill(base_url, user_key, question["answer"], taps[question["answer"]])
    if not text.startswith("정답"):
        fail(f"tapping {question['answer']!r}: {text!r} (expected a reply starting with 정답)")
    print(f"POST /quiz/skill tap {question['answer']!r} -> {text!r}")


def stream(base_url, stop_file, result_json, workers):
    lock = threading.Lock()
    totals = {"requests": 0, "failures": 0, "errors": [], "max_latency_s": 0.0}

    def worker(n):
        user_key = f"e2eStream{n:02d}_x"
        contents = ["파이썬 퀴즈", "내 점수", "웹 퀴즈", "내 점수"]
        i = 0
        while not os.path.exists(stop_file):
            content = contents[i % len(contents)]
            i += 1
            started = time.monotonic()
            error = None
            try:
                msg = {"user_key": user_key, "type": "text", "content": content}
                status, body = request(base_url, "POST", "/quiz/message", msg)
                if status != 200 or not isinstance(body, dict) or "message" not in body:
                    error = f"{status} {str(body)[:200]}"
            except (OSError, http.client.HTTPException) as e:
                error = f"{type(e).__name__}: {e}"
            latency = time.monotonic() - started
            with lock:
                totals["requests"] += 1
                totals["max_latency_s"] = max(totals["max_latency_s"], latency)
                if error:
                    totals["failures"] += 1
                    if len(totals["errors"]) < 20:
                        totals["errors"].append(f"{time.strftime('%H:%M:%S')} {content}: {error}")
            time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(workers)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        with lock:
            progress = json.dumps({"requests": totals["requests"], "failures": totals["failures"]})
        with open(result_json + ".progress.tmp", "w") as f:
            f.write(progress)
        os.replace(result_json + ".progress.tmp", result_json + ".progress")
        time.sleep(0.2)
    with open(result_json, "w") as f:
        json.dump(totals, f)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "conversation" and len(sys.argv) == 5:
        conversation(*sys.argv[2:5])
    elif cmd == "stream" and len(sys.argv) in (5, 6):
        workers = int(sys.argv[5]) if len(sys.argv) == 6 else 4
        stream(sys.argv[2], sys.argv[3], sys.argv[4], workers)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
