// Reflinks (FICLONE): a whole-file copy that shares the source's extents until either side is
// written (XFS with reflink=1, btrfs, bcachefs). Kept apart from CRDRSys.h so it stays
// self-contained.
#ifndef CRDRCLONE_H
#define CRDRCLONE_H

/// Makes `dst_fd` a reflinked copy of all of `src_fd` (ioctl FICLONE). Returns 0, or -1 with
/// errno set: EOPNOTSUPP/ENOTTY/EINVAL where the filesystem cannot share extents, EXDEV across
/// filesystems.
int rdr_ficlone(int dst_fd, int src_fd);

#endif
