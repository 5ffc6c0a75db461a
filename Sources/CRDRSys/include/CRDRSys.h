// Syscalls and constants that Swift's Glibc module does not import because they need
// _GNU_SOURCE (SEEK_DATA/SEEK_HOLE, fallocate flags, copy_file_range, posix_spawn setsid).
// Each wrapper returns the raw result and leaves errno as the kernel set it.
#ifndef CRDRSYS_H
#define CRDRSYS_H

#include <stdint.h>
#include <sys/types.h>

// Reflinks (CRDRClone.h) and checksums (CRDRChecksum.h): this header is the module's umbrella,
// so it brings those in.
#include "CRDRClone.h"
#include "CRDRChecksum.h"

int64_t rdr_seek_data(int fd, int64_t offset);
int64_t rdr_seek_hole(int fd, int64_t offset);
int rdr_punch_hole(int fd, int64_t offset, int64_t length);
int64_t rdr_copy_file_range(int fd_in, int64_t off_in, int fd_out, int64_t off_out, uint64_t length);

/// What the engine needs to know about an open file: its size and allocation, its type, and
/// its identity (inode and, where the filesystem reports one, birth time).
struct rdr_file_status {
    int64_t size;
    int64_t allocated;
    uint64_t inode;
    uint32_t mode;
    uint32_t has_birth;
    int64_t birth_sec;
    uint32_t birth_nsec;
};
/// statx(2) on an open file (fstat where statx is missing). Returns 0 or -1 with errno set.
int rdr_fstat(int fd, struct rdr_file_status *out);
/// The same for a path; `follow` = 0 describes a symbolic link itself. Returns 0 or -1 with errno set.
int rdr_stat_path(const char *path, int follow, struct rdr_file_status *out);
int rdr_flock(int fd, int operation);
/// Names the calling thread (the kernel keeps 15 bytes); 0 or an errno value.
int rdr_set_thread_name(const char *name);
/// posix_fadvise with POSIX_FADV_RANDOM (random = 1) or POSIX_FADV_SEQUENTIAL (random = 0) over the file.
int rdr_advise_random(int fd, int random);
/// Starts `argv[0]` detached (new session, stdin from /dev/null, stdout/stderr to `log_fd`),
/// passing `keep_fd` as fd 3. Returns the child's pid or -errno.
int rdr_spawn_detached(const char *path, char *const argv[], int log_fd, int keep_fd);

/// Runs `argv` (searched in PATH) with stdout/stderr to `out_fd` (or inherited when < 0),
/// waits, and returns its wait status (or -errno).
int rdr_run_wait(char *const argv[], int out_fd);

/// Starts a custom action: `path` with `argv` and `envp` in a new process group of its own
/// (group id = its pid), stdin from /dev/null, stdout to `out_fd`, stderr to `err_fd`, every
/// signal at its default disposition and none blocked (the caller may ignore SIGINT/SIGTERM),
/// no other descriptor inherited. Returns the child's pid or -errno (ENOEXEC: not a binary
/// and no `#!` line).
int rdr_spawn_action(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd);

/// Starts the action like rdr_spawn_action, by fork and exec, for what posix_spawn cannot do:
/// `sig` (0: none) is sent to the child's new process group while it is stopped before exec
/// (`rdr simulate action-signal`: the signal lands before the action runs, however short it
/// is); `dir` (NULL: this process's) is its working directory and `mask` (-1: this process's)
/// its umask, so a request an owner runs for a client starts its actions where, and as, the
/// client would have. Returns the pid or -errno (a failed exec's errno included).
int rdr_spawn_action_in(const char *path, char *const argv[], char *const envp[], int out_fd, int err_fd, int sig,
                        const char *dir, int mask);

/// 1 when child `pid` has ended, 0 while it runs, -errno on failure. The child is left
/// unreaped, so its pid and its process group id stay reserved until rdr_reap.
int rdr_child_ended(int pid);

/// Reaps child `pid` (waiting for it, EINTR retried) and returns its wait status, or -errno.
int rdr_reap(int pid);

/// Control socket (fdpass.c): sends `len` bytes with `nfds` (at most 8) descriptors attached
/// by SCM_RIGHTS. Returns the bytes sent or -errno.
int64_t rdr_send_with_fds(int sock, const void *buf, uint64_t len, const int *fds, int nfds);

/// Receives up to `len` bytes and the descriptors attached (close-on-exec, at most `maxfds`,
/// their count in `*nfds`). More descriptors than `maxfds`: all are closed, -EBADMSG.
/// Returns the bytes received (0: the peer closed) or -errno.
int64_t rdr_recv_with_fds(int sock, void *buf, uint64_t len, int *fds, int maxfds, int *nfds);

/// The connected peer's pid and uid (SO_PEERCRED), 0 or -errno.
int rdr_peer_credentials(int sock, int *pid, unsigned *uid);

// io_uring (CRDRIOURing.h): this header is the module's umbrella, so it brings that one in.
#include "CRDRIOURing.h"

#endif
