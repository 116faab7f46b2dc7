/*
 * mapmig save images: what mapmig-ctl save writes and restore reads, in
 * the manner of libvirt's QEMU save image.  A fixed header, the VM's
 * configuration as JSON, then the migration stream at an aligned offset:
 *
 *   0                  header (SAVE_IMAGE_HEADER_SIZE bytes, little endian)
 *   header_size        configuration: JSON text, NUL, zero padding
 *                      (room to grow in place)
 *   stream_offset      migration data (stream_length bytes): a QEMU stream,
 *                      a zstd-compressed QEMU stream, a mapped-ram image or
 *                      a zstd-compressed mapped-ram region
 *
 * While a save runs the header carries SAVE_IMAGE_MAGIC_PARTIAL; the final
 * magic is written only once the data is on stable storage.
 * docs/tools/mapmig-ctl.rst has the table of fields.
 *
 * Nothing read from a file is trusted: the parser checks every field and
 * save_image_read() checks the lengths against the file's size before it
 * reads or allocates anything.
 */
#ifndef QEMU_SAVE_IMAGE_H
#define QEMU_SAVE_IMAGE_H

#include "qemu/osdep.h"

#define SAVE_IMAGE_MAGIC_LEN 16
#define SAVE_IMAGE_MAGIC "MapmigSaveImage"          /* + NUL: 16 bytes */
#define SAVE_IMAGE_MAGIC_PARTIAL "MapmigSavePart\0" /* + NUL: 16 bytes */
#define SAVE_IMAGE_VERSION 1

/* The header this version writes; readers accept up to the maximum. */
#define SAVE_IMAGE_HEADER_SIZE 256
#define SAVE_IMAGE_HEADER_MAX 4096
/* The configuration: at most this long; writers leave this much room. */
#define SAVE_IMAGE_CONFIG_MAX (16 * MiB)
#define SAVE_IMAGE_CONFIG_ROOM (64 * KiB)
/* stream_offset: a multiple of the minimum, written as one of the other. */
#define SAVE_IMAGE_STREAM_ALIGN_MIN 4096
#define SAVE_IMAGE_STREAM_ALIGN (64 * KiB)
#define SAVE_IMAGE_STREAM_OFFSET_MAX (1 * GiB)

/*
 * Feature bits.  A reader refuses an image with an incompatible feature
 * it does not know; it ignores unknown compatible ones.
 *
 * CHECKSUMS: the mapped-ram stream ends with an x-checksums trailer (page
 * and metadata sums, include/migration/checksum.h) that the restore must
 * verify; a reader that cannot must not restore the image.
 */
#define SAVE_IMAGE_INCOMPAT_CHECKSUMS (1u << 0)
#define SAVE_IMAGE_INCOMPAT_KNOWN SAVE_IMAGE_INCOMPAT_CHECKSUMS
/*
 * GENERATION: the image is a checkpoint (mapmig-ctl checkpoint) and the
 * header's generation field says which; a reader that does not know it
 * still restores the image as any other.
 */
#define SAVE_IMAGE_COMPAT_GENERATION (1u << 0)
#define SAVE_IMAGE_COMPAT_KNOWN SAVE_IMAGE_COMPAT_GENERATION

/* On-disk values: never reuse one. */
typedef enum SaveImageFormat {
    SAVE_IMAGE_FORMAT_RAW = 0,         /* QEMU stream */
    SAVE_IMAGE_FORMAT_ZSTD = 1,        /* QEMU stream as zstd frames */
    SAVE_IMAGE_FORMAT_MAPPED = 2,      /* mapped-ram (sparse) */
    SAVE_IMAGE_FORMAT_MAPPED_ZSTD = 3, /* mapped-ram region as zstd frames */
    SAVE_IMAGE_FORMAT__MAX
} SaveImageFormat;

typedef struct SaveImageHeader {
    uint32_t version;
    uint32_t header_size;       /* bytes before the configuration */
    uint32_t incompat_features; /* SAVE_IMAGE_INCOMPAT_* */
    uint32_t compat_features;
    uint32_t format; /* SaveImageFormat */
    uint32_t was_running;
    uint32_t config_len; /* JSON bytes, without the NUL */
    uint32_t config_crc; /* CRC-32C of those bytes */
    uint64_t stream_offset;
    uint64_t stream_length; /* bytes of migration data in the file */
    /*
     * Uncompressed formats: equal to stream_length.  zstd formats: the
     * size of the data once decompressed (mapped: the mapped-ram image's
     * size counted from stream_offset).
     */
    uint64_t raw_length;
    uint64_t ram_size; /* guest RAM bytes (information) */
    uint64_t saved_at; /* seconds since the epoch (information) */
    /*
     * A checkpoint's generation (1, 2, ...), 0 for any other image.  Read
     * only with SAVE_IMAGE_COMPAT_GENERATION; packing a non-zero one sets
     * that feature.
     */
    uint64_t generation;
} SaveImageHeader;

/* Which magic @buf starts with. */
typedef enum SaveImageProbe {
    SAVE_IMAGE_PROBE_NONE,
    SAVE_IMAGE_PROBE_PARTIAL,
    SAVE_IMAGE_PROBE_FINAL,
} SaveImageProbe;

SaveImageProbe save_image_probe(const uint8_t *buf, size_t len);

/*
 * Parse and validate the header in @buf (@len bytes available, which may
 * be more than the header).  On success fills @out and returns true; on
 * any problem — wrong or partial magic, unknown version or incompatible
 * feature, checksum mismatch, a field out of range — returns false with
 * one phrase in *errp.  Checks only what the header alone can tell: the
 * caller checks the lengths against the file (save_image_read does).
 * Never reads past @len; safe on any input (fuzzed).
 */
