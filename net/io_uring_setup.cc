#include "net/io_uring_setup.h"

#include <sys/utsname.h>

#include <cstdio>
#include <cstring>

#include "net/io_uring_backend.h"

namespace fanout {
namespace {

constexpr unsigned kProbeSqEntries = 8;
// Completions can outnumber submissions many times over (multishot accept and receive), so the
// CQ is this many times the SQ (clamped to the kernel's maximum); an overflow is still survived
// (FEAT_NODROP) and counted. The rings are mapped into the process, so their size is most of an
// idle io_uring shard's memory: 2,048 SQ entries give 128 KiB of SQEs and 256 KiB of CQEs.
constexpr unsigned kCqPerSq = 8;

std::string errno_text(int neg) { return strerror(-neg); }

// Multishot receive arrived in Linux 6.0; there is no feature bit to probe for it.
bool kernel_at_least(int major, int minor, std::string* release) {
  struct utsname u {};
  if (uname(&u) != 0) return true;
  *release = u.release;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return true;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace

std::string why_setup_failed(int neg) {
  std::string why = "io_uring_setup failed: " + errno_text(neg);
  if (neg == -EPERM || neg == -EACCES) {
    FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "r");
    int v = -1;
    if (f != nullptr) {
      if (std::fscanf(f, "%d", &v) != 1) v = -1;
      std::fclose(f);
    }
    if (v > 0) {
      why += " (sysctl kernel.io_uring_disabled is " + std::to_string(v) + ")";
    } else {
      why += " (blocked by a seccomp filter or a container policy?)";
    }
  } else if (neg == -ENOSYS) {
    why += " (this kernel was built without io_uring)";
  }
  return why;
}

namespace {

struct SetupStep {
  unsigned flags;
  const char* desc;
};

// Tried in order until the kernel accepts one. R_DISABLED lets the shard's own thread enable
// the ring and so become its single issuer.
constexpr SetupStep kSetupSteps[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN |
         IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,
     "single_issuer,defer_taskrun,coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
         IORING_SETUP_R_DISABLED,
     "single_issuer,defer_taskrun,submit_all"},
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
         IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED,
     "single_issuer,coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
     "coop_taskrun,taskrun_flag,submit_all"},
    {IORING_SETUP_SUBMIT_ALL, "submit_all"},
    {0, "none"},
};

}  // namespace

int setup_ring(struct io_uring* ring, unsigned sq_entries, std::string* desc) {
  int r = -EINVAL;
  for (const SetupStep& step : kSetupSteps) {
    struct io_uring_params p {};
    p.flags = step.flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    p.cq_entries = sq_entries * kCqPerSq;
    r = io_uring_queue_init_params(sq_entries, ring, &p);
    if (r == 0) {
      if (!(p.features & IORING_FEAT_SUBMIT_STABLE) || !(p.features & IORING_FEAT_NODROP)) {
        io_uring_queue_exit(ring);
        return -EOPNOTSUPP;
      }
      *desc = step.desc;
      return 0;
    }
    if (r != -EINVAL) return r;  // not a flag problem: io_uring itself is unavailable
  }
  return r;
}

std::string io_uring_unavailable_reason() {
  std::string release;
  if (!kernel_at_least(6, 0, &release)) {
    return "the io_uring backend needs Linux 6.0 or later (multishot receive); this kernel is " + release;
  }
  struct io_uring ring {};
  std::string desc;
  int r = setup_ring(&ring, kProbeSqEntries, &desc);
  if (r == -EOPNOTSUPP) return "this kernel's io_uring lacks stable submission or no-drop completions";
  if (r != 0) return why_setup_failed(r);
  std::string why;
  struct io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) {
    why = "io_uring opcode probe failed";
  } else {
    for (int op : {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_READ,
                   IORING_OP_ASYNC_CANCEL}) {
      if (!io_uring_opcode_supported(probe, op)) {
        why = "this kernel's io_uring lacks opcode " + std::to_string(op);
        break;
      }
    }
    io_uring_free_probe(probe);
  }
  io_uring_queue_exit(&ring);
  return why;
}

}  // namespace fanout
