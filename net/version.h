// Fanout's release: INFO's fanout_version and fanoutd --version. Any thread.
#pragma once

#include <string_view>

namespace fanout {

inline constexpr std::string_view kFanoutVersion = "0.1.0";

}  // namespace fanout
