/* test_lazylib.c - libraries loaded on first use: a missing library or symbol is an error
 * that stays (no crash, slots untouched), a loaded one is loaded once from any number of
 * threads, the components that need a missing library refuse to start with its name, and
 * every stand-in table (libcurl, libsnappy, libsystemd, libzstd, librdkafka, libssl) resolves against the
 * installed library. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/config.h"
#include "core/lazylib.h"
#include "core/metrics.h"
#include "core/topology.h"

#define MISSING "libsluice-no-such-library.so.0"

static void test_missing_library(void **state)
{
    (void)state;
    int (*f)(void) = NULL;
    const lazy_sym syms[] = {{"f", &f}, {NULL, NULL}};
    lazylib l = LAZYLIB_INIT(MISSING, syms);
    char err[256] = "";
    assert_int_equal(lazylib_load(&l, err, sizeof err), SL_ERR_NOTFOUND);
    assert_non_null(strstr(err, "cannot load " MISSING ": "));
    assert_false(lazylib_ready(&l));
    assert_int_equal(atomic_load(&l.state), LAZYLIB_FAILED);
    /* final: the same answer without trying again */
    err[0] = '\0';
    assert_int_equal(lazylib_load(&l, err, sizeof err), SL_ERR_NOTFOUND);
    assert_non_null(strstr(err, MISSING));
    assert_int_equal(lazylib_load(&l, NULL, 0), SL_ERR_NOTFOUND);
    assert_null(f);
}

static void test_missing_symbol(void **state)
{
    (void)state;
    double (*c)(double) = NULL;
    void (*none)(void) = NULL;
    const lazy_sym syms[] = {{"cos", &c}, {"sluice_no_such_function", &none}, {NULL, NULL}};
    lazylib l = LAZYLIB_INIT("libm.so.6", syms);
    char err[256] = "";
    assert_int_equal(lazylib_load(&l, err, sizeof err), SL_ERR_NOTFOUND);
    assert_non_null(strstr(err, "cannot load libm.so.6: "));
    print_message("%s\n", err);
    assert_non_null(strstr(err, "sluice_no_such_function"));
    assert_false(lazylib_ready(&l));
    assert_null(none);
}

static double (*t_cos)(double);
static double (*t_sqrt)(double);
static const lazy_sym t_syms[] = {{"cos", &t_cos}, {"sqrt", &t_sqrt}, {NULL, NULL}};
static lazylib t_lib = LAZYLIB_INIT("libm.so.6", t_syms);

static void *ready_thread(void *arg)
{
    (void)arg;
    return lazylib_ready(&t_lib) && t_cos(0.0) == 1.0 && t_sqrt(16.0) == 4.0 ? &t_lib : NULL;
}

static void test_ready_from_many_threads(void **state)
{
    (void)state;
    pthread_t th[8];
    for (size_t i = 0; i < SL_ARRAY_LEN(th); i++)
        assert_int_equal(pthread_create(&th[i], NULL, ready_thread, NULL), 0);
    for (size_t i = 0; i < SL_ARRAY_LEN(th); i++) {
        void *ok = NULL;
        assert_int_equal(pthread_join(th[i], &ok), 0);
        assert_ptr_equal(ok, &t_lib);
    }
    assert_int_equal(atomic_load(&t_lib.state), LAZYLIB_LOADED);
    assert_int_equal(lazylib_load(&t_lib, NULL, 0), SL_OK);
}

static int build(const char *yaml, sl_topology **t, char *err, size_t errlen)
{
    sl_config_doc *doc = NULL;
    int rc = config_doc_load(&doc, "t.yaml", yaml, err, errlen);
    if (rc == SL_OK)
        rc = topology_build(t, doc, err, errlen);
    topology_free(*t);
    *t = NULL;
    config_doc_free(doc);
    metrics_reset();
    return rc;
}

/* The library a component needs is missing (its soname pointed elsewhere before anything
 * loaded it, then put back): the component does not start and says which and why. */
