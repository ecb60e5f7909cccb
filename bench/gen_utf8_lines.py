#!/usr/bin/env python3
"""gen_utf8_lines.py - a CRI log file of text that is mostly multi-byte characters, for
build/escape_scans (bench/escape_scans.c): Chinese words from the first 3,000 CJK code
points, Cyrillic and Japanese phrases, ASCII fields between them, one line in three a JSON
object. Seeded: the same file every time.

    /usr/bin/python3 bench/gen_utf8_lines.py --out /tmp/utf8.log [--lines 100000]
"""
import argparse
import random

HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
WORDS = ["user_id=%d", "耗时 %dms", "status=%d", "请求处理完成", "用户登录成功", "订单",
         "支付失败：余额不足", "重试第%d次", "Ошибка соединения", "接続がタイムアウトしました"]


def message(rnd):
    """One message of this text, from rnd (bench/forward_load.py --utf8 uses it too)."""
    parts = []
    for _ in range(rnd.randint(4, 12)):
        if rnd.random() < 0.4:
            parts.append("".join(rnd.choice(HAN) for _ in range(rnd.randint(2, 8))))
        else:
            w = rnd.choice(WORDS)
            parts.append(w % rnd.randint(1, 9999) if "%d" in w else w)
    return " ".join(parts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--lines", type=int, default=100000)
    a = p.parse_args()
    rnd = random.Random(7)
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.lines):
            msg = message(rnd)
            if i % 3 == 0:
                msg = '{"level":"info","msg":"%s","trace":"%08x"}' % (msg, i)
            f.write("2026-12-07T01:02:03.%09dZ stdout F %s\n" % (i, msg))


if __name__ == "__main__":
    main()
