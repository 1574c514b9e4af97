/* SPDX-License-Identifier: MIT */
/*
 * File I/O the in-tree plugins share, one copy of each (libc only; a static
 * library with hidden visibility, linked into each module that uses it:
 * plugin_io_dep in meson). Not part of the SDK: plugins/adapter-example, the
 * template agencies build out of the tree, keeps its own few lines.
 *
 * Every function returns 0 or a negative errno, sets no errno of its own,
 * logs nothing, opens every fd O_CLOEXEC, and retries what EINTR cut short.
 * Safe on worker threads.
 */
#ifndef MOTCUA_PLUGIN_IO_H
#define MOTCUA_PLUGIN_IO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes of buf to fd. */
int io_write_all(int fd, const void *buf, size_t len);

/* Reads fd to its end in chunks of up to size bytes into buf, calling
 * chunk(arg, buf, n) for each. Returns 0 at the end; the read's -errno; or
 * what chunk returned when negative (which stops it). */
int io_read_chunks(int fd, void *buf, size_t size,
		   int (*chunk)(void *arg, const void *data, size_t n), void *arg);

/* Reads the regular file at path whole: *out (malloc()ed, the caller's)
 * holds its *len bytes and a NUL after them. Returns 0; -EINVAL when it is
 * not a regular file; -EFBIG when it is larger than max (*len then holds its
 * size, *out is untouched); -EIO when it shrank while read; the errno of
 * open or read; -ENOMEM. */
int io_read_file(const char *path, size_t max, unsigned char **out, size_t *len);

/* Creates path (which must not exist: O_EXCL) with mode (less the umask, as
 * open() does), writes len bytes of data and fsyncs it. On failure the file
 * may be there, partly written: the caller removes what it builds (e.g. a
 * temporary folder). */
int io_create_file(const char *path, const void *data, size_t len, mode_t mode);

/* Replaces path atomically with len bytes of data: written to a temporary
 * file beside it (path.tmp-<thread>-<n>, mode less the umask), fsynced,
 * renamed over path. Readers see the old file or the new one, never a part;
 * on failure the temporary file is removed and path is as it was. */
int io_replace_file(const char *path, const void *data, size_t len, mode_t mode);

/* fsyncs the folder at path, so that names just made or renamed in it
 * survive a crash. */
int io_fsync_dir(const char *path);

#endif
