// Send headers (a msghdr and its iovecs) staged for io_uring SENDMSG entries until the kernel has
// consumed them.
//
// Lifecycle of one send (IoUringBackend::send), always in this order:
//   1. room:    the caller makes sure the submission queue has a free entry and this area has
//               room (has_room), submitting what is queued first if not: nothing of this send is
//               staged yet, so that submit cannot strand it;
//   2. take:    the caller takes the SQE (cannot fail after step 1, and submits nothing);
//   3. stage:   stage() copies the msghdr's iovecs in and returns the msghdr;
//   4. prepare: the caller points the SQE at that msghdr;
//   5. submit:  io_uring_enter hands the entry to the kernel, which copies the msghdr and iovecs
//               when it consumes the entry (IORING_FEAT_SUBMIT_STABLE);
//   6. release: release() with the number of entries still in the submission queue; the area is
//               reused only when that number is zero, so no unsubmitted entry can point at memory
//               that is staged again.
// No submit can happen between steps 2 and 4, so every staged msghdr has its entry before any
// submit, and step 6 can never release memory that an entry still needs.
//
// Owns: fixed arrays sized at init (allocated, not touched: pages count only once used).
// Thread: the shard's.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cassert>
#include <cstddef>
#include <memory>

namespace fanout {

class SendStaging {
 public:
  // Room for `msgs` headers (at least the submission queue's entries) and `iovecs` iovecs.
  void init(size_t msgs, size_t iovecs) {
    msgs_.reset(new struct msghdr[msgs]);
    iovs_.reset(new struct iovec[iovecs]);
    max_msgs_ = msgs;
    max_iovs_ = iovecs;
    nmsgs_ = niovs_ = 0;
  }
  // Step 1: whether a send of n iovecs fits without a release.
  bool has_room(size_t n) const { return nmsgs_ < max_msgs_ && niovs_ + n <= max_iovs_; }
  // Step 3: stages n iovecs; requires has_room(n). The msghdr stays valid until release().
  struct msghdr* stage(const struct iovec* iov, size_t n) {
    assert(has_room(n));
    struct iovec* staged = &iovs_[niovs_];
    for (size_t i = 0; i < n; ++i) staged[i] = iov[i];
    niovs_ += n;
    struct msghdr* m = &msgs_[nmsgs_++];
    *m = {};
    m->msg_iov = staged;
    m->msg_iovlen = n;
    return m;
  }
  // Step 6: after a submit, with the entries the kernel has not consumed yet.
  void release(unsigned unsubmitted) {
    if (unsubmitted == 0) nmsgs_ = niovs_ = 0;
  }
  size_t staged() const { return nmsgs_; }

 private:
  std::unique_ptr<struct msghdr[]> msgs_;
  std::unique_ptr<struct iovec[]> iovs_;
  size_t max_msgs_ = 0, max_iovs_ = 0;
  size_t nmsgs_ = 0, niovs_ = 0;
};

}  // namespace fanout
