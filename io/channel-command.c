/*
 * QIOChannelCommand: one end of a pipe to "/bin/sh -c CMD".
 */
#include "qemu/osdep.h"
#include "io/channel-command.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

/*
 * The public struct has no room for the command line, which close needs
 * for its error message; keep it in a private wrapper (parent first, so
 * the core's g_free() of the QIOChannel frees the whole thing).
 */
typedef struct CommandChannel {
    QIOChannelCommand cmd;
    char *cmdline;
} CommandChannel;

#define CMD_CHAN(ioc) ((CommandChannel *)(ioc))

static const QIOChannelClass qio_channel_command_class;

static ssize_t command_readv(QIOChannel *ioc, const struct iovec *iov,
                             size_t niov, int **fds, size_t *nfds,
                             GError **errp)
{
    ssize_t n;

    if (nfds) {
        *nfds = 0;
    }
    do {
        n = readv(CMD_CHAN(ioc)->cmd.fd, iov, MIN(niov, (size_t)IOV_MAX));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to read from command '%s'",
                         CMD_CHAN(ioc)->cmdline);
    }
    return n;
}

static ssize_t command_writev(QIOChannel *ioc, const struct iovec *iov,
                              size_t niov, int *fds, size_t nfds, GError **errp)
{
    ssize_t n;

    do {
        n = writev(CMD_CHAN(ioc)->cmd.fd, iov, MIN(niov, (size_t)IOV_MAX));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to write to command '%s'",
                         CMD_CHAN(ioc)->cmdline);
    }
    return n;
}

/* Reap the child and turn a failure into an error. */
static int command_wait(CommandChannel *c, GError **errp)
{
    int status;
    pid_t rc;

    do {
        rc = waitpid(c->cmd.pid, &status, 0);
    } while (rc < 0 && errno == EINTR);
    c->cmd.pid = -1;
    if (rc < 0) {
        error_setg_errno(errp, errno, "Unable to wait for command '%s'",
                         c->cmdline);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        error_setg(errp, "Command '%s' exited with status %d", c->cmdline,
                   WEXITSTATUS(status));
        return -1;
    }
    if (WIFSIGNALED(status)) {
        error_setg(errp, "Command '%s' killed by signal %d", c->cmdline,
                   WTERMSIG(status));
        return -1;
    }
    return 0;
}

static int command_close(QIOChannel *ioc, GError **errp)
{
    CommandChannel *c = CMD_CHAN(ioc);
    int ret = 0;

    /* Close first: a child reading its stdin only exits at end of file. */
    if (c->cmd.fd >= 0 && close(c->cmd.fd) < 0 && errno != EINTR) {
        error_setg_errno(errp, errno, "Unable to close pipe to command '%s'",
                         c->cmdline);
        ret = -1;
    }
    c->cmd.fd = -1;
    if (c->cmd.pid > 0 && command_wait(c, ret < 0 ? NULL : errp) < 0) {
        ret = -1;
    }
    return ret;
}

static int command_get_fd(QIOChannel *ioc)
{
    return CMD_CHAN(ioc)->cmd.fd;
}

static void command_finalize(QIOChannel *ioc)
{
    g_free(CMD_CHAN(ioc)->cmdline);
}

static const QIOChannelClass qio_channel_command_class = {
    .type_name = "command",
    .io_readv = command_readv,
    .io_writev = command_writev,
    .io_close = command_close,
    .io_get_fd = command_get_fd,
    .io_finalize = command_finalize,
};

/*
 * Start "/bin/sh -c @cmd" with @child_fd as its stdin (@target 0) or
 * stdout (@target 1).  Every fd of ours is O_CLOEXEC, so the child only
 * inherits the pipe end and the std fds.
 */
static pid_t command_spawn(const char *cmd, int child_fd, int target,
                           GError **errp)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t mask, def;
    char *argv[] = { (char *)"sh", (char *)"-c", (char *)cmd, NULL };
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child_fd, target);
    posix_spawnattr_init(&attr);
    /*
     * We ignore SIGPIPE (and threads may block signals); the command must
     * not inherit that, or "cmd | ..." pipelines misbehave.
     */
    sigemptyset(&mask);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &def);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        error_setg_errno(errp, rc, "Unable to start command '%s'", cmd);
        return -1;
    }
    return pid;
}

QIOChannelCommand *qio_channel_command_new_spawn(const char *cmd, int flags,
                                                 GError **errp)
{
    int mode = flags & O_ACCMODE;
    int p[2];
    int ours, theirs, target;
    pid_t pid;

    if (mode != O_RDONLY && mode != O_WRONLY) {
        error_setg(errp,
                   "Command channel '%s' must be read-only or "
                   "write-only",
                   cmd);
        return NULL;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "Unable to create pipe for command '%s'",
                         cmd);
        return NULL;
    }
    if (mode == O_WRONLY) {
        ours = p[1];
        theirs = p[0];
        target = STDIN_FILENO;
    } else {
        ours = p[0];
        theirs = p[1];
        target = STDOUT_FILENO;
    }
    pid = command_spawn(cmd, theirs, target, errp);
    close(theirs);
    if (pid < 0) {
        close(ours);
        return NULL;
    }

    CommandChannel *c = g_new0(CommandChannel, 1);
    qio_channel_init(&c->cmd.parent, &qio_channel_command_class);
    c->cmd.fd = ours;
    c->cmd.pid = pid;
    c->cmdline = g_strdup(cmd);
    g_autofree char *name = g_strdup_printf("exec:%s", cmd);
    qio_channel_set_name(&c->cmd.parent, name);
    return &c->cmd;
}
