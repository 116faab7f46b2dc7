/*
 * Test-only stop points of mapmig-ctl.
 *
 * Compiled in only with CONFIG_CTL_TEST_POINTS, which only the test build
 * tests/ctl/mapmig-ctl-test has (tests/ctl/meson.build); in mapmig-ctl
 * ctl_test_point() is an empty inline and reads no environment, so no
 * release binary can be stopped on purpose.
 *
 * MAPMIG_CTL_STOP_AT=NAME: on reaching the point NAME the process stops
 * itself with SIGSTOP, so that a test can SIGKILL it exactly there (or
 * kill something else and SIGCONT it).  The points:
 *
 *   commit-synced   save: the data is durable, the header not yet final
 *   commit-final    save: the final header is durable, before the rename
 *   commit-renamed  save: after the rename, before the directory fsync
 *   restore-loading restore: migrate-incoming issued, waiting for the load
 */
#ifndef CTL_TEST_POINT_H
#define CTL_TEST_POINT_H

#ifdef CONFIG_CTL_TEST_POINTS
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static inline void ctl_test_point(const char *name)
{
    const char *at = getenv("MAPMIG_CTL_STOP_AT");

    if (at && !strcmp(at, name)) {
        raise(SIGSTOP);
    }
}
#else
static inline void ctl_test_point(const char *name)
{
}
#endif

#endif
