/*
 * query-qmp-schema: the introspection management tools use to find out
 * which commands, arguments, events and enum values this build has (as
 * QEMU's qapi-introspect, in its SchemaInfo shape).
 *
 * Every registered command is listed; a subsystem describes the arguments
 * and return values of its own commands, its enums and its events here, at
 * start-up, next to qmp_register_command().  Undescribed commands take the
 * empty object and return "any".
 */
#ifndef MONITOR_QMP_SCHEMA_H
#define MONITOR_QMP_SCHEMA_H

#include "qemu/osdep.h"

/* A member of an object type: "name" (optional if @optional) of @type. */
typedef struct QmpSchemaMember {
    const char *name;
    const char *type; /* a builtin ("int", "str", "bool", "any"), a type
                         named here, or "[T]" for an array of T */
    bool optional;
} QmpSchemaMember;

/* An object type with @n members (copied). */
void qmp_schema_add_object(const char *name, const QmpSchemaMember *members,
                           size_t n);
/* An enum type with @n values (copied; NULL entries are skipped). */
void qmp_schema_add_enum(const char *name, const char *const *values, size_t n);
/* Command @name takes @arg_type (an object type) and returns @ret_type. */
void qmp_schema_describe_command(const char *name, const char *arg_type,
                                 const char *ret_type);
/* Event @name carries @arg_type (an object type, NULL for none). */
void qmp_schema_add_event(const char *name, const char *arg_type);

/* Register query-qmp-schema itself. */
void qmp_schema_register_commands(void);

#endif
