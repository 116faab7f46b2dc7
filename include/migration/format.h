/*
 * The migration format: what a QEMU-compatible migration stream and its
 * mapped-ram file layout look like, in one place for every reader and
 * writer (the loader and saver in migration/, mapmig-img, mapmig-ctl and
 * the fuzzers).  No I/O happens here: callers hand in bytes and sizes.
 *
 * A stream is a header (QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION), an
 * optional configuration section, sections (START/PART/END for iterative
 * state such as "ram", FULL for device state, each closed by a footer),
 * QEMU_VM_EOF and, optionally, the VM description JSON.
 *
 * With mapped-ram, each RAM block in the "ram" setup section is followed
 * by a fixed-size header, then (at the offsets the header names) a bitmap
 * of the pages present and the pages region, where page N of the block
 * lies at pages_offset + N * page_size:
 *
 *   header_offset   MappedRamHeader (MAPPED_RAM_HEADER_SIZE bytes, BE)
 *   bitmap_offset   bitmap: one bit per page, host-order unsigned longs
 *   pages_offset    block length bytes, MAPPED_RAM_FILE_OFFSET_ALIGNMENT
 *                   aligned; the stream goes on after it
 *
 * docs/migration/mapped-ram.rst has the diagram.
 */
#ifndef MIGRATION_FORMAT_H
#define MIGRATION_FORMAT_H

#include "qemu/osdep.h"
#include "migration/qemu-file.h"

/* Stream header: be32 magic ("QEVM"), be32 version. */
#define QEMU_VM_FILE_MAGIC 0x5145564d
#define QEMU_VM_FILE_VERSION_COMPAT 0x00000002
#define QEMU_VM_FILE_VERSION 0x00000003

/* Section types: the byte that starts each section of the stream. */
#define QEMU_VM_EOF 0x00
#define QEMU_VM_SECTION_START 0x01
#define QEMU_VM_SECTION_PART 0x02
#define QEMU_VM_SECTION_END 0x03
#define QEMU_VM_SECTION_FULL 0x04
#define QEMU_VM_SUBSECTION 0x05
#define QEMU_VM_VMDESCRIPTION 0x06
#define QEMU_VM_CONFIGURATION 0x07
#define QEMU_VM_COMMAND 0x08
#define QEMU_VM_SECTION_FOOTER 0x7e

/* The version of the "ram" section (its START carries it). */
#define RAM_SECTION_VERSION 4

/*
 * RAM record flags: the low bits (below TARGET_PAGE_BITS) of the be64
 * word that starts each record of the "ram" section; the high bits are
 * the offset in the block (or the total size, for MEM_SIZE).
 */
#define RAM_SAVE_FLAG_FULL 0x01 /* obsolete */
#define RAM_SAVE_FLAG_ZERO 0x02
#define RAM_SAVE_FLAG_MEM_SIZE 0x04
#define RAM_SAVE_FLAG_PAGE 0x08
#define RAM_SAVE_FLAG_EOS 0x10
#define RAM_SAVE_FLAG_CONTINUE 0x20
#define RAM_SAVE_FLAG_XBZRLE 0x40
#define RAM_SAVE_FLAG_HOOK 0x80
#define RAM_SAVE_FLAG_COMPRESS_PAGE 0x100
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200

/*
 * Stream writers: the framing every writer of a stream (savevm.c,
 * mapmig-img convert) puts around its data.  Errors go to the QEMUFile.
 */

/* The file header: magic and version. */
void mig_stream_put_header(QEMUFile *f);

/*
 * The configuration section: the machine type and, if @ncaps, the
 * "configuration/capabilities" subsection naming @caps (the capabilities
 * both sides must have set alike).
 */
void mig_stream_put_configuration(QEMUFile *f, const char *machine,
                                  const char *const *caps, size_t ncaps);

/*
 * The VM description's "configuration" member (name, colon and object),
 * as current QEMU writes it: the configuration vmstate with its
 * "configuration/capabilities" subsection.  mapmig writes it only when
 * the stream has that subsection (@ncaps > 0), so that a stream without
 * validated capabilities keeps QEMU 7.2's description byte for byte
 * (docs/migration/stream.rst).
 */
void mig_vmdesc_put_configuration(GString *out, const char *machine,
                                  const char *const *caps, size_t ncaps);

/*
 * @json (a VM description, @len bytes) with its "configuration" member
 * replaced by the one for @machine and @caps, or removed when @ncaps is
 * 0 (a converted file gains or loses mapped-ram).  NULL if @json does not
 * start as mapmig and QEMU write it ("{\"configuration\": " or
 * "{\"page_size\"").
 */
char *mig_vmdesc_set_configuration(const char *json, size_t len,
                                   const char *machine, const char *const *caps,
                                   size_t ncaps);

/*
 * A section header of @type; START and FULL sections also carry the
 * handler's @idstr, @instance_id and @version_id (others ignore them).
 */
void mig_stream_put_section_header(QEMUFile *f, uint8_t type,
                                   uint32_t section_id, const char *idstr,
                                   uint32_t instance_id, uint32_t version_id);

/* The footer that closes section @section_id. */
void mig_stream_put_section_footer(QEMUFile *f, uint32_t section_id);

/* mapped-ram */
#define MAPPED_RAM_HDR_VERSION 1
#define MAPPED_RAM_FILE_OFFSET_ALIGNMENT 0x100000
/* be32 version, be64 page_size, be64 bitmap_offset, be64 pages_offset */
#define MAPPED_RAM_HEADER_SIZE 28

