#include "net/acl_authority.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "net/read_file.h"

namespace fanout {
namespace {

bool open_for_reading_error(const std::string& path, std::string* err) {
  // Redis's ACLLoadFromFile: fopen's error, as strerror words it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "Error loading ACLs, opening file '" + path + "': " + strerror(errno);
    return true;
  }
  ::close(fd);
  return false;
}

}  // namespace

std::string build_acl(std::span<const AclCommandInfo> catalog, const AclSources& src, const Acl* before, Acl* out,
                      std::string* source) {
  Acl next(catalog);
  std::string err, ignored;
  if (source == nullptr) source = &ignored;
  *source = "--aclfile";
  if (!src.aclfile.empty()) {
    std::string text, why;
    if (open_for_reading_error(src.aclfile, &err)) return err;
    if (!read_file(src.aclfile, &text, &why)) return "Error loading ACLs, " + why;
    if (err = next.load_file(text, src.aclfile); !err.empty()) return err;
  }
  *source = "";  // the errors name "acl_rules" themselves
  if (!src.acl_rules.empty()) {
    Acl extra(catalog);
    if (err = extra.load_file(src.acl_rules, "acl_rules", /*add_default=*/false); !err.empty()) return err;
    next.replace_users(extra);
  }
  *source = "--requirepass";
  if (!src.requirepass.empty()) {
    Acl pristine(catalog), with_password(catalog);
    with_password.set_default_password(src.requirepass);
    const std::string now = next.describe(*next.find("default"));
    if (now == pristine.describe(*pristine.find("default"))) {
      next.set_default_password(src.requirepass);
    } else if (now != with_password.describe(*with_password.find("default"))) {
      return "--requirepass sets the default user's password, but the ACL file configures the default user: set "
             "it there";
    }
  }
  if (before != nullptr) next.keep_incarnations(*before);
  *out = std::move(next);
  return {};
}

AclAuthority::AclAuthority(AclSources sources, Acl initial)
    : sources_(std::move(sources)), current_(std::make_shared<const Acl>(std::move(initial))) {}

AclAuthority::Change AclAuthority::change(const Edit& edit) {
  std::lock_guard<std::mutex> lock(mu_);
  Change c;
  AclSources sources = sources_;
  auto rules = std::make_shared<Acl>(*current_);
  c.error = edit(sources, *rules, &c.count);
  if (!c.error.empty()) return c;
  sources_ = std::move(sources);
  current_ = std::move(rules);
  c.rules = current_;
  c.version = ++version_;
  return c;
}

std::shared_ptr<const Acl> AclAuthority::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t AclAuthority::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

std::string AclAuthority::aclfile() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sources_.aclfile;
}

std::string AclAuthority::save() const {
  std::lock_guard<std::mutex> lock(mu_);
  static std::atomic<uint64_t> serial{0};
  const std::string& path = sources_.aclfile;
  const std::string text = current_->file_text();
  const std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(serial.fetch_add(1));
  // The file keeps its mode; a new one is readable by its owner only (it holds password hashes).
  mode_t mode = 0600;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return "Opening temp ACL file for ACL SAVE: " + std::string(strerror(errno));
  std::string err;
  size_t done = 0;
  while (done < text.size() && err.empty()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = "Writing ACL file for ACL SAVE: " + std::string(strerror(n < 0 ? errno : EIO));
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (err.empty() && ::fsync(fd) != 0) err = "Writing ACL file for ACL SAVE: " + std::string(strerror(errno));
  ::close(fd);
  if (err.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    err = "Renaming ACL file for ACL SAVE: " + std::string(strerror(errno));
  }
  if (!err.empty()) ::unlink(tmp.c_str());
  return err;
}

AclAuthority::Edit AclAuthority::reload() {
  return [](AclSources& src, Acl& rules, int64_t* count) {
    Acl next(rules.catalog());
    std::string err = build_acl(rules.catalog(), src, &rules, &next);
    if (!err.empty()) return err;
    rules = std::move(next);
    *count = static_cast<int64_t>(rules.users().size());
    return std::string();
  };
}

AclAuthority::Edit AclAuthority::set_requirepass(std::string password) {
  return [password = std::move(password)](AclSources& src, Acl& rules, int64_t*) {
    src.requirepass = password;
    rules.set_default_password(password);
    return std::string();
  };
}

}  // namespace fanout
