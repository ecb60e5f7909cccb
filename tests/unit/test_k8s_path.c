/* test_k8s_path.c - unit tests for kubelet log path and /var/log/containers link name parsing:
 * restart counts, rotated and compressed names, pod directories, links, rejections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sources/k8s_path.h"

static void assert_span(k8s_span s, const char *want)
{
    assert_non_null(s.p);
    assert_int_equal(s.n, strlen(want));
    assert_memory_equal(s.p, want, s.n);
}

static void test_names(void **state)
{
    assert_int_equal(k8s_restart_of("0.log"), 0);
    assert_int_equal(k8s_restart_of("12.log"), 12);
    assert_int_equal(k8s_restart_of("3.log.20240115-102030"), 3);
    assert_int_equal(k8s_restart_of("3.log.20240115-102030.gz"), 3);
    assert_int_equal(k8s_restart_of("x.log"), -1);
    assert_int_equal(k8s_restart_of("1.logs"), -1);
    assert_int_equal(k8s_restart_of(".log"), -1);
    assert_int_equal(k8s_restart_of("99999999999.log"), -1);
    assert_true(k8s_is_log_name("0.log"));
    assert_true(k8s_is_log_name("0.log.20240115-102030"));
    assert_false(k8s_is_log_name("0.log.20240115-102030.gz"));
    assert_false(k8s_is_log_name("0.log.20240115-102030.gz.tmp"));
    assert_false(k8s_is_log_name("app.log"));
    assert_false(k8s_is_rotated_name("0.log"));
    assert_true(k8s_is_rotated_name("0.log.20240115-102030"));
}

static void test_pods_path(void **state)
{
    k8s_meta m = {.restart = -1};
    assert_true(k8s_parse_pods_path("/var/log/pods/shop_web-7d9f_5f1c2a9e-8b1d/app/2.log", &m));
    assert_span(m.ns, "shop");
    assert_span(m.pod, "web-7d9f");
    assert_span(m.uid, "5f1c2a9e-8b1d");
    assert_span(m.container, "app");
    assert_int_equal(m.restart, 2);
    assert_true(k8s_parse_pods_path("ns_p_u/c/0.log.20240115-102030", &m));
    assert_span(m.container, "c");
    assert_int_equal(m.restart, 0);
    const char *bad[] = {"", "0.log", "c/0.log", "/0.log", "ns_p_u//0.log", "/x/nspu/c/0.log",
                         "/x/ns__u/c/0.log", "/x/_p_u/c/0.log", "/x/ns_p_/c/0.log",
                         "/x/ns_p_u/c/app.log", "/x/ns_p_u/c/"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(k8s_parse_pods_path(bad[i], &m));
}

static void test_link_name(void **state)
{
    k8s_meta m = {.restart = -1};
    assert_true(k8s_parse_link_name("web-7d9f_shop_istio-proxy-0123abcd.log", &m));
    assert_span(m.pod, "web-7d9f");
    assert_span(m.ns, "shop");
    assert_span(m.container, "istio-proxy");
    assert_span(m.container_id, "0123abcd");
    const char *bad[] = {"", ".log", "a_b_c.log", "a_b_-id.log", "a_b_c-.log", "_b_c-id.log",
                         "a__c-id.log", "a_b_c-id.txt", "a-b-c-id.log"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(k8s_parse_link_name(bad[i], &m));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_pods_path),
        cmocka_unit_test(test_link_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
