/* SPDX-License-Identifier: MIT */
/* A provider slot: what a plugin hands a module to do a thing (a step, the
 * capture device, the archive, a delivery destination): its name, its ops
 * (copied, as much as both sides know of), its data and who put it there.
 * The module that uses the thing owns the slot; the host fills it. */
#ifndef MOTCUA_SLOT_H
#define MOTCUA_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "motcua/plugin.h"

struct slot {
	char *plugin_name; /* NULL: empty */
	void *data;
	motcua_free_fn free_fn;
	const void *owner;
};

/* Fills an empty slot with a copy of name, and copies the plugin's ops (of
 * ops_size bytes, its struct_size) into ops_out (of out_size bytes, zeroing
 * what the plugin's lack). data is freed with free_fn when the slot is
 * emptied, and at once when this fails. -EEXIST (full), -ENOMEM. */
int slot_fill(struct slot *s, const char *name, void *ops_out, size_t out_size, const void *ops,
	      uint32_t ops_size, void *data, motcua_free_fn free_fn, const void *owner);
/* Frees the data and the name, and empties the slot (ops_out is zeroed). */
void slot_empty(struct slot *s, void *ops_out, size_t out_size);
static inline bool slot_taken_by(const struct slot *s, const void *owner)
{
	return s->plugin_name && s->owner == owner;
}

#endif
