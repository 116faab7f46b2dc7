/*
 * The QMP and HMP commands that set and show migration capabilities and
 * parameters (migration-qmp-cmds.c, migration-hmp-cmds.c), exposed so
 * unit tests can call them without a monitor.  They are registered by
 * migration_register_commands() (include/migration/misc.h).
 */
#ifndef MIGRATION_OPTIONS_CMDS_H
#define MIGRATION_OPTIONS_CMDS_H

#include "migration/options.h"
#include "monitor/monitor.h"

/* QMP handlers (QmpCommandFunc), in migration-qmp-cmds.c. */
JsonNode *qmp_migrate_set_capabilities(Monitor *mon, JsonObject *args,
                                       GError **errp);
JsonNode *qmp_query_migrate_capabilities(Monitor *mon, JsonObject *args,
                                         GError **errp);
JsonNode *qmp_migrate_set_parameters(Monitor *mon, JsonObject *args,
                                     GError **errp);
JsonNode *qmp_query_migrate_parameters(Monitor *mon, JsonObject *args,
                                       GError **errp);

/*
 * HMP handlers (HmpCommandFunc), in migration-hmp-cmds.c; argv[0] is the
 * command name.
 */
void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv);

#endif
