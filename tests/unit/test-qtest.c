/*
 * qtest protocol tests: the test plays libqtest (it listens, mapmig
 * connects) and checks replies against a fake guest memory.
 */
#include "qemu/osdep.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "monitor/monitor.h"
#include "system/ramblock.h"
#include "mon-client.h"

/*
 * Test doubles for symbols of the system/ library, which this test does
 * not link: 64 KiB of guest RAM at guest-physical 0x100000.
 */
#define FAKE_BASE 0x100000
#define FAKE_SIZE 0x10000
static uint8_t fake_ram[FAKE_SIZE];

static bool fake_range_ok(uint64_t addr, uint64_t len)
{
    return addr >= FAKE_BASE && len <= FAKE_SIZE &&
           addr - FAKE_BASE <= FAKE_SIZE - len;
}

bool address_space_rw(uint64_t addr, void *buf, uint64_t len, bool is_write)
{
    if (!fake_range_ok(addr, len)) {
        return false;
    }
    if (is_write) {
        memcpy(fake_ram + (addr - FAKE_BASE), buf, len);
    } else {
        memcpy(buf, fake_ram + (addr - FAKE_BASE), len);
    }
    return true;
}

bool address_space_memset(uint64_t addr, uint8_t val, uint64_t len)
{
    if (!fake_range_ok(addr, len)) {
        return false;
    }
    memset(fake_ram + (addr - FAKE_BASE), val, len);
    return true;
}

static MonClient *qt;

static void qt_expect(const char *cmd, const char *reply)
{
    g_autofree char *r = NULL;
    g_autofree char *want = g_strconcat(reply, "\n", NULL);

    mon_client_send(qt, cmd);
    r = mon_client_read_until(qt, "\n");
    g_assert_cmpstr(r, ==, want);
}

static void test_scalar(void)
{
    qt_expect("endianness\n", "OK little");
    qt_expect("writeb 0x100000 0xab\n", "OK");
    qt_expect("readb 0x100000\n", "OK 0x00000000000000ab");
    qt_expect("writew 0x100010 0x1234\n", "OK");
    g_assert_cmpint(fake_ram[0x10], ==, 0x34);
    g_assert_cmpint(fake_ram[0x11], ==, 0x12);
    qt_expect("readw 0x100010\n", "OK 0x0000000000001234");
    qt_expect("writel 0x100020 0xdeadbeef\n", "OK");
    qt_expect("readl 0x100020\n", "OK 0x00000000deadbeef");
    qt_expect("writeq 1048624 0x0102030405060708\n", "OK");
    qt_expect("readq 0x100030\n", "OK 0x0102030405060708");
    qt_expect("readb 0x10\n", "ERR unmapped address 0x10");
    qt_expect("readb zz\n", "ERR invalid number 'zz'");
    qt_expect("readb\n", "ERR missing argument");
    qt_expect("bogus 1\n", "FAIL Unknown command 'bogus'");
}

static void test_buffers(void)
{
    qt_expect("write 0x100100 4 0x01020304\r\n", "OK");
    qt_expect("read 0x100100 4\n", "OK 0x01020304");
    qt_expect("write 0x100100 4 0xff\n", "OK");
    qt_expect("read 0x100100 4\n", "OK 0xff000000");
    qt_expect("memset 0x100200 8 0x5a\n", "OK");
    qt_expect("b64read 0x100200 8\n", "OK WlpaWlpaWlo=");
    qt_expect("b64write 0x100300 3 AQID\n", "OK");
    qt_expect("read 0x100300 3\n", "OK 0x010203");
    qt_expect("write 0x100100 2 0xzz\n", "ERR invalid data");
    qt_expect("memset 0x10ffff 2 0\n", "ERR unmapped address 0x10ffff");
    qt_expect("read 0x100000 0xffffffffffff\n", "ERR size too large");
}

int main(int argc, char **argv)
{
    g_autofree char *dir = g_dir_make_tmp("test-qtest-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "qtest.sock", NULL);
    g_autofree char *spec = g_strconcat("unix:", path, NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    GError *err = NULL;
    int lfd, ret;

    g_test_init(&argc, &argv, NULL);
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    if (!qtest_init(spec, &err)) {
        g_error("%s", err->message);
    }
    qt = g_new0(MonClient, 1);
    qt->fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(qt->fd, >=, 0);
    fcntl(qt->fd, F_SETFL, fcntl(qt->fd, F_GETFL) | O_NONBLOCK);
    qt->in = g_string_new(NULL);

    g_test_add_func("/qtest/scalar", test_scalar);
    g_test_add_func("/qtest/buffers", test_buffers);
    ret = g_test_run();

    mon_client_close(qt);
    mon_pump();
    monitor_cleanup();
    close(lfd);
    unlink(path);
    rmdir(dir);
    return ret;
}
