#include "net/process_memory.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>

namespace fanout {

uint64_t used_memory_rss() {
  unsigned long size = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<uint64_t>(resident) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t used_memory() {
  struct mallinfo2 m = mallinfo2();
  const uint64_t used = static_cast<uint64_t>(m.uordblks + m.hblkhd);
  return used != 0 ? used : used_memory_rss();
}

}  // namespace fanout
