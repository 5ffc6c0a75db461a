// io_uring through its raw syscalls (io_uring_setup, io_uring_enter and mmap of the rings),
// without liburing: the package has no dependencies. One ring belongs to one thread; nothing
// here locks. Errors come back as negative errno values (or through `*error` for setup), so
// the Swift side can turn them into its typed Errno.
#ifndef CRDRIOURING_H
#define CRDRIOURING_H

#include <stdint.h>

typedef struct rdr_uring rdr_uring;

/// A ring with room for at least `entries` submissions (the kernel rounds up to a power of
/// two and clamps to its maximum). Returns NULL and sets `*error` (a positive errno) when the
/// kernel refuses: ENOSYS (no io_uring, or older than 5.6), EPERM (io_uring_disabled, seccomp).
rdr_uring *rdr_uring_setup(unsigned entries, int *error);

/// Unmaps the rings and closes the ring. The caller first waits for everything in flight: the
/// kernel may still write into read buffers until their completions are reaped.
void rdr_uring_teardown(rdr_uring *ring);

/// Submission queue size (the most that can be queued before a submit).
unsigned rdr_uring_sq_entries(const rdr_uring *ring);
/// Completion queue size (the most that may be in flight without a completion being lost).
unsigned rdr_uring_cq_entries(const rdr_uring *ring);

/// Queue one operation. Return 1, or 0 when the submission queue is full (submit first).
int rdr_uring_prep_read(rdr_uring *ring, int fd, void *buffer, uint32_t length, uint64_t offset, uint64_t user_data);
int rdr_uring_prep_write(rdr_uring *ring, int fd, const void *buffer, uint32_t length, uint64_t offset, uint64_t user_data);
int rdr_uring_prep_fsync(rdr_uring *ring, int fd, int data_only, uint64_t user_data);

/// Hands every queued operation to the kernel and waits until at least `wait_for` completions
/// are ready. Returns the number the kernel took, or -errno (-EINTR: retry; what the kernel
/// already took stays taken and is not submitted twice).
int rdr_uring_submit_and_wait(rdr_uring *ring, unsigned wait_for);

/// Pops one completion: returns 1 with its user data and result (bytes, or -errno), or 0 when
/// none is ready. No syscall.
int rdr_uring_reap(rdr_uring *ring, uint64_t *user_data, int32_t *result);

/// O_DIRECT, which Swift's Glibc module does not import (it needs _GNU_SOURCE).
int rdr_o_direct(void);

#endif
