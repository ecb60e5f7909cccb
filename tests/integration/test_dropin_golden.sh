#!/usr/bin/env bash
# Golden outputs of the drop-ins: `sluice config from-env` for each set of seed variables
# (the CloudWatch streamer, the Fluentd aggregator with and without TLS and Redis) and
# `sluice config convert` of logfowd2's example config.json (with its info lines on stderr)
# must print exactly golden/*; each printed configuration must validate. After a deliberate
# change, regenerate with GOLDEN_UPDATE=1.
set -u
fail() { echo "FAIL: $*"; exit 1; }
g="$(cd "$(dirname "$0")" && pwd)/golden"
base=(env -i PATH="$PATH")
check() {  # $1 = golden name, rest = command
  local name="$1"; shift
  "$@" >"$WORK/$name" 2>"$WORK/$name.err" || fail "$name: exit $? ($(cat "$WORK/$name.err"))"
  if [ "${GOLDEN_UPDATE:-}" = 1 ]; then cp "$WORK/$name" "$g/$name"; fi
  diff -u "$g/$name" "$WORK/$name" || fail "$name differs from golden/$name"
  "$SLUICE" validate -c "$WORK/$name" >/dev/null 2>"$WORK/$name.verr" || {
    # a logfowd translation names paths that need not exist: validate checks options only
    fail "$name does not validate: $(cat "$WORK/$name.verr")"; }
}
check cloudwatch.yaml "${base[@]}" LOG_GROUPS="/aws/lambda/a, /aws/lambda/b" AWS_REGION=eu-west-1 \
  ES_HOST=http://es:9200 ES_USER=u ES_PASS='p$w' INDEX_PREFIX=cw BATCH_SIZE=200 MAX_IN_FLIGHT=4 \
  CHECKPOINT_PATH=/state/cp.json RECONCILE_INTERVAL_SECS=600 ES_COLD_AGE_DAYS=3 ES_HOT_REFRESH_INTERVAL=2s \
  ES_COLD_REFRESH_INTERVAL=1m ES_REFRESH_TUNE_INTERVAL_SECS=600 "$SLUICE" config from-env
check fluentd-full.yaml "${base[@]}" NODE_ENV=production SERVICE_NAME=fluentd-aggregator \
  HOSTNAME=fluentd-central DASH0_API_KEY=auth_w8VowQspnZ8whZHWp1pe6azIIehBAAvL DASH0_DATASET=production \
  DASH0_LOGS_ENDPOINT=https://ingress.us-west-2.aws.dash0.com/v1/logs REDIS_HOST=your-redis-host \
  REDIS_PORT=6379 REDIS_PASSWORD=your-redis-password FLUENTD_SHARED_KEY=emp-log-aggregation-key \
  TLS_CERT_PATH=/fluentd/certs/server.crt TLS_KEY_PATH=/fluentd/certs/server.key \
  TLS_CA_PATH=/fluentd/certs/ca.crt "$SLUICE" config from-env
check fluentd-minimal.yaml "${base[@]}" FLUENTD_SHARED_KEY=k "$SLUICE" config from-env
cp "$g/logfowd2-config.json" "$WORK/config.json"
(cd "$WORK" && check logfowd.yaml "$SLUICE" config convert config.json) || exit 1
if [ "${GOLDEN_UPDATE:-}" = 1 ]; then cp "$WORK/logfowd.yaml.err" "$g/logfowd.notes"; fi
diff -u "$g/logfowd.notes" "$WORK/logfowd.yaml.err" || fail "convert's notes differ from golden/logfowd.notes"
(cd "$WORK" && "${base[@]}" CFG_PATH=config.json "$SLUICE" config from-env >"$WORK/cfg-path.yaml" 2>/dev/null) \
  || fail "CFG_PATH from-env"
diff -u "$g/logfowd.yaml" "$WORK/cfg-path.yaml" || fail "CFG_PATH from-env differs from convert"
# Nothing set: a clear message and exit 1; a bad CFG_PATH file: its error.
"${base[@]}" "$SLUICE" config from-env >/dev/null 2>"$WORK/none.err"; [ $? = 1 ] || fail "from-env with nothing set must exit 1"
grep -q "none of LOG_GROUPS" "$WORK/none.err" || fail "no message when nothing is set"
echo '{"log_path": 3, "es": {}}' >"$WORK/bad.json"
"${base[@]}" CFG_PATH="$WORK/bad.json" "$SLUICE" run >/dev/null 2>"$WORK/bad.err"; [ $? = 1 ] || fail "bad CFG_PATH must exit 1"
grep -q "log_path: expected a string, got a number 3" "$WORK/bad.err" || fail "bad CFG_PATH: $(cat "$WORK/bad.err")"
"$SLUICE" validate -c "$WORK/bad.json" >/dev/null 2>&1 && fail "a bad config.json validated"
echo ok
