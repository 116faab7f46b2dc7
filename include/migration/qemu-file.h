/*
 * QEMUFile: a buffered, big-endian stream over a QIOChannel, used for the
 * sequential parts of the migration stream.  Errors are sticky: after the
 * first failure every put is dropped and every get returns zeros, so
 * callers check qemu_file_get_error() at convenient points.
 *
 * Writers may queue guest pages without copying them
 * (qemu_put_buffer_async); they are written by the next flush.
 */
#ifndef MIGRATION_QEMU_FILE_H
#define MIGRATION_QEMU_FILE_H

#include "io/channel.h"

typedef struct QEMUFile QEMUFile;

QEMUFile *qemu_file_new_output(QIOChannel *ioc);
QEMUFile *qemu_file_new_input(QIOChannel *ioc);
/* Flush (output), close the channel and free. Returns the first error. */
int qemu_fclose(QEMUFile *f, GError **errp);
QIOChannel *qemu_file_get_ioc(QEMUFile *f);

/* 0, or a negative errno-like value once an error happened. */
int qemu_file_get_error(QEMUFile *f);
/* The error as a GError copy (NULL if none). */
GError *qemu_file_get_error_obj(QEMUFile *f);
/* Record an error (first one wins); takes ownership of @err. */
void qemu_file_set_error_obj(QEMUFile *f, int ret, GError *err);
void qemu_file_set_error(QEMUFile *f, int ret, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

void qemu_put_byte(QEMUFile *f, uint8_t v);
void qemu_put_be16(QEMUFile *f, uint16_t v);
void qemu_put_be32(QEMUFile *f, uint32_t v);
void qemu_put_be64(QEMUFile *f, uint64_t v);
void qemu_put_buffer(QEMUFile *f, const void *buf, size_t len);
/* Queue @buf by reference: it must stay valid until the next flush. */
void qemu_put_buffer_async(QEMUFile *f, const void *buf, size_t len);
/* Counted string: u8 length + bytes (strings over 255 bytes are cut). */
void qemu_put_counted_string(QEMUFile *f, const char *s);
int qemu_fflush(QEMUFile *f);

uint8_t qemu_get_byte(QEMUFile *f);
/* Next byte without consuming it (error: returns 0). */
uint8_t qemu_peek_byte(QEMUFile *f, size_t offset);
uint16_t qemu_get_be16(QEMUFile *f);
uint32_t qemu_get_be32(QEMUFile *f);
uint64_t qemu_get_be64(QEMUFile *f);
/* Read exactly @len bytes; short input sets the error. Returns bytes read. */
size_t qemu_get_buffer(QEMUFile *f, void *buf, size_t len);
/* Counted string into buf[256] (NUL terminated). false on error. */
bool qemu_get_counted_string(QEMUFile *f, char buf[256]);

/* Bytes put (output) or consumed (input) since creation. */
uint64_t qemu_file_transferred(QEMUFile *f);

/*
 * Positioned I/O on seekable channels (mapped-ram).  put_buffer_at
 * flushes first; neither moves the stream position.
 */
bool qemu_put_buffer_at(QEMUFile *f, const void *buf, size_t len, off_t pos,
                        GError **errp);
bool qemu_get_buffer_at(QEMUFile *f, void *buf, size_t len, off_t pos,
                        GError **errp);
/*
 * Absolute channel offset of the next byte to put/get (flushes output /
 * accounts for buffered input).  -1 on error.
 */
off_t qemu_get_offset(QEMUFile *f);
/* Move the stream to absolute offset @pos (flush / drop buffer, lseek). */
bool qemu_set_offset(QEMUFile *f, off_t pos, GError **errp);

#endif