bool save_image_header_parse(const uint8_t *buf, size_t len,
                             SaveImageHeader *out, GError **errp);

/*
 * The same, but a header with the partial magic is accepted too (*partial
 * says which it was): an image being written, or whose writer died.  Its
 * stream and raw lengths may then be 0 (not known yet); everything else is
 * checked as for a final header.
 */
bool save_image_header_parse_any(const uint8_t *buf, size_t len,
                                 SaveImageHeader *out, bool *partial,
                                 GError **errp);

/*
 * Serialise @h into @buf (SAVE_IMAGE_HEADER_SIZE bytes) with the final or
 * the partial magic, computing the checksum, which it returns.
 * @h->header_size must be SAVE_IMAGE_HEADER_SIZE.
 */
uint32_t save_image_header_pack(const SaveImageHeader *h, bool final,
                                uint8_t *buf);

/* CRC-32C (Castagnoli), as iSCSI and ext4: crc = 0 to start. */
uint32_t save_image_crc32c(uint32_t crc, const void *buf, size_t len);

const char *save_image_format_name(uint32_t format);
bool save_image_format_is_mapped(uint32_t format);
bool save_image_format_is_zstd(uint32_t format);

/*
 * The offset to put the stream at for a configuration of @config_len
 * bytes: after the header, the JSON, its NUL and SAVE_IMAGE_CONFIG_ROOM,
 * rounded up to SAVE_IMAGE_STREAM_ALIGN.
 */
uint64_t save_image_stream_offset(size_t config_len);

/* The format of an image of the mapped-ram or stream layout, zstd or not. */
SaveImageFormat save_image_format_of(bool mapped, bool zstd);

/*
 * Start the header @h of an image of @format whose configuration is the
 * JSON text @config: version, header size, format, the configuration's
 * length and checksum, and the stream offset after it.  Every other field
 * is zero for the caller to fill in.
 */
void save_image_header_init(SaveImageHeader *h, SaveImageFormat format,
                            const char *config);

/*
 * Whether mapmig's command-line option @opt (without dashes) belongs to
 * one process (monitors, sockets, pid file, -incoming, -S, ...).  Such
 * options are left out of a save image's configuration, and restore
 * refuses an image whose configuration has one.
 */
bool save_image_option_is_per_instance(const char *opt);

/* A header and configuration read from a file. */
typedef struct SaveImage {
    SaveImageHeader hdr;
    uint32_t header_crc; /* the header's checksum, as stored */
    char *config;        /* the JSON text, NUL terminated */
    uint64_t file_size;  /* st_size */
    uint64_t allocated;  /* st_blocks * 512 */
} SaveImage;

/*
 * Read and validate the header and configuration of the open file @fd
 * (@name for messages): the header as save_image_header_parse(), the
 * stream's extent against the file's size (a truncated image is an
 * error), the configuration's checksum and that it is a JSON object.
 * Fills @img (free with save_image_clear).
 */
bool save_image_read(int fd, const char *name, SaveImage *img, GError **errp);
void save_image_clear(SaveImage *img);

/*
 * Read the configuration of the header @h (already parsed) from @fd (@name
 * for messages) into *@config (g_free): within the file, its checksum, no
 * NUL inside, a JSON object.
 */
bool save_image_read_config(int fd, const char *name, const SaveImageHeader *h,
                            char **config, GError **errp);

/*
 * Whether the file @path starts with a save image magic (final or
 * partial); if so, read and validate it into @img as save_image_read()
 * does.  A file that cannot be opened or is shorter than the magic is
 * not a save image: *is_img false and true returned, for the caller's
 * own open to report.
 */
bool save_image_probe_file(const char *path, SaveImage *img, bool *is_img,
                           GError **errp);

/*
 * Whether the migration data at @h->stream_offset of @fd (@name for
 * messages) starts as @h->format says: with a zstd frame or a migration
 * stream's magic.
 */
bool save_image_check_data_start(int fd, const char *name,
                                 const SaveImageHeader *h, GError **errp);

/*
 * Check the zstd-compressed migration data of @img, read from @path:
 * every frame decodes (with its checksum), the data ends with a complete
 * frame, decompresses to raw_length bytes and starts as a migration
 * stream.  Fails in a build without zstd.
 */
bool save_image_check_compressed(const char *path, const SaveImage *img,
                                 GError **errp);

/*
 * Write the header @h at offset 0 of @fd with the final or the partial
 * magic (pwrite, retried on short writes).
 */
bool save_image_write_header(int fd, const SaveImageHeader *h, bool final,
                             GError **errp);

/*
 * Write what comes before the migration data to @fd (@name for
 * messages): the header @h with the partial magic, the configuration
 * @config (config_len bytes) and its NUL at header_size, and zeros up to
 * stream_offset, where the file then ends.
 */
bool save_image_write_prologue(int fd, const char *name,
                               const SaveImageHeader *h, const char *config,
                               GError **errp);

/*
 * What a save image's configuration says.  mapmig-ctl save writes
 * {"vm": {"args": [...], ...}, "save": {"channels": N, "capabilities":
 * [...], ...}}; other members are information only.
 */
typedef struct SaveImageConfig {
    char **vm_args;   /* vm.args: the VM's command-line options */
    int64_t channels; /* save.channels: channels of the save, 1 if absent */
    char **caps;      /* save.capabilities: the names that are strings */
} SaveImageConfig;

/*
 * Parse the configuration text @json (NUL terminated) into @cfg (free
 * with save_image_config_clear).  Returns false with one phrase in *errp
 * if it is not a JSON object, has no vm.args list or a non-string in it.
 * Trusts nothing: the text comes from the file.
 */
bool save_image_config_parse(const char *json, SaveImageConfig *cfg,
                             GError **errp);
void save_image_config_clear(SaveImageConfig *cfg);

#endif
