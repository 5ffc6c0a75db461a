#define _GNU_SOURCE
#include "CRDRClone.h"
#include <linux/fs.h>
#include <sys/ioctl.h>

int rdr_ficlone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }

int rdr_clone_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, uint64_t length) {
    struct file_clone_range r = {
        .src_fd = fd_in, .src_offset = (uint64_t)off_in, .src_length = length, .dest_offset = (uint64_t)off_out,
    };
    return ioctl(fd_out, FICLONERANGE, &r);
}
