#define _GNU_SOURCE
#include "CRDRIOURing.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// The shared ring indices are written by one side and read by the other: the kernel reads the
// SQ tail we publish and writes the SQ head and CQ tail; we write the CQ head. An acquire load
// of the other side's index before touching the entries it covers, and a release store of
// ours after filling them, are the barriers liburing uses (io_uring(7), "memory ordering").
#define LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

struct rdr_uring {
    int fd;
    void *sq_map, *cq_map;
    size_t sq_map_size, cq_map_size;
    struct io_uring_sqe *sqes;
    size_t sqes_size;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    unsigned sq_entries, cq_entries;
    unsigned local_tail;  // SQEs filled so far; published to *sq_tail at submit
};

static int sys_setup(unsigned entries, struct io_uring_params *p) {
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int sys_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
    return (int)syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

static int map_rings(rdr_uring *r, const struct io_uring_params *p) {
    r->sq_map_size = p->sq_off.array + p->sq_entries * sizeof(unsigned);
    r->cq_map_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        if (r->cq_map_size > r->sq_map_size) r->sq_map_size = r->cq_map_size;
        r->cq_map_size = r->sq_map_size;
    }
    r->sq_map = mmap(NULL, r->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (r->sq_map == MAP_FAILED) { r->sq_map = NULL; return -errno; }
    if (p->features & IORING_FEAT_SINGLE_MMAP) {
        r->cq_map = r->sq_map;
    } else {
        r->cq_map = mmap(NULL, r->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
        if (r->cq_map == MAP_FAILED) { r->cq_map = NULL; return -errno; }
    }
    r->sqes_size = p->sq_entries * sizeof(struct io_uring_sqe);
    r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) { r->sqes = NULL; return -errno; }
    char *sq = r->sq_map, *cq = r->cq_map;
    r->sq_head = (unsigned *)(sq + p->sq_off.head);
    r->sq_tail = (unsigned *)(sq + p->sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p->sq_off.array);
    r->cq_head = (unsigned *)(cq + p->cq_off.head);
    r->cq_tail = (unsigned *)(cq + p->cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p->cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
    r->local_tail = *r->sq_tail;
    return 0;
}

rdr_uring *rdr_uring_setup(unsigned entries, int *error) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CLAMP;
    rdr_uring *r = calloc(1, sizeof(*r));
    if (!r) { *error = ENOMEM; return NULL; }
    r->fd = sys_setup(entries, &p);
    if (r->fd < 0) {
        *error = errno;
        free(r);
        return NULL;
    }
    r->sq_entries = p.sq_entries;
    r->cq_entries = p.cq_entries;
    // IORING_OP_READ/WRITE arrived in 5.6 together with this feature bit; older kernels are
    // treated as having no io_uring at all, so callers take their thread path.
    int rc = (p.features & IORING_FEAT_RW_CUR_POS) ? map_rings(r, &p) : -ENOSYS;
    if (rc < 0) {
        rdr_uring_teardown(r);
        *error = -rc;
        return NULL;
    }
    return r;
}

void rdr_uring_teardown(rdr_uring *r) {
    if (!r) return;
    if (r->sqes) munmap(r->sqes, r->sqes_size);
    if (r->cq_map && r->cq_map != r->sq_map) munmap(r->cq_map, r->cq_map_size);
    if (r->sq_map) munmap(r->sq_map, r->sq_map_size);
    if (r->fd >= 0) close(r->fd);
    free(r);
}

unsigned rdr_uring_sq_entries(const rdr_uring *r) { return r->sq_entries; }
unsigned rdr_uring_cq_entries(const rdr_uring *r) { return r->cq_entries; }

/// The next free SQE, zeroed and placed in the SQ array, or NULL when the queue is full.
static struct io_uring_sqe *next_sqe(rdr_uring *r) {
    unsigned head = LOAD_ACQUIRE(r->sq_head);
    if (r->local_tail - head >= r->sq_entries) return NULL;
    unsigned index = r->local_tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[index];
    memset(sqe, 0, sizeof(*sqe));
    r->sq_array[index] = index;
    r->local_tail++;
    return sqe;
}

static int prep_rw(rdr_uring *r, int op, int fd, const void *buffer, uint32_t length, uint64_t offset, uint64_t user_data) {
    struct io_uring_sqe *sqe = next_sqe(r);
    if (!sqe) return 0;
    sqe->opcode = (uint8_t)op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buffer;
    sqe->len = length;
    sqe->off = offset;
    sqe->user_data = user_data;
    return 1;
}

int rdr_uring_prep_read(rdr_uring *r, int fd, void *buffer, uint32_t length, uint64_t offset, uint64_t user_data) {
    return prep_rw(r, IORING_OP_READ, fd, buffer, length, offset, user_data);
}

int rdr_uring_prep_write(rdr_uring *r, int fd, const void *buffer, uint32_t length, uint64_t offset, uint64_t user_data) {
    return prep_rw(r, IORING_OP_WRITE, fd, buffer, length, offset, user_data);
}

int rdr_uring_prep_fsync(rdr_uring *r, int fd, int data_only, uint64_t user_data) {
    struct io_uring_sqe *sqe = next_sqe(r);
    if (!sqe) return 0;
    sqe->opcode = IORING_OP_FSYNC;
    sqe->fd = fd;
    sqe->fsync_flags = data_only ? IORING_FSYNC_DATASYNC : 0;
    sqe->user_data = user_data;
    return 1;
}

int rdr_uring_submit_and_wait(rdr_uring *r, unsigned wait_for) {
    STORE_RELEASE(r->sq_tail, r->local_tail);
    // What the kernel has not consumed yet: after an interrupted call this excludes what it
    // already took, so nothing is submitted twice.
    unsigned pending = r->local_tail - LOAD_ACQUIRE(r->sq_head);
    unsigned flags = wait_for > 0 ? IORING_ENTER_GETEVENTS : 0;
    if (pending == 0 && wait_for == 0) return 0;
    int rc = sys_enter(r->fd, pending, wait_for, flags);
    return rc < 0 ? -errno : rc;
}

int rdr_uring_reap(rdr_uring *r, uint64_t *user_data, int32_t *result) {
    unsigned head = *r->cq_head;
    if (head == LOAD_ACQUIRE(r->cq_tail)) return 0;
    const struct io_uring_cqe *cqe = &r->cqes[head & *r->cq_mask];
    *user_data = cqe->user_data;
    *result = cqe->res;
    STORE_RELEASE(r->cq_head, head + 1);
    return 1;
}

int rdr_o_direct(void) { return O_DIRECT; }
