/* SPDX-License-Identifier: MIT */
/* sign-core: the optional visible stamp (not yet). */
#include <errno.h>

#include "core-internal.h"

int sign_stamp_objects(struct sign_signer *s, const char *org, time_t t, int first_obj,
		       const double page_box[4], int rotate, struct sign_buf *out, long *offsets,
		       int *n_objs, int *ap_obj, double rect[4], char *err, size_t len)
{
	return sign_fail(-ENOTSUP, err, len, "the visible stamp is not available in this build");
}
