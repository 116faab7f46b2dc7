/*
 * multifd: parallel channels for RAM pages.
 *
 * File mode (mapped-ram + file:): each channel thread has its own fd on
 * the migration file and writes (or reads) runs of pages at their fixed
 * offsets with positioned vectored I/O; there are no packets.
 */
#ifndef MIGRATION_MULTIFD_H
#define MIGRATION_MULTIFD_H

#include "migration/qemu-file.h"
#include "system/ramblock.h"

/* Source: start the channels on @path (file mode). */
bool multifd_send_setup(const char *path, GError **errp);
/*
 * Hand a run of non-zero pages to a channel.  Returns false without an
 * error when multifd is not active (the caller writes it itself).
 */
bool multifd_queue_pages(RAMBlock *rb, uint64_t start, uint64_t npages,
                         GError **errp);
/* Source file channels are running (they also detect zero pages). */
bool multifd_file_active(void);
/* Wait until every channel finished its queue; false (error set on @f). */
bool multifd_send_sync(QEMUFile *f);
/* True once a channel failed (the migration must stop). */
bool multifd_send_error_pending(void);
/* Stop and join the channels. */
void multifd_send_shutdown(void);
/* The first error a channel hit (copy), NULL if none. */
GError *multifd_send_error(void);

/* Destination: channels reading from @path. */
bool multifd_recv_setup(const char *path, GError **errp);
bool multifd_queue_read(RAMBlock *rb, uint64_t start, uint64_t npages,
                        GError **errp);
bool multifd_recv_sync(GError **errp);
void multifd_recv_shutdown(void);

/*
 * Socket mode (multifd-socket.c): QEMU's packet protocol over N extra
 * connections to the same address.
 */
bool multifd_socket_send_setup(const char *addr, const uint8_t *uuid,
                               GError **errp);
bool multifd_socket_active(void);
bool multifd_socket_queue_page(RAMBlock *rb, uint64_t page, GError **errp);
bool multifd_socket_send_sync(GError **errp);
bool multifd_socket_failed(void);
GError *multifd_socket_error(void);
void multifd_socket_send_shutdown(void);
bool multifd_socket_recv_setup(GError **errp);
bool multifd_socket_recv_channel(QIOChannel *ioc, GError **errp);
bool multifd_socket_recv_active(void);
bool multifd_socket_recv_sync(GError **errp);
void multifd_socket_recv_shutdown(void);

#endif
