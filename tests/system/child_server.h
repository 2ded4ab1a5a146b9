// Runs the fanoutd binary as a child process for system tests that need more descriptors than
// one process may hold (the test's clients and the server each get their own 20,000), or that
// test the process itself (signals, exit codes, start-up). Thread: the test's.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fanout::test {

// The fanoutd binary named by the test's FANOUTD environment variable (set in BUILD).
inline std::string fanoutd_binary() {
  const char* p = std::getenv("FANOUTD");
  return p ? p : "";
}

class ChildServer {
 public:
  ChildServer() = default;
  ChildServer(const ChildServer&) = delete;
  ChildServer& operator=(const ChildServer&) = delete;
  ~ChildServer() {
    kill_now();
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
  }

  // Starts `binary args...` with its stderr in a temporary file, and waits up to timeout_ms for
  // its "listening on HOST:PORT" line. False with *err (the log) if it exited or never said so;
  // if the log says a backend "is not available", *unavailable is set too.
  bool start(const std::string& binary, const std::vector<std::string>& args, std::string* err,
             bool* unavailable = nullptr, int timeout_ms = 30000) {
    char path[] = "/tmp/fanoutd-child-XXXXXX";
    int logfd = mkstemp(path);
    log_path_ = path;
    int out[2];
    if (logfd < 0 || pipe2(out, O_CLOEXEC) != 0) {
      *err = "mkstemp/pipe failed";
      return false;
    }
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test, however the test ends
      dup2(out[1], 1);
      dup2(logfd, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(binary.c_str()));
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(binary.c_str(), argv.data());
      _exit(127);
    }
    ::close(out[1]);
    ::close(logfd);
    out_ = out[0];
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      struct pollfd p {out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char ch;
      if (::read(out_, &ch, 1) != 1) break;
      if (ch != '\n') {
        line += ch;
        continue;
      }
      size_t colon = line.rfind(':');
      if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
        port_ = std::atoi(line.c_str() + colon + 1);
        return true;
      }
      line.clear();
    }
    wait_exit(5000);
    *err = log();
    if (unavailable) *unavailable = err->find("is not available") != std::string::npos;
    return false;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream f(log_path_);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // Sends sig; returns the exit status (as waitpid reports it), or -1 if the child has not
  // exited within timeout_ms (it is then killed).
  int stop(int sig = SIGTERM, int timeout_ms = 15000) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    return wait_exit(timeout_ms);
  }
  // Waits for the child to exit by itself; -1 on timeout (then it is killed).
  int wait_exit(int timeout_ms) {
    if (pid_ <= 0) return status_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = st;
        if (out_ >= 0) ::close(out_);
        out_ = -1;
        return st;
      }
      usleep(5000);
    }
    kill_now();
    return -1;
  }

 private:
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (out_ >= 0) ::close(out_);
    out_ = -1;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  int status_ = -1;
  std::string log_path_;
};

}  // namespace fanout::test
