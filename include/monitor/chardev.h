/*
 * Character device specs: the subset of QEMU's chardev syntax that
 * -qmp, -monitor, -serial, -chardev and -mon understand.
 *
 * Legacy form (-qmp/-monitor/-serial):
 *   stdio | null | file:PATH | mon:stdio (serial only)
 *   unix:PATH[,server=on|off][,wait=on|off]
 *   tcp:[HOST]:PORT[,server=on|off][,wait=on|off][,nodelay=on|off]
 * -chardev form:
 *   socket,id=ID,path=PATH|host=HOST,port=PORT|fd=N[,server=..][,wait=..]
 *   stdio,id=ID | null,id=ID | file,id=ID,path=PATH
 *
 * As in QEMU, a socket is a client unless server=on, and a server waits
 * for its first client at start-up unless wait=off.  Everything else is
 * refused with QEMU's wording.
 */
#ifndef MONITOR_CHARDEV_H
#define MONITOR_CHARDEV_H

#include "qemu/osdep.h"

typedef enum {
    CHARDEV_NULL,
    CHARDEV_STDIO,
    CHARDEV_FILE,
    CHARDEV_SOCKET,
} ChardevKind;

typedef struct ChardevSpec {
    ChardevKind kind;
    char *id;    /* -chardev id; NULL for a legacy spec */
    char *label; /* the spec as given, for messages */
    bool mux;    /* "mon:": an HMP monitor shares it (stdio only) */
    char *path;  /* FILE; unix SOCKET */
    char *host;  /* tcp SOCKET ("" = any address) */
    char *port;
    int fd; /* SOCKET from fd=N (a listening socket), else -1 */
    bool server;
    bool wait;
    bool nodelay;
    bool in_use;          /* claimed by a front end (-mon, ...) */
    unsigned stdio_claim; /* the stdio claim it holds (chardev.c) */
} ChardevSpec;

/*
 * Parse a legacy spec (-qmp, -monitor, -serial).  Returns a new spec
 * (chardev_spec_free) or NULL with errp set.
 */
ChardevSpec *chardev_parse_legacy(const char *spec, GError **errp);
void chardev_spec_free(ChardevSpec *cs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ChardevSpec, chardev_spec_free)

/*
 * -chardev BACKEND,id=ID,...: parse and remember under ID.  "help"
 * prints the backends and sets *help.  Returns false with errp set.
 */
bool chardev_add(const char *opts, bool *help, GError **errp);
/* A -chardev by id (owned by the registry), or NULL. */
ChardevSpec *chardev_find(const char *id);
/* Forget every -chardev (at exit, in tests). */
void chardev_remove_all(void);

/*
 * Claim stdin/stdout for @cs.  Only one spec may own them (the same spec
 * may claim again, for mon:stdio); none may with -daemonize.
 */
bool chardev_claim_stdio(ChardevSpec *cs, GError **errp);
/* -daemonize: stdio is not ours (refuse it from now on). */
void chardev_forbid_stdio(void);
/* Drop the stdio claim (tests, cleanup). */
void chardev_release_stdio(void);

/*
 * Sockets of a CHARDEV_SOCKET spec, non-blocking and close-on-exec.
 * listen: a UNIX node is created 0600 (the monitor is full control of
 * the VM); fd=N is taken over as is.  connect: blocking until connected.
 * Both return the fd or -1 with errp set.
 */
int chardev_socket_listen(const ChardevSpec *cs, GError **errp);
int chardev_socket_connect(const ChardevSpec *cs, GError **errp);
/* After accept(): nodelay=on asks for TCP_NODELAY (ignored elsewhere). */
void chardev_socket_set_nodelay(int fd);
/* "disconnected:unix:PATH,server=on", QEMU's way of naming a listener. */
char *chardev_socket_describe(const ChardevSpec *cs);

#endif
