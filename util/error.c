#include "qemu/osdep.h"

#include <stdarg.h>

G_DEFINE_QUARK(mapmig - error - quark, mapmig_error)

const char *error_class_name(ErrorClass cls)
{
    switch (cls) {
    case ERROR_CLASS_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case ERROR_CLASS_DEVICE_NOT_ACTIVE:
        return "DeviceNotActive";
    case ERROR_CLASS_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case ERROR_CLASS_KVM_MISSING_CAP:
        return "KVMMissingCap";
    default:
        return "GenericError";
    }
}

static void error_setv(GError **errp, ErrorClass cls, const char *suffix,
                       const char *fmt, va_list ap)
{
    if (!errp || *errp) {
        return;
    }
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    if (suffix) {
        *errp = g_error_new(MAPMIG_ERROR, cls, "%s: %s", msg, suffix);
    } else {
        *errp = g_error_new_literal(MAPMIG_ERROR, cls, msg);
    }
}

void error_setg(GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(errp, ERROR_CLASS_GENERIC_ERROR, NULL, fmt, ap);
    va_end(ap);
}

void error_setg_errno(GError **errp, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(errp, ERROR_CLASS_GENERIC_ERROR, g_strerror(errnum), fmt, ap);
    va_end(ap);
}

void error_set(GError **errp, ErrorClass cls, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(errp, cls, NULL, fmt, ap);
    va_end(ap);
}

void error_prepend(GError **errp, const char *fmt, ...)
{
    if (!errp || !*errp) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_autofree char *old = (*errp)->message;
    (*errp)->message = g_strdup_printf("%s: %s", prefix, old);
}

void error_propagate(GError **dst, GError *src)
{
    if (!src) {
        return;
    }
    if (dst && !*dst) {
        *dst = src;
    } else {
        g_error_free(src);
    }
}

void error_report_err(GError *err)
{
    fprintf(stderr, "mapmig: %s\n", err->message);
    g_error_free(err);
}

void error_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "mapmig: %s\n", msg);
}
