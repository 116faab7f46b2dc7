/*
 * What a management tool polling query-migrate sees while a save runs,
 * as QEMU shows it: figures of the last 100 ms window (mbps,
 * pages-per-second, expected-downtime) that are not zero in the middle
 * of the first pass, dirty-sync-count 1 from setup on, remaining bytes
 * that go down; HMP's info migrate with QEMU's globals block and skipped
 * line; the destination's socket-address as a [SocketAddress].
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

static void test_figures_mid_save(void)
{
    g_autofree char *uri = migrate_expand_uri("file:@TMP@/mig", 0);
    QTestState *from = qtest_initf("-m 256M -workload idle -S");
    int64_t last_remaining = INT64_MAX, moving = 0;

    migrate_fill_ram(from, true, 1);
    /* 32 MiB/s: the single pass of a stopped guest lasts seconds. */
    migrate_set_parameter_int(from, "max-bandwidth", 32 * MiB);
    migrate_qmp(from, uri);
    for (int i = 0; i < 15; i++) {
        qtest_msleep(100);
        g_autoptr(JsonNode) r = qtest_qmp(from, "{'execute': 'query-migrate'}");
        JsonObject *o = json_node_get_object(r);
        if (strcmp(json_object_get_string_member(o, "status"), "active")) {
            continue;
        }
        JsonObject *ram = json_object_get_object_member(o, "ram");
        g_assert_cmpint(json_object_get_int_member(ram, "dirty-sync-count"), >=,
                        1);
        int64_t remaining = json_object_get_int_member(ram, "remaining");
        g_assert_cmpint(remaining, <=, last_remaining);
        last_remaining = remaining;
        if (json_object_get_double_member(ram, "mbps") > 0 &&
            json_object_get_int_member(ram, "pages-per-second") > 0 &&
            json_object_get_int_member(o, "expected-downtime") > 0) {
            moving++;
        }
    }
    g_test_message("%" PRId64 " samples with live figures", moving);
    g_assert_cmpint(moving, >=, 5);

    g_autofree char *info = qtest_hmp(from, "info migrate");
    g_assert_true(g_str_has_prefix(info, "globals:\n"));
    g_assert_nonnull(strstr(info, "store-global-state: on\n"));
    g_assert_nonnull(strstr(info, "skipped: 0 pages\n"));
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    g_autofree char *st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    qtest_quit(from);
}

static void test_incoming_socket_address(void)
{
    g_autofree char *uri = migrate_expand_uri("unix:@TMP@/sock", 0);
    QTestState *to = qtest_initf("-m 32M -S -incoming defer");

    migrate_incoming_qmp(to, uri);
    g_autoptr(JsonNode) r = qtest_qmp(to, "{'execute': 'query-migrate'}");
    JsonArray *a =
        json_object_get_array_member(json_node_get_object(r), "socket-address");
    g_assert_cmpuint(json_array_get_length(a), ==, 1);
    JsonObject *sa = json_array_get_object_element(a, 0);
    g_assert_cmpstr(json_object_get_string_member(sa, "type"), ==, "unix");
    g_assert_cmpstr(json_object_get_string_member(sa, "path"), ==,
                    uri + strlen("unix:"));
    qtest_quit(to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/progress/figures-mid-save",
                       test_figures_mid_save);
    migration_test_add("/migration/progress/incoming-socket-address",
                       test_incoming_socket_address);
    return migration_test_run();
}
