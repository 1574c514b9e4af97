/* SPDX-License-Identifier: MIT */
/* Provider slots (see slot.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "slot.h"

int slot_fill(struct slot *s, const char *name, void *ops_out, size_t out_size, const void *ops,
	      uint32_t ops_size, void *data, motcua_free_fn free_fn, const void *owner)
{
	int r = 0;
	char *copy = NULL;
	if (s->plugin_name)
		r = -EEXIST;
	else if (!name || !(copy = strdup(name)))
		r = -ENOMEM;
	if (r < 0) {
		if (free_fn)
			free_fn(data);
		return r;
	}
	if (ops_out) {
		memset(ops_out, 0, out_size);
		memcpy(ops_out, ops, ops_size < out_size ? ops_size : out_size);
	}
	*s = (struct slot){copy, data, free_fn, owner};
	return 0;
}

void slot_empty(struct slot *s, void *ops_out, size_t out_size)
{
	if (s->free_fn)
		s->free_fn(s->data);
	free(s->plugin_name);
	memset(s, 0, sizeof *s);
	if (ops_out)
		memset(ops_out, 0, out_size);
}
