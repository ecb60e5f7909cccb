"""journald_gen.py - writes COUNT journal entries shaped like a busy host's (a ~100-byte
MESSAGE plus the fields journald adds: 15 in all) as Journal Export Format on stdout, for
systemd-journal-remote to turn into a journal file. Used by bench/journald.sh."""
import sys

count, start = int(sys.argv[1]), int(sys.argv[2])
units = ["nginx.service", "postgresql.service", "cron.service", "sshd.service"]
out = sys.stdout.buffer
t0 = 1700000000000000
for i in range(start, start + count):
    u = units[i % 4]
    out.write((("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n"
               "_BOOT_ID=0123456789abcdef0123456789abcdef\n"
               "MESSAGE=request %d handled in 12ms: GET /api/v1/items?page=3 200 OK from 10.1.2.3 user=alice\n"
               "PRIORITY=%d\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=%s\n_PID=%d\n_UID=0\n_GID=0\n"
               "_COMM=%s\n_EXE=/usr/sbin/%s\n_CMDLINE=/usr/sbin/%s --config /etc/%s.conf\n"
               "_SYSTEMD_UNIT=%s\n_TRANSPORT=stdout\n_HOSTNAME=web-1\n\n")
              % (t0 + i, 1000 + i, i, i % 8, u[:-8], 1000 + i % 4, u[:-8], u[:-8], u[:-8], u[:-8], u))
              .encode())
