/*
 * migfile: a defensive reader for QEMU-compatible migration files, for
 * mapmig-img, the fuzzers and anything else that inspects a file without
 * loading it (the loader itself is savevm.c).  Nothing read from the file
 * is trusted: every length and offset is checked against the file size
 * and fixed limits before it is used, and nothing is allocated from an
 * unchecked length.  The format itself (constants, the mapped-ram header
 * checks, the VM description) is migration/format.h's.
 *
 * The parser walks the whole stream once (header, configuration, the
 * "ram" section in the stream or the mapped-ram layout, device sections,
 * EOF, VM description) and records what it saw.  Device sections carry
 * no length; their size comes from the VM description JSON, or failing
 * that from scanning for the section footer (see qemu72-observed.md).
 */
#ifndef MIGRATION_MIGFILE_H
#define MIGRATION_MIGFILE_H

#include "qemu/osdep.h"
#include "io/channel.h"
#include "migration/format.h"

/* Limits a sane file stays within (errors otherwise). */
#define MIG_MAX_BLOCK_LEN (UINT64_C(1) << 42) /* 4 TiB per RAM block */
#define MIG_MAX_BLOCKS 1024
#define MIG_MAX_SECTIONS 100000
#define MIG_MAX_VMDESC (64 * MiB)
#define MIG_MAX_CAPS 64

typedef enum MigLayout {
    MIG_LAYOUT_STREAM,
    MIG_LAYOUT_MAPPED_RAM,
} MigLayout;

typedef struct MigBlock {
    char name[256];
    uint64_t length;  /* used_length, page multiple */
    uint64_t mr_addr; /* x-ignore-shared only */
    /*
     * x-ignore-shared skipped it (mapped-ram header with both offsets 0):
     * its memory is a shared file the VM maps, none of it is here.
     */
    bool ignored;
    /* mapped-ram */
    uint64_t header_pos; /* absolute offset of MappedRamHeader */
    uint32_t mr_version;
    uint64_t page_size;
    uint64_t bitmap_offset;
    uint64_t pages_offset;
    uint64_t present_pages; /* popcount of the bitmap */
    /* stream */
    uint64_t page_records;
    uint64_t zero_records;
    uint64_t distinct_pages;    /* pages named by at least one record */
    unsigned long *touched;     /* bitmap, allocated on the first record, or */
    GHashTable *touched_sparse; /* page + 1 set, when bitmaps get too big */
} MigBlock;

typedef struct MigSection {
    uint8_t type; /* QEMU_VM_SECTION_* */
    uint32_t section_id;
    char idstr[256]; /* for PART/END: copied from the START */
    uint32_t instance_id;
    uint32_t version_id;
    uint64_t offset;       /* absolute offset of the type byte */
    uint64_t body_offset;  /* first byte after the header */
    uint64_t body_size;    /* bytes up to the footer */
    uint64_t end;          /* first byte after the footer */
    bool size_from_vmdesc; /* FULL: size computed from the vmdesc */
} MigSection;

typedef struct MigFile {
    QIOChannel *ioc; /* a QIOChannelFile, so fault injection sees reads */
    char *path;
    uint64_t base;      /* --offset: where the stream starts */
    uint64_t size;      /* st_size */
    uint64_t allocated; /* st_blocks * 512 */
    uint32_t version;
    char machine[256];
    uint64_t config_offset;   /* the 0x07 byte */
    uint64_t config_end;      /* first byte after the configuration */
    GPtrArray *caps;          /* char *: configuration/capabilities */
    GByteArray *other_config; /* non-capability subsections, verbatim */
    MigLayout layout;
    bool ignore_shared;
    uint32_t ram_section_id;
    uint32_t ram_instance_id;
    uint32_t ram_version_id;
    bool have_ram;
    uint64_t ram_total;     /* MEM_SIZE */
    GArray *blocks;         /* MigBlock */
    GArray *sections;       /* MigSection, stream order */
    uint64_t eof_offset;    /* the QEMU_VM_EOF byte */
    uint64_t vmdesc_offset; /* the 0x06 byte, 0 if absent */
    uint32_t vmdesc_len;
    char *vmdesc;       /* JSON text, NUL terminated, or NULL */
    bool has_checksums; /* an x-checksums trailer follows the stream */
    /*
     * Called after each read with the bytes read so far (an operation may
     * read parts of the file more than once); NULL for none.
     */
    void (*progress)(uint64_t bytes_read, void *opaque);
    void *progress_opaque;
    uint64_t bytes_read;
    uint64_t stream_end;    /* size, or where the checksum table starts */
    uint64_t touched_bytes; /* MigBlock.touched bitmaps, all blocks */
    VMDesc *vmdesc_tree;    /* vmdesc parsed, or NULL */
    /* The vmdesc describes the configuration (current QEMU's form). */
    bool vmdesc_has_configuration;
} MigFile;

/*
 * Called for each page record of a stream-layout file, in file order.
 * @data is the page (TARGET_PAGE_SIZE bytes) for PAGE records and NULL for
 * ZERO records, whose fill byte is @fill.  Returns false with errp set to
 * stop the walk.
 */
typedef bool (*MigPageFn)(void *opaque, MigFile *mf, MigBlock *b,
                          uint64_t offset, const uint8_t *data, uint8_t fill,
                          GError **errp);

/*
 * Open @path and validate it completely; @fn (may be NULL) sees every
 * stream page record.  Returns NULL with errp set to the first problem,
 * whose message starts with "offset 0x...: ".
 */
MigFile *migfile_open(const char *path, uint64_t base, MigPageFn fn,
                      void *opaque, GError **errp);
/*
 * Open @mf's file again and walk it with @fn, reporting reads to @mf's
 * progress hook (counting on from @mf's).
 */
MigFile *migfile_reopen(const MigFile *mf, MigPageFn fn, void *opaque,
                        GError **errp);
void migfile_free(MigFile *mf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MigFile, migfile_free)

MigBlock *migfile_find_block(MigFile *mf, const char *name);
/*
 * x-checksums (include/migration/checksum.h): check the metadata sum and
 * the sum of every page the file holds.  True without reading anything
 * when the file has no trailer.
 */
bool migfile_verify_checksums(MigFile *mf, GError **errp);
bool migfile_has_cap(MigFile *mf, const char *cap);

/* "stream" or "mapped-ram", as mapmig-img names the layouts. */
const char *migfile_layout_name(MigLayout l);
/* The layout named @name (migfile_layout_name); false if none is. */
bool migfile_layout_from_name(const char *name, MigLayout *l);

/*
 * How many START, PART and END sections the "ram" section has (all 0
 * without one).
 */
void migfile_ram_section_counts(MigFile *mf, unsigned *start, unsigned *part,
                                unsigned *end);

/*
 * Read the mapped-ram bitmap of @b (host-order unsigned longs, as QEMU
 * writes it).  The caller g_free()s it.  The region was validated by
 * migfile_open().
 */
unsigned long *migfile_read_bitmap(MigFile *mf, MigBlock *b, GError **errp);

/* pread exactly @len bytes at @pos (bounds checked against the size). */
bool migfile_pread(MigFile *mf, void *buf, size_t len, uint64_t pos,
                   GError **errp);

#endif
