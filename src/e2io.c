/* SPDX-License-Identifier: BSD-3-Clause */
/* e2io.c -- libext2fs io_manager over an image (see e2io.h).
 *
 * libext2fs addresses its device in blocks of channel->block_size (1024
 * while it looks for the superblock, the file system's block size after)
 * and sometimes in bytes: a negative count is a byte count (-1024 for the
 * superblock), and write_byte writes count bytes at a byte offset, used for
 * the superblock.  Every form becomes a byte range of the image, shifted
 * by the partition offset; image_write() does the read-modify-write for
 * ranges that do not cover whole delta units.
 *
 * The channel finds its image through its name, "hackback:ADDRESS": the
 * io_manager interface passes nothing else to open(), and a name keeps the
 * program free of a global "current image".
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "e2io.h"
#include "util.h"

#define E2IO_PREFIX "hackback:"

struct e2io {
	struct image *img;
	uint64_t base;		/* partition offset */
	uint64_t limit;		/* partition size */
};

void e2io_name(struct image *img, char *buf, size_t len)
{
	snprintf(buf, len, E2IO_PREFIX "%p", (void *)img);
}

static errcode_t e2io_open(const char *name, int flags, io_channel *channel)
{
	struct image *img = NULL;
	struct e2io *priv = NULL;
	io_channel io = NULL;
	errcode_t err;

	(void)flags;
	if (!name || strncmp(name, E2IO_PREFIX, strlen(E2IO_PREFIX)) != 0 ||
	    sscanf(name + strlen(E2IO_PREFIX), "%p", (void **)&img) != 1 || !img)
		return EXT2_ET_BAD_DEVICE_NAME;

	err = ext2fs_get_memzero(sizeof *io, &io);
	if (err)
		return err;
	err = ext2fs_get_memzero(sizeof *priv, &priv);
	if (err)
		goto fail;
	err = ext2fs_get_mem(strlen(name) + 1, &io->name);
	if (err)
		goto fail;
	strcpy(io->name, name);
	priv->img = img;
	priv->base = image_partition(img)->offset;
	priv->limit = image_partition(img)->size;
	io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	io->manager = e2io_manager;
	io->block_size = 1024;
	io->refcount = 1;
	io->private_data = priv;
	*channel = io;
	return 0;

fail:
	ext2fs_free_mem(&priv);
	ext2fs_free_mem(&io);
	return err;
}

static errcode_t e2io_close(io_channel io)
{
	if (--io->refcount > 0)
		return 0;
	ext2fs_free_mem(&io->private_data);
	ext2fs_free_mem(&io->name);
	ext2fs_free_mem(&io);
	return 0;
}

static errcode_t e2io_set_blksize(io_channel io, int blksize)
{
	io->block_size = blksize;
	return 0;
}

/* The byte range of a block request, checked against the partition. */
static errcode_t range(io_channel io, unsigned long long block, int count,
		       uint64_t *off, size_t *len)
{
	struct e2io *priv = io->private_data;

	*len = count < 0 ? (size_t)-count : (size_t)count * (size_t)io->block_size;
	*off = (uint64_t)block * (uint64_t)io->block_size;
	if (*off + *len > priv->limit)
		return EXT2_ET_LLSEEK_FAILED;
	*off += priv->base;
	return 0;
}

static errcode_t e2io_read_blk64(io_channel io, unsigned long long block, int count, void *data)
{
	struct e2io *priv = io->private_data;
	uint64_t off;
	size_t len;
	ssize_t r;
	errcode_t err = range(io, block, count, &off, &len);

	if (err)
		return err;
	r = image_read(priv->img, data, len, off);
	if (r < 0)
		return (errcode_t)-r;
	if ((size_t)r < len)
		return EXT2_ET_SHORT_READ;
	return 0;
}

static errcode_t e2io_write_blk64(io_channel io, unsigned long long block, int count,
				  const void *data)
{
	struct e2io *priv = io->private_data;
	uint64_t off;
	size_t len;
	ssize_t r;
	errcode_t err = range(io, block, count, &off, &len);

	if (err)
		return err;
	r = image_write(priv->img, data, len, off);
	if (r == -ENOSPC)
		return EXT2_ET_BLOCK_ALLOC_FAIL;
	if (r < 0)
		return (errcode_t)-r;
	return (size_t)r < len ? EXT2_ET_SHORT_WRITE : 0;
}

static errcode_t e2io_read_blk(io_channel io, unsigned long block, int count, void *data)
{
	return e2io_read_blk64(io, block, count, data);
}

static errcode_t e2io_write_blk(io_channel io, unsigned long block, int count, const void *data)
{
	return e2io_write_blk64(io, block, count, data);
}

static errcode_t e2io_write_byte(io_channel io, unsigned long offset, int count, const void *data)
{
	struct e2io *priv = io->private_data;
	ssize_t r;

	if (count < 0 || offset + (uint64_t)count > priv->limit)
		return EXT2_ET_LLSEEK_FAILED;
	r = image_write(priv->img, data, (size_t)count, priv->base + offset);
	if (r < 0)
		return (errcode_t)-r;
	return (size_t)r < (size_t)count ? EXT2_ET_SHORT_WRITE : 0;
}

static errcode_t e2io_flush(io_channel io)
{
	(void)io;
	return 0;	/* everything is in the delta already */
}

static errcode_t e2io_set_option(io_channel io, const char *option, const char *arg)
{
	(void)io;
	(void)option;
	(void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t e2io_zeroout(io_channel io, unsigned long long block, unsigned long long count)
{
	static const unsigned char zeros[DELTA_UNIT * 4];
	unsigned long long bs = (unsigned long long)io->block_size;
	unsigned long long per = sizeof zeros / bs;

	if (per == 0)
		return EXT2_ET_UNIMPLEMENTED;
	while (count > 0) {
		unsigned long long n = HB_MIN(count, per);
		errcode_t err = e2io_write_blk64(io, block, (int)n, zeros);
		if (err)
			return err;
		block += n;
		count -= n;
	}
	return 0;
}

static struct struct_io_manager e2io_ops = {
	.magic = EXT2_ET_MAGIC_IO_MANAGER,
	.name = "hackbackfs image",
	.open = e2io_open,
	.close = e2io_close,
	.set_blksize = e2io_set_blksize,
	.read_blk = e2io_read_blk,
	.write_blk = e2io_write_blk,
	.flush = e2io_flush,
	.write_byte = e2io_write_byte,
	.set_option = e2io_set_option,
	.read_blk64 = e2io_read_blk64,
	.write_blk64 = e2io_write_blk64,
	.zeroout = e2io_zeroout,
};

io_manager e2io_manager = &e2io_ops;
