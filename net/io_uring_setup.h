// Setting up an io_uring the way the backend needs it, on whatever kernel this is: the setup
// flags tried from the best to the plainest, the features required, and why io_uring cannot run
// here when it cannot. Thread: any (start-up only).
#pragma once

#include <liburing.h>

#include <string>

namespace fanout {

// Creates `ring` with `sq_entries` submission entries (a power of two) and a completion queue
// eight times as deep (clamped), trying the setup flags from the best down; the flags taken go to *desc.
// Returns 0, or a negative errno (-EOPNOTSUPP: the kernel lacks stable submission or no-drop
// completions).
int setup_ring(struct io_uring* ring, unsigned sq_entries, std::string* desc);
// Why io_uring_setup failed with `neg` (a negative errno), with a hint at the usual causes.
std::string why_setup_failed(int neg);

}  // namespace fanout
