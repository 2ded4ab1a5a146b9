// The few io_uring pieces Debian's liburing 2.3 lacks, written against the kernel ABI. Kept in
// this one header so that moving to a newer liburing means deleting from here, nowhere else.
#pragma once

#include <liburing.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>

namespace fanout::uring {

// liburing 2.3 declares io_uring_enable_rings() but does not export it from the shared library.
inline int enable_rings(struct io_uring* ring) {
  return io_uring_register(ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
}

// A provided-buffer ring as io_uring_setup_buf_ring() (liburing 2.4) builds it: page-aligned
// memory for `entries` io_uring_buf slots, registered as buffer group `bgid`. Returns null and
// sets *err (a negative errno) on failure.
inline struct io_uring_buf_ring* setup_buf_ring(struct io_uring* ring, unsigned entries, int bgid,
                                                int* err) {
  size_t bytes = entries * sizeof(struct io_uring_buf);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *err = -errno;
    return nullptr;
  }
  auto* br = static_cast<struct io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br);
  struct io_uring_buf_reg reg {};
  reg.ring_addr = reinterpret_cast<unsigned long>(mem);
  reg.ring_entries = entries;
  reg.bgid = static_cast<__u16>(bgid);
  int r = io_uring_register_buf_ring(ring, &reg, 0);
  if (r != 0) {
    munmap(mem, bytes);
    *err = r;
    return nullptr;
  }
  return br;
}

inline void free_buf_ring(struct io_uring* ring, struct io_uring_buf_ring* br, unsigned entries,
                          int bgid) {
  io_uring_unregister_buf_ring(ring, bgid);
  munmap(br, entries * sizeof(struct io_uring_buf));
}

}  // namespace fanout::uring
