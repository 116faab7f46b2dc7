/*
 * The VM's own configuration, as a management tool needs it to start the
 * same VM again (mapmig-ctl restore): the command line minus the options
 * that belong to one process (monitors, sockets, pid file, -incoming,
 * -S, ...).
 */
#ifndef SYSTEM_VM_CONFIG_H
#define SYSTEM_VM_CONFIG_H

#include "qemu/osdep.h"

/*
 * Remember the command line (after it parsed successfully).
 * @takes_arg tells whether an option ("m", "qmp", ...) has an argument,
 * so options added later are kept with their values automatically.
 */
void vm_config_record(int argc, char **argv, bool (*takes_arg)(const char *));

/*
 * The recorded options that recreate this VM, without the per-instance
 * ones (g_strfreev).  Empty before vm_config_record().
 */
char **vm_config_args(void);

/* Whether option @opt (without dashes) belongs to one process only. */
bool vm_config_option_is_per_instance(const char *opt);

/* Register x-query-vm-config. */
void vm_config_register_commands(void);

#endif
