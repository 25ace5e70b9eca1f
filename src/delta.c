/* SPDX-License-Identifier: BSD-3-Clause */
/* delta.c -- the copy-on-write block map (see delta.h).
 *
 * Data structure.  Two maps, looked up in this order:
 *
 * 1. An open-addressing hash table with linear probing, power-of-two
 *    capacity, at most 1/2 full, one slot a unit:
 *
 *      key   = unit number + 1   (0 marks an empty slot)
 *      src   = 0: memory unit: len bytes at pos, the rest of the unit zeros
 *                len == DELTA_UNIT: pos is its index in the unit arena
 *                len < DELTA_UNIT: a short unit, pos is a byte offset in
 *                the short arena
 *              k > 0: file with id k - 1, pos is the byte offset in it
 *
 *    Memory units (metadata, small files, guest writes) and single mapped
 *    units (cow file records) live here.  Nothing is ever removed: a unit is
 *    only ever remapped, so there are no tombstones.
 *
 * 2. A sorted array of non-overlapping extents: a run of units mapped to
 *    consecutive bytes of one file.  A large overlay file is a handful of
 *    extents, so its cost grows with its fragmentation, not its size
 *    (one slot a unit would be 24 bytes a KiB: 50 MiB for a 2 GiB file).
 *
 * A unit present in both answers from the hash table: delta_put() over a
 * mapped unit adds a slot, delta_map() over slots updates them in place.
 * A run that would overlap an existing extent is stored unit by unit in the
 * hash table instead, which keeps the extents disjoint without splitting.
 *
 * Memory units live in an arena of CHUNK_UNITS-unit chunks that never move
 * (readers may hold pointers into them while the table grows).
 *
 * A unit whose bytes past the first SHORT_MAX are all zero (a small file's
 * data, a fresh inode table unit) is stored short: its nonzero prefix,
 * rounded up to SHORT_GRAIN bytes, in a second arena of byte-addressed
 * chunks (only after delta_allow_short()).  Rewritten with a prefix that still fits, it is overwritten in
 * place; with a longer one it moves (to a longer short unit or a full one)
 * and its old bytes go to a free list per length, reused by the next short
 * unit of that length.  A full unit stays full and in place.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"

#define CHUNK_UNITS 1024u	/* 1 MiB of memory units per arena chunk */
#define EXTENT_MIN 8u		/* shorter runs go unit by unit into the table */
#define SHORT_MAX 512u		/* longest prefix stored short */
#define SHORT_GRAIN 16u		/* short lengths are multiples of this */
#define SHORT_CHUNK (1u << 20)	/* bytes per short arena chunk */
#define SHORT_CLASSES (SHORT_MAX / SHORT_GRAIN)

struct slot {
	uint64_t key;
	uint32_t src;
	uint32_t len;		/* memory units: bytes stored (see above) */
	uint64_t pos;
};

struct delta {
	struct slot *slots;
	uint64_t cap;		/* power of two */
	uint64_t used;

	unsigned char **chunks;	/* arena */
	uint64_t nchunks;
	uint64_t mem_units;	/* arena units handed out */
	uint64_t mem_limit;	/* bytes, 0 = none */

	unsigned char **schunks;	/* short arena */
	uint64_t nschunks;
	uint64_t sfill;		/* bytes handed out of the last chunk */
	uint64_t sbytes;	/* bytes of short units in use */
	uint64_t sfree[SHORT_CLASSES];	/* per length: a freed offset + 1, or 0 */
	int short_ok;		/* delta_allow_short() */

	struct extent {
		uint64_t unit, count;	/* units [unit, unit + count) */
		uint64_t pos;		/* byte offset of the first in the file */
		int file;
	} *ext;			/* sorted by unit, disjoint */
	size_t n_ext, ext_cap;
	uint64_t ext_only;	/* units covered by extents and not by slots */

	int *fds;
	int nfds;
};

