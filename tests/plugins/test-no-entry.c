/* SPDX-License-Identifier: MIT */
/* A shared object without the entry symbol: must be refused. */
#include <motcua/plugin.h>

MOTCUA_EXPORT int motcua_plugin_entry_misspelt(void);
MOTCUA_EXPORT int motcua_plugin_entry_misspelt(void)
{
	return 0;
}
