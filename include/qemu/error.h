/*
 * Errors are GErrors in one domain; helpers in QEMU's error_setg() style.
 * Messages are one phrase without a trailing newline.
 */
#ifndef QEMU_ERROR_H
#define QEMU_ERROR_H

#include <glib.h>

#define MAPMIG_ERROR (mapmig_error_quark())
GQuark mapmig_error_quark(void);

/* Error codes: the QMP error class a user sees. */
typedef enum {
    ERROR_CLASS_GENERIC_ERROR,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_ACTIVE,
    ERROR_CLASS_DEVICE_NOT_FOUND,
    ERROR_CLASS_KVM_MISSING_CAP,
} ErrorClass;

const char *error_class_name(ErrorClass cls);

/* Set *errp (if errp is not NULL and *errp is NULL) to a generic error. */
void error_setg(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Same, appending ": " and strerror(errnum). */
void error_setg_errno(GError **errp, int errnum, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Set an error of a given QMP class. */
void error_set(GError **errp, ErrorClass cls, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Prepend "fmt: " to an existing error message. */
void error_prepend(GError **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Move src into *dst if *dst is empty, else free src. */
void error_propagate(GError **dst, GError *src);
/* Print "mapmig: message" to stderr. */
void error_report_err(GError *err);
void error_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#endif
