// The process's memory as INFO reports it.
#pragma once

#include <cstdint>

namespace fanout {

// Redis's memory figures (server.c, zmalloc_used_memory): the allocator's bytes in use (glibc's
// mallinfo2, every arena, mmapped chunks included; the resident set under an allocator glibc
// does not see, a sanitizer's) and the resident set (/proc/self/statm), in bytes. Thread: any.
uint64_t used_memory();
uint64_t used_memory_rss();

}  // namespace fanout
