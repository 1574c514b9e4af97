/* SPDX-License-Identifier: MIT */
/* A plugin that breaks the export rule on purpose (default visibility, a
 * helper function and a global left non-static): check-plugin-symbols.sh must
 * refuse it, which proves the check can fail. */
#include <motcua/plugin.h>

int leaky_counter = 1;
const struct motcua_plugin_info *leaky_helper(void);

static const struct motcua_plugin_info info = {
    sizeof(struct motcua_plugin_info), MOTCUA_ABI_VERSION, "leaky", "0", 0, NULL, NULL, NULL,
};

const struct motcua_plugin_info *leaky_helper(void)
{
	leaky_counter++;
	return &info;
}

MOTCUA_EXPORT const struct motcua_plugin_info *motcua_plugin_entry(const uint32_t *host_abis,
								   size_t n)
{
	(void)host_abis;
	(void)n;
	return leaky_helper();
}