/* Units are hashed in aligned groups of HASH_GROUP: a group's units take
 * consecutive slots (the table's capacity is a power of two, at least
 * HASH_GROUP), and a block's units are one cache miss, not four: at a
 * million files the table is ~100 MiB and every random probe missed.  The
 * groups themselves are spread by the splitmix64 finaliser. */
#define HASH_GROUP 8u

static inline uint64_t hash_unit(uint64_t u)
{
	uint64_t g = u / HASH_GROUP;

	g ^= g >> 30;
	g *= 0xbf58476d1ce4e5b9ULL;
	g ^= g >> 27;
	g *= 0x94d049bb133111ebULL;
	g ^= g >> 31;
	return g * HASH_GROUP + u % HASH_GROUP;
}

struct delta *delta_new(uint64_t mem_limit)
{
	struct delta *d = calloc(1, sizeof *d);

	if (!d)
		return NULL;
	d->cap = 1024;
	d->slots = calloc(d->cap, sizeof *d->slots);
	if (!d->slots) {
		free(d);
		return NULL;
	}
	d->mem_limit = mem_limit;
	return d;
}

void delta_free(struct delta *d)
{
	if (!d)
		return;
	for (uint64_t i = 0; i < d->nchunks; i++)
		free(d->chunks[i]);
	free(d->chunks);
	for (uint64_t i = 0; i < d->nschunks; i++)
		free(d->schunks[i]);
	free(d->schunks);
	free(d->slots);
	free(d->ext);
	for (int i = 0; i < d->nfds; i++)
		close(d->fds[i]);
	free(d->fds);
	free(d);
}

void delta_allow_short(struct delta *d)
{
	d->short_ok = 1;
}

int delta_add_file(struct delta *d, int fd)
{
	int *n = realloc(d->fds, (size_t)(d->nfds + 1) * sizeof *n);

	if (!n)
		return -ENOMEM;
	d->fds = n;
	d->fds[d->nfds] = fd;
	return d->nfds++;
}

int delta_file_fd(const struct delta *d, int file_id)
{
	return file_id >= 0 && file_id < d->nfds ? d->fds[file_id] : -1;
}

static struct slot *find_slot(const struct delta *d, uint64_t unit)
{
	uint64_t mask = d->cap - 1;
	uint64_t i = hash_unit(unit) & mask;

	for (;;) {
		struct slot *s = &d->slots[i];
		if (s->key == unit + 1 || s->key == 0)
			return s;
		i = (i + 1) & mask;
	}
}

