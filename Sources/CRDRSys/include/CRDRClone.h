// Reflinks (FICLONE): a whole-file copy that shares the source's extents until either side is
// written (XFS with reflink=1, btrfs, bcachefs). Kept apart from CRDRSys.h so it stays
// self-contained.
#ifndef CRDRCLONE_H
#define CRDRCLONE_H

#include <stdint.h>

/// Makes `dst_fd` a reflinked copy of all of `src_fd` (ioctl FICLONE). Returns 0, or -1 with
/// errno set: EOPNOTSUPP/ENOTTY/EINVAL where the filesystem cannot share extents, EXDEV across
/// filesystems.
int rdr_ficlone(int dst_fd, int src_fd);

/// The same for `length` bytes (ioctl FICLONERANGE): the target's range at `off_out` shares the
/// source's extents at `off_in`. Offsets and length in whole filesystem blocks (a length may
/// end at the source's end of file). Returns 0, or -1 with errno set as for `rdr_ficlone`.
int rdr_clone_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, uint64_t length);

#endif
