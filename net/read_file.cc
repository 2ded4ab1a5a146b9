#include "net/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fanout {

bool read_file(const std::string& path, std::string* out, std::string* err) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    *err = "cannot open " + path + ": " + strerror(errno);
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    *err = path + " is not a regular file";
    return false;
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    ::close(fd);
    *err = path + " is larger than 64 MiB";
    return false;
  }
  char buf[65536];
  ssize_t n;
  size_t total = 0;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
    total += static_cast<size_t>(n);
    if (total > kMaxConfigFileBytes) {  // grew while being read
      ::close(fd);
      *err = path + " is larger than 64 MiB";
      return false;
    }
    out->append(buf, static_cast<size_t>(n));
  }
  int e = errno;
  ::close(fd);
  if (n < 0) {
    *err = "cannot read " + path + ": " + strerror(e);
    return false;
  }
  return true;
}

}  // namespace fanout
