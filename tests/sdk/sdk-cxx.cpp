// SPDX-License-Identifier: MIT
// Proves that <motcua/plugin.h> compiles as C++ (extern "C", no C-only
// constructs) with -Wall -Wextra -Wpedantic -Werror, and that a plugin can be
// written in C++.
#include <motcua/plugin.h>
#include <motcua/plugin.h> // the include guard works

#include <cstddef>
#include <type_traits>

static_assert(MOTCUA_ABI_VERSION == 1u, "ABI version");
static_assert(std::is_standard_layout<motcua_host>::value, "motcua_host is C layout");
static_assert(std::is_standard_layout<motcua_plugin_info>::value, "info is C layout");
static_assert(std::is_standard_layout<motcua_step_io>::value, "step_io is C layout");
static_assert(std::is_standard_layout<motcua_request>::value, "request is C layout");
static_assert(offsetof(motcua_host, struct_size) == 0, "struct_size first");
static_assert(offsetof(motcua_plugin_info, struct_size) == 0, "struct_size first");
static_assert(MOTCUA_STEP_COUNT_ == 5, "steps");

namespace
{

int step(void *, motcua_step_io *io)
{
	io->message[0] = 0;
	return 0;
}

int init(motcua_plugin_ctx *ctx, const motcua_host *host, void **state)
{
	*state = nullptr;
	host->log(ctx, MOTCUA_LOG_DEBUG, "hello from C++, ABI %u",
		  static_cast<unsigned>(host->abi));
	return host->step_register(ctx, MOTCUA_STEP_SIGN, step, nullptr, nullptr);
}

void fini(void *)
{
}

const motcua_config_key keys[] = {
    {"key", "help"},
    {nullptr, nullptr},
};

const motcua_plugin_info info = {
    sizeof(motcua_plugin_info),
    MOTCUA_ABI_VERSION,
    "sdk-cxx",
    "1.0",
    MOTCUA_PROVIDES_SIGN,
    keys,
    init,
    fini,
};

} // namespace

// The declare macro as a C++ plugin uses it (the header declared the entry
// extern "C", which this definition keeps).
MOTCUA_PLUGIN_DECLARE(info)

int main()
{
	const uint32_t abis[] = {MOTCUA_ABI_VERSION};
	motcua_plugin_entry_fn entry = motcua_plugin_entry; // C linkage matches the typedef
	const motcua_plugin_info *i = entry(abis, 1);
	const motcua_host host = {};
	return i->struct_size == sizeof *i && i->abi == MOTCUA_ABI_VERSION &&
		       !MOTCUA_HAS_MEMBER(motcua_host, &host, secret_read)
		   ? 0
		   : 1;
}
