/* rdkafka_lazy.c - librdkafka, loaded on first use instead of at process start.
 * Linked, librdkafka maps itself, libsasl2, libzstd and liblz4 into every process (about
 * 0.7 MB of RSS, idle RSS 7.5 -> 8.3 MB) for the kafka sink and source alone. These
 * definitions stand in for the functions those two call; each loads the library at init
 * (see lazylib.h) and refuses to start without it. Unloaded, a stand-in returns the value
 * in its row, which nothing reaches: every call but the constructors takes a handle only
 * the loaded library can have made. The list is an X-macro so one row gives the pointer,
 * the symbol to resolve and the definition. */
#include <librdkafka/rdkafka.h>

#include "core/lazylib.h"

/* X(return type, name, value when unloaded, parameters, arguments); V(...) returns void. */
#define RDKAFKA_FUNCS(X, V) \
    X(rd_kafka_resp_err_t, rd_kafka_assign, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions), (rk, partitions)) \
    X(rd_kafka_resp_err_t, rd_kafka_assignment, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, rd_kafka_topic_partition_list_t **partitions), (rk, partitions)) \
    X(int, rd_kafka_assignment_lost, 0, (rd_kafka_t *rk), (rk)) \
    X(rd_kafka_resp_err_t, rd_kafka_commit, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *offsets, int async), \
      (rk, offsets, async)) \
    V(rd_kafka_conf_destroy, (rd_kafka_conf_t *conf), (conf)) \
    X(rd_kafka_conf_t *, rd_kafka_conf_new, NULL, (void), ()) \
    X(rd_kafka_conf_res_t, rd_kafka_conf_set, RD_KAFKA_CONF_INVALID, \
      (rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr, \
       size_t errstr_size), \
      (conf, name, value, errstr, errstr_size)) \
    V(rd_kafka_conf_set_dr_msg_cb, \
      (rd_kafka_conf_t *conf, \
       void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *rkmessage, void *opaque)), \
      (conf, dr_msg_cb)) \
    V(rd_kafka_conf_set_error_cb, \
      (rd_kafka_conf_t *conf, \
       void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque)), \
      (conf, error_cb)) \
    V(rd_kafka_conf_set_log_cb, \
      (rd_kafka_conf_t *conf, \
       void (*log_cb)(const rd_kafka_t *rk, int level, const char *fac, const char *buf)), \
      (conf, log_cb)) \
    V(rd_kafka_conf_set_offset_commit_cb, \
      (rd_kafka_conf_t *conf, \
       void (*offset_commit_cb)(rd_kafka_t *, rd_kafka_resp_err_t, \
                               rd_kafka_topic_partition_list_t *, void *)), \
      (conf, offset_commit_cb)) \
    V(rd_kafka_conf_set_opaque, (rd_kafka_conf_t *conf, void *opaque), (conf, opaque)) \
    V(rd_kafka_conf_set_rebalance_cb, \
      (rd_kafka_conf_t *conf, \
       void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t *, \
                           void *)), \
      (conf, rebalance_cb)) \
    X(rd_kafka_resp_err_t, rd_kafka_consumer_close, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk), (rk)) \
    X(rd_kafka_message_t *, rd_kafka_consumer_poll, NULL, \
      (rd_kafka_t *rk, int timeout_ms), (rk, timeout_ms)) \
    V(rd_kafka_destroy, (rd_kafka_t *rk), (rk)) \
    X(const char *, rd_kafka_err2name, "librdkafka is not loaded", \
      (rd_kafka_resp_err_t err), (err)) \
    X(const char *, rd_kafka_err2str, "librdkafka is not loaded", \
      (rd_kafka_resp_err_t err), (err)) \
    X(rd_kafka_resp_err_t, rd_kafka_error_code, RD_KAFKA_RESP_ERR__FAIL, \
      (const rd_kafka_error_t *error), (error)) \
    V(rd_kafka_error_destroy, (rd_kafka_error_t *error), (error)) \
    X(const char *, rd_kafka_error_string, "librdkafka is not loaded", \
      (const rd_kafka_error_t *error), (error)) \
    X(rd_kafka_resp_err_t, rd_kafka_fatal_error, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, char *errstr, size_t errstr_size), (rk, errstr, errstr_size)) \
    X(rd_kafka_resp_err_t, rd_kafka_flush, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, int timeout_ms), (rk, timeout_ms)) \
    X(rd_kafka_resp_err_t, rd_kafka_get_watermark_offsets, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, const char *topic, int32_t partition, int64_t *low, int64_t *high), \
      (rk, topic, partition, low, high)) \
    X(rd_kafka_resp_err_t, rd_kafka_header_add, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_headers_t *hdrs, const char *name, ssize_t name_size, const void *value, \
       ssize_t value_size), \
      (hdrs, name, name_size, value, value_size)) \
    X(rd_kafka_resp_err_t, rd_kafka_header_get_last, RD_KAFKA_RESP_ERR__FAIL, \
      (const rd_kafka_headers_t *hdrs, const char *name, const void **valuep, size_t *sizep), \
      (hdrs, name, valuep, sizep)) \
    V(rd_kafka_headers_destroy, (rd_kafka_headers_t *hdrs), (hdrs)) \
    X(rd_kafka_headers_t *, rd_kafka_headers_new, NULL, (size_t initial_count), (initial_count)) \
    X(rd_kafka_error_t *, rd_kafka_incremental_assign, NULL, \
      (rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions), (rk, partitions)) \
    X(rd_kafka_error_t *, rd_kafka_incremental_unassign, NULL, \
      (rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *partitions), (rk, partitions)) \
    V(rd_kafka_message_destroy, (rd_kafka_message_t *rkmessage), (rkmessage)) \
    X(const char *, rd_kafka_message_errstr, "librdkafka is not loaded", \
      (const rd_kafka_message_t *rkmessage), (rkmessage)) \
    X(rd_kafka_resp_err_t, rd_kafka_message_headers, RD_KAFKA_RESP_ERR__FAIL, \
      (const rd_kafka_message_t *rkmessage, rd_kafka_headers_t **hdrsp), (rkmessage, hdrsp)) \
    X(int64_t, rd_kafka_message_timestamp, -1, \
      (const rd_kafka_message_t *rkmessage, rd_kafka_timestamp_type_t *tstype), \
      (rkmessage, tstype)) \
    X(rd_kafka_t *, rd_kafka_new, NULL, \
      (rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr, size_t errstr_size), \
      (type, conf, errstr, errstr_size)) \
    X(void *, rd_kafka_opaque, NULL, (const rd_kafka_t *rk), (rk)) \
    X(rd_kafka_resp_err_t, rd_kafka_pause_partitions, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions), (rk, partitions)) \
    X(int, rd_kafka_poll, 0, (rd_kafka_t *rk, int timeout_ms), (rk, timeout_ms)) \
    X(rd_kafka_resp_err_t, rd_kafka_poll_set_consumer, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk), (rk)) \
    X(rd_kafka_error_t *, rd_kafka_produceva, NULL, \
      (rd_kafka_t *rk, const rd_kafka_vu_t *vus, size_t cnt), (rk, vus, cnt)) \
    X(rd_kafka_resp_err_t, rd_kafka_purge, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, int purge_flags), (rk, purge_flags)) \
    X(const char *, rd_kafka_rebalance_protocol, "librdkafka is not loaded", \
      (rd_kafka_t *rk), (rk)) \
    X(rd_kafka_resp_err_t, rd_kafka_resume_partitions, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, rd_kafka_topic_partition_list_t *partitions), (rk, partitions)) \
    X(rd_kafka_resp_err_t, rd_kafka_subscribe, RD_KAFKA_RESP_ERR__FAIL, \
      (rd_kafka_t *rk, const rd_kafka_topic_partition_list_t *topics), (rk, topics)) \
    X(const char *, rd_kafka_topic_name, "librdkafka is not loaded", \
      (const rd_kafka_topic_t *rkt), (rkt)) \
    X(rd_kafka_topic_partition_t *, rd_kafka_topic_partition_list_add, NULL, \
      (rd_kafka_topic_partition_list_t *rktparlist, const char *topic, int32_t partition), \
      (rktparlist, topic, partition)) \
    V(rd_kafka_topic_partition_list_destroy, \
      (rd_kafka_topic_partition_list_t *rkparlist), (rkparlist)) \
    X(rd_kafka_topic_partition_t *, rd_kafka_topic_partition_list_find, NULL, \
      (const rd_kafka_topic_partition_list_t *rktparlist, const char *topic, int32_t partition), \
      (rktparlist, topic, partition)) \
    X(rd_kafka_topic_partition_list_t *, rd_kafka_topic_partition_list_new, NULL, \
      (int size), (size))

#define LAZYLIB_SELF lazy_rdkafka
static struct {
    RDKAFKA_FUNCS(LAZY_FN_PTR, LAZY_FN_VPTR)
} fn;

static const lazy_sym syms[] = {
    RDKAFKA_FUNCS(LAZY_FN_SYM, LAZY_FN_VSYM)
    {NULL, NULL},
};

lazylib lazy_rdkafka = LAZYLIB_INIT("librdkafka.so.1", syms);

RDKAFKA_FUNCS(LAZY_FN_DEF, LAZY_FN_VDEF)
