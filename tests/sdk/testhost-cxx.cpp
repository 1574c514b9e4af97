// SPDX-License-Identifier: MIT
// <motcua/testhost.h> compiles as C++ too (an agency may write its tests in
// C++), alone and twice: built with -pedantic -Werror, and linked with the
// test host to prove the C linkage.
#include <motcua/testhost.h>
#include <motcua/testhost.h>

#include <cerrno>

int main()
{
	motcua_testhost *th = motcua_testhost_new();
	if (!th)
		return 1;
	const uint32_t abis[] = {MOTCUA_ABI_VERSION};
	int r = motcua_testhost_set_abis(th, abis, 1) == 0 &&
			motcua_testhost_set_table_size(
			    th, MOTCUA_TESTHOST_TABLE_BEFORE(secret_read)) == 0 &&
			motcua_testhost_set_table_size(th, MOTCUA_TESTHOST_TABLE_FULL) == 0 &&
			motcua_testhost_load(th, "/nonexistent/test-none.so") == -ENOENT &&
			motcua_testhost_info(th) == nullptr
		    ? 0
		    : 1;
	motcua_testhost_free(th);
	return r;
}
