/*
 * Memory mappings that start on a given boundary.
 */
#ifndef QEMU_MMAP_ALLOC_H
#define QEMU_MMAP_ALLOC_H

#include "qemu/osdep.h"

/*
 * mmap(NULL, @size, PROT_READ | PROT_WRITE, @flags, @fd, 0), placed on an
 * @align boundary (a power of two, at least the page size): a PROT_NONE
 * reservation of @size + @align finds the room, the mapping goes over its
 * aligned part and the rest is given back.  Huge pages (transparent or
 * not) can then back the whole range.  MAP_FAILED with errno on failure;
 * munmap(p, @size) frees it.
 */
void *qemu_mmap_aligned(size_t size, size_t align, int flags, int fd);

#endif
