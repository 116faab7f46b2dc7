/*
 * Internal interface of migration/options.c: the QMP/HMP handlers that
 * migration_options_register_commands() registers, exposed so unit tests
 * can call them without a monitor, plus a few helpers for tests.
 */
#ifndef MIGRATION_OPTIONS_CMDS_H
#define MIGRATION_OPTIONS_CMDS_H

#include "migration/options.h"
#include "monitor/monitor.h"

/* QMP handlers (QmpCommandFunc). */
JsonNode *qmp_migrate_set_capabilities(Monitor *mon, JsonObject *args,
                                       GError **errp);
JsonNode *qmp_query_migrate_capabilities(Monitor *mon, JsonObject *args,
                                         GError **errp);
JsonNode *qmp_migrate_set_parameters(Monitor *mon, JsonObject *args,
                                     GError **errp);
JsonNode *qmp_query_migrate_parameters(Monitor *mon, JsonObject *args,
                                       GError **errp);

/* HMP handlers (HmpCommandFunc); argv[0] is the command name. */
void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv);
void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv);
void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv);

/*
 * The capability cross checks alone (without the "supported by mapmig"
 * check that migrate_caps_check() runs first), against parameters @p.
 * Exposed so tests can reach checks whose capabilities mapmig refuses.
 */
bool migrate_caps_cross_check(const bool *new_caps,
                              const MigrationParameters *p, GError **errp);

/* Whether mapmig implements (or harmlessly accepts) a capability. */
bool migration_capability_supported(MigrationCapability cap);

/* Back to the defaults: all capabilities off, default parameters. */
void migration_options_reset(void);

#endif
