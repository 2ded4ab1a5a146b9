// The two JSON ops of the NATS client protocol: the CONNECT a client sends and the INFO a server
// sends (protocol doc, "CONNECT" and "INFO"), through nlohmann_json.
#include <nlohmann/json.hpp>

#include "core/nats_protocol.h"

namespace fanout {

bool append_nats_connect(std::string* out, const NatsConnectOptions& o) {
  // The doc's order, so that a trace reads like the doc's examples.
  nlohmann::ordered_json j;
  j["verbose"] = false;
  j["pedantic"] = false;
  j["tls_required"] = o.tls_required;
  if (!o.auth_token.empty()) j["auth_token"] = o.auth_token;
  if (!o.user.empty()) {
    j["user"] = o.user;
    j["pass"] = o.pass;
  }
  if (!o.name.empty()) j["name"] = o.name;
  j["lang"] = "c++";
  if (!o.version.empty()) j["version"] = o.version;
  j["protocol"] = 1;
  j["echo"] = o.echo;
  j["headers"] = true;
  j["no_responders"] = false;
  std::string body;
  try {
    body = j.dump();  // throws type_error on a string that is not UTF-8
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  out->append("CONNECT ");
  out->append(body);
  out->append("\r\n");
  return true;
}

namespace {

// Reads j[key] into *out if present; false (with *error) if present with the wrong type.
bool read_string(const nlohmann::json& j, const char* key, std::string* out, std::string* error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *error = std::string("INFO field \"") + key + "\" is not a string";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool read_bool(const nlohmann::json& j, const char* key, bool* out, std::string* error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_boolean()) {
    *error = std::string("INFO field \"") + key + "\" is not true or false";
    return false;
  }
  *out = it->get<bool>();
  return true;
}

// A non-negative integer (JSON numbers written without fraction or exponent).
bool read_uint(const nlohmann::json& j, const char* key, uint64_t* out, std::string* error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (it->is_number_unsigned()) {
    *out = it->get<uint64_t>();
    return true;
  }
  *error = std::string("INFO field \"") + key + "\" is not a non-negative integer";
  return false;
}

}  // namespace

bool parse_nats_info(std::string_view json, NatsServerInfo* out, std::string* error) {
  nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "INFO is not valid JSON";
    return false;
  }
  if (!j.is_object()) {
    *error = "INFO is not a JSON object";
    return false;
  }
  NatsServerInfo info;
  uint64_t proto = 0;
  if (!read_string(j, "server_id", &info.server_id, error) ||
      !read_string(j, "server_name", &info.server_name, error) ||
      !read_string(j, "version", &info.version, error) ||
      !read_string(j, "nonce", &info.nonce, error) || !read_uint(j, "proto", &proto, error) ||
      !read_uint(j, "max_payload", &info.max_payload, error) ||
      !read_bool(j, "headers", &info.headers, error) ||
      !read_bool(j, "auth_required", &info.auth_required, error) ||
      !read_bool(j, "tls_required", &info.tls_required, error) ||
      !read_bool(j, "tls_available", &info.tls_available, error) ||
      !read_bool(j, "ldm", &info.lame_duck_mode, error)) {
    return false;
  }
  if (proto > 1000) {
    *error = "INFO field \"proto\" is out of range";
    return false;
  }
  info.proto = static_cast<int>(proto);
  if (j.contains("max_payload") && info.max_payload == 0) {
    *error = "INFO field \"max_payload\" is 0";
    return false;
  }
  auto urls = j.find("connect_urls");
  if (urls != j.end() && !urls->is_null()) {
    if (!urls->is_array()) {
      *error = "INFO field \"connect_urls\" is not an array";
      return false;
    }
    for (const auto& u : *urls) {
      if (!u.is_string()) {
        *error = "INFO field \"connect_urls\" holds a value that is not a string";
        return false;
      }
      info.connect_urls.push_back(u.get<std::string>());
    }
  }
  *out = std::move(info);
  return true;
}

}  // namespace fanout
