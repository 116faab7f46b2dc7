/*
 * What the rest of the VM needs from migration.
 */
#ifndef MIGRATION_MISC_H
#define MIGRATION_MISC_H

#include "qemu/osdep.h"

/* Create the migration objects and register RAM and global state. */
void migration_object_init(void);
/* Register migration's QMP and HMP commands. */
void migration_register_commands(void);
/* -incoming URI at start-up ("defer" waits for migrate-incoming). */
bool migration_start_incoming(const char *uri, GError **errp);
/* Cancel and join migration threads before exit. */
void migration_shutdown(void);

#endif
