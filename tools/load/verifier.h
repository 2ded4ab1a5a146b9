// Checks one subscriber's view of each publisher's stream: every sequence number exactly once,
// in order. Counts what is lost (a gap never filled), duplicated, and reordered (a gap filled
// late). Pure; one per subscriber, used on its worker thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace fanout::load {

struct VerifyCounts {
  uint64_t received = 0;
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t reordered = 0;
  VerifyCounts& operator+=(const VerifyCounts& o) {
    received += o.received;
    lost += o.lost;
    duplicated += o.duplicated;
    reordered += o.reordered;
    return *this;
  }
};

class StreamVerifier {
 public:
  // Records `seq` from `publisher`; returns true if it was the next one expected.
  bool record(uint32_t publisher, uint64_t seq);
  // At the end of a run: sequences published but never seen at the tail count as lost.
  void finish(uint32_t publisher, uint64_t published);
  const VerifyCounts& counts() const { return counts_; }

 private:
  static constexpr size_t kMaxTrackedGaps = 4096;
  struct Stream {
    uint64_t next = 0;
    std::set<uint64_t> gaps;  // missing sequence numbers that may still arrive late
  };
  std::vector<Stream> streams_;
  VerifyCounts counts_;
};

}  // namespace fanout::load
