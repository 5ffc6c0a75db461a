#define _GNU_SOURCE
#include "CRDRClone.h"
#include <linux/fs.h>
#include <sys/ioctl.h>

int rdr_ficlone(int dst_fd, int src_fd) { return ioctl(dst_fd, FICLONE, src_fd); }
