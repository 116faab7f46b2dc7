/*
 * What the mapmig-ctl tests share (tests/ctl/test-*.c): source VMs and
 * restored ones, running the tools, waiting for processes.
 *
 * Environment: MAPMIG_BINARY (the VM), MAPMIG_CTL, MAPMIG_IMG, and
 * MAPMIG_CTL_TEST (mapmig-ctl with the stop points of
 * tools/ctl/test-point.h; optional).
 *
 * The restored VMs are started by mapmig-ctl in their own session; the
 * test process is a child subreaper so it can reap them, and gives each
 * a -pidfile (after "--") so it can kill them if a check fails.  A failed
 * assertion leaves no VM, mount or file behind.
 */
#ifndef TESTS_CTL_CTL_HARNESS_H
#define TESTS_CTL_CTL_HARNESS_H

#include "qemu/osdep.h"
#include "qapi/qmp-client.h"

#define VM_MEM "64M"
#define WAIT_MS 20000

extern const char *mapmig_bin, *ctl_bin, *img_bin;
/* mapmig-ctl built with the stop points of tools/ctl/test-point.h. */
extern const char *ctl_test_bin;
extern char *tmpdir; /* the scratch directory */

/*
 * g_test_init, the binaries from the environment, the scratch directory
 * "@name-XXXXXX", subreaper, clean-up on abort.  False if the environment
 * lacks a binary.
 */
bool harness_init(int *argc, char ***argv, const char *name);
/* Kill the VMs, reap, remove the scratch directory (and its mounts). */
void cleanup(void);

/* ---- VMs ---- */

typedef struct Vm {
    pid_t pid;
    char *sock;
    QMPClient *qmp;
} Vm;

/* Remember @pid as a VM to kill on failure; forget it. */
void track_pid(pid_t pid);
void untrack_pid(pid_t pid);

/*
 * A source VM: @mem of RAM, @workload, QMP in the scratch directory, and
 * the options in @extra (NULL-terminated, may be NULL).
 */
void vm_start_mem(Vm *vm, const char *mem, const char *workload,
                  const char *const *extra);
/* The same with VM_MEM. */
void vm_start_with(Vm *vm, const char *workload, const char *const *extra);
void vm_start(Vm *vm, const char *workload);
/* Attach to a VM restored by mapmig-ctl (socket and pid file known). */
void vm_attach(Vm *vm, const char *sock, const char *pidfile);
/* A QMP command (printf format, single quotes allowed) that must succeed. */
JsonNode *vm_cmd(Vm *vm, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
char *vm_status(Vm *vm);
/* "id=sha;..." of every RAM block (x-query-ram-digest). */
char *vm_digests(Vm *vm);
/* Wait (bounded) for the process to exit; true if it did. */
bool vm_reap(Vm *vm, int timeout_ms);
/* quit, then SIGKILL if it lingers. */
void vm_quit(Vm *vm);
/*
 * x-fill-ram's test pattern (docs/interop/qmp.rst): every page distinct,
 * some zero, in the blocks the guest cannot address and, with
 * @guest_ram, in the guest's RAM too.
 */
void vm_fill(Vm *vm, bool guest_ram);
/* Whether migration capability @name is on. */
bool vm_cap(Vm *vm, const char *name);
/* Let the workload put data in RAM. */
void vm_let_run(Vm *vm, unsigned ms);
/* The ab workload's passes; and two more of them, finding no error. */
int64_t ab_passes(Vm *vm);
void check_ab_goes_on(Vm *vm, int64_t passes);
/* Wait until the restored VM's lazy load has completed. */
void wait_lazy_loaded(Vm *vm);

/* ---- Running the tools ---- */

typedef struct Run {
    int status; /* exit status, or 128 + signal */
    char *out;
    char *err;
} Run;

void run_clear(Run *r);
/* Run @argv (NULL is appended) to its end. */
Run run_argv(GPtrArray *argv);
Run run_tool(const char *bin, const char *first, ...) G_GNUC_NULL_TERMINATED;
/* @r exited with @status, saying @msg (if given) on stderr; frees @r. */
void run_expect(Run r, int status, const char *msg);
void assert_contains(const char *s, const char *sub);
/*
 * restore FILE --qmp SOCK @opts -- -pidfile PIDFILE; on success attaches
 * @vm to the new VM; on failure checks no VM, socket or pid file is left.
 */
Run ctl_restore(Vm *vm, const char *file, const char *opts);
/*
 * Start @bin with @args (NULL-terminated), stopping itself at the test
 * point @stop_at if given; returns its pid (our child).
 */
GPid ctl_spawn(const char *bin, const char *stop_at, const char *const *args);
/* Wait until @pid stopped itself at its test point. */
void wait_stopped(GPid pid);
/* Our live children that are not VMs we track (guardians, tools). */
int stray_children(void);
/* No process of mapmig-ctl's is left (the guardian may still be busy). */
void wait_no_strays(void);
/* @text is exactly one JSON object (and a newline): parse it. */
JsonObject *parse_one_object(const char *text);

/* ---- Files ---- */

char *scratch(const char *name);
/* rm -rf @path (best effort; a mount point on the way stops it). */
void remove_tree(const char *path);
char *file_sha256(const char *path);
/* Whether the scratch file system takes O_DIRECT. */
bool direct_io_ok(void);

#endif
