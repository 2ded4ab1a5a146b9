// nats-server (Debian's; tools/setup.sh --test installs it) as a child process on 127.0.0.1, for
// tests that speak NATS to a real server. Thread: the test's.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace fanout::test {

// $NATS_SERVER, else nats-server where Debian puts it (Bazel's test PATH leaves out /usr/sbin);
// empty if there is none.
inline std::string nats_server_binary() {
  if (const char* p = std::getenv("NATS_SERVER")) return p;
  for (const char* p : {"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

// The server listens on a port it picks ("-p -1"), read from its log; it is killed when the
// object goes, and with the test process if that dies first.
class NatsServer {
 public:
  NatsServer() = default;
  NatsServer(const NatsServer&) = delete;
  NatsServer& operator=(const NatsServer&) = delete;
  ~NatsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (!log_.empty()) ::unlink(log_.c_str());
    if (!conf_.empty()) ::unlink(conf_.c_str());
  }

  // Starts the server with `args` and, if not empty, a config file holding `config` (nats-server's
  // syntax, e.g. "max_payload: 64"). Waits up to 10 s for "Server is ready", polling its log.
  ::testing::AssertionResult start(std::vector<std::string> args, const std::string& config = "") {
    using Clock = std::chrono::steady_clock;
    const std::string bin = nats_server_binary();
    if (bin.empty()) return ::testing::AssertionFailure() << "nats-server missing: run tools/setup.sh --test";
    char log[] = "/tmp/natsd-log-XXXXXX";
    int logfd = ::mkstemp(log);
    log_ = log;
    if (!config.empty()) {
      char conf[] = "/tmp/natsd-conf-XXXXXX";
      int cfd = ::mkstemp(conf);
      conf_ = conf;
      if (cfd < 0 || ::write(cfd, config.data(), config.size()) != static_cast<ssize_t>(config.size())) {
        return ::testing::AssertionFailure() << "cannot write " << conf_;
      }
      ::close(cfd);
      args.insert(args.begin(), {"-c", conf_});
    }
    args.insert(args.begin(), {bin, "-a", "127.0.0.1", "-p", "-1"});
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(logfd);
    const std::regex listening("Listening for client connections on 127\\.0\\.0\\.1:(\\d+)");
    for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end;) {
      std::string text = read_log();
      std::smatch m;
      if (std::regex_search(text, m, listening) && text.find("Server is ready") != std::string::npos) {
        port_ = std::stoi(m[1]);
        return ::testing::AssertionSuccess();
      }
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return ::testing::AssertionFailure() << "nats-server exited: " << text;
      }
      ::usleep(20000);
    }
    return ::testing::AssertionFailure() << "nats-server did not start in 10 s: " << read_log();
  }

  int port() const { return port_; }
  std::string read_log() const {
    std::ifstream f(log_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_, conf_;
};

}  // namespace fanout::test
