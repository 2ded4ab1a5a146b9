// SendStaging: staged headers are released only when the kernel has consumed every entry, so a
// header an unsubmitted entry points at is never staged over.
#include "net/send_staging.h"

#include <gtest/gtest.h>

namespace fanout {
namespace {

TEST(SendStagingTest, ReleasesOnlyWhenNoEntryIsLeftUnsubmitted) {
  SendStaging st;
  st.init(2, 4);
  char a[1], b[1];
  struct iovec iov[2] = {{a, 1}, {b, 1}};
  struct msghdr* m1 = st.stage(iov, 2);
  EXPECT_EQ(m1->msg_iovlen, 2u);
  EXPECT_EQ(m1->msg_iov[1].iov_base, b);
  EXPECT_TRUE(st.has_room(2));
  EXPECT_FALSE(st.has_room(3));  // four iovecs at most
  struct msghdr* m2 = st.stage(iov, 1);
  EXPECT_NE(m1, m2);
  EXPECT_FALSE(st.has_room(1));  // two headers at most
  st.release(1);                 // one entry still in the submission queue: nothing is reused
  EXPECT_EQ(st.staged(), 2u);
  EXPECT_FALSE(st.has_room(1));
  EXPECT_EQ(m1->msg_iov[1].iov_base, b);
  st.release(0);
  EXPECT_EQ(st.staged(), 0u);
  EXPECT_TRUE(st.has_room(4));
}

}  // namespace
}  // namespace fanout
