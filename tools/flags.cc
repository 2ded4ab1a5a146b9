#include "tools/flags.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "core/units.h"

namespace fanout {

namespace {

bool parse_ll(const std::string& s, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && *end == '\0';
}

}  // namespace

void Flags::add_string(const char* name, std::string* v, const char* help) {
  flags_.push_back({name, help, *v, false, [v](const std::string& s) {
                      *v = s;
                      return std::string();
                    }});
}

void Flags::add_int(const char* name, int* v, const char* help) {
  flags_.push_back({name, help, std::to_string(*v), false, [v, name](const std::string& s) {
                      long long x;
                      if (!parse_ll(s, &x) || x < INT32_MIN || x > INT32_MAX) {
                        return "--" + std::string(name) + " needs an integer, got '" + s + "'";
                      }
                      *v = static_cast<int>(x);
                      return std::string();
                    }});
}

void Flags::add_int64(const char* name, int64_t* v, const char* help) {
  flags_.push_back({name, help, std::to_string(*v), false, [v, name](const std::string& s) {
                      long long x;
                      if (!parse_ll(s, &x)) return "--" + std::string(name) + " needs an integer, got '" + s + "'";
                      *v = x;
                      return std::string();
                    }});
}

void Flags::add_double(const char* name, double* v, const char* help) {
  std::string def = std::to_string(*v);
  while (def.size() > 1 && def.back() == '0' && def[def.size() - 2] != '.') def.pop_back();
  flags_.push_back({name, help, def, false, [v, name](const std::string& s) {
                      char* end = nullptr;
                      double x = std::strtod(s.c_str(), &end);
                      if (s.empty() || *end != '\0') return "--" + std::string(name) + " needs a number, got '" + s + "'";
                      *v = x;
                      return std::string();
                    }});
}

void Flags::add_size(const char* name, size_t* v, const char* help) {
  flags_.push_back({name, help, std::to_string(*v), false, [v, name](const std::string& s) {
                      uint64_t x;
                      if (!parse_size(s, &x)) {
                        return "--" + std::string(name) + " needs a size (bytes, or with k/m/g), got '" + s + "'";
                      }
                      *v = static_cast<size_t>(x);
                      return std::string();
                    }});
}

void Flags::add_bool(const char* name, bool* v, const char* help) {
  flags_.push_back({name, help, *v ? "true" : "false", true, [v, name](const std::string& s) {
                      if (s == "" || s == "true" || s == "1" || s == "yes") *v = true;
                      else if (s == "false" || s == "0" || s == "no") *v = false;
                      else return "--" + std::string(name) + " needs true or false, got '" + s + "'";
                      return std::string();
                    }});
}

void Flags::add_custom(const char* name, std::string default_text, const char* help,
                       std::function<std::string(const std::string&)> set, bool is_bool) {
  flags_.push_back({name, help, std::move(default_text), is_bool, std::move(set)});
}

bool Flags::parse(int argc, char** argv, std::string* err, bool* help_shown) {
  *help_shown = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      *help_shown = true;
      return false;
    }
    if (a.rfind("--", 0) != 0) {
      *err = "unexpected argument '" + a + "' (flags start with --; see --help)";
      return false;
    }
    std::string name = a.substr(2), value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* f = nullptr;
    for (auto& fl : flags_) {
      if (fl.name == name) f = &fl;
    }
    if (f == nullptr) {
      *err = "unknown flag --" + name + " (see --help)";
      return false;
    }
    if (!has_value && !f->is_bool) {
      if (i + 1 >= argc) {
        *err = "--" + name + " needs a value";
        return false;
      }
      value = argv[++i];
    }
    // A bool flag takes its value from the next argument too, when that is a bool's spelling
    // ("--protected-mode false"); standing alone it means true.
    if (!has_value && f->is_bool && i + 1 < argc) {
      static const char* kBools[] = {"true", "false", "yes", "no", "1", "0"};
      for (const char* b : kBools) {
        if (std::string(argv[i + 1]) == b) {
          value = argv[++i];
          break;
        }
      }
    }
    std::string e = f->set(value);
    if (!e.empty()) {
      *err = e;
      return false;
    }
  }
  return true;
}

bool Flags::parse_main(int argc, char** argv, const char* prog, int* exit_code) {
  std::string err;
  bool help_shown = false;
  if (parse(argc, argv, &err, &help_shown)) return true;
  if (help_shown) {
    std::fputs(help().c_str(), stdout);
    *exit_code = 0;
  } else {
    std::fprintf(stderr, "%s: %s\n", prog, err.c_str());
    *exit_code = 2;
  }
  return false;
}

std::string Flags::help() const {
  std::string s = usage_ + "\n\nFlags (--name value or --name=value):\n";
  for (const auto& f : flags_) {
    std::string left = "  --" + f.name;
    if (left.size() < 28) left.resize(28, ' ');
    s += left + " " + f.help + " (default: " + f.def + ")\n";
  }
  return s;
}

}  // namespace fanout
