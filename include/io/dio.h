/*
 * Direct I/O (O_DIRECT) capabilities of a file's file system.
 */
#ifndef IO_DIO_H
#define IO_DIO_H

#include "qemu/osdep.h"

/*
 * Memory and file-offset alignment that O_DIRECT on the file open as @fd
 * requires (@path names it in errors).  Fails with a clear error where
 * the file system has no O_DIRECT.
 */
bool qemu_dio_alignment(int fd, const char *path, uint32_t *mem_align,
                        uint32_t *offset_align, GError **errp);

#endif