static void test_components_refuse_to_start_without_their_library(void **state)
{
    (void)state;
    sl_topology *t = NULL;
    char err[1024] = "";
    const char *snappy = lazy_snappy.soname, *systemd = lazy_systemd.soname;
    assert_int_equal(atomic_load(&lazy_snappy.state), LAZYLIB_UNTRIED);
    assert_int_equal(atomic_load(&lazy_systemd.state), LAZYLIB_UNTRIED);
    lazy_snappy.soname = MISSING;
    lazy_systemd.soname = MISSING;

    assert_int_not_equal(build("sources: { a: { type: demo } }\n"
                               "sinks: { o: { type: loki, inputs: [a], endpoint: \"http://127.0.0.1:9\" } }\n",
                               &t, err, sizeof err),
                         SL_OK);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "encoding protobuf needs libsnappy"));
    assert_non_null(strstr(err, "cannot load " MISSING));
    /* JSON needs no snappy */
    err[0] = '\0';
    assert_int_equal(build("sources: { a: { type: demo } }\n"
                           "sinks: { o: { type: loki, inputs: [a], encoding: json, endpoint: \"http://127.0.0.1:9\" } }\n",
                           &t, err, sizeof err),
                     SL_OK);

    err[0] = '\0';
    assert_int_not_equal(build("sources: { j: { type: journald, directory: /nonexistent } }\n"
                               "sinks: { o: { type: blackhole, inputs: [j] } }\n",
                               &t, err, sizeof err),
                         SL_OK);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "needs libsystemd: cannot load " MISSING));

    /* the s3 sink needs libzstd for zstd only */
    const char *zstd = lazy_zstd.soname;
    assert_int_equal(atomic_load(&lazy_zstd.state), LAZYLIB_UNTRIED);
    lazy_zstd.soname = MISSING;
    err[0] = '\0';
    assert_int_not_equal(build("sources: { a: { type: demo } }\n"
                               "sinks: { o: { type: s3, inputs: [a], bucket: logs, compression: zstd } }\n",
                               &t, err, sizeof err),
                         SL_OK);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "compression zstd needs libzstd: cannot load " MISSING));
    err[0] = '\0';
    assert_int_equal(build("sources: { a: { type: demo } }\n"
                           "sinks: { o: { type: s3, inputs: [a], bucket: logs } }\n",
                           &t, err, sizeof err),
                     SL_OK);

    /* the kafka sink and source need librdkafka */
    const char *rdkafka = lazy_rdkafka.soname;
    assert_int_equal(atomic_load(&lazy_rdkafka.state), LAZYLIB_UNTRIED);
    lazy_rdkafka.soname = MISSING;
    err[0] = '\0';
    assert_int_not_equal(build("sources: { a: { type: demo } }\n"
                               "sinks: { o: { type: kafka, inputs: [a], brokers: \"127.0.0.1:9\", topic: t } }\n",
                               &t, err, sizeof err),
                         SL_OK);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "needs librdkafka: cannot load " MISSING));
    err[0] = '\0';
    assert_int_not_equal(build("sources: { k: { type: kafka, brokers: \"127.0.0.1:9\", group_id: g, topics: [t] } }\n"
                               "sinks: { o: { type: blackhole, inputs: [k] } }\n",
                               &t, err, sizeof err),
                         SL_OK);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "needs librdkafka: cannot load " MISSING));

    /* OpenSSL: TLS, SigV4 (s3, cloudwatch_logs) and Forward's shared key need it; a plain
     * Forward or syslog listener does not. Earlier builds loaded it (s3): start over. The
     * HTTP sinks make their TLS context on first use and report this as a request's error,
     * as they do for libcurl; a TLS listener, as its certificate's errors, when it opens. */
    const char *openssl = lazy_openssl.soname;
    atomic_store(&lazy_openssl.state, LAZYLIB_UNTRIED);
    lazy_openssl.soname = MISSING;
    static const struct {
        const char *yaml;
        bool refused;
    } cases[] = {
        {"sources: { a: { type: demo } }\n"
         "sinks: { o: { type: s3, inputs: [a], bucket: logs } }\n", true},
        {"sources: { c: { type: cloudwatch_logs, log_groups: [g] } }\n"
         "sinks: { o: { type: blackhole, inputs: [c] } }\n", true},
        {"sources: { a: { type: demo } }\n"
         "sinks: { o: { type: forward, inputs: [a], servers: [\"127.0.0.1:9\"], tls: { enabled: true } } }\n",
         true},
        {"sources: { f: { type: forward, address: \"127.0.0.1:0\", shared_key: k } }\n"
         "sinks: { o: { type: blackhole, inputs: [f] } }\n", true},
        {"sources: { a: { type: demo } }\n"
         "sinks: { o: { type: forward, inputs: [a], servers: [\"127.0.0.1:9\"], shared_key: k } }\n",
         true},
        {"sources: { f: { type: forward, address: \"127.0.0.1:0\" } }\n"
         "sinks: { o: { type: forward, inputs: [f], servers: [\"127.0.0.1:9\"] } }\n", false},
        {"sources: { s: { type: syslog, address: \"127.0.0.1:0\" } }\n"
         "sinks: { o: { type: blackhole, inputs: [s] } }\n", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        err[0] = '\0';
        int rc = build(cases[i].yaml, &t, err, sizeof err);
        print_message("%s\n", err);
        if (cases[i].refused) {
            assert_int_not_equal(rc, SL_OK);
            assert_non_null(strstr(err, "needs " MISSING ": cannot load " MISSING));
        } else {
            assert_int_equal(rc, SL_OK);
        }
    }

    lazy_openssl.soname = openssl;
    atomic_store(&lazy_openssl.state, LAZYLIB_UNTRIED);
    lazy_snappy.soname = snappy;
    lazy_systemd.soname = systemd;
    lazy_zstd.soname = zstd;
    lazy_rdkafka.soname = rdkafka;
    atomic_store(&lazy_rdkafka.state, LAZYLIB_UNTRIED);
    atomic_store(&lazy_snappy.state, LAZYLIB_UNTRIED);
    atomic_store(&lazy_systemd.state, LAZYLIB_UNTRIED);
    atomic_store(&lazy_zstd.state, LAZYLIB_UNTRIED);
}

/* Every function a stand-in forwards to exists in the library the build's headers are of. */
static void test_stand_in_tables_resolve(void **state)
{
    (void)state;
    lazylib *libs[] = {&lazy_curl, &lazy_snappy, &lazy_systemd, &lazy_zstd, &lazy_rdkafka,
                       &lazy_openssl};
    for (size_t i = 0; i < SL_ARRAY_LEN(libs); i++) {
        char err[256] = "";
        int rc = lazylib_load(libs[i], err, sizeof err);
        if (rc != SL_OK)
            print_error("%s\n", err);
        assert_int_equal(rc, SL_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_ready_from_many_threads),
        cmocka_unit_test(test_components_refuse_to_start_without_their_library),
        cmocka_unit_test(test_stand_in_tables_resolve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
