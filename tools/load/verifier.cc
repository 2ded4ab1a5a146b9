#include "tools/load/verifier.h"

namespace fanout::load {

bool StreamVerifier::record(uint32_t publisher, uint64_t seq) {
  if (publisher >= streams_.size()) streams_.resize(publisher + 1);
  Stream& s = streams_[publisher];
  ++counts_.received;
  if (seq == s.next) {
    ++s.next;
    return true;
  }
  if (seq > s.next) {
    // A gap: provisionally lost; remembered (bounded) in case the messages arrive late.
    counts_.lost += seq - s.next;
    for (uint64_t m = s.next; m < seq && s.gaps.size() < kMaxTrackedGaps; ++m) s.gaps.insert(m);
    s.next = seq + 1;
    return false;
  }
  auto it = s.gaps.find(seq);
  if (it != s.gaps.end()) {
    s.gaps.erase(it);
    --counts_.lost;
    ++counts_.reordered;
  } else {
    ++counts_.duplicated;
  }
  return false;
}

void StreamVerifier::finish(uint32_t publisher, uint64_t published) {
  if (publisher >= streams_.size()) streams_.resize(publisher + 1);
  Stream& s = streams_[publisher];
  if (published > s.next) {
    counts_.lost += published - s.next;
    s.next = published;
  }
}

}  // namespace fanout::load
