/*
 * multifd: RAM pages travel over N parallel channels, each a thread with
 * its own QIOChannel.
 *
 * One core (multifd.c) owns the channels, their threads, the job queue,
 * sync, cancel and the first error.  Beside it sit ops tables, never
 * branches inside it:
 *
 *  - a transport (MultiFDTransportOps) moves a job's pages:
 *      multifd-file.c    mapped-ram: positioned I/O at the pages' fixed
 *                        offsets through an I/O engine, no packets;
 *      multifd-socket.c  QEMU's packets (header, page offsets, data);
 *  - a compression method (MultiFDMethods) turns the pages of a packet
 *    into the bytes on the wire: multifd-nocomp.c, multifd-zstd.c.
 *
 * ram.c hands over runs of pages with multifd_queue_pages() and never asks
 * which transport is active.
 */
#ifndef MIGRATION_MULTIFD_H
#define MIGRATION_MULTIFD_H

#include "io/channel.h"
#include "migration/qemu-file.h"
#include "system/ramblock.h"

/* ---------------------------------------------------------------- */
/* For ram.c and migration.c */

/* Source: start the channels of the migration's transport. */
bool multifd_send_setup(GError **errp);
/* Destination: open the channels, or (sockets) wait for them. */
bool multifd_recv_setup(GError **errp);
/* Destination: a connection that starts with a multifd init packet. */
bool multifd_recv_new_channel(QIOChannel *ioc, GError **errp);
/* The channels are running (they also tell zero pages apart). */
bool multifd_active(void);
/*
 * Hand [start, start + npages) of @rb to the channels: written on the
 * source, read on the destination.  Returns false without an error when
 * multifd is not active (the caller moves the pages itself).
 */
bool multifd_queue_pages(RAMBlock *rb, uint64_t start, uint64_t npages,
                         GError **errp);
/*
 * Source: wait until every channel is done with what it was given.
 * False with the channels' error set on @f.
 */
bool multifd_send_sync(QEMUFile *f);
/*
 * Source, end of a RAM pass: multifd_send_sync() and, where the transport
 * needs it, a SYNC on every channel and its mark in the main stream
 * (RAM_SAVE_FLAG_MULTIFD_FLUSH), so the destination lets no page of this
 * pass overtake one of the next.
 */
bool multifd_ram_flush_and_sync(QEMUFile *f);
/*
 * Source: multifd_send_sync() and a SYNC on every channel, without the
 * main stream's mark: the end of every RAM section for a destination
 * that syncs at each RAM_SAVE_FLAG_EOS (QEMU 7.2,
 * migrate_multifd_flush_after_each_section()).
 */
bool multifd_ram_sync_channels(QEMUFile *f);
/* Destination: wait until every channel reached the same point. */
bool multifd_recv_sync(GError **errp);
/*
 * Source: bytes handed to the channels and not yet written.  The rate
 * limit counts them as sent, so that max-bandwidth holds even when the
 * whole guest fits in the queue.
 */
uint64_t multifd_send_inflight_bytes(void);
/* True once a channel failed (the migration must stop). */
bool multifd_send_error_pending(void);
/* The first error a channel hit (a copy), NULL if none. */
GError *multifd_send_error(void);
/* Stop and join the channels. */
void multifd_send_shutdown(void);
void multifd_recv_shutdown(void);

/* ---------------------------------------------------------------- */
/* For the transports and compression methods */

#define MULTIFD_JOB_MAX_RUNS 128

typedef struct MultiFDRun {
    uint64_t start; /* first page */
    uint64_t n;     /* pages */
} MultiFDRun;

/* Runs of pages of one block, sorted; filled by the migration thread. */
typedef struct MultiFDJob {
    RAMBlock *rb; /* NULL: the channel thread must exit */
    size_t nruns;
    uint64_t npages;
    MultiFDRun runs[MULTIFD_JOB_MAX_RUNS];
} MultiFDJob;

typedef struct MultiFDChannel {
    int id;
    GThread *thread;
    QIOChannel *ioc; /* the transport's; closed by channel_cleanup */
    void *data;      /* transport state; channel thread */
    void *comp;      /* compression state; channel thread */
} MultiFDChannel;

typedef struct MultiFDTransportOps {
    const char *name;
    /* Most pages one job may carry (a packet, or a few MiB of a file). */
    uint64_t job_max_pages;
    /*
     * Set up channel @c: open or connect its QIOChannel (source), or for
     * a job-driven destination open it too.  A packet destination gets its
     * channels from multifd_recv_new_channel() instead (may be NULL).
     */
    bool (*channel_setup)(MultiFDChannel *c, bool sending, GError **errp);
    void (*channel_cleanup)(MultiFDChannel *c);
    /* Wake a channel blocked on its peer (optional). */
    void (*channel_shutdown)(MultiFDChannel *c);
    /* Source: move the pages of @job (channel thread). */
    bool (*send)(MultiFDChannel *c, MultiFDJob *job, GError **errp);
    /*
     * Source, end of a pass (optional): mark it on @c.  Called by the
     * migration thread while every channel is idle.
     */
    bool (*send_sync)(MultiFDChannel *c, GError **errp);
    /* Destination, job driven: read the pages of @job. */
    bool (*recv)(MultiFDChannel *c, MultiFDJob *job, GError **errp);
    /*
     * Destination, packet driven: read one packet.  1: a packet, 0: end of
     * file, -1: error.  *@sync is set for a packet that ends a pass.
     */
    int (*recv_packet)(MultiFDChannel *c, bool *sync, GError **errp);
    /* Destination, packet driven: read the init packet, say which channel. */
    bool (*recv_hello)(QIOChannel *ioc, int nchannels, int *id, GError **errp);
} MultiFDTransportOps;

extern const MultiFDTransportOps multifd_file_ops;
extern const MultiFDTransportOps multifd_socket_ops;

/* A compression method: the data part of a packet. */
typedef struct MultiFDMethods {
    const char *name;
    uint32_t packet_flag; /* MULTIFD_FLAG_* of the method */
    bool (*setup)(MultiFDChannel *c, bool sending, GError **errp);
    void (*cleanup)(MultiFDChannel *c);
    /*
     * Source: @iov[0..*niov) are the normal pages of a packet; replace them
     * with the bytes to send and set *@len to their size.
     */
    bool (*send_prepare)(MultiFDChannel *c, struct iovec *iov, size_t *niov,
                         uint32_t *len, GError **errp);
    /* Destination: may @normal pages come as @len bytes of data? */
    bool (*recv_check)(uint32_t normal, uint32_t len);
    /* Destination: read @len bytes from c->ioc into the @normal pages. */
    bool (*recv)(MultiFDChannel *c, const struct iovec *pages, uint32_t normal,
                 uint32_t len, GError **errp);
} MultiFDMethods;

extern const MultiFDMethods multifd_nocomp_ops;
extern const MultiFDMethods multifd_zstd_ops;

/* The method multifd-compression names. */
const MultiFDMethods *multifd_get_methods(void);

#endif