static int grow(struct delta *d)
{
	struct slot *old = d->slots;
	uint64_t oldcap = d->cap;

	d->cap *= 2;
	d->slots = calloc(d->cap, sizeof *d->slots);
	if (!d->slots) {
		d->slots = old;
		d->cap = oldcap;
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*find_slot(d, old[i].key - 1) = old[i];
	free(old);
	return 0;
}

/* The extent holding unit, or NULL. */
static const struct extent *find_extent(const struct delta *d, uint64_t unit)
{
	size_t lo = 0, hi = d->n_ext;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct extent *e = &d->ext[mid];
		if (unit < e->unit)
			hi = mid;
		else if (unit >= e->unit + e->count)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

/* The slot for unit, inserted empty-keyed if absent (src/pos to be set). */
static int claim_slot(struct delta *d, uint64_t unit, struct slot **out)
{
	struct slot *s = find_slot(d, unit);

	if (s->key == 0) {
		if ((d->used + 1) * 2 > d->cap) {
			int r = grow(d);
			if (r < 0)
				return r;
			s = find_slot(d, unit);
		}
		s->key = unit + 1;
		s->src = UINT32_MAX;	/* fresh: no source yet */
		d->used++;
		if (d->n_ext && find_extent(d, unit))
			d->ext_only--;	/* now answered by the slot */
	}
	*out = s;
	return 0;
}

static unsigned char *arena_unit(const struct delta *d, uint64_t idx)
{
	return d->chunks[idx / CHUNK_UNITS] + (idx % CHUNK_UNITS) * DELTA_UNIT;
}

static int arena_alloc(struct delta *d, uint64_t *idx)
{
	if (d->mem_limit && (d->mem_units + 1) * DELTA_UNIT + d->sbytes > d->mem_limit)
		return -ENOSPC;
	if (d->mem_units == d->nchunks * CHUNK_UNITS) {
		unsigned char **c = realloc(d->chunks, (size_t)(d->nchunks + 1) * sizeof *c);
		if (!c)
			return -ENOMEM;
		d->chunks = c;
		d->chunks[d->nchunks] = malloc((size_t)CHUNK_UNITS * DELTA_UNIT);
		if (!d->chunks[d->nchunks])
			return -ENOMEM;
		d->nchunks++;
	}
	*idx = d->mem_units++;
	return 0;
}

static unsigned char *short_bytes(const struct delta *d, uint64_t pos)
{
	return d->schunks[pos / SHORT_CHUNK] + pos % SHORT_CHUNK;
}

/* A short unit of len bytes (a multiple of SHORT_GRAIN, <= SHORT_MAX). */
static int short_alloc(struct delta *d, uint32_t len, uint64_t *pos)
{
	uint64_t *head = &d->sfree[len / SHORT_GRAIN - 1];

	if (*head) {
		*pos = *head - 1;
		memcpy(head, short_bytes(d, *pos), sizeof *head);	/* the next */
		d->sbytes += len;
		return 0;
	}
	if (d->mem_limit && d->mem_units * DELTA_UNIT + d->sbytes + len > d->mem_limit)
		return -ENOSPC;
	if (d->nschunks == 0 || d->sfill + len > SHORT_CHUNK) {
		unsigned char **c = realloc(d->schunks, (size_t)(d->nschunks + 1) * sizeof *c);
		if (!c)
			return -ENOMEM;
		d->schunks = c;
		d->schunks[d->nschunks] = malloc(SHORT_CHUNK);
		if (!d->schunks[d->nschunks])
			return -ENOMEM;
		d->nschunks++;
		d->sfill = 0;
	}
	*pos = (d->nschunks - 1) * SHORT_CHUNK + d->sfill;
	d->sfill += len;
	d->sbytes += len;
	return 0;
}

static void short_free(struct delta *d, uint32_t len, uint64_t pos)
{
	uint64_t *head = &d->sfree[len / SHORT_GRAIN - 1];

	memcpy(short_bytes(d, pos), head, sizeof *head);
	*head = pos + 1;
	d->sbytes -= len;
}

/* The length a unit of these bytes is stored with: its nonzero prefix
 * rounded up to SHORT_GRAIN (at least one grain) when that is at most
 * SHORT_MAX, else DELTA_UNIT. */
static uint32_t stored_len(const unsigned char *p)
{
	uint64_t w;
	size_t i = DELTA_UNIT;

	for (; i > SHORT_MAX; i -= sizeof w) {
		memcpy(&w, p + i - sizeof w, sizeof w);
		if (w)
			return DELTA_UNIT;
	}
	while (i > 0 && p[i - 1] == 0)
		i--;
	i = (i + SHORT_GRAIN - 1) / SHORT_GRAIN * SHORT_GRAIN;
	return i ? (uint32_t)i : SHORT_GRAIN;
}

/* Room for a memory unit of len bytes: *pos as the slot keeps it. */
static int mem_alloc(struct delta *d, uint32_t len, uint64_t *pos)
{
	return len == DELTA_UNIT ? arena_alloc(d, pos) : short_alloc(d, len, pos);
}

static unsigned char *mem_bytes(const struct delta *d, const struct slot *s)
{
	return s->len == DELTA_UNIT ? arena_unit(d, s->pos) : short_bytes(d, s->pos);
}

int delta_put(struct delta *d, uint64_t unit, const void *data)
{
	struct slot *s;
	uint64_t pos;
	uint32_t len;
	int r;

	/* Allocate before claiming a slot, so that a full delta leaves no
	 * fresh slot without a source behind. */
	s = find_slot(d, unit);
	if (s->key != 0 && s->src == 0) {
		if (s->len == DELTA_UNIT) {
			memcpy(arena_unit(d, s->pos), data, DELTA_UNIT);
			return 0;
		}
		len = stored_len(data);
		if (len <= s->len) {
			unsigned char *m = short_bytes(d, s->pos);
			memcpy(m, data, len);
			memset(m + len, 0, s->len - len);
			return 0;
		}
		r = mem_alloc(d, len, &pos);
		if (r < 0)
			return r;
		short_free(d, s->len, s->pos);
		s->len = len;
		s->pos = pos;
		memcpy(mem_bytes(d, s), data, len);
		return 0;
	}
	len = d->short_ok ? stored_len(data) : DELTA_UNIT;
	r = mem_alloc(d, len, &pos);
	if (r < 0)
		return r;
	r = claim_slot(d, unit, &s);
	if (r < 0)
		return r;	/* the arena bytes are lost; only on ENOMEM */
	s->src = 0;
	s->len = len;
	s->pos = pos;
	memcpy(mem_bytes(d, s), data, len);
	return 0;
}

/* Map units one by one in the hash table. */
static int map_units(struct delta *d, uint64_t unit, uint64_t count, int file_id, uint64_t pos)
{
	for (uint64_t i = 0; i < count; i++) {
		struct slot *s;
		int r = claim_slot(d, unit + i, &s);
		if (r < 0)
			return r;
		/* A memory unit replaced by a mapping keeps its arena unit
		 * unused; mappings over memory do not happen in practice. */
		s->src = (uint32_t)file_id + 1;
		s->pos = pos + i * DELTA_UNIT;
	}
	return 0;
}

int delta_map(struct delta *d, uint64_t unit, uint64_t count, int file_id, uint64_t pos)
{
	size_t at = 0;
	uint64_t in_slots = 0;

	if (file_id < 0 || file_id >= d->nfds)
		return -EINVAL;
	if (count < EXTENT_MIN)
		return map_units(d, unit, count, file_id, pos);

	/* Where the run goes (the first extent ending after unit), and
	 * whether it touches that extent. */
	for (size_t hi = d->n_ext; at < hi;) {
		size_t mid = at + (hi - at) / 2;
		if (d->ext[mid].unit + d->ext[mid].count <= unit)
			at = mid + 1;
		else
			hi = mid;
	}
	if (at < d->n_ext && d->ext[at].unit < unit + count)
		return map_units(d, unit, count, file_id, pos);

	if (d->n_ext == d->ext_cap) {
		size_t cap = d->ext_cap ? 2 * d->ext_cap : 16;
		struct extent *e = realloc(d->ext, cap * sizeof *e);
		if (!e)
			return -ENOMEM;
		d->ext = e;
		d->ext_cap = cap;
	}
	/* Slots already there keep answering first: make them agree. */
	if (d->used) {
		for (uint64_t i = 0; i < count; i++) {
			struct slot *s = find_slot(d, unit + i);
			if (s->key) {
				s->src = (uint32_t)file_id + 1;
				s->pos = pos + i * DELTA_UNIT;
				in_slots++;
			}
		}
	}
	memmove(&d->ext[at + 1], &d->ext[at], (d->n_ext - at) * sizeof *d->ext);
	d->ext[at] = (struct extent){ .unit = unit, .count = count, .pos = pos, .file = file_id };
	d->n_ext++;
	d->ext_only += count - in_slots;
	return 0;
}

static void fill_src(const struct delta *d, const struct slot *s, struct delta_src *src)
{
	if (s->src == 0) {
		src->mem = mem_bytes(d, s);
		src->mem_len = s->len;
		src->fd = -1;
		src->pos = 0;
	} else {
		src->mem = NULL;
		src->mem_len = 0;
		src->fd = d->fds[s->src - 1];
		src->pos = s->pos;
	}
}

int delta_lookup(const struct delta *d, uint64_t unit, struct delta_src *src)
{
	const struct extent *e;

	if (d->used) {
		const struct slot *s = find_slot(d, unit);
		if (s->key) {
			fill_src(d, s, src);
			return 1;
		}
	}
	if (d->n_ext == 0 || !(e = find_extent(d, unit)))
		return 0;
	src->mem = NULL;
	src->mem_len = 0;
	src->fd = d->fds[e->file];
	src->pos = e->pos + (unit - e->unit) * DELTA_UNIT;
	return 1;
}

uint64_t delta_units(const struct delta *d)
{
	return d->used + d->ext_only;
}

uint64_t delta_mem_bytes(const struct delta *d)
{
	return d->mem_units * DELTA_UNIT + d->sbytes;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* A merge of two ascending sequences: the hash table's keys (sorted once)
 * and the units of the extents (already sorted and disjoint).  A unit in
 * both comes once, from the table, as delta_lookup() answers it. */
struct delta_iter {
	const struct delta *d;
	uint64_t *keys;		/* sorted unit numbers of the table */
	uint64_t nkeys, ki;
	size_t ei;		/* current extent */
	uint64_t eu;		/* next unit within it */
};

int delta_iter_new(const struct delta *d, struct delta_iter **out)
{
	struct delta_iter *it = calloc(1, sizeof *it);

	*out = NULL;
	if (!it)
		return -ENOMEM;
	it->d = d;
	if (d->used) {
		it->keys = malloc(d->used * sizeof *it->keys);
		if (!it->keys) {
			free(it);
			return -ENOMEM;
		}
		for (uint64_t i = 0; i < d->cap; i++)
			if (d->slots[i].key)
				it->keys[it->nkeys++] = d->slots[i].key - 1;
		qsort(it->keys, it->nkeys, sizeof *it->keys, cmp_u64);
	}
	if (d->n_ext)
		it->eu = d->ext[0].unit;
	*out = it;
	return 0;
}

int delta_iter_next(struct delta_iter *it, uint64_t *unit, struct delta_src *src)
{
	const struct delta *d = it->d;
	int have_key = it->ki < it->nkeys, have_ext = it->ei < d->n_ext;
	uint64_t u;

	if (!have_key && !have_ext)
		return 0;
	if (have_key && (!have_ext || it->keys[it->ki] <= it->eu)) {
		u = it->keys[it->ki++];
		fill_src(d, find_slot(d, u), src);
		if (!have_ext || u != it->eu) {
			*unit = u;
			return 1;
		}
		/* also the extent's next unit: step past it below */
	} else {
		const struct extent *e = &d->ext[it->ei];
		u = it->eu;
		src->mem = NULL;
		src->mem_len = 0;
		src->fd = d->fds[e->file];
		src->pos = e->pos + (u - e->unit) * DELTA_UNIT;
	}
	if (++it->eu == d->ext[it->ei].unit + d->ext[it->ei].count && ++it->ei < d->n_ext)
		it->eu = d->ext[it->ei].unit;
	*unit = u;
	return 1;
}

void delta_iter_free(struct delta_iter *it)
{
	if (!it)
		return;
	free(it->keys);
	free(it);
}

int delta_foreach(const struct delta *d,
		  int (*fn)(uint64_t unit, const struct delta_src *src, void *arg), void *arg)
{
	struct delta_iter *it;
	struct delta_src src;
	uint64_t unit;
	int r = delta_iter_new(d, &it);

	while (r == 0 && delta_iter_next(it, &unit, &src))
		r = fn(unit, &src, arg);
	delta_iter_free(it);
	return r;
}
