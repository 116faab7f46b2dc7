/*
 * The tools' VM client: starting, connecting to and stopping a process.
 * Stand-ins for mapmig (sh, sleep) keep these fast; the QMP and migration
 * parts run in test-ctl and `make demo`.
 */
#include "qemu/osdep.h"
#include "qemu/vm-client.h"

#include <glib/gstdio.h>
#include <sys/wait.h>

static char *tmp_dir(void)
{
    char *dir =
        g_build_filename(g_get_tmp_dir(), "test-vm-client-XXXXXX", NULL);

    g_assert_nonnull(g_mkdtemp(dir));
    return dir;
}

/* The child's output lands in the log; stdin is /dev/null. */
static void test_spawn_log(void)
{
    g_autofree char *dir = tmp_dir();
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    g_autofree char *text = NULL;
    char *argv[] = { "sh", "-c", "echo out; echo err >&2; cat; exit 3", NULL };
    GError *err = NULL;
    int status;

    pid_t pid = vm_client_spawn(argv, log, 0, &err);
    g_assert_no_error(err);
    g_assert_cmpint(pid, >, 0);
    g_assert_true(vm_client_quit(NULL, pid, 10000, &status));
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 3);
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "out\nerr\n");
    g_unlink(log);
    g_rmdir(dir);
}

/* A log that cannot be created is an error, before any process. */
static void test_spawn_bad_log(void)
{
    char *argv[] = { "true", NULL };
    GError *err = NULL;

    g_assert_cmpint(vm_client_spawn(argv, "/nonexistent/dir/log", 0, &err), ==,
                    -1);
    g_assert_nonnull(strstr(err->message, "Could not create"));
    g_clear_error(&err);
}

/* A detached child leads its own session; an attached one shares ours. */
static void test_spawn_detach(void)
{
    char *argv[] = { "sleep", "60", NULL };
    GError *err = NULL;
    pid_t pid;

    pid = vm_client_spawn(argv, NULL, VM_CLIENT_SPAWN_DETACH, &err);
    g_assert_cmpint(pid, >, 0);
    for (int i = 0; i < 1000 && getsid(pid) != pid; i++) {
        g_usleep(1000);
    }
    g_assert_cmpint(getsid(pid), ==, pid);
    vm_client_quit(NULL, pid, 0, NULL);

    pid = vm_client_spawn(argv, NULL, 0, &err);
    g_assert_cmpint(pid, >, 0);
    g_assert_cmpint(getsid(pid), ==, getsid(0));
    vm_client_quit(NULL, pid, 0, NULL);
}

/* A VM that dies before its socket exists is reported at once. */
static void test_connect_exited(void)
{
    g_autofree char *dir = tmp_dir();
    g_autofree char *sock = g_build_filename(dir, "qmp", NULL);
    char *argv[] = { "sh", "-c", "exit 7", NULL };
    GError *err = NULL;
    int64_t t0 = qemu_clock_ms();

    pid_t pid = vm_client_spawn(argv, NULL, 0, &err);
    g_assert_cmpint(pid, >, 0);
    g_assert_null(vm_client_connect(sock, 60000, pid, NULL, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "exited with status 7"));
    g_assert_cmpint(qemu_clock_ms() - t0, <, 30000);
    g_clear_error(&err);
    g_rmdir(dir);
}

/* A missing binary is exit status 127. */
static void test_connect_no_binary(void)
{
    g_autofree char *dir = tmp_dir();
    g_autofree char *sock = g_build_filename(dir, "qmp", NULL);
    char *argv[] = { "/nonexistent/mapmig", NULL };
    GError *err = NULL;

    pid_t pid = vm_client_spawn(argv, NULL, 0, &err);
    g_assert_cmpint(pid, >, 0);
    g_assert_null(vm_client_connect(sock, 60000, pid, NULL, &err));
    g_assert_nonnull(strstr(err->message, "exited with status 127"));
    g_clear_error(&err);
    g_rmdir(dir);
}

/* Without a VM to wait for, connecting gives up when interrupted. */
static void test_connect_interrupted(void)
{
    g_autofree char *dir = tmp_dir();
    g_autofree char *sock = g_build_filename(dir, "qmp", NULL);
    volatile sig_atomic_t interrupted = 1;
    GError *err = NULL;
    int64_t t0 = qemu_clock_ms();

    g_assert_null(vm_client_connect(sock, 60000, 0, &interrupted, &err));
    g_assert_nonnull(err);
    g_assert_cmpint(qemu_clock_ms() - t0, <, 30000);
    g_clear_error(&err);
    g_rmdir(dir);
}

/* A process that does not exit in time is killed. */
static void test_quit_kills(void)
{
    char *argv[] = { "sleep", "60", NULL };
    GError *err = NULL;
    int status;

    pid_t pid = vm_client_spawn(argv, NULL, 0, &err);
    g_assert_cmpint(pid, >, 0);
    g_assert_false(vm_client_quit(NULL, pid, 50, &status));
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
    g_assert_cmpint(kill(pid, 0), <, 0);
}

static void test_final_status(void)
{
    g_assert_true(vm_client_migration_is_final("completed"));
    g_assert_true(vm_client_migration_is_final("failed"));
    g_assert_true(vm_client_migration_is_final("cancelled"));
    g_assert_false(vm_client_migration_is_final("active"));
    g_assert_false(vm_client_migration_is_final("postcopy-active"));
    g_assert_false(vm_client_migration_is_final(NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vm-client/spawn-log", test_spawn_log);
    g_test_add_func("/vm-client/spawn-bad-log", test_spawn_bad_log);
    g_test_add_func("/vm-client/spawn-detach", test_spawn_detach);
    g_test_add_func("/vm-client/connect/exited", test_connect_exited);
    g_test_add_func("/vm-client/connect/no-binary", test_connect_no_binary);
    g_test_add_func("/vm-client/connect/interrupted", test_connect_interrupted);
    g_test_add_func("/vm-client/quit-kills", test_quit_kills);
    g_test_add_func("/vm-client/final-status", test_final_status);
    return g_test_run();
}