/*
 * The header before each block's bitmap, in host byte order (the file
 * holds it packed and big-endian: see mapped_ram_header_pack).
 */
typedef struct MappedRamHeader {
    uint32_t version;
    uint64_t page_size;
    uint64_t bitmap_offset; /* absolute file offsets */
    uint64_t pages_offset;
} MappedRamHeader;

/* Where each field lies in the packed header, for error offsets. */
#define MAPPED_RAM_HEADER_VERSION_POS 0
#define MAPPED_RAM_HEADER_PAGE_SIZE_POS 4
#define MAPPED_RAM_HEADER_BITMAP_POS 12
#define MAPPED_RAM_HEADER_PAGES_POS 20

/* Serialise @h into @buf as the file holds it. */
void mapped_ram_header_pack(const MappedRamHeader *h,
                            uint8_t buf[MAPPED_RAM_HEADER_SIZE]);

/* Read the header in @buf into host order.  Checks nothing. */
void mapped_ram_header_unpack(const uint8_t buf[MAPPED_RAM_HEADER_SIZE],
                              MappedRamHeader *h);

/*
 * x-ignore-shared: both offsets 0 mark a block whose pages are not in
 * the file (its memory is a file both sides map).
 */
static inline bool mapped_ram_header_is_ignored(const MappedRamHeader *h)
{
    return !h->bitmap_offset && !h->pages_offset;
}

/* What a header must agree with: the block and the file it came from. */
typedef struct MappedRamExpect {
    const char *name;       /* the block's idstr, for messages */
    uint64_t length;        /* the block's used length, a page multiple */
    uint64_t page_size;     /* the page size this side uses */
    uint64_t header_offset; /* where the header was read */
    uint64_t file_size;
} MappedRamExpect;

/*
 * Whether @h has a header version this code reads.  Returns false with
 * errp set otherwise.
 */
bool mapped_ram_header_check_version(const MappedRamHeader *h, GError **errp);

/*
 * Check a header read from a file against @e before any of its offsets is
 * used: the version, the page size, the pages region's alignment, the
 * bitmap region lying between the header's end and the pages region, and
 * the pages region lying inside the file.  Every sum is checked for
 * overflow, so on success the bitmap (bitmap_bytes(length / page_size)
 * bytes at bitmap_offset) and the pages (length bytes at pages_offset)
 * may be read without further checks.
 *
 * Returns false with errp set to one phrase on the first problem; then,
 * if @bad_field is not NULL, it receives the MAPPED_RAM_HEADER_*_POS of
 * the field at fault.  An x-ignore-shared header (both offsets 0) fails:
 * callers that accept one test mapped_ram_header_is_ignored() first.
 */
bool mapped_ram_header_check(const MappedRamHeader *h, const MappedRamExpect *e,
                             size_t *bad_field, GError **errp);

/* Where a block's mapped-ram regions go when its header is written. */
typedef struct MappedRamLayout {
    uint64_t header_offset;
    uint64_t bitmap_size; /* bytes: bitmap_bytes(pages) */
    uint64_t end;         /* after the pages region: the stream goes on */
    MappedRamHeader hdr;  /* version, page size and the two offsets */
} MappedRamLayout;

/*
 * The layout of a block of @block_len bytes (a multiple of @page_size)
 * whose header goes at @header_offset: the bitmap right after the
 * header, the pages region at the next MAPPED_RAM_FILE_OFFSET_ALIGNMENT
 * boundary after the bitmap.  This is the layout QEMU writes.
 */
void mapped_ram_layout(uint64_t block_len, uint64_t page_size,
                       uint64_t header_offset, MappedRamLayout *l);

/*
 * The VM description: JSON the source appends after QEMU_VM_EOF
 * (QEMU_VM_VMDESCRIPTION, be32 length, the text).  It lists each device
 * section's fields with their sizes; the loader skips it, the tools use
 * it to find where a device section ends (sections carry no length).
 */
typedef struct VMDesc VMDesc;

/*
 * Parse @len bytes of @json.  Returns NULL with errp set unless it is a
 * JSON object.  Nothing in it is trusted later: malformed entries only
 * make vmdesc_section_size() fail.
 */
VMDesc *vmdesc_parse(const char *json, size_t len, GError **errp);
void vmdesc_free(VMDesc *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VMDesc, vmdesc_free)

/*
 * Does @d describe the configuration section (current QEMU's
 * "configuration" member; QEMU 7.2 and mapmig without validated
 * capabilities have none)?  *@present says; if it does, it must agree
 * with the section: a name of @machine_len bytes and, when @ncaps, a
 * "configuration/capabilities" subsection of @ncaps entries (none when
 * @ncaps is 0).  False with @errp set when it does not.
 */
bool vmdesc_check_configuration(const VMDesc *d, size_t machine_len,
                                size_t ncaps, bool *present, GError **errp);

/*
 * The size of the body (after the section header, up to the footer) of
 * the FULL section of device @idstr, @instance_id, as the description
 * says.  False if the device is not described, its entry is malformed,
 * nests deeper than VMDESC_MAX_DEPTH or adds up to more than @limit.
 */
#define VMDESC_MAX_DEPTH 16
bool vmdesc_section_size(const VMDesc *d, const char *idstr,
                         uint32_t instance_id, uint64_t limit, uint64_t *size);

#endif
