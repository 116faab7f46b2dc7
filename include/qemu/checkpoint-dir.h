/*
 * Checkpoint directories: what mapmig-ctl checkpoint writes, mapmig-ctl
 * restore DIR and mapmig-img info/check DIR read.
 *
 *   DIR/a.img, DIR/b.img  two save images (include/qemu/save-image.h) of
 *                         the mapped layout; each checkpoint rewrites the
 *                         older one in place (only what changed), its
 *                         header carrying the partial magic meanwhile and
 *                         the checkpoint's generation once final
 *   DIR/manifest          names the newest complete checkpoint: a JSON
 *                         object on one line, then a line with its CRC-32C
 *   DIR/manifest.tmp      the next manifest, before its rename
 *
 * The manifest:
 *
 *   {"format": "mapmig-checkpoints", "version": 1, "generation": 7,
 *    "image": "b.img", "header-crc": 2864434397, "saved-at": 1760000000}
 *   crc32c 0x1a2b3c4d
 *
 * "header-crc" is the image's header checksum as written with the final
 * magic: the manifest names one exact header, hence one generation, one
 * stream length and one configuration (the header holds their sums).
 * The checksum line covers every byte before it, newline included.
 *
 * The manifest is written only once its image is complete and durable
 * (tmp, fsync, rename, fsync of DIR), and a checkpoint never rewrites the
 * image the manifest names: at every instant the manifest names a
 * complete image.  Nothing read is trusted: the parser takes any bytes
 * (fuzzed), names are only ever "a.img" or "b.img".
 */
#ifndef QEMU_CHECKPOINT_DIR_H
#define QEMU_CHECKPOINT_DIR_H

#include "qemu/osdep.h"
#include "qemu/save-image.h"

#define CKPT_MANIFEST "manifest"
#define CKPT_MANIFEST_TMP "manifest.tmp"
#define CKPT_FORMAT "mapmig-checkpoints"
#define CKPT_VERSION 1
#define CKPT_MANIFEST_MAX 4096
#define CKPT_IMAGES 2

/* "a.img" and "b.img": the image @i (0 or 1) of a directory. */
const char *ckpt_image_name(int i);

typedef struct CkptManifest {
    uint64_t generation; /* >= 1 */
    int image;           /* 0: a.img, 1: b.img */
    uint32_t header_crc; /* the image's header checksum */
    uint64_t saved_at;   /* seconds since the epoch (information) */
} CkptManifest;

/*
 * Parse and validate the manifest text @buf (@len bytes, not necessarily
 * NUL terminated): size, checksum line, JSON object, format, version and
 * every member's type and range.  One phrase in *errp on any problem.
 * Safe on any input.
 */
bool ckpt_manifest_parse(const char *buf, size_t len, CkptManifest *m,
                         GError **errp);

/* The manifest text for @m, checksum line included (g_free). */
char *ckpt_manifest_format(const CkptManifest *m);

typedef enum CkptImageState {
    CKPT_IMAGE_MISSING,  /* no such file */
    CKPT_IMAGE_PARTIAL,  /* partial magic: being written, or its writer died */
    CKPT_IMAGE_COMPLETE, /* final header, sound, a checkpoint (generation) */
    CKPT_IMAGE_DAMAGED,  /* anything else: not a checkpoint */
} CkptImageState;

typedef struct CkptImage {
    CkptImageState state;
    /*
     * COMPLETE: the image as save_image_read() gives it.  PARTIAL and
     * DAMAGED: the header if it parses (hdr_valid), the configuration if
     * that reads too (config NULL otherwise).
     */
    SaveImage img;
    bool hdr_valid;
    char *error; /* DAMAGED, PARTIAL: why it is not a checkpoint */
} CkptImage;

typedef enum CkptManifestState {
    CKPT_MANIFEST_MISSING,
    CKPT_MANIFEST_VALID,
    CKPT_MANIFEST_DAMAGED,
} CkptManifestState;

typedef struct CkptDir {
    char *path;
    CkptManifestState mstate;
    CkptManifest manifest; /* VALID */
    char *manifest_error;  /* DAMAGED: why */
    CkptImage images[CKPT_IMAGES];
} CkptDir;

/*
 * Look at the directory @path: its manifest and both images, each with
 * its state (a file that is there but unreadable is DAMAGED, with the
 * reason).  Reads headers and configurations only, not the page data.
 * Fails only if @path cannot be read as a directory.
 */
bool ckpt_dir_scan(const char *path, CkptDir *d, GError **errp);
void ckpt_dir_clear(CkptDir *d);

/* Whether @d holds anything of a checkpoint directory. */
bool ckpt_dir_is_checkpoint_dir(const CkptDir *d);

/*
 * Whether image @i is the complete image the valid manifest names, with
 * the manifest's generation and header checksum.
 */
bool ckpt_dir_manifest_image_ok(const CkptDir *d, int i);

/*
 * The image to restore: with @generation 0, the one the manifest names,
 * which must be complete and match it; otherwise the complete image of
 * that generation (whatever the manifest says: the user asked).  Returns
 * 0 or 1, or -1 with an error that says what is wrong and which
 * generations are still available with --generation.
 */
int ckpt_dir_pick(const CkptDir *d, uint64_t generation, GError **errp);

/*
 * "generation 3 (a.img), generation 2 (b.img)": the complete images,
 * newest first, or "none" (g_free).
 */
char *ckpt_dir_available(const CkptDir *d);

/* The image's state as a word: missing, partial, complete, damaged. */
const char *ckpt_image_state_name(CkptImageState s);

#endif
