#!/usr/bin/python3
"""syslog_load.py - sends syslog over TCP as fast as it can: CONNS processes, one connection
each, each sending BLOCKS copies of one pre-built block of 1,000 messages. --format 5424:
octet-counted RFC 5424 frames with structured data (as rsyslog forwards them); 3164:
LF-framed RFC 3164 lines (as logger --tcp --rfc3164 sends them). Prints the messages sent."""
import argparse
import multiprocessing
import socket


def block(fmt):
    out = []
    for i in range(1000):
        if fmt == "5424":
            m = ('<%d>1 2026-12-04T18:06:52.%06d+00:00 web-%02d.example.com checkout %d req-%d '
                 '[meta@32473 request_id="r-%08d" user="u%d"] GET /api/v1/cart/%d 200 %d ms'
                 % (8 * 16 + i % 8, i, i % 10, 1000 + i % 50, i % 7, i, i % 97, i, i % 300)).encode()
            out.append(b"%d %s" % (len(m), m))
        else:
            out.append(('<%d>Dec  4 18:06:%02d web-%02d checkout[%d]: GET /api/v1/cart/%d 200 %d ms user=u%d\n'
                        % (8 * 16 + i % 8, i % 60, i % 10, 1000 + i % 50, i, i % 300, i % 97)).encode())
    return b"".join(out)


def send(args):
    port, fmt, blocks = args
    b = block(fmt)
    s = socket.create_connection(("127.0.0.1", port))
    for _ in range(blocks):
        s.sendall(b)
    s.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--blocks", type=int, default=500)
    ap.add_argument("--format", choices=["5424", "3164"], default="5424")
    a = ap.parse_args()
    with multiprocessing.Pool(a.conns) as p:
        p.map(send, [(a.port, a.format, a.blocks)] * a.conns)
    print(a.conns * a.blocks * 1000)
